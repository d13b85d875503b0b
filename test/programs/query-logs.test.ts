/**
 * `npm run query` and `npm run replay` print results on stdout: their log records go to stderr
 * through the programs' logger (K2_LOG_LEVEL, K2_LOG_FORMAT, as their --help says), never into
 * the CSV, JSON or NDJSON a pipe reads. Before, they had Effect's default logger, on stdout.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnProgram } from "../support/programs.ts"
import { tradesWarehouse } from "../support/warehouse.ts"

/** Its exit code, its stdout alone, and all it wrote. */
const run = (program: "query" | "replay", args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.gen(function*() {
    const p = spawnProgram(program, args, env)
    let stdout = ""
    p.child.stdout!.on("data", (d: Buffer) => (stdout += String(d)))
    const code = yield* Effect.promise(() => p.exited)
    return { code, stdout, output: p.output() }
  })

const day = ["--from", "2024-01-02", "--to", "2024-01-03"]

describe("npm run query and replay, logs", () => {
  it.effect("a warning goes to stderr: stdout holds only the results", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse()
      // More connections than the thread pool can serve: the engine warns that it uses fewer.
      const env = { K2_WAREHOUSE: dir, K2_DUCKDB_CONNECTIONS: "64", UV_THREADPOOL_SIZE: "4" }
      const csv = yield* run("query", ["trades", ...day, "-o", "csv", "--fields", "symbol,price"], env)
      assert.strictEqual(csv.code, 0, csv.output)
      assert.include(csv.output, "DuckDB connections: 64 requested", "the warning is said")
      const lines = csv.stdout.trimEnd().split("\n")
      assert.strictEqual(lines[0], "symbol,price", csv.stdout.slice(0, 300))
      assert.strictEqual(lines.length, 101)
      const ndjson = yield* run("replay", [...day, "--tables", "trades"], env)
      assert.strictEqual(ndjson.code, 0, ndjson.output)
      const events = ndjson.stdout.trimEnd().split("\n")
      assert.strictEqual(events.length, 100)
      for (const e of events) assert.doesNotThrow(() => JSON.parse(e), e)
    }), 60_000)

  it.effect("K2_LOG_LEVEL and K2_LOG_FORMAT are read: a bad one is a usage error naming it", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse()
      for (const [program, args] of [["query", ["stats", "trades"]], ["replay", day]] as const) {
        for (const variable of ["K2_LOG_LEVEL", "K2_LOG_FORMAT"]) {
          const r = yield* run(program, args, { K2_WAREHOUSE: dir, [variable]: "loud" })
          assert.strictEqual(r.code, 2, `${program} ${variable}: ${r.output}`)
          assert.include(r.output, variable)
          assert.strictEqual(r.stdout, "", "nothing printed")
        }
      }
    }), 60_000)
})
