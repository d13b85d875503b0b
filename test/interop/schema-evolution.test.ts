/**
 * Schema evolution by another engine, judged by Apache Iceberg Java (ADR-2). Java evolves K2
 * tables' schemas as any engine would (`table.updateSchema()`), appends rows under the new schema,
 * and K2 then reads, time-travels, appends and compacts. An added optional column is read by name:
 * old files read it as null, K2 writes it as null, compaction keeps Java's values. Renamed, dropped
 * and widened columns are read by Parquet field id, as Java reads them, in the scanner, the query
 * engine, replay, the SQL sandbox and compaction, with K2's columns under K2's names; K2's appends
 * stay refused when it writes a renamed or retyped column, or one dropped and added again at another
 * type (at K2's type the new column is written, and no engine shows the old values in it). Columns
 * only another engine writes (uuid, fixed) keep their types in K2's SQL. Reordered columns and a
 * column made optional are read and written by name. Files Java imported without field ids
 * (add_files) are read by its name mapping once reads go by field id. A column renamed back (Java makes
 * the first schema current again), or older schemas removed by Java's expiry, still read by field id.
 * Partition spec changes: partition-specs.test.ts. SQLite
 * catalog only: the catalogs' part is the same as in the other suites.
 */
import * as fs from "node:fs"
import { afterAll, assert, beforeAll, layer } from "@effect/vitest"
import { BigDecimal, Effect, Layer, Stream } from "effect"
import { type TradeRow, tradeColumns } from "../../src/domain/rows.ts"
import { tables } from "../../src/domain/tables.ts"
import { DuckDb, query } from "../../src/layers/duckdb/DuckDb.ts"
import { plannedPaths, selectPlanned } from "../../src/layers/duckdb/readPlan.ts"
import { localPath } from "../../src/layers/iceberg/fileio.ts"
import { writeDataFiles } from "../../src/layers/iceberg/parquet.ts"
import { runInThisProcess } from "../../src/layers/http/sandboxRun.ts"
import { sandboxTableOf } from "../../src/layers/http/sql.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import * as MaintenanceLayer from "../../src/layers/maintenance/maintenance.ts"
import * as QueryLayer from "../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../src/layers/replay/engine.ts"
import { Catalog, type TableIdentifier } from "../../src/services/Catalog.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { Maintenance } from "../../src/services/Maintenance.ts"
import { QueryEngine } from "../../src/services/QueryEngine.ts"
import { ReplayEngine } from "../../src/services/ReplayEngine.ts"
import { type ScanPlan, TableScanner } from "../../src/services/TableScanner.ts"
import { START_MICROS } from "../support/fixtures.ts"
import { sides } from "./catalogs.ts"
import { assertSameRows, type Canonical, fromJava, fromTradeRow, readOurs, str, toJavaJson, tradesFor } from "./compare.ts"
import * as Harness from "./harness.ts"

const DAY = 86_400_000_000
const { options, targetOf } = sides("sqlite")
afterAll(() => {
  if (process.env.K2_KEEP_INTEROP_WAREHOUSE !== "1") fs.rmSync(options.warehouse, { recursive: true, force: true })
})
beforeAll(() => Harness.buildHarness(), 10 * 60_000)

const lakehouse = Lakehouse.layer(options)
const services = Layer.mergeAll(
  lakehouse,
  MaintenanceLayer.layer().pipe(Layer.provide(lakehouse)),
  QueryLayer.layer().pipe(Layer.provide(lakehouse)),
  ReplayLayer.layer.pipe(Layer.provide(lakehouse)),
  Harness.IcebergJava.layer
)

/** Java appends `rows` (as Values.java takes them, extra columns included) to `table`. */
const javaAppend = (table: TableIdentifier, rows: ReadonlyArray<Record<string, unknown>>, name: string) =>
  Effect.gen(function*() {
    const file = `${options.warehouse}/${name}.jsonl`
    fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join("\n") + "\n")
    const [out] = yield* (yield* Harness.IcebergJava).run(targetOf(table), { command: "append", options: { rows: file } })
    assert.strictEqual(out!.records, rows.length)
  })

const javaRead = (table: TableIdentifier, snapshotId?: bigint) =>
  Effect.flatMap(Harness.IcebergJava, (java) =>
    java.run(targetOf(table), { command: "read", options: snapshotId === undefined ? {} : { "snapshot-id": String(snapshotId) } }))

const evolve = (table: TableIdentifier, change: Record<string, string>) =>
  Effect.flatMap(Harness.IcebergJava, (java) => java.run(targetOf(table), { command: "update-schema", options: change }))

const noteOf = (r: TradeRow) => (r.kafka_offset % 3n === 0n ? null : `note ${r.trade_id}`)

layer(services, { excludeTestServices: true, timeout: "5 minutes" })("schema changes Iceberg Java makes to K2 tables", (it) => {
  it.effect("an added optional column: K2 reads it as null in older files, time-travels under the old schema, appends and compacts", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      const trades = { namespace: tables.trades.namespace, name: tables.trades.name }
      yield* sink.ensureTable(tables.trades)
      const before = tradesFor({ count: 30, idPrefix: "k2-before" })
      const first = yield* sink.append(trades, tradeColumns(before))

      // Java adds venue_note and appends rows carrying it (some null), the same day.
      const [info] = yield* evolve(trades, { add: "venue_note:string" })
      const fields = (info!.schema as { fields: ReadonlyArray<{ id: number; name: string; required: boolean }> }).fields
      const note = fields.find((f) => f.name === "venue_note")!
      assert.isFalse(note.required)
      const java = tradesFor({ count: 20, idPrefix: "java", offsetBase: 1_000 })
      yield* javaAppend(trades, java.map((r) => ({ ...toJavaJson(r), venue_note: noteOf(r) })), "java-added")

      // K2 appends with the new schema current: its rows carry no note.
      const after = tradesFor({ count: 25, idPrefix: "k2-after", offsetBase: 2_000 })
      yield* sink.append(trades, tradeColumns(after))
      const all = [...before, ...java, ...after]
      const notes = new Map<string, string | null>(all.map((r) => [r.message_id, null]))
      for (const r of java) notes.set(r.message_id, noteOf(r))

      const checkBoth = (what: string) =>
        Effect.gen(function*() {
          const javaRows = yield* javaRead(trades)
          assertSameRows(javaRows.map(fromJava), all.map(fromTradeRow), `${what}: Java's read`)
          for (const r of javaRows) assert.strictEqual(r.venue_note, notes.get(str(r.message_id)), `${what}: Java's venue_note of ${str(r.message_id)}`)
          const plan = yield* scanner.plan(trades)
          assert.include(plan.schema.fields.map((f) => f.name), "venue_note")
          assertSameRows(yield* readOurs(plan), all.map(fromTradeRow), `${what}: K2's read`)
          // The SQL API's view of the table, in both file orders: a file holding the column before
          // one lacking it, and after.
          for (const files of [plannedPaths(plan), [...plannedPaths(plan)].reverse()]) {
            const read = yield* runInThisProcess({
              sql: "SELECT message_id, venue_note FROM trades",
              tables: [{ ...sandboxTableOf("trades", plan, { widenDecimals: true }), files }],
              maxRows: 10_000,
              timeoutMs: 60_000
            })
            assert.deepStrictEqual(
              new Map(read.rows.map((r) => [str(r.message_id), r.venue_note as string | null])),
              notes,
              `${what}: K2's SQL read of venue_note`
            )
          }
          // The query API: every row, every trade column exact.
          const page = yield* (yield* QueryEngine).trades({ from: START_MICROS, to: START_MICROS + DAY, limit: 1_000 })
          assert.sameMembers(page.rows.map((r) => str(r.message_id)), all.map((r) => r.message_id), `${what}: K2's query`)
        })
      yield* checkBoth("after Java added venue_note and both appended")

      // Time travel to before the change: that snapshot's schema, its rows only; Java agrees.
      const old = yield* scanner.plan(trades, { snapshot: { _tag: "ById", snapshotId: first.snapshot["snapshot-id"] } })
      assert.notInclude(old.schema.fields.map((f) => f.name), "venue_note")
      assertSameRows(yield* readOurs(old), before.map(fromTradeRow), "K2 at the snapshot before the change")
      const javaOld = yield* javaRead(trades, first.snapshot["snapshot-id"])
      assertSameRows(javaOld.map(fromJava), before.map(fromTradeRow), "Java at the snapshot before the change")
      assert.isFalse("venue_note" in javaOld[0]!, "Java reads the old snapshot with its own schema")
      const pastPage = yield* (yield* QueryEngine).trades({
        from: START_MICROS,
        to: START_MICROS + DAY,
        limit: 1_000,
        snapshot: { _tag: "ById", snapshotId: first.snapshot["snapshot-id"] }
      })
      assert.strictEqual(pastPage.rows.length, before.length)

      // Compaction rewrites the files of both schemas into one: Java's notes survive it.
      const compacted = yield* (yield* Maintenance).compact(trades, { minInputFiles: 2 })
      assert.isNotNull(compacted.snapshotId)
      assert.strictEqual(compacted.filesAfter, 1)
      yield* checkBoth("after K2 compacted the files of both schemas")
    }))

  /** A table of its own for one change: K2 rows, the change, Java rows under it. */
  const evolved = (name: string, change: Record<string, string>, javaRow: (r: TradeRow) => Record<string, unknown> = toJavaJson) =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const table = { namespace: tables.trades.namespace, name }
      yield* sink.ensureTable({ ...tables.trades, name })
      const ours = tradesFor({ count: 12, idPrefix: `k2-${name}` })
      yield* sink.append(table, tradeColumns(ours))
      yield* evolve(table, change)
      const theirs = tradesFor({ count: 6, idPrefix: `java-${name}`, offsetBase: 1_000 })
      yield* javaAppend(table, theirs.map(javaRow), `java-${name}`)
      return { table, written: [...ours, ...theirs] }
    })

  /** K2 reads the table exactly, appends, and Java reads every row back exactly. */
  const handled = (name: string, change: Record<string, string>) =>
    Effect.gen(function*() {
      const { table, written } = yield* evolved(name, change)
      const scanner = yield* TableScanner
      assertSameRows(yield* readOurs(yield* scanner.plan(table)), written.map(fromTradeRow), `${name}: K2's read`)
      const late = tradesFor({ count: 5, idPrefix: `k2-late-${name}`, offsetBase: 5_000 })
      yield* (yield* IcebergSink).append(table, tradeColumns(late))
      const all = [...written, ...late].map(fromTradeRow)
      assertSameRows((yield* javaRead(table)).map(fromJava), all, `${name}: Java's read after K2's append`)
      assertSameRows(yield* readOurs(yield* scanner.plan(table)), all, `${name}: K2's read after its append`)
    })

  /** Java's row under K2's names: a renamed column under the name K2 gave it, a dropped one null, longs and ints alike. */
  const asK2 = (renamed: Record<string, string>, dropped: ReadonlyArray<string>) => (j: Harness.Json): Canonical => {
    const row: Record<string, unknown> = { ...j }
    for (const [k2Name, now] of Object.entries(renamed)) {
      row[k2Name] = row[now]
      delete row[now]
    }
    for (const d of dropped) row[d] = null
    return canonical(fromJava(row))
  }
  const canonical = (c: Canonical): Canonical => ({ ...c, kafka_partition: Number(c.kafka_partition) })

  /** The SQL API's view of a plan: every column K2 names, as text. */
  const sqlRead = (plan: ScanPlan) =>
    Effect.map(
      runInThisProcess({
        sql: `SELECT message_id, price::VARCHAR AS price, quantity::VARCHAR AS quantity, side, source_sequence::VARCHAR AS source_sequence,
          kafka_partition::VARCHAR AS kafka_partition, to_json(vendor_data)::VARCHAR AS vendor_data FROM trades`,
        tables: [sandboxTableOf("trades", plan, { widenDecimals: true })],
        maxRows: 10_000,
        timeoutMs: 60_000
      }),
      (r) => new Map(r.rows.map((row) => [str(row.message_id), row]))
    )
  const assertSqlAgrees = (read: Map<string, Record<string, unknown>>, want: ReadonlyArray<Canonical>, what: string) => {
    assert.strictEqual(read.size, want.length, `${what}: rows`)
    for (const w of want) {
      const r = read.get(w.message_id)!
      const cell = (v: unknown) => (v === null ? null : BigDecimal.fromStringUnsafe(str(v)))
      assert.isTrue(BigDecimal.equals(cell(r.price)!, BigDecimal.make(w.price, 8)), `${what}: price of ${w.message_id}`)
      assert.isTrue(BigDecimal.equals(cell(r.quantity)!, BigDecimal.make(w.quantity, 8)), `${what}: quantity of ${w.message_id}`)
      assert.strictEqual(r.side, w.side, `${what}: side of ${w.message_id}`)
      assert.strictEqual(r.source_sequence, w.source_sequence === null ? null : String(w.source_sequence), `${what}: source_sequence of ${w.message_id}`)
      assert.strictEqual(Number(r.kafka_partition), w.kafka_partition, `${what}: kafka_partition of ${w.message_id}`)
      assert.strictEqual(r.vendor_data === null, w.vendor_data === null, `${what}: vendor_data of ${w.message_id}`)
    }
  }

  it.effect("renamed, dropped and widened columns (int to long, decimal(18, 8) to decimal(20, 8)) are read by field id as Java reads them, before and after compaction and at the snapshot before the change", () =>
    Effect.gen(function*() {
      const renamed = { source_sequence: "seq", side: "trade_side" }
      const k2 = asK2(renamed, ["vendor_data"])
      const javaRow = (r: TradeRow) => {
        const { source_sequence, side, vendor_data: _, ...rest } = toJavaJson(r)
        return { ...rest, seq: source_sequence, trade_side: side }
      }
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      const table = { namespace: tables.trades.namespace, name: "trades_evolved" }
      yield* sink.ensureTable({ ...tables.trades, name: table.name })
      const ours = tradesFor({ count: 12, idPrefix: "k2-evolved" })
      const first = yield* sink.append(table, tradeColumns(ours))
      yield* sink.append(table, tradeColumns(tradesFor({ count: 8, idPrefix: "k2-evolved-2", offsetBase: 500 })))
      yield* evolve(table, { rename: "source_sequence:seq;side:trade_side", drop: "vendor_data", widen: "kafka_partition:long;price:decimal(20,8)" })
      const theirs = tradesFor({ count: 6, idPrefix: "java-evolved", offsetBase: 1_000 })
      yield* javaAppend(table, theirs.map(javaRow), "java-evolved")

      const check = (what: string) =>
        Effect.gen(function*() {
          const java = (yield* javaRead(table)).map(k2)
          assert.strictEqual(java.length, 12 + 8 + 6, `${what}: Java's rows`)
          const plan = yield* scanner.plan(table)
          assert.isTrue(plan.byFieldId, `${what}: read by field id`)
          assertSameRows((yield* readOurs(plan)).map(canonical), java, `${what}: K2's read`)
          assertSqlAgrees(yield* sqlRead(plan), java, `${what}: K2's SQL read`)
          return java
        })
      const before = yield* check("after Java's change and append")

      // Time travel to before the change: that snapshot's schema and files, read by name; Java agrees.
      const old = yield* scanner.plan(table, { snapshot: { _tag: "ById", snapshotId: first.snapshot["snapshot-id"] } })
      assert.isFalse(old.byFieldId)
      const javaOld = (yield* javaRead(table, first.snapshot["snapshot-id"])).map((j) => canonical(fromJava(j)))
      assertSameRows(javaOld, ours.map((r) => canonical(fromTradeRow(r))), "Java at the snapshot before the change")
      assertSameRows((yield* readOurs(old)).map(canonical), javaOld, "K2 at the snapshot before the change")
      assertSqlAgrees(yield* sqlRead(old), javaOld, "K2's SQL at the snapshot before the change")

      // K2 appends stay refused: it writes the renamed and retyped columns.
      const write = yield* Effect.flip(sink.append(table, tradeColumns(tradesFor({ count: 3, idPrefix: "k2-late-evolved", offsetBase: 5_000 }))))
      assert.strictEqual(write._tag, "UnsupportedTableFeature", String(write))
      assert.include(write.message, "renamed")

      // Compaction reads by field id and writes the current schema: Java reads the same rows after.
      const compacted = yield* (yield* Maintenance).compact(table, { minInputFiles: 2 })
      assert.isNotNull(compacted.snapshotId)
      assert.strictEqual(compacted.filesAfter, 1)
      const after = yield* check("after K2 compacted")
      assertSameRows(after, before, "Java's read after K2's compaction")
    }))

  /** Parquet files of `rows` as written outside Iceberg (no field ids), one a day, each with its partition path. */
  const writeWithoutIds = (rows: ReadonlyArray<TradeRow>, name: string) =>
    Effect.gen(function*() {
      const directory = `${options.warehouse}/imports/${name}`
      const written = yield* writeDataFiles(tradeColumns(rows), {
        schema: tables.trades.schema,
        spec: tables.trades.spec,
        sortOrder: tables.trades.sortOrder,
        directory,
        targetFileSizeBytes: 1 << 30,
        fileNamePrefix: "staged"
      })
      const duckDb = yield* DuckDb
      return yield* Effect.forEach(written, (f) =>
        duckDb.withConnection((c) =>
          Effect.gen(function*() {
            const from = localPath(f.filePath)
            const to = from.replace(/staged-/, "imported-")
            yield* query(c, "strip ids", `COPY (SELECT * FROM read_parquet('${from}')) TO '${to}' (FORMAT parquet)`)
            fs.rmSync(from)
            const [day] = yield* query(c, "day", `SELECT strftime(min(exchange_timestamp), '%Y-%m-%d') AS day FROM read_parquet('${to}')`)
            return { path: to, partition: `exchange_timestamp_day=${str(day!.day)}` }
          })
        ))
    })

  it.effect("files Java imported without field ids (add_files) are read by its name mapping after Java renamed a column, as Java reads them, before and after compaction", () =>
    Effect.gen(function*() {
      const renamed = { source_sequence: "seq", side: "trade_side" }
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      const java = yield* Harness.IcebergJava
      const table = { namespace: tables.trades.namespace, name: "trades_imported" }
      yield* sink.ensureTable({ ...tables.trades, name: table.name })
      const ours = tradesFor({ count: 10, idPrefix: "k2-imported" })
      yield* sink.append(table, tradeColumns(ours))
      const imported = tradesFor({ count: 8, idPrefix: "java-imported", offsetBase: 2_000 })
      const files = yield* writeWithoutIds(imported, table.name)
      for (const f of files) {
        const [out] = yield* java.run(targetOf(table), { command: "add-files", options: { files: f.path, partition: f.partition } })
        assert.strictEqual(out!.files, 1)
      }
      // Java's rename adds the new names to the name mapping add_files set.
      yield* evolve(table, { rename: "source_sequence:seq;side:trade_side" })
      const theirs = tradesFor({ count: 4, idPrefix: "java-after-import", offsetBase: 3_000 })
      yield* javaAppend(table, theirs.map((r) => {
        const { source_sequence, side, ...rest } = toJavaJson(r)
        return { ...rest, seq: source_sequence, trade_side: side }
      }), "java-after-import")
      const written = [...ours, ...imported, ...theirs].map((r) => canonical(fromTradeRow(r)))

      const check = (what: string) =>
        Effect.gen(function*() {
          const javaRows = (yield* javaRead(table)).map(asK2(renamed, []))
          assertSameRows(javaRows, written, `${what}: Java's read`)
          const plan = yield* scanner.plan(table)
          assert.isTrue(plan.byFieldId, `${what}: read by field id`)
          assertSameRows((yield* readOurs(plan)).map(canonical), javaRows, `${what}: K2's read`)
          assertSqlAgrees(yield* sqlRead(plan), javaRows, `${what}: K2's SQL read`)
          return plan
        })
      const plan = yield* check("after Java's add_files, rename and append")
      assert.strictEqual(plan.byName?.paths.length, files.length)
      const compacted = yield* (yield* Maintenance).compact(table, { minInputFiles: 2 })
      assert.isNotNull(compacted.snapshotId)
      const after = yield* check("after K2 compacted")
      assert.isUndefined(after.byName, "compaction wrote the imported rows with field ids")
    }))

  it.effect("a column Java renamed and renamed back (Java makes K2's schema current again): the files written between are read by field id, before and after compaction", () =>
    Effect.gen(function*() {
      const javaRow = (r: TradeRow) => {
        const { side, ...rest } = toJavaJson(r)
        return { ...rest, trade_side: side }
      }
      const { table, written } = yield* evolved("trades_renamed_back", { rename: "side:trade_side" }, javaRow)
      yield* evolve(table, { rename: "trade_side:side" })
      const m = (yield* (yield* Catalog).loadTable(table)).metadata
      assert.deepStrictEqual([m.schemas.length, m["current-schema-id"]], [2, 0], "Java reuses schema 0")
      const late = tradesFor({ count: 5, idPrefix: "k2-late-renamed-back", offsetBase: 5_000 })
      yield* (yield* IcebergSink).append(table, tradeColumns(late))
      const all = [...written, ...late].map(fromTradeRow)
      const scanner = yield* TableScanner
      assertSameRows(yield* readOurs(yield* scanner.plan(table)), all, "K2's read")
      yield* (yield* Maintenance).compact(table, { minInputFiles: 2 })
      assertSameRows(yield* readOurs(yield* scanner.plan(table)), all, "K2's read after compaction")
      assertSameRows((yield* javaRead(table)).map(fromJava), all, "Java's read after compaction")
    }))

  it.effect("a column Java renamed, then K2's schema removed by Java's expiry (cleanExpiredMetadata): K2's files are read by field id, compaction keeps their values, and K2's append is refused", () =>
    Effect.gen(function*() {
      const javaRow = (r: TradeRow) => {
        const { side, ...rest } = toJavaJson(r)
        return { ...rest, trade_side: side }
      }
      const { table, written } = yield* evolved("trades_schema_removed", { rename: "side:trade_side" }, javaRow)
      yield* (yield* Harness.IcebergJava).run(targetOf(table), { command: "expire", options: { "clean-metadata": "true" } })
      const m = (yield* (yield* Catalog).loadTable(table)).metadata
      assert.deepStrictEqual(m.schemas.map((x) => x["schema-id"]), [1], "Java removed schema 0")
      const sides = (rows: ReadonlyArray<Record<string, unknown>>) => new Map(rows.map((r) => [str(r.message_id), r.trade_side]))
      const want = new Map(written.map((r) => [r.message_id, r.side]))
      const scanner = yield* TableScanner
      const plan = yield* scanner.plan(table)
      assert.isTrue(plan.byFieldId)
      assert.deepStrictEqual(sides(yield* selectPlanned(plan, "message_id, trade_side")), want, "K2's read")
      // Renamed or dropped: with schema 0 gone nobody can tell, and K2's side would be written as null.
      const refused = yield* Effect.flip((yield* IcebergSink).append(table, tradeColumns(tradesFor({ count: 3, idPrefix: "k2-late-removed", offsetBase: 5_000 }))))
      assert.strictEqual(refused._tag, "UnsupportedTableFeature")
      yield* (yield* Maintenance).compact(table, { minInputFiles: 2 })
      assert.deepStrictEqual(sides(yield* selectPlanned(yield* scanner.plan(table), "message_id, trade_side")), want, "K2's read after compaction")
      assert.deepStrictEqual(sides(yield* javaRead(table)), want, "Java's read after compaction")
    }))

  it.effect("a float column widened to double is read by field id; K2 appends without it and Java reads every row", () =>
    Effect.gen(function*() {
      const { table } = yield* evolved("trades_widened_float", { add: "score:float" }, (r) => ({ ...toJavaJson(r), score: 1.5 }))
      yield* evolve(table, { widen: "score:double" })
      const more = tradesFor({ count: 2, idPrefix: "java-double", offsetBase: 3_000 })
      yield* javaAppend(table, more.map((r) => ({ ...toJavaJson(r), score: 2.25 })), "java-double")
      const score = (id: string) => (id.startsWith("java-double") ? 2.25 : id.startsWith("java") ? 1.5 : null)
      const plan = yield* (yield* TableScanner).plan(table)
      assert.isTrue(plan.byFieldId)
      const read = yield* selectPlanned(plan, "message_id, score, typeof(score) AS type")
      assert.strictEqual(read.length, 12 + 6 + 2)
      for (const r of read) {
        assert.strictEqual(r.score, score(str(r.message_id)), `K2's score of ${str(r.message_id)}`)
        assert.strictEqual(r.type, "DOUBLE")
      }
      // K2 writes none of score: its rows append, score null, and Java reads them all.
      const ours = tradesFor({ count: 2, idPrefix: "k2-float", offsetBase: 6_000 })
      yield* (yield* IcebergSink).append(table, tradeColumns(ours))
      const rows = yield* javaRead(table)
      assert.strictEqual(rows.length, 12 + 6 + 2 + 2)
      for (const r of rows) assert.strictEqual(r.score, score(str(r.message_id)), `Java's score of ${str(r.message_id)}`)
    }))

  it.effect("K2's trades table after Java renamed price, widened quantity and dropped vendor_data: the query engine (rows, bars), replay and time travel read every row under K2's names as Java reads them", () =>
    Effect.gen(function*() {
      const trades = { namespace: tables.trades.namespace, name: tables.trades.name }
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(trades, tradeColumns(tradesFor({ count: 10, idPrefix: "k2-own", offsetBase: 7_000 })))
      const javaBefore = (yield* javaRead(trades)).map(asK2({}, []))
      const before = yield* (yield* QueryEngine).trades({ from: START_MICROS, to: START_MICROS + DAY, limit: 1_000 })
      yield* evolve(trades, { rename: "price:trade_price", widen: "quantity:decimal(20,8)", drop: "vendor_data" })
      const theirs = tradesFor({ count: 5, idPrefix: "java-own", offsetBase: 8_000 })
      yield* javaAppend(trades, theirs.map((r) => {
        const { price, vendor_data: _, ...rest } = toJavaJson(r)
        return { ...rest, trade_price: price }
      }), "java-own")
      const java = (yield* javaRead(trades)).map(asK2({ price: "trade_price" }, ["vendor_data"]))
      assert.strictEqual(java.length, javaBefore.length + 5)

      const same = (text: unknown, unscaled: bigint) => BigDecimal.equals(BigDecimal.fromStringUnsafe(str(text)), BigDecimal.make(unscaled, 8))
      const assertRows = (rows: ReadonlyArray<Record<string, unknown>>, want: ReadonlyArray<Canonical>, what: string, vendorData = false) => {
        const byId = new Map(rows.map((r) => [str(r.message_id), r]))
        assert.strictEqual(byId.size, want.length, `${what}: rows`)
        for (const w of want) {
          const r = byId.get(w.message_id)
          assert.isDefined(r, `${what}: ${w.message_id}`)
          assert.isTrue(same(r!.price, w.price), `${what}: price of ${w.message_id}: ${String(r!.price)}`)
          assert.isTrue(same(r!.quantity, w.quantity), `${what}: quantity of ${w.message_id}: ${String(r!.quantity)}`)
          if (vendorData) assert.strictEqual(r!.vendor_data ?? null, null, `${what}: vendor_data of ${w.message_id}`)
        }
      }
      const q = yield* QueryEngine
      const range = { from: START_MICROS, to: START_MICROS + DAY }
      const page = yield* q.trades({ ...range, limit: 1_000 })
      assert.isTrue(page.scanned.length > 0)
      assertRows(page.rows, java, "K2's query", true)
      const bars = yield* q.bars({ ...range, interval: "1d" })
      assert.strictEqual(bars.rows.reduce((n, b) => n + b.tradeCount, 0), java.length, "bars: trades counted")
      const volume = bars.rows.reduce((v, b) => BigDecimal.sum(v, BigDecimal.fromStringUnsafe(b.volume)), BigDecimal.make(0n, 0))
      assert.isTrue(BigDecimal.equals(volume, BigDecimal.make(java.reduce((n, w) => n + w.quantity, 0n), 8)), "bars: volume")
      // The SQL API: the table also holds venue_note, which Java added (the first test).
      const plan = yield* (yield* TableScanner).plan(trades)
      assert.isTrue(plan.byFieldId)
      assert.include(plan.schema.fields.map((f) => f.name), "venue_note")
      assertSqlAgrees(yield* sqlRead(plan), java, "K2's SQL read")
      const events = yield* Stream.runCollect((yield* ReplayEngine).stream({ ...range, tables: ["trades"] }))
      assertRows([...events] as unknown as ReadonlyArray<Record<string, unknown>>, java, "K2's replay")

      // Time travel to before the change: by name, under the old schema, every row as it was.
      const snapshotId = before.scanned[0]!.snapshotId!
      const past = yield* q.trades({ ...range, limit: 1_000, snapshot: { _tag: "ById", snapshotId } })
      assertRows(past.rows, javaBefore, "K2's query before the change")
      const pastEvents = yield* Stream.runCollect((yield* ReplayEngine).stream({ ...range, tables: ["trades"], snapshot: { _tag: "ById", snapshotId } }))
      assertRows([...pastEvents] as unknown as ReadonlyArray<Record<string, unknown>>, javaBefore, "K2's replay before the change")
    }))

  it.effect("a K2 column Java dropped and added again: at its type K2 writes the new column and neither engine shows the old values in it; at another type K2's append is refused", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const table = { namespace: tables.trades.namespace, name: "trades_readded" }
      yield* sink.ensureTable({ ...tables.trades, name: table.name })
      const ours = tradesFor({ count: 12, idPrefix: "k2-readded" })
      yield* sink.append(table, tradeColumns(ours))
      yield* evolve(table, { drop: "side" })
      const [info] = yield* evolve(table, { add: "side:string" })
      const side = (info!.schema as { fields: ReadonlyArray<{ id: number; name: string }> }).fields.find((f) => f.name === "side")!
      assert.notStrictEqual(side.id, 10, "a new column, a new field id")
      const theirs = tradesFor({ count: 6, idPrefix: "java-readded", offsetBase: 1_000 })
      yield* javaAppend(table, theirs.map(toJavaJson), "java-readded")
      const late = tradesFor({ count: 5, idPrefix: "k2-late-readded", offsetBase: 5_000 })
      yield* sink.append(table, tradeColumns(late))
      // The dropped column's values are not the new one's: K2's first rows have no side, for Java and K2 alike.
      const want = [...ours.map((r) => ({ ...fromTradeRow(r), side: null as unknown as string })), ...[...theirs, ...late].map(fromTradeRow)]
      assertSameRows((yield* javaRead(table)).map(fromJava), want, "Java's read after K2 wrote the re-added side")
      const plan = yield* (yield* TableScanner).plan(table)
      assert.isTrue(plan.byFieldId)
      assertSameRows(yield* readOurs(plan), want, "K2's read after it wrote the re-added side")

      // price added again as a double: K2's decimals are not of it.
      yield* evolve(table, { drop: "price" })
      yield* evolve(table, { add: "price:double" })
      const write = yield* Effect.flip(sink.append(table, tradeColumns(tradesFor({ count: 3, idPrefix: "k2-refused-readded", offsetBase: 6_000 }))))
      assert.strictEqual(write._tag, "UnsupportedTableFeature", String(write))
      assert.include(write.message, "price (id 7) was dropped and added again")
      const rows = yield* javaRead(table)
      assert.strictEqual(rows.length, want.length, "nothing landed")
      for (const r of rows) assert.isNull(r.price, `Java's price of ${str(r.message_id)}: the new column's`)
    }))

  it.effect("uuid and fixed columns Java added: K2's SQL shows them as UUID and BLOB, read by name and by field id, as Java reads them; K2's appends are refused", () =>
    Effect.gen(function*() {
      const venueOf = (r: TradeRow) => (r.kafka_offset % 3n === 0n ? null : `1b4e28ba-2fa1-41d2-883f-${r.kafka_offset.toString().padStart(12, "0")}`)
      const rawOf = (r: TradeRow) => (r.kafka_offset % 3n === 0n ? null : Buffer.from([0xff, 0x00, 0x80, Number(r.kafka_offset % 256n)]).toString("base64"))
      const { table, written } = yield* evolved(
        "trades_other_types",
        { add: "venue_id:uuid;raw:fixed[4]" },
        (r) => ({ ...toJavaJson(r), venue_id: venueOf(r), raw: rawOf(r) })
      )
      const check = (what: string, byFieldId: boolean) =>
        Effect.gen(function*() {
          const java = new Map((yield* javaRead(table)).map((j) => [str(j.message_id), j]))
          assert.strictEqual(java.size, written.length, `${what}: Java's rows`)
          const plan = yield* (yield* TableScanner).plan(table)
          assert.strictEqual(plan.byFieldId, byFieldId, `${what}: read by field id`)
          const read = yield* runInThisProcess({
            sql: "SELECT message_id, venue_id::VARCHAR AS venue_id, typeof(venue_id) AS venue_type, hex(raw) AS raw, typeof(raw) AS raw_type FROM trades",
            tables: [sandboxTableOf("trades", plan, { widenDecimals: true })],
            maxRows: 10_000,
            timeoutMs: 60_000
          })
          assert.strictEqual(read.rows.length, written.length, `${what}: K2's rows`)
          for (const r of read.rows) {
            const j = java.get(str(r.message_id))!
            assert.strictEqual(r.venue_id, j.venue_id, `${what}: venue_id of ${str(r.message_id)}`)
            assert.strictEqual(r.raw, j.raw === null ? null : Buffer.from(str(j.raw), "base64").toString("hex").toUpperCase(), `${what}: raw of ${str(r.message_id)}`)
            assert.deepStrictEqual([r.venue_type, r.raw_type], ["UUID", "BLOB"], `${what}: types`)
          }
          assert.isTrue(read.rows.some((r) => r.venue_id !== null), `${what}: Java's values read`)
        })
      yield* check("after Java added venue_id and raw", false)
      // K2 has no Parquet form for them, not even all null: its append is refused, naming the column.
      const write = yield* Effect.flip((yield* IcebergSink).append(table, tradeColumns(tradesFor({ count: 3, idPrefix: "k2-late-other", offsetBase: 5_000 }))))
      assert.strictEqual(write._tag, "UnsupportedTableFeature", String(write))
      assert.include(write.message, "venue_id of type uuid")
      const compact = yield* Effect.flip((yield* Maintenance).compact(table, { minInputFiles: 2 }))
      assert.strictEqual(compact._tag, "UnsupportedTableFeature", String(compact))
      // A rename: files read by field id from Java's next snapshot on.
      yield* evolve(table, { rename: "currency:ccy" })
      const more = tradesFor({ count: 4, idPrefix: "java-other-renamed", offsetBase: 3_000 })
      yield* javaAppend(table, more.map((r) => {
        const { currency, ...rest } = toJavaJson(r)
        return { ...rest, ccy: currency, venue_id: venueOf(r), raw: rawOf(r) }
      }), "java-other-renamed")
      written.push(...more)
      yield* check("after Java renamed currency", true)
    }))

  it.effect("reordered columns and a required column made optional are read and written by name exactly", () =>
    Effect.gen(function*() {
      yield* handled("trades_reordered", { "move-first": "price;kafka_offset" })
      yield* handled("trades_optional", { "make-optional": "currency;side" })
    }))
})
