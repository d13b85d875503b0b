/**
 * One symbol listed on two exchanges (BHP on the ASX in AUD and on the NYSE in USD): an instrument
 * is its (exchange, symbol), so a trade's prevailing quote is the last one of its own exchange,
 * never a fresher quote of the other listing, and bars are per listing.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { quoteColumns, tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { DAY, quoteRow, T0, tradeRow } from "./data.ts"
import { memoryQueryWarehouse, QUOTES, TRADES } from "./fixture.ts"

const warehouse = memoryQueryWarehouse()

const trade = (id: string, exchange: string, currency: string, ts: number, price: string) =>
  tradeRow(id, ts, price, { symbol: "BHP", exchange, currency, side: "BUY" })
const quote = (id: string, exchange: string, currency: string, ts: number, bid: string, ask: string, offset: number) =>
  quoteRow(id, ts, bid, ask, { symbol: "BHP", exchange, currency, kafka_offset: BigInt(offset) })

layer(warehouse, { timeout: 60_000, excludeTestServices: true })("a symbol on two exchanges", (it) => {
  it.effect("each trade's prevailing quote is its own exchange's, even when the other listing quoted since", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.ensureTable(tables.quotes)
      yield* sink.append(TRADES, tradeColumns([trade("asx-t", "ASX", "AUD", T0 + 100, "45.50"), trade("nyse-t", "NYSE", "USD", T0 + 200, "60.00")]))
      yield* sink.append(QUOTES, quoteColumns([
        quote("asx-q", "ASX", "AUD", T0 + 10, "45", "46", 1),
        // Fresher than the ASX quote at both trades, and at the same instant as the NYSE trade's own quote.
        quote("nyse-q", "NYSE", "USD", T0 + 50, "59", "61", 2),
        quote("asx-q2", "ASX", "AUD", T0 + 50, "44", "45", 3)
      ]))
      const engine = yield* QueryEngine
      const page = yield* engine.tradesWithQuotes({ from: T0, to: T0 + DAY })
      assert.deepStrictEqual(page.rows.map((r) => [r.messageId, r.exchange, r.quoteTimestamp, r.bidPrice, r.askPrice, r.mid, r.classification]), [
        ["asx-t", "ASX", T0 + 50, "44.00000000", "45.00000000", "44.50000000", "BUY"],
        ["nyse-t", "NYSE", T0 + 50, "59.00000000", "61.00000000", "60.00000000", "MID"]
      ])

      // A bar is one listing's: AUD and USD prices are never one open/high/low/close.
      const bars = yield* engine.bars({ from: T0, to: T0 + DAY, interval: "1d" })
      assert.deepStrictEqual(bars.rows.map((b) => [b.symbol, b.exchange, b.open, b.close, b.tradeCount]), [
        ["BHP", "ASX", "45.50000000", "45.50000000", 1],
        ["BHP", "NYSE", "60.00000000", "60.00000000", 1]
      ])
      const quoteBars = yield* engine.quoteBars({ from: T0, to: T0 + DAY, interval: "1d" })
      assert.deepStrictEqual(quoteBars.rows.map((b) => [b.symbol, b.exchange, b.quoteCount, b.midOpen, b.midClose]), [
        ["BHP", "ASX", 2, "45.50000000", "44.50000000"],
        ["BHP", "NYSE", 1, "60.00000000", "60.00000000"]
      ])
    }))
})
