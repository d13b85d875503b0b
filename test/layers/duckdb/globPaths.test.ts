/**
 * Planned paths holding `*`, `?` or `[` are read as the files they name (`exactFiles`): DuckDB reads
 * them as glob patterns, so a table under `wh[1]` read a sibling `wh1`'s same-named files instead,
 * and one under `wh*` or `wh?` read `whx`'s or `why`'s as well. The sibling here holds each file
 * twice over (300 rows where the table has 150). The paths `exactFiles` cannot read as themselves
 * (`globUnreadable`: a backslash beside a glob character, a glob character in the first component)
 * are refused as a program's warehouse (test/programs/warehouse-glob.test.ts).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { NAME_MAPPING } from "../../../src/domain/iceberg/readSchema.ts"
import { MissingFile } from "../../../src/domain/iceberg/errors.ts"
import type { Schema } from "../../../src/domain/iceberg/spec.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { DuckDb, query } from "../../../src/layers/duckdb/DuckDb.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import { exactFiles, globUnreadable, quoteLiteral } from "../../../src/layers/duckdb/sqlText.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as MaintenanceLayer from "../../../src/layers/maintenance/maintenance.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import * as Ref from "../../domain/query/reference.ts"
import { evolvingLakehouse, importWithoutFieldIds, mirrorDoubled, ODD_NAME, ODD_NAME_MATCH } from "../../support/warehouse.ts"
import { DAY, genTrades, T0 } from "../query/data.ts"

const mapping = JSON.stringify(tables.trades.schema.fields.map((f) => ({ "field-id": f.id, names: f.name === "price" ? ["price", "trade_price"] : [f.name] })))

const TRADES = { namespace: "market_data", name: "trades" }
const range = { from: T0 - DAY, to: T0 + 3 * DAY }
const days = { fromDay: "2024-01-01", toDay: "2024-01-07" }

/** Every read K2 makes of trades takes exactly `ids`. */
const readsOnly = (ids: ReadonlySet<string>, label: string) =>
  Effect.gen(function*() {
    const q = yield* QueryEngine
    const page = yield* q.trades({ ...range, limit: 100_000 })
    assert.strictEqual(page.rows.length, ids.size, `${label}: trades page`)
    assert.deepStrictEqual(new Set(page.rows.map((r) => String(r["message_id"]))), ids, `${label}: trades page`)
    const bars = yield* q.bars({ ...range, interval: "1d" })
    assert.strictEqual(bars.rows.reduce((n, b) => n + b.tradeCount, 0), ids.size, `${label}: bars`)
    const summary = yield* q.dailySummary(days)
    assert.strictEqual(summary.rows.reduce((n, d) => n + d.tradeCount, 0), ids.size, `${label}: daily summary`)
    const symbols = yield* q.symbols()
    assert.strictEqual(symbols.rows.reduce((n, s) => n + (s.trades?.count ?? 0), 0), ids.size, `${label}: symbols`)
    const events = [...yield* Stream.runCollect((yield* ReplayEngine).stream({ ...range, tables: ["trades"] }))]
    assert.deepStrictEqual(events.map((e) => e.message_id).sort(), [...ids].sort(), `${label}: replay`)
  })

describe("planned paths holding glob characters", () => {
  // Each sibling is a directory the name matches as a glob pattern, but for `wh1` beside the last.
  for (const [name, siblingNames] of [["wh[1]", ["wh1"]], ["wh*", ["whx"]], ["wh?", ["why"]], [ODD_NAME, ["wh1", ODD_NAME_MATCH]]] as const) {
    it.effect(`a table under ${name} beside ${siblingNames.join(", ")}: reads, time travel and compaction take its own files only`, () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "k2-globpath-"))
      const dir = path.join(root, name)
      const mirrored = Effect.forEach(siblingNames, (s) => mirrorDoubled(dir, path.join(root, s)), { discard: true })
      fs.mkdirSync(dir)
      const trades = genTrades(150, { days: 1, seed: 71, idPrefix: "own" })
      const ids = new Set(trades.map((t) => t.message_id))
      const lakehouse = Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } })
      return Effect.gen(function*() {
        const sink = yield* IcebergSink
        yield* sink.ensureTable(tables.trades)
        yield* sink.ensureTable(tables.quotes)
        // Three appends: three small files of one day for compaction to rewrite.
        for (let i = 0; i < 150; i += 50) yield* sink.append(TRADES, tradeColumns(trades.slice(i, i + 50)))
        const beforeCompaction = (yield* (yield* TableScanner).plan(TRADES)).snapshot!
        yield* mirrored
        yield* readsOnly(ids, "before compaction")
        // A small target: the rewritten file is split, re-reading the file just written.
        const report = yield* (yield* Maintenance).run(TRADES, { compact: { targetFileSizeBytes: 4096 }, expire: false, orphans: false })
        assert.isNull(report.compactFailure, String(report.compactFailure?.message))
        assert.isAbove(report.compact!.filesAfter, 1)
        yield* mirrored
        yield* readsOnly(ids, "after compaction")
        // Time travel to before compaction: the three small files, still on the disk and in the sibling.
        const q = yield* QueryEngine
        const then = { snapshot: { _tag: "ById", snapshotId: beforeCompaction["snapshot-id"] } } as const
        assert.strictEqual((yield* q.trades({ ...range, ...then, limit: 100_000 })).rows.length, ids.size, "time travel: trades page")
        assert.strictEqual((yield* q.bars({ ...range, ...then, interval: "1d" })).rows.reduce((n, b) => n + b.tradeCount, 0), ids.size, "time travel: bars")
      }).pipe(Effect.provide(Layer.mergeAll(QueryLayer.layer(), ReplayLayer.layer, MaintenanceLayer.layer()).pipe(Layer.provideMerge(lakehouse))))
    }, 120_000)
  }

  it.effect("a by-field-id read splitting off files without field ids reads the planned files' values", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "k2-globpath-"))
    const dir = path.join(root, "wh[1]")
    const sibling = path.join(root, "wh1")
    fs.mkdirSync(dir)
    const schemas: Partial<Record<string, Schema>> = {}
    const own = genTrades(100, { days: 1, seed: 72, idPrefix: "own" })
    const imported = genTrades(50, { days: 1, seed: 73, idPrefix: "imported" })
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(TRADES, tradeColumns(own))
      yield* importWithoutFieldIds(TRADES, tradeColumns(imported))
      // Another engine's rename: reads go by field id, the imported files by name (its name mapping).
      schemas[TRADES.name] = { ...tables.trades.schema, "schema-id": 1, fields: tables.trades.schema.fields.map((f) => f.name === "price" ? { ...f, name: "trade_price" } : f) }
      yield* sink.append(TRADES, { rowCount: 0, columns: {} })
      yield* mirrorDoubled(dir, sibling)
      const plan = yield* (yield* TableScanner).plan(TRADES)
      assert.isTrue(plan.byFieldId)
      assert.isAbove(plan.byName?.paths.length ?? 0, 0)
      const rows = yield* selectPlanned(plan, "message_id, price::VARCHAR AS price")
      const want = new Map([...own, ...imported].map((t) => [t.message_id, t.price]))
      assert.strictEqual(rows.length, want.size)
      for (const r of rows) assert.strictEqual(r["price"], Ref.text8(want.get(String(r["message_id"]))!), String(r["message_id"]))
      // A planned file gone: MissingFile naming it, not the sibling's file of that name read instead.
      const gone = plan.files.map((f) => localPath(f.filePath)).find((p) => !p.endsWith("-no-ids.parquet"))!
      fs.rmSync(gone)
      const failure = yield* Effect.flip(selectPlanned(plan, "count(*) AS n"))
      assert.strictEqual(failure._tag, "TableFileError")
      assert.deepStrictEqual(failure._tag === "TableFileError" ? failure.reason : undefined, new MissingFile({ path: gone }))
    }).pipe(Effect.provide(evolvingLakehouse(dir, (name) => schemas[name], () => ({ [NAME_MAPPING]: mapping }))))
  }, 120_000)
})

describe("the paths exactFiles cannot read as themselves", () => {
  /** The values of `v` in the files DuckDB reads for `file` through `exactFiles`, or its error's text. */
  const readExactly = (file: string) =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      const rows = yield* duckDb.withConnection((c) => query(c, "read", `SELECT v FROM read_parquet(${exactFiles(`[${quoteLiteral(file)}]`)}) ORDER BY v`))
      return rows.map((r) => Number(r["v"]))
    }).pipe(Effect.catch((e) => Effect.succeed(e.message.split("\n")[0]!)))

  it.effect("are the ones globUnreadable refuses, naming why: a backslash beside a glob character, a glob character in the first component", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "k2-globpath-"))
    const write = (name: string, v: number) =>
      Effect.gen(function*() {
        const file = path.join(root, name, "f.parquet")
        fs.mkdirSync(path.dirname(file), { recursive: true })
        yield* (yield* DuckDb).withConnection((c) => query(c, "write", `COPY (SELECT ${v} AS v) TO ${quoteLiteral(file)} (FORMAT parquet)`))
        return file
      })
    return Effect.gen(function*() {
      // Read as themselves, beside the directories their glob patterns (or brace expansions) would name.
      for (const decoy of [ODD_NAME_MATCH, "wh1", "wh2", "a", "wh]1"]) yield* write(decoy, 100)
      for (const [i, name] of [ODD_NAME, "wh[1]", "a\\b", "wh]{1,2}"].entries()) {
        const file = yield* write(name, i)
        assert.deepStrictEqual(yield* readExactly(file), [i], name)
        assert.isUndefined(globUnreadable(file), name)
      }
      // `a\[1]` is split into `a` and `[1]`: read as `a/[1]`, another file, or not found.
      const split = yield* write("a\\[1]", 1)
      assert.include(yield* readExactly(split), "No files found")
      yield* write(path.join("a", "[1]"), 2)
      assert.deepStrictEqual(yield* readExactly(split), [2])
      assert.include(globUnreadable(split), "holds a backslash and [")
      // The first component of a pattern is taken as written (not made here: it would be in /).
      assert.include(globUnreadable("/wh[1] *?/warehouse"), "first component, /wh[1] *?, holds [ * ?")
      assert.isUndefined(globUnreadable("/wh1/wh[1] *?/warehouse"))
    }).pipe(Effect.provide(DuckDb.layerWith({})))
  })
})
