/**
 * Files without Parquet field ids (another engine's `add_files` or `migrate`) in tables read by
 * field id (ADR-2): DuckDB finds no column by id in them and reads them as all null, silently. They
 * are read by name, in plans, the query engine and replay: trades by the table's name mapping (its
 * aliases: K2's names, the other engine's renames), quotes, which has none, by the columns' current
 * names. The SQL sandbox: test/layers/http/sqlAddedColumn.test.ts; compaction: maintenance.test.ts.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { NAME_MAPPING } from "../../../src/domain/iceberg/readSchema.ts"
import type { Schema } from "../../../src/domain/iceberg/spec.ts"
import { quoteColumns, tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import * as Ref from "../../domain/query/reference.ts"
import { evolvingLakehouse, importWithoutFieldIds } from "../../support/warehouse.ts"
import { DAY, genQuotes, genTrades, T0 } from "./data.ts"
import { QUOTES, TRADES, warehouseDir } from "./fixture.ts"

const renamed = (schema: Schema, rename: Readonly<Record<string, string>>): Schema => ({
  type: "struct",
  "schema-id": 1,
  fields: schema.fields.map((f) => ({ ...f, name: rename[f.name] ?? f.name }))
})

const TRADES_RENAMED = { price: "trade_price", exchange_timestamp: "event_time" }
const QUOTES_RENAMED = { bid_price: "bid", exchange_timestamp: "event_time" }

/** Java's mapping after the renames: every column under its names, the rename added as an alias. */
const tradesMapping = JSON.stringify(tables.trades.schema.fields.map((f) => ({
  "field-id": f.id,
  names: [f.name, ...(f.name in TRADES_RENAMED ? [TRADES_RENAMED[f.name as keyof typeof TRADES_RENAMED]] : [])]
})))

const schemas: Partial<Record<string, Schema>> = {}
const ourTrades = genTrades(300, { seed: 51, idPrefix: "k2" })
const importedTrades = genTrades(200, { seed: 52, idPrefix: "imported" })
const ourQuotes = genQuotes(300, { seed: 53 })
const importedQuotes = genQuotes(200, { seed: 54 }).map((q) => ({ ...q, message_id: `imported-${q.message_id}` }))

const filled = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.ensureTable(tables.quotes)
  yield* sink.append(TRADES, tradeColumns(ourTrades))
  yield* sink.append(QUOTES, quoteColumns(ourQuotes))
  // Imported under K2's names (trades), and under the names the other engine then gives (quotes).
  yield* importWithoutFieldIds(TRADES, tradeColumns(importedTrades))
  yield* importWithoutFieldIds(QUOTES, quoteColumns(importedQuotes), QUOTES_RENAMED)
  schemas[TRADES.name] = renamed(tables.trades.schema, TRADES_RENAMED)
  schemas[QUOTES.name] = renamed(tables.quotes.schema, QUOTES_RENAMED)
  // A snapshot under the new schemas: reads of the current one go by field id from then on.
  yield* sink.append(TRADES, { rowCount: 0, columns: {} })
  yield* sink.append(QUOTES, { rowCount: 0, columns: {} })
}))

const warehouse = Layer.mergeAll(filled, QueryLayer.layer(), ReplayLayer.layer).pipe(
  Layer.provideMerge(evolvingLakehouse(warehouseDir(), (name) => schemas[name], (name) => name === TRADES.name ? { [NAME_MAPPING]: tradesMapping } : {}))
)

layer(warehouse, { timeout: 120_000, excludeTestServices: true })("files without field ids in a table read by field id", (it) => {
  it.effect("trades by the name mapping: every imported price, quantity and time read, not null", () =>
    Effect.gen(function*() {
      const plan = yield* (yield* TableScanner).plan(TRADES)
      assert.isTrue(plan.byFieldId)
      const rows = yield* selectPlanned(plan, "message_id, price::VARCHAR AS price, quantity::VARCHAR AS quantity, epoch_us(exchange_timestamp)::DOUBLE AS ts")
      const got = new Map(rows.map((r) => [String(r["message_id"]), [r["price"], r["quantity"], r["ts"]]]))
      assert.strictEqual(got.size, ourTrades.length + importedTrades.length)
      for (const t of [...ourTrades, ...importedTrades]) {
        assert.deepStrictEqual(got.get(t.message_id), [Ref.text8(t.price), Ref.text8(t.quantity), t.exchange_timestamp], t.message_id)
      }
      // One a day: the import is partitioned as K2's files are.
      assert.deepStrictEqual(plan.byName?.paths, plan.files.map((f) => f.filePath).filter((p) => p.endsWith("-no-ids.parquet")))
      assert.isAbove(plan.byName!.paths.length, 0)
    }))

  it.effect("quotes, without a name mapping, by the current names", () =>
    Effect.gen(function*() {
      const plan = yield* (yield* TableScanner).plan(QUOTES)
      assert.isTrue(plan.byFieldId)
      const rows = yield* selectPlanned(plan, "message_id, bid_price::VARCHAR AS bid, epoch_us(exchange_timestamp)::DOUBLE AS ts")
      const got = new Map(rows.map((r) => [String(r["message_id"]), [r["bid"], r["ts"]]]))
      for (const q of [...ourQuotes, ...importedQuotes]) {
        assert.deepStrictEqual(got.get(q.message_id), [Ref.text8(q.bid_price), q.exchange_timestamp], q.message_id)
      }
    }))

  it.effect("replay: every imported trade and quote, at its price and time, in order", () =>
    Effect.gen(function*() {
      const range = { from: T0, to: T0 + 3 * DAY }
      const events = [...yield* Stream.runCollect((yield* ReplayEngine).stream({ ...range, tables: ["trades", "quotes"] }))]
      const trades = new Map([...ourTrades, ...importedTrades].map((t) => [t.message_id, t]))
      const quotes = new Map([...ourQuotes, ...importedQuotes].map((q) => [q.message_id, q]))
      assert.strictEqual(events.length, Ref.selectRows([...trades.values()], range).length + Ref.selectRows([...quotes.values()], range).length)
      for (const e of events) {
        const want = e._tag === "Trade" ? Ref.text8(trades.get(e.message_id)!.price) : Ref.text8(quotes.get(e.message_id)!.bid_price)
        assert.strictEqual(e._tag === "Trade" ? e.price : e.bid_price, want, e.message_id)
      }
      assert.isTrue(events.some((e) => e.message_id.startsWith("imported-")))
    }))

  it.effect("the query engine: daily summaries count and price the imported trades", () =>
    Effect.gen(function*() {
      const days = { fromDay: "2024-01-01", toDay: "2024-01-07" }
      const got = yield* (yield* QueryEngine).dailySummary(days)
      assert.deepStrictEqual(got.rows, Ref.dailySummary([...ourTrades, ...importedTrades], days))
    }))
})
