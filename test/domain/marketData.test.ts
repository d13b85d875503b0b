import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Result, Schema } from "effect"
import { toUnscaled } from "../../src/domain/decimal.ts"
import { decodeQuote, decodeTrade, Trade, type TradeEncoded } from "../../src/domain/marketData.ts"

const trade: TradeEncoded = {
  message_id: "asx:trades/BHP.csv:1",
  trade_id: "BHP-1",
  symbol: "BHP",
  exchange: "ASX",
  asset_class: "equities",
  exchange_timestamp: "2014-03-10T10:05:44.516+11:00",
  price: "37.51",
  quantity: "40000",
  currency: "AUD",
  side: "UNKNOWN",
  conditions: ["0"],
  source_sequence: "1",
  vendor_data: { venue: "" }
}

const problemsOf = (input: unknown) => {
  const r = decodeTrade(input)
  assert.isTrue(Result.isFailure(r))
  return Result.isFailure(r) ? r.failure.problems : []
}

describe("Trade", () => {
  it("decodes exact decimals and microsecond instants", () => {
    const r = decodeTrade({ ...trade, price: "123.45678901", exchange_timestamp: "2024-01-02T03:04:05.123456Z" })
    assert.isTrue(Result.isSuccess(r))
    const t = Result.getOrThrow(r)
    assert.strictEqual(toUnscaled(t.price), 12_345_678_901n)
    assert.strictEqual(t.exchange_timestamp, Date.UTC(2024, 0, 2, 3, 4, 5) * 1000 + 123_456)
    assert.strictEqual(t.source_sequence, 1n)
  })

  it("converts the exchange's offset to UTC", () => {
    const t = Result.getOrThrow(decodeTrade(trade))
    assert.strictEqual(t.exchange_timestamp, Date.UTC(2014, 2, 9, 23, 5, 44, 516) * 1000)
  })

  it("round-trips through its wire form without losing a digit", () => {
    const t = Result.getOrThrow(decodeTrade({ ...trade, price: "0.00000001" }))
    const encoded = Schema.encodeSync(Trade)(t)
    assert.strictEqual(encoded.price, "0.00000001")
    assert.strictEqual(encoded.exchange_timestamp, "2014-03-09T23:05:44.516000Z")
    assert.isTrue(BigDecimal.equals(Result.getOrThrow(decodeTrade(encoded)).price, t.price))
  })

  it("says which field is wrong and why", () => {
    assert.deepStrictEqual(problemsOf({ ...trade, price: "-1" }), [{ field: "price", problem: "must be greater than 0" }])
    assert.deepStrictEqual(problemsOf({ ...trade, price: "1.123456789" }).map((p) => p.field), ["price"])
    assert.deepStrictEqual(problemsOf({ ...trade, price: 37.51 }).map((p) => p.field), ["price"])
    assert.deepStrictEqual(problemsOf({ ...trade, exchange_timestamp: "2024-02-30T00:00:00Z" }).map((p) => p.field), [
      "exchange_timestamp"
    ])
    assert.deepStrictEqual(problemsOf({ ...trade, side: "LONG" }).map((p) => p.field), ["side"])
    assert.deepStrictEqual(problemsOf({ ...trade, source_sequence: "9223372036854775808" }), [
      { field: "source_sequence", problem: "must be in 0..2^63-1" }
    ])
  })

  it("reports every problem at once", () => {
    const fields = problemsOf({ ...trade, price: "abc", quantity: "0", symbol: "" }).map((p) => p.field).sort()
    assert.deepStrictEqual(fields, ["price", "quantity", "symbol"])
  })

  it("rejects values beyond decimal(18, 8)", () => {
    // Also when written with an exponent (a BigDecimal of negative scale), however large.
    assert.strictEqual(toUnscaled(BigDecimal.make(4n, -2)), 40_000_000_000n)
    assert.isUndefined(toUnscaled(BigDecimal.make(1n, -40)))
    assert.isUndefined(toUnscaled(BigDecimal.make(1n, -10)))
    assert.deepStrictEqual(problemsOf({ ...trade, quantity: "12345678901" }).map((p) => p.field), ["quantity"])
  })
})

describe("Quote", () => {
  it("keeps a zero ask before the open and crossed quotes", () => {
    const { trade_id: _, price: __, quantity: ___, side: ____, ...common } = trade
    const quote = { ...common, quote_id: "q1", bid_price: "37.60", bid_size: "100", ask_price: "0", ask_size: "0" }
    assert.isTrue(Result.isSuccess(decodeQuote(quote)))
    assert.isTrue(Result.isSuccess(decodeQuote({ ...quote, ask_price: "37.50" })))
    assert.isTrue(Result.isFailure(decodeQuote({ ...quote, bid_size: "-5" })))
  })
})
