/**
 * A warehouse path holding DuckDB's glob characters (`*`, `?`, `[`) is worked on as itself: every
 * read escapes them (`exactFiles`), so the programs no longer refuse it. Here the path holds those
 * and the other characters of note (`ODD_NAME`), beside directories it matches as a glob pattern
 * that hold each of its files with the rows twice: the embedded ingest writes it, and query, replay
 * and compact take its own rows and files only. Refused, naming the characters, are the paths whose
 * files DuckDB cannot read as themselves (`globUnreadable`).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { DuckDb } from "../../src/layers/duckdb/DuckDb.ts"
import { spawnProgram } from "../support/programs.ts"
import { mirrorDoubled, ODD_NAME, ODD_NAME_MATCH } from "../support/warehouse.ts"

/** `program args`, its exit code and output; `stdout` is given every chunk of its standard output (the output kept is its last 20k characters). */
const run = (
  program: "ingest" | "compact" | "query" | "replay",
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {},
  stdout: (chunk: Buffer) => void = () => undefined
) =>
  Effect.gen(function*() {
    const p = spawnProgram(program, args, env)
    p.child.stdout!.on("data", stdout)
    const timer = setTimeout(() => p.child.kill("SIGKILL"), 60_000)
    const code = yield* Effect.promise(() => p.exited)
    clearTimeout(timer)
    return { code, output: p.output() }
  })

const ALL_TIME = ["--from", "2000-01-01", "--to", "2100-01-01"]

/** The records of `table` its current snapshot's summary counts (no data file read). */
const records = (warehouse: string, table: "trades" | "quotes") =>
  Effect.gen(function*() {
    const r = yield* run("query", ["stats", table, "--warehouse", warehouse, "--format", "json"])
    assert.strictEqual(r.code, 0, r.output)
    return Number(/"records": (\d+)/.exec(r.output)![1])
  })

/** The trades and quotes `query symbols` counts, reading the data files. */
const symbolCounts = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const r = yield* run("query", ["symbols", "--format", "csv", ...args], env)
    assert.strictEqual(r.code, 0, r.output)
    const [header, ...rows] = r.output.split("\n").filter((l) => /^[A-Z]+,/.test(l) || l.startsWith("symbol,"))
    const columns = header!.split(",")
    const sum = (column: string) => rows.reduce((n, row) => n + Number(row.split(",")[columns.indexOf(column)] || 0), 0)
    return { trades: sum("trades"), quotes: sum("quotes") }
  })

describe("a warehouse path with glob characters", () => {
  it.effect("is ingested into, read, replayed and compacted as itself, beside directories it matches as a glob", () =>
    Effect.gen(function*() {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "k2-glob-"))
      const warehouse = path.join(root, ODD_NAME)
      const ingested = yield* run("ingest", ["--warehouse", warehouse, "--partitions", "1", "--events", "40"])
      assert.strictEqual(ingested.code, 0, ingested.output)
      const siblings = ["wh1", ODD_NAME_MATCH].map((s) => path.join(root, s))
      yield* Effect.forEach(siblings, (s) => mirrorDoubled(warehouse, s), { discard: true }).pipe(Effect.provide(DuckDb.layerWith({})))
      const want = { trades: yield* records(warehouse, "trades"), quotes: yield* records(warehouse, "quotes") }
      assert.isAbove(want.trades, 0)
      assert.deepStrictEqual(yield* symbolCounts(["--warehouse", warehouse]), want)

      let events = 0
      const replayed = yield* run("replay", ["--warehouse", warehouse, ...ALL_TIME], {}, (chunk) => {
        for (const byte of chunk) if (byte === 10) events++
      })
      assert.strictEqual(replayed.code, 0, replayed.output)
      assert.strictEqual(events, want.trades + want.quotes)

      // An old unreferenced file in the table and in a sibling: compaction's orphan removal takes the table's only.
      const orphans = [warehouse, ...siblings].map((d) => path.join(d, "market_data", "trades", "data", "orphan.parquet"))
      const old = new Date(Date.now() - 2 * 86_400_000)
      for (const o of orphans) {
        fs.writeFileSync(o, "")
        fs.utimesSync(o, old, old)
      }
      const compacted = yield* run("compact", ["--warehouse", warehouse, "--orphan-grace-hours", "1"])
      assert.strictEqual(compacted.code, 0, compacted.output)
      assert.deepStrictEqual(orphans.map((o) => fs.existsSync(o)), [false, true, true])
      assert.deepStrictEqual(yield* symbolCounts([], { K2_WAREHOUSE: warehouse }), want)
    }), 240_000)

  it.effect("is refused up front, by flag and by K2_WAREHOUSE, where DuckDB cannot read its files as themselves, naming why", () =>
    Effect.gen(function*() {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "k2-glob-"))
      for (const [dir, why] of [
        [path.join(root, "a\\[1]"), "it holds a backslash and ["],
        [path.join(root, "a\\b*"), "it holds a backslash and *"],
        ["/wh?/warehouse", "its first component, /wh?, holds ?"]
      ] as const) {
        const byFlag = yield* run("compact", ["--warehouse", dir, "--dry-run"])
        assert.strictEqual(byFlag.code, 2, byFlag.output)
        assert.include(byFlag.output, "--warehouse")
        assert.include(byFlag.output, why)
        const byEnv = yield* run("query", ["symbols"], { K2_WAREHOUSE: dir })
        assert.strictEqual(byEnv.code, 2, byEnv.output)
        assert.include(byEnv.output, why)
      }
    }), 120_000)
})
