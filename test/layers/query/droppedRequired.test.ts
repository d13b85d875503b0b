/**
 * Trades and quotes whose `exchange` another engine dropped (ADR-2: K2's columns another engine
 * dropped read as null in every file). Bars, daily summaries and quote bars group by it: its NULLs
 * threw a plain Error from the answer's reader, a DuckDbError "query: NULL exchange" (HTTP 500
 * `internal`), and a daily summary answered `exchange: null` past its type. Now each is a
 * `MissingColumn` naming the table and the column, and why (HTTP 501 `unsupported_table`).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import type { Schema } from "../../../src/domain/iceberg/spec.ts"
import { MissingColumn } from "../../../src/domain/query/errors.ts"
import { quoteColumns, tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { problemOf } from "../../support/problems.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { drainRecord, programExitCode } from "../../../src/programs/cli/run.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { evolvingLakehouse } from "../../support/warehouse.ts"
import { DAY, genQuotes, genTrades, T0 } from "./data.ts"
import { theirAppend } from "./evolvedFixture.ts"
import { QUOTES, TRADES, warehouseDir } from "./fixture.ts"
import { runQuery } from "./queryRun.ts"

const dropped = (schema: Schema, column = "exchange"): Schema => ({
  type: "struct",
  "schema-id": 1,
  fields: schema.fields.filter((f) => f.name !== column)
})

const schemas: Partial<Record<string, Schema>> = {}

/** The other engine's rows: no exchange (or `column`). */
const withoutExchange = (batch: ColumnBatch, column = "exchange"): ColumnBatch => ({
  rowCount: batch.rowCount,
  columns: Object.fromEntries(Object.entries(batch.columns).filter(([name]) => name !== column))
})

const filled = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.ensureTable(tables.quotes)
  yield* sink.append(TRADES, tradeColumns(genTrades(40, { seed: 81, idPrefix: "p" })))
  yield* sink.append(QUOTES, quoteColumns(genQuotes(40, { seed: 82 })))
  schemas[TRADES.name] = dropped(tables.trades.schema)
  schemas[QUOTES.name] = dropped(tables.quotes.schema)
  yield* theirAppend(TRADES, schemas[TRADES.name]!, withoutExchange(tradeColumns(genTrades(20, { seed: 83, idPrefix: "l" }))))
  const later = genQuotes(20, { seed: 84 }).map((q) => ({ ...q, message_id: `l-${q.message_id}` }))
  yield* theirAppend(QUOTES, schemas[QUOTES.name]!, withoutExchange(quoteColumns(later)))
}))

const warehouse = Layer.mergeAll(filled, QueryLayer.layer()).pipe(
  Layer.provideMerge(evolvingLakehouse(warehouseDir(), (name) => schemas[name]))
)

/** Trades whose price another engine dropped: the bars' open, high, low and close are of it. */
const priceSchemas: Partial<Record<string, Schema>> = {}
const priceDropped = Layer.mergeAll(
  Layer.effectDiscard(Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    yield* sink.append(TRADES, tradeColumns(genTrades(40, { seed: 85, idPrefix: "p" })))
    priceSchemas[TRADES.name] = dropped(tables.trades.schema, "price")
    yield* theirAppend(TRADES, priceSchemas[TRADES.name]!, withoutExchange(tradeColumns(genTrades(20, { seed: 86, idPrefix: "l" })), "price"))
  })),
  QueryLayer.layer()
).pipe(Layer.provideMerge(evolvingLakehouse(warehouseDir(), (name) => priceSchemas[name])))

/** The failure of `read`: a MissingColumn naming `table` and `exchange`, answered 501 `unsupported_table` saying so. */
const missingExchange = <A, E>(read: Effect.Effect<A, E>, table: string, need: string) =>
  Effect.gen(function*() {
    const error: unknown = yield* Effect.flip(read)
    assert.instanceOf(error, MissingColumn, String(error))
    const missing = error as MissingColumn
    assert.strictEqual(missing.table, table)
    assert.strictEqual(missing.column, "exchange")
    assert.include(missing.message, table)
    assert.include(missing.message, "exchange")
    assert.include(missing.message, need)
    assert.include(missing.message, "another engine")
    const problem = yield* problemOf(error)
    assert.strictEqual(problem.status, 501)
    assert.strictEqual(problem.code, "unsupported_table")
    assert.strictEqual(problem.detail, missing.message)
  })

layer(warehouse, { timeout: 60_000, excludeTestServices: true })("QueryEngine: exchange dropped by another engine", (it) => {
  const range = { from: T0, to: T0 + 3 * DAY }

  it.effect("bars are refused naming market_data.trades and exchange", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      yield* missingExchange(q.bars({ ...range, interval: "1h" }), "market_data.trades", "bars")
      yield* missingExchange(q.bars({ ...range, interval: "1h", maxBars: 10_000 }), "market_data.trades", "bars")
    }))

  it.effect("daily summaries are refused naming market_data.trades and exchange", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      yield* missingExchange(q.dailySummary({ fromDay: "2024-01-01", toDay: "2024-01-07" }), "market_data.trades", "daily summaries")
    }))

  it.effect("quote bars are refused naming market_data.quotes and exchange", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      yield* missingExchange(q.quoteBars({ ...range, interval: "1h" }), "market_data.quotes", "quote bars")
    }))

  it.effect("npm run query: bars, quote bars and summary fail with the one line, exit 1, nothing on stdout", () =>
    Effect.gen(function*() {
      const reads = Layer.succeedContext(yield* Effect.context<QueryEngine | Catalog>())
      const day = ["--from", "2024-01-02", "--to", "2024-01-05"]
      for (const args of [["bars", ...day], ["bars", ...day, "--quotes"], ["summary", "--from-day", "2024-01-02"]]) {
        const r = yield* runQuery(reads, args)
        const error = Exit.isFailure(r.exit) ? r.exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error : undefined
        assert.instanceOf(error, MissingColumn, `${args.join(" ")}: ${String(r.exit)}`)
        // What the program prints after `error: `: one line.
        assert.notInclude((error as MissingColumn).message, "\n")
        assert.strictEqual(programExitCode(r.exit, drainRecord()), 1)
        assert.strictEqual(r.stdout, "", args.join(" "))
      }
    }))

  // The pages still read: the column reads as null there (ADR-2).
  it.effect("trades still read, their exchange null", () =>
    Effect.gen(function*() {
      const page = yield* (yield* QueryEngine).trades({ ...range, limit: 1000 })
      assert.strictEqual(page.rows.length, 60)
      for (const r of page.rows) assert.strictEqual(r["exchange"], null)
    }))
})

layer(priceDropped, { timeout: 60_000, excludeTestServices: true })("QueryEngine: price dropped by another engine", (it) => {
  it.effect("bars and daily summaries are refused naming market_data.trades and price", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      for (const [read, need] of [[q.bars({ from: T0, to: T0 + 3 * DAY, interval: "1h" }), "bars"], [q.dailySummary({ fromDay: "2024-01-01", toDay: "2024-01-07" }), "daily summaries"]] as const) {
        const error: unknown = yield* Effect.flip(read as Effect.Effect<unknown, unknown>)
        assert.instanceOf(error, MissingColumn, String(error))
        assert.strictEqual((error as MissingColumn).column, "price")
        assert.include((error as MissingColumn).message, `market_data.trades has rows without price, which ${need} need`)
      }
    }))
})
