/**
 * Hand-made awkward rows against the reference model: order-key ties with NULL sequences (bars and
 * pages across chunk-sized page boundaries), decimals at the decimal(18, 8) limits, trading days
 * across DST changes on both hemispheres, crossed and zero quotes, same-instant quotes.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { BigDecimal, Effect, Layer } from "effect"
import { quoteColumns, type QuoteRow, tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { type MarketRow, QueryEngine, type TradeWithQuote } from "../../../src/services/QueryEngine.ts"
import * as Ref from "../../domain/query/reference.ts"
import { DAY, HOUR, T0 } from "./data.ts"
import { QUOTES, TRADES } from "./fixture.ts"

// Under a directory named like a Hive partition: values must come from the files, not the path.
const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "k2-edges-")), "side=SELL")
fs.mkdirSync(dir)
const warehouse = QueryLayer.layer().pipe(Layer.provideMerge(Lakehouse.layer({ warehouse: dir, catalog: { _tag: "memory" } })))

let n = 0
const lineage = () => ({ ingestion_timestamp: T0, kafka_topic: "t", kafka_partition: 0, kafka_offset: BigInt(n) })
const trade = (symbol: string, exchange: string, ts: number, price: string, qty: string, seq: bigint | null, id?: string): TradeRow => ({
  message_id: id ?? `m${String(n++).padStart(6, "0")}`, trade_id: `T${n}`, symbol, exchange, asset_class: "equities", exchange_timestamp: ts,
  price: BigDecimal.fromStringUnsafe(price), quantity: BigDecimal.fromStringUnsafe(qty), currency: "USD", side: "BUY", conditions: [],
  source_sequence: seq, vendor_data: {}, ...lineage()
})
const quote = (symbol: string, ts: number, bid: string, ask: string, seq: bigint | null, id?: string): QuoteRow => ({
  message_id: id ?? `q${String(n++).padStart(6, "0")}`, quote_id: `Q${n}`, symbol, exchange: "NYSE", asset_class: "equities", exchange_timestamp: ts,
  bid_price: BigDecimal.fromStringUnsafe(bid), bid_size: BigDecimal.fromStringUnsafe("1"), ask_price: BigDecimal.fromStringUnsafe(ask),
  ask_size: BigDecimal.fromStringUnsafe("1"), currency: "USD", conditions: [], source_sequence: seq, vendor_data: {}, ...lineage()
})
const at = (iso: string) => Date.parse(iso) * 1000
const MAX = "9999999999.99999999"

const trades: Array<TradeRow> = [
  // Notional 1.5e22 per bar: past DECIMAL(38, 16)'s nominal width, still exact in DuckDB's int128.
  ...Array.from({ length: 150 }, (_, i) => trade("HUG", "NYSE", T0 + 3 * HOUR + i, MAX, MAX, BigInt(i))),
  trade("BIG", "NYSE", T0 + 1000, MAX, MAX, 1n),
  trade("BIG", "NYSE", T0 + 2000, MAX, "0.00000001", 2n),
  // One instant: NULL sequences (as -1) first, then by message_id.
  trade("TIE", "NYSE", T0 + 5000, "10", "1", null, "z"),
  trade("TIE", "NYSE", T0 + 5000, "11", "1", null, "a"),
  trade("TIE", "NYSE", T0 + 5000, "12", "1", 0n, "c"),
  trade("TIE", "NYSE", T0 + 5000, "13", "1", 0n, "b"),
  // VWAP 5.00000003 / 5 = 1.000000006: rounds up; 1.000000005 would round to even.
  trade("RND", "NYSE", T0 + 9000, "1.00000001", "0.00000001", 1n),
  trade("RND", "NYSE", T0 + 9001, "1.00000002", "0.00000001", 2n),
  trade("RND", "NYSE", T0 + 9002, "1.00000000", "0.00000003", 3n),
  trade("HLF", "NYSE", T0 + 9000, "1.00000001", "1", 1n),
  trade("HLF", "NYSE", T0 + 9001, "1.00000002", "1", 2n)
]
// New York: EDT from 2024-03-10 07:00Z to 2024-11-03 06:00Z. Sydney: AEST from 2024-04-06 16:00Z to 2024-10-05 16:00Z.
for (const iso of ["2024-03-10T04:30:00Z", "2024-03-10T05:30:00Z", "2024-03-10T06:30:00Z", "2024-03-10T07:30:00Z", "2024-03-11T03:59:00Z",
  "2024-03-11T04:01:00Z", "2024-11-03T03:59:00Z", "2024-11-03T04:01:00Z", "2024-11-04T04:59:00Z", "2024-11-04T05:01:00Z"]) {
  trades.push(trade("NYD", "NYSE", at(iso), "5", "2", null))
}
for (const iso of ["2024-04-05T12:59:00Z", "2024-04-05T13:01:00Z", "2024-04-06T13:59:00Z", "2024-04-06T14:01:00Z", "2024-10-05T13:59:00Z",
  "2024-10-05T14:01:00Z", "2024-10-06T12:59:00Z", "2024-10-06T13:01:00Z"]) {
  trades.push(trade("SYD", "ASX", at(iso), "5", "2", null))
}
// Pages: 5,000 trades over five instants, sequences NULL, tied or distinct, ids not in time order.
const paged: Array<TradeRow> = Array.from({ length: 5000 }, (_, i) =>
  trade(i % 2 ? "A.B" : "X-1_Y", "NYSE", T0 + DAY + HOUR + Math.floor(i / 1000), "10", "1", i % 3 === 0 ? null : BigInt(i % 5), `id-${String((i * 7919) % 5000).padStart(4, "0")}`)
)
const quotes: Array<QuoteRow> = [
  quote("QQ", T0 + 100, "10", "10.00000001", 5n, "a"), // same instant: the highest sequence prevails...
  quote("QQ", T0 + 100, "10", "10.00000003", null, "z"), // ...but a NULL sequence opens the bar
  quote("QQ", T0 + 200, "10.00000001", "10", 1n), // crossed
  quote("QQ", T0 + 300, "0", "0", 1n), // zero: no mid or spread (ADR-40), still counted and still prevailing
  quote("QQ", T0 + 400, MAX, MAX, 2n),
  quote("A.B", T0 + DAY - HOUR, "9", "11", 1n), // exactly at from − lookback (the pages' from, a lookback of an hour)
  quote("A.B", T0 + DAY - HOUR - 1, "1", "2", 1n), // a microsecond before it
  quote("X-1_Y", T0 + DAY + HOUR, "9.5", "10.5", null, "zz"),
  quote("X-1_Y", T0 + DAY + HOUR, "9.6", "10.6", 0n, "aa")
]
const qtrades = [
  trade("QQ", "NYSE", T0 + 100, "10.00000001", "1", 1n),
  trade("QQ", "NYSE", T0 + 250, "10", "1", 1n),
  trade("QQ", "NYSE", T0 + 350, "1", "1", 1n),
  trade("QQ", "NYSE", T0 + 400, MAX, "1", 1n)
]
const all = [...trades, ...paged, ...qtrades]
const project = (rows: ReadonlyArray<TradeWithQuote>) =>
  rows.map((r) => ({ messageId: r.messageId, quoteTimestamp: r.quoteTimestamp, mid: r.mid, effectiveSpread: r.effectiveSpread, classification: r.classification as string | null, bidPrice: r.bidPrice }))

layer(warehouse, { timeout: 120_000, excludeTestServices: true })("edge cases against the reference", (it) => {
  it.effect("bars, summaries, quote bars, pages and prevailing quotes on awkward rows", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const q = yield* QueryEngine
      yield* sink.ensureTable(tables.trades)
      yield* sink.ensureTable(tables.quotes)
      yield* sink.append(TRADES, tradeColumns(all))
      yield* sink.append(QUOTES, quoteColumns(quotes))
      const sides = yield* q.trades({ from: T0, to: T0 + 10 * DAY, limit: 100_000, fields: ["side", "exchange_timestamp"] })
      assert.deepStrictEqual([...new Set(sides.rows.map((r) => r["side"]))], ["BUY"])
      assert.strictEqual(sides.rows.length, all.filter((t) => t.exchange_timestamp >= T0 && t.exchange_timestamp < T0 + 10 * DAY).length)

      for (const [interval, size] of [["1s", 1e6], ["1h", HOUR], ["1d", DAY]] as const) {
        const range = { from: T0, to: T0 + DAY }
        assert.deepStrictEqual((yield* q.bars({ ...range, interval })).rows, Ref.bars(all, { ...range, size }), interval)
        assert.deepStrictEqual((yield* q.quoteBars({ ...range, interval })).rows, Ref.quoteBars(quotes, { ...range, size }), interval)
      }
      const tie = (yield* q.bars({ from: T0, to: T0 + DAY, interval: "1s", symbols: ["TIE"] })).rows[0]!
      assert.deepStrictEqual([tie.open, tie.close], ["11.00000000", "12.00000000"])
      assert.strictEqual((yield* q.bars({ from: T0, to: T0 + DAY, interval: "1s", symbols: ["HLF"] })).rows[0]!.vwap, "1.00000002")

      const days = { fromDay: "2024-03-01", toDay: "2024-11-30" }
      const summary = yield* q.dailySummary(days)
      assert.deepStrictEqual(summary.rows, Ref.dailySummary(all, days))
      assert.deepStrictEqual(summary.rows.filter((s) => s.symbol === "NYD").map((s) => [s.tradingDay, s.tradeCount]), [
        ["2024-03-09", 1], ["2024-03-10", 4], ["2024-03-11", 1], ["2024-11-02", 1], ["2024-11-03", 2], ["2024-11-04", 1]
      ])

      const prevailing = yield* q.tradesWithQuotes({ from: T0, to: T0 + DAY, symbols: ["QQ"] })
      assert.deepStrictEqual(project(prevailing.rows), Ref.tradesWithQuotes(qtrades, quotes, { from: T0, to: T0 + DAY, lookback: DAY, limit: 1000 }))
      // The trade at T0 + 350 meets the zero quote: shown, with no mid, effective spread or side.
      assert.deepStrictEqual(prevailing.rows.map((r) => [r.quoteTimestamp, r.bidPrice, r.mid, r.effectiveSpread, r.classification]), [
        [T0 + 100, "10.00000000", "10.00000000", "0.00000001", "BUY"],
        [T0 + 200, "10.00000001", "10.00000000", "0.00000001", "SELL"], // crossed: kept, mid 10.000000005 shown to even
        [T0 + 300, "0.00000000", null, null, null],
        [T0 + 400, MAX, MAX, "0.00000000", "MID"]
      ])
      // The 1s quote bar holds all five QQ quotes; mids and spreads are over the four two-sided ones.
      const qq = (yield* q.quoteBars({ from: T0, to: T0 + DAY, interval: "1s", symbols: ["QQ"] })).rows
      assert.deepStrictEqual(qq.map((b) => [b.quoteCount, b.midLow, b.spreadMin, b.spreadMax]), [[5, "10.00000000", "-0.00000001", "0.00000003"]])

      // Pages of 2047..2049 rows end inside, at and just past a DuckDB chunk, within runs of one instant.
      const range = { from: T0 + DAY, to: T0 + 2 * DAY }
      for (const limit of [2047, 2048, 2049]) {
        const ids: Array<string> = []
        let cursor: string | undefined
        do {
          const page: { rows: ReadonlyArray<MarketRow>; nextCursor: string | null } = yield* q.trades({ ...range, limit, fields: ["message_id"], ...(cursor ? { cursor } : {}) })
          ids.push(...page.rows.map((r) => r.message_id as string))
          cursor = page.nextCursor ?? undefined
        } while (cursor)
        assert.deepStrictEqual(ids, Ref.selectRows(all, range).map((t) => t.message_id), `limit ${limit}`)
        const joined: Array<TradeWithQuote> = []
        do {
          const page: { rows: ReadonlyArray<TradeWithQuote>; nextCursor: string | null } = yield* q.tradesWithQuotes({ ...range, limit, quoteLookbackMicros: HOUR, ...(cursor ? { cursor } : {}) })
          joined.push(...page.rows)
          cursor = page.nextCursor ?? undefined
        } while (cursor)
        assert.deepStrictEqual(project(joined), Ref.tradesWithQuotes(all, quotes, { ...range, lookback: HOUR, limit: 1e6 }))
        assert.isTrue(joined.filter((r) => r.symbol === "A.B").every((r) => r.quoteTimestamp === T0 + DAY - HOUR))
      }
      // A microsecond less of lookback: the quote at the edge is out, and the one before it never counts.
      const shorter = yield* q.tradesWithQuotes({ ...range, symbols: ["A.B"], limit: 5, quoteLookbackMicros: HOUR - 1 })
      assert.deepStrictEqual(shorter.rows.map((r) => r.quoteTimestamp), [null, null, null, null, null])
    }))
})
