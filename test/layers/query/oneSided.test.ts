/**
 * A quote with a zero side (a pre-open side, kept by the feeds: docs/feeds.md) has no mid and no
 * spread: trades it prevails over show it but get null mid, effective spread and side, and quote
 * bars take their mid and spread statistics over two-sided quotes only (docs/decisions.md ADR-40).
 */
import { assert, layer } from "@effect/vitest"
import { BigDecimal, Effect } from "effect"
import { quoteColumns, tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { DAY, quoteRow, T0, tradeRow as trade } from "./data.ts"
import { memoryQueryWarehouse, QUOTES, TRADES } from "./fixture.ts"

const warehouse = memoryQueryWarehouse()

const SECOND = 1_000_000
/** A side of 0 has size 0, as the feeds keep a pre-open side. */
const quote = (id: string, ts: number, bid: string, ask: string) =>
  quoteRow(id, ts, bid, ask, {
    bid_size: BigDecimal.fromStringUnsafe(bid === "0" ? "0" : "100"),
    ask_size: BigDecimal.fromStringUnsafe(ask === "0" ? "0" : "200")
  })

layer(warehouse, { timeout: 60_000, excludeTestServices: true })("one-sided quotes", (it) => {
  it.effect("have no mid and no spread: with-quotes shows the quote with null mid, spread and side; quote bars skip them", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.ensureTable(tables.quotes)
      yield* sink.append(QUOTES, quoteColumns([
        quote("q1", T0 + 10, "10", "10.02"), // two-sided
        quote("q2", T0 + 20, "0", "10.04"), // no bid
        quote("q3", T0 + 30, "10.01", "0"), // no ask
        quote("q4", T0 + 40, "0", "0"), // neither
        quote("q5", T0 + 50, "10.01", "10.02"), // two-sided again
        quote("q6", T0 + SECOND + 10, "0", "5"), // a bucket of one-sided quotes only
        quote("q7", T0 + SECOND + 20, "5", "0"),
        quote("q8", T0 + 2 * SECOND, "10.02", "10.01") // crossed: kept, a negative spread
      ]))
      yield* sink.append(TRADES, tradeColumns([
        trade("t1", T0 + 15, "10.02"),
        trade("t2", T0 + 25, "10"),
        trade("t3", T0 + 35, "10"),
        trade("t4", T0 + 45, "10"),
        trade("t5", T0 + 55, "10.01"),
        trade("t6", T0 + 2 * SECOND + 1, "10.02")
      ]))
      const engine = yield* QueryEngine
      const page = yield* engine.tradesWithQuotes({ from: T0, to: T0 + DAY })
      assert.deepStrictEqual(page.rows.map((r) => [r.messageId, r.quoteTimestamp, r.bidPrice, r.bidSize, r.askPrice, r.askSize, r.mid, r.effectiveSpread, r.classification]), [
        ["t1", T0 + 10, "10.00000000", "100.00000000", "10.02000000", "200.00000000", "10.01000000", "0.02000000", "BUY"],
        ["t2", T0 + 20, "0.00000000", "0.00000000", "10.04000000", "200.00000000", null, null, null],
        ["t3", T0 + 30, "10.01000000", "100.00000000", "0.00000000", "0.00000000", null, null, null],
        ["t4", T0 + 40, "0.00000000", "0.00000000", "0.00000000", "0.00000000", null, null, null],
        ["t5", T0 + 50, "10.01000000", "100.00000000", "10.02000000", "200.00000000", "10.01500000", "0.01000000", "SELL"],
        ["t6", T0 + 2 * SECOND, "10.02000000", "100.00000000", "10.01000000", "200.00000000", "10.01500000", "0.01000000", "BUY"]
      ])

      const bars = yield* engine.quoteBars({ from: T0, to: T0 + DAY, interval: "1s" })
      assert.deepStrictEqual(bars.rows.map(({ symbol: _s, exchange: _e, ...b }) => b), [
        {
          bucket: T0, quoteCount: 5, // every quote; the mid and spread fields over q1 and q5
          midOpen: "10.01000000", midHigh: "10.01500000", midLow: "10.01000000", midClose: "10.01500000",
          spreadMin: "0.01000000", spreadMax: "0.02000000", spreadMean: "0.01500000", spreadClose: "0.01000000"
        },
        {
          bucket: T0 + SECOND, quoteCount: 2,
          midOpen: null, midHigh: null, midLow: null, midClose: null, spreadMin: null, spreadMax: null, spreadMean: null, spreadClose: null
        },
        {
          bucket: T0 + 2 * SECOND, quoteCount: 1,
          midOpen: "10.01500000", midHigh: "10.01500000", midLow: "10.01500000", midClose: "10.01500000",
          spreadMin: "-0.01000000", spreadMax: "-0.01000000", spreadMean: "-0.01000000", spreadClose: "-0.01000000"
        }
      ])
    }))
})
