/**
 * The query engine's answers over tables another engine evolved (evolvedFixture.ts: price, bid_price
 * and exchange_timestamp renamed, price, quantity, ask_price and ask_size widened to decimal(20, 8),
 * vendor_data dropped, files of both schemas): each equals the plain-TypeScript reference over every row
 * written. Read by name, the other engine's files would hold no price: these fail.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { QueryEngine, type TradeWithQuote } from "../../../src/services/QueryEngine.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import * as Ref from "../../domain/query/reference.ts"
import { DAY, HOUR, T0 } from "./data.ts"
import { BIG_DAY, BIG_QUANTITY, Evolved, evolvedWarehouse } from "./evolvedFixture.ts"
import { QUOTES, TRADES } from "./fixture.ts"

layer(evolvedWarehouse(), { timeout: 120_000, excludeTestServices: true })("QueryEngine over tables another engine evolved", (it) => {
  it.effect("both tables are read by field id, files of both schemas planned", () =>
    Effect.gen(function*() {
      const scanner = yield* TableScanner
      for (const table of [TRADES, QUOTES]) {
        const plan = yield* scanner.plan(table)
        assert.isTrue(plan.byFieldId, table.name)
        assert.isTrue(plan.files.some((f) => f.filePath.includes("/other-engine-")) && plan.files.some((f) => f.filePath.includes("/k2-")), table.name)
      }
    }))

  // A widened price failed bars and summaries: their readers took DECIMAL(18, 8) vectors only.
  it.effect("daily summaries and bars: every trade, the widened price exact, the widened quantity past decimal(18, 8) exact", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      const f = yield* Evolved
      const days = { fromDay: "2024-01-01", toDay: "2024-01-07" }
      const got = yield* q.dailySummary(days)
      assert.deepStrictEqual(got.rows, Ref.dailySummary(f.trades, days))
      assert.strictEqual(got.rows.reduce((n, s) => n + s.tradeCount, 0), f.trades.length)
      const big = got.rows.filter((s) => s.firstTrade >= BIG_DAY)
      assert.deepStrictEqual(big.map((s) => [s.tradeCount, s.volume]), [[1, BIG_QUANTITY]])
      const range = { from: T0, to: BIG_DAY + DAY }
      assert.deepStrictEqual((yield* q.bars({ ...range, interval: "1h" })).rows, Ref.bars(f.trades, { ...range, size: HOUR }))
    }))

  it.effect("symbols: counts and first/last trade and quote over both schemas' files", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      const f = yield* Evolved
      const got = yield* q.symbols()
      const stats = (rows: ReadonlyArray<{ symbol: string; exchange_timestamp: number }>, symbol: string) => {
        const ts = rows.filter((r) => r.symbol === symbol).map((r) => r.exchange_timestamp)
        return { count: ts.length, first: Math.min(...ts), last: Math.max(...ts) }
      }
      assert.deepStrictEqual(got.rows.map((r) => r.symbol), ["BHP", "CBA", "IBM", "MSFT"])
      for (const r of got.rows) {
        assert.deepStrictEqual(r.trades, stats(f.trades, r.symbol), r.symbol)
        assert.deepStrictEqual(r.quotes, stats(f.quotes, r.symbol), r.symbol)
      }
    }))

  it.effect("trades with prevailing quotes: renamed price and bid, widened ask, exact", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      const f = yield* Evolved
      const range = { from: T0 + HOUR, to: T0 + 2 * DAY }
      const got = yield* q.tradesWithQuotes({ ...range, limit: 100_000, quoteLookbackMicros: 2 * HOUR })
      const project = (rows: ReadonlyArray<TradeWithQuote>) =>
        rows.map((r) => ({ messageId: r.messageId, quoteTimestamp: r.quoteTimestamp, mid: r.mid, effectiveSpread: r.effectiveSpread, classification: r.classification as string | null, bidPrice: r.bidPrice }))
      const want = Ref.tradesWithQuotes(f.trades, f.quotes, { ...range, lookback: 2 * HOUR, limit: 100_000 })
      assert.deepStrictEqual(project(got.rows), want)
      const trades = new Map(f.trades.map((t) => [t.message_id, t]))
      for (const r of got.rows) {
        const t = trades.get(r.messageId)!
        assert.deepStrictEqual([r.price, r.quantity], [Ref.text8(t.price), Ref.text8(t.quantity)], r.messageId)
        if (r.quoteTimestamp === null) continue
        // Ties at an instant: the reference chose the quote; its ask and sizes must be that quote's.
        const w = f.quotes.filter((x) => x.symbol === t.symbol && x.exchange_timestamp === r.quoteTimestamp && Ref.text8(x.bid_price) === r.bidPrice)
        assert.isTrue(w.some((x) => Ref.text8(x.ask_price) === r.askPrice && Ref.text8(x.ask_size) === r.askSize && Ref.text8(x.bid_size) === r.bidSize), r.messageId)
      }
      assert.isTrue(got.rows.some((r) => r.messageId.startsWith("other-")) && got.rows.some((r) => r.messageId.startsWith("k2-")))
      assert.isTrue(want.filter((w) => w.quoteTimestamp !== null).length > 100)
    }))

  it.effect("table statistics count the files of both schemas", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      const f = yield* Evolved
      for (const [table, rows] of [["trades", f.trades], ["quotes", f.quotes]] as const) {
        const stats = yield* q.tableStats(table)
        const ts = rows.map((r) => r.exchange_timestamp)
        assert.deepStrictEqual(
          [stats.records, stats.firstTimestamp, stats.lastTimestamp, stats.days],
          [rows.length, Math.min(...ts), Math.max(...ts), new Set(ts.map((t) => Math.floor(t / DAY))).size],
          table
        )
      }
    }))

  it.effect("quote bars: mids and spreads over the renamed bid and widened ask", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      const f = yield* Evolved
      const range = { from: T0, to: T0 + 3 * DAY }
      for (const [interval, size] of [["1h", HOUR], ["1d", DAY]] as const) {
        const got = yield* q.quoteBars({ ...range, interval })
        assert.deepStrictEqual(got.rows, Ref.quoteBars(f.quotes, { ...range, size }), interval)
        assert.strictEqual(got.rows.reduce((n, b) => n + b.quoteCount, 0), f.quotes.length, interval)
      }
    }))
})
