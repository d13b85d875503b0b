/**
 * Rows the order key (time, sequence, message_id) cannot tell apart: one record ingested twice (a
 * source re-sent it, and the sequence tracker kept it: an old sequence is OUT_OF_ORDER, not a
 * DUPLICATE; a NULL sequence is never checked). Every page must still hold each row exactly once,
 * as the whole answer does: a page ending inside such a run must not drop the rest of it.
 */
import { assert, layer } from "@effect/vitest"
import { BigDecimal, Effect, Layer } from "effect"
import { quoteColumns, type QuoteRow, tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { type MarketRow, QueryEngine, type TradeWithQuote } from "../../../src/services/QueryEngine.ts"
import { DAY, T0 } from "./data.ts"
import { QUOTES, TRADES, warehouseDir } from "./fixture.ts"

const warehouse = QueryLayer.layer().pipe(Layer.provideMerge(Lakehouse.layer({ warehouse: warehouseDir(), catalog: { _tag: "memory" } })))

const trade = (id: string, ts: number, seq: bigint | null, topic: string, partition: number, offset: bigint): TradeRow => ({
  message_id: id, trade_id: id, symbol: "DUP", exchange: "NYSE", asset_class: "equities", exchange_timestamp: ts,
  price: BigDecimal.fromStringUnsafe("10"), quantity: BigDecimal.fromStringUnsafe("1"), currency: "USD", side: "BUY", conditions: [],
  source_sequence: seq, vendor_data: {}, ingestion_timestamp: T0, kafka_topic: topic, kafka_partition: partition, kafka_offset: offset
})

const A = "market.equities.trades.a", B = "market.equities.trades.b"
const rows: Array<TradeRow> = [
  trade("first", T0 + 5, 1n, A, 0, 1n),
  // Three copies of one record, and two of a NULL-sequence one: lineage alone tells them apart.
  trade("same", T0 + 10, 2n, A, 0, 7n),
  trade("same", T0 + 10, 2n, A, 1, 3n),
  trade("same", T0 + 10, 2n, B, 0, 3n),
  trade("nullseq", T0 + 10, null, A, 0, 9n),
  trade("nullseq", T0 + 10, null, A, 0, 12n),
  trade("last", T0 + 20, 3n, A, 0, 20n)
]
const quote: QuoteRow = {
  message_id: "q", quote_id: "q", symbol: "DUP", exchange: "NYSE", asset_class: "equities", exchange_timestamp: T0,
  bid_price: BigDecimal.fromStringUnsafe("9"), bid_size: BigDecimal.fromStringUnsafe("1"), ask_price: BigDecimal.fromStringUnsafe("11"),
  ask_size: BigDecimal.fromStringUnsafe("1"), currency: "USD", conditions: [], source_sequence: 1n, vendor_data: {},
  ingestion_timestamp: T0, kafka_topic: "market.equities.quotes.a", kafka_partition: 0, kafka_offset: 0n
}

const lineage = (r: MarketRow) => `${r["message_id"]}@${r["kafka_topic"]}:${r["kafka_partition"]}:${r["kafka_offset"]}`

layer(warehouse, { timeout: 60_000, excludeTestServices: true })("pages over rows the order key ties", (it) => {
  it.effect("hold every row once, whatever the page size", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const q = yield* QueryEngine
      yield* sink.ensureTable(tables.trades)
      yield* sink.ensureTable(tables.quotes)
      yield* sink.append(TRADES, tradeColumns(rows))
      yield* sink.append(QUOTES, quoteColumns([quote]))
      const range = { from: T0, to: T0 + DAY }
      const whole = yield* q.trades({ ...range, limit: 100 })
      assert.strictEqual(whole.rows.length, rows.length)
      const want = whole.rows.map(lineage).sort()
      for (const limit of [1, 2, 3, 4]) {
        const got: Array<MarketRow> = []
        let cursor: string | undefined
        do {
          const page: { rows: ReadonlyArray<MarketRow>; nextCursor: string | null } = yield* q.trades({ ...range, limit, ...(cursor ? { cursor } : {}) })
          got.push(...page.rows)
          cursor = page.nextCursor ?? undefined
        } while (cursor)
        assert.deepStrictEqual(got.map(lineage).sort(), want, `limit ${limit}`)
        // Fields without the lineage page the same way.
        const ids: Array<string> = []
        do {
          const page: { rows: ReadonlyArray<MarketRow>; nextCursor: string | null } = yield* q.trades({ ...range, limit, fields: ["price"], ...(cursor ? { cursor } : {}) })
          ids.push(...page.rows.map((r) => r["price"] as string))
          cursor = page.nextCursor ?? undefined
        } while (cursor)
        assert.strictEqual(ids.length, rows.length, `limit ${limit}, price only`)
        const joined: Array<TradeWithQuote> = []
        do {
          const page: { rows: ReadonlyArray<TradeWithQuote>; nextCursor: string | null } = yield* q.tradesWithQuotes({ ...range, limit, ...(cursor ? { cursor } : {}) })
          joined.push(...page.rows)
          cursor = page.nextCursor ?? undefined
        } while (cursor)
        assert.deepStrictEqual(joined.map((r) => r.messageId).sort(), rows.map((r) => r.message_id).sort(), `limit ${limit}, with quotes`)
      }
    }))
})

/**
 * One key, other values: a source that reused an id (a corrected re-send, another writer). Each
 * copy in its own data file, so DuckDB's threads meet them in any order: open and close must
 * still be the same on every run (the price breaks the tie: docs/query.md "Bars").
 */
const tied = QueryLayer.layer().pipe(Layer.provideMerge(Lakehouse.layer({ warehouse: warehouseDir(), catalog: { _tag: "memory" } })))
const PRICES = ["12", "10", "17", "13", "11", "16", "14", "15"]

layer(tied, { timeout: 60_000, excludeTestServices: true })("bars over rows tied on the whole order key", (it) => {
  it.effect("open, close, the mids and the prevailing quote are the same on every run", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const q = yield* QueryEngine
      yield* sink.ensureTable(tables.trades)
      yield* sink.ensureTable(tables.quotes)
      for (const [i, price] of PRICES.entries()) {
        yield* sink.append(TRADES, tradeColumns([{ ...trade("same", T0 + 10, 2n, A, 0, BigInt(i)), price: BigDecimal.fromStringUnsafe(price) }]))
        // One ask, the bid at the price: the highest mid is the narrowest spread.
        yield* sink.append(QUOTES, quoteColumns([{ ...quote, kafka_offset: BigInt(i), bid_price: BigDecimal.fromStringUnsafe(price), ask_price: BigDecimal.fromStringUnsafe("30") }]))
      }
      const range = { from: T0, to: T0 + DAY }
      for (let run = 0; run < 12; run++) {
        const bar = (yield* q.bars({ ...range, interval: "1m" })).rows[0]!
        assert.deepStrictEqual([bar.open, bar.close], ["10.00000000", "17.00000000"], `run ${run}`)
        const day = (yield* q.dailySummary({ fromDay: "2024-01-01", toDay: "2024-01-01" })).rows[0]!
        assert.deepStrictEqual([day.open, day.close], ["10.00000000", "17.00000000"], `run ${run}`)
        // The close's mid and spread are one quote's (bid 17), not the widest spread (bid 10).
        const qb = (yield* q.quoteBars({ ...range, interval: "1m" })).rows[0]!
        assert.deepStrictEqual([qb.midOpen, qb.midClose, qb.spreadClose], ["20.00000000", "23.50000000", "13.00000000"], `run ${run}`)
        // The prevailing quote of tied ones: the highest bid, then ask (docs/query.md), one quote for every trade.
        const joined = (yield* q.tradesWithQuotes({ ...range, limit: 100 })).rows
        assert.deepStrictEqual([...new Set(joined.map((r) => `${r.bidPrice}/${r.askPrice}`))], ["17.00000000/30.00000000"], `run ${run}`)
      }
    }))
})
