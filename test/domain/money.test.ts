/**
 * Money is exact end to end, as properties over random values: a decimal(18, 8) survives the wire
 * whatever scale its BigDecimal is held at; the ASX parser takes exactly the prices and sizes the
 * Schema takes from the row's wire form, awkward texts included (1e-3, +1.5, .5, 1., 1,234.5,
 * leading zeros, -0, long scales), and builds the same value; 8-place text round-trips.
 */
import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Result, Schema } from "effect"
import * as fc from "fast-check"
import { makeWireCodec } from "../../src/domain/avro/codec.ts"
import { Decimal, NonNegativeDecimal, PositiveDecimal, toUnscaled } from "../../src/domain/decimal.ts"
import { asxFile, parseQuoteRow, parseTradeRow } from "../../src/domain/feeds/asx.ts"
import type { Quote, Trade } from "../../src/domain/marketData.ts"
import { formatFixed, parseFixed, rescale } from "../../src/domain/query/exact.ts"

const LIMIT = 10n ** 18n
const codec = makeWireCodec()

const trade = (price: BigDecimal.BigDecimal, quantity: BigDecimal.BigDecimal): Trade => ({
  message_id: "m", trade_id: "t", symbol: "BHP", exchange: "ASX", asset_class: "equities",
  exchange_timestamp: 1_700_000_000_000_000, price, quantity, currency: "AUD", side: "BUY",
  conditions: [], source_sequence: 1n, vendor_data: {}
})

/** An unscaled decimal(18, 8) value held at another scale: trailing zeros added (scale > 8) or dropped (scale < 8, negative too). */
const held = fc.tuple(fc.bigInt({ min: 1n, max: LIMIT - 1n }), fc.integer({ min: -12, max: 30 })).map(([u, shift]) => {
  if (shift >= 0) return { u, d: BigDecimal.make(u * 10n ** BigInt(shift), 8 + shift) }
  const unit = 10n ** BigInt(-shift)
  const v = (u / unit) * unit || unit // a multiple of 10^-shift, so it is exact at scale 8 + shift
  return { u: v < LIMIT ? v : unit, d: BigDecimal.make((v < LIMIT ? v : unit) / unit, 8 + shift) }
})

describe("decimals on the wire", () => {
  it("any BigDecimal whose value fits decimal(18, 8) reads back as that value, whatever its scale", () => {
    fc.assert(fc.property(held, held, (p, q) => {
      const decoded = codec.decode(codec.encodeTrade(trade(p.d, q.d)))
      assert.isTrue(Result.isSuccess(decoded))
      const t = (decoded as Result.Success<{ readonly value: Trade }, unknown>).success.value
      assert.strictEqual(toUnscaled(t.price), p.u)
      assert.strictEqual(toUnscaled(t.quantity), q.u)
    }), { numRuns: 5_000 })
  })

  it("refuses, never rounds, a value past 8 places or 18 digits", () => {
    for (const d of [BigDecimal.make(1n, 9), BigDecimal.make(123456789n, 9), BigDecimal.make(LIMIT, 8), BigDecimal.make(1n, -10)]) {
      assert.throws(() => codec.encodeTrade(trade(d, BigDecimal.make(1n, 0))), RangeError)
    }
  })
})

/** Pieces of the texts a spreadsheet or another exporter writes for a number. */
const piece = fc.constantFrom("", "-", "+", "0", "00", "1", "5", "9", ".", "e", "E", "e-3", "1e-3", "1,234.5", "1234567890", "12345678", "0000000000", "Infinity", "NaN", "0x1f", "½")
const numberText = fc.array(piece, { maxLength: 6 }).map((parts) => parts.join("")).filter((s) => !s.includes(","))

const trades = asxFile("trades", "1001", "BHP")
const quotes = asxFile("quotes", "1001", "BHP")
const decodePositive = Schema.decodeUnknownResult(PositiveDecimal)
const decodeNonNegative = Schema.decodeUnknownResult(NonNegativeDecimal)

describe("ASX prices = the Schema's decimals", () => {
  it("a price is taken exactly when decodeTrade / decodeQuote would take it, as the same value", () => {
    fc.assert(fc.property(numberText, (text) => {
      const t = parseTradeRow(trades, `03/10/2014,10:05:44.516,${text},100,0,,`, 1, 1n)
      const want = decodePositive(text)
      assert.strictEqual(typeof t !== "string", Result.isSuccess(want), `trade price ${JSON.stringify(text)}: ${String(t)}`)
      if (typeof t !== "string" && Result.isSuccess(want)) assert.strictEqual(toUnscaled(t.price), toUnscaled(want.success))
      const q = parseQuoteRow(quotes, `03/10/2014,10:05:44.516,${text},1,100,100`, 1, 1n)
      const wantBid = decodeNonNegative(text)
      assert.strictEqual(typeof q !== "string", Result.isSuccess(wantBid), `bid ${JSON.stringify(text)}: ${String(q)}`)
      if (typeof q !== "string" && Result.isSuccess(wantBid)) assert.strictEqual(toUnscaled((q as Quote).bid_price), toUnscaled(wantBid.success))
    }), { numRuns: 10_000 })
  })

  it("refuses the forms that are not plain decimal(18, 8) text, with the reason", () => {
    for (const text of ["1e-3", "+1.5", ".5", "1.", "1.123456789", "00000000001", "0x10", "Infinity"]) {
      assert.match(String(parseTradeRow(trades, `03/10/2014,10:05:44.516,${text},100,0,,`, 1, 1n)), /is not a decimal\(18, 8\) number/, text)
    }
    // Quoted, a thousands separator is one field, still no decimal.
    assert.match(String(parseTradeRow(trades, `03/10/2014,10:05:44.516,"1,234.5",100,0,,`, 1, 1n)), /is not a decimal\(18, 8\) number/)
    assert.match(String(parseTradeRow(trades, "03/10/2014,10:05:44.516,-0,100,0,,", 1, 1n)), /price must be greater than 0/)
    const q = parseQuoteRow(quotes, "03/10/2014,10:05:44.516,-0.00,0000000037.51,100,100", 1, 1n) as Quote
    assert.strictEqual(toUnscaled(q.bid_price), 0n)
    assert.strictEqual(toUnscaled(q.ask_price), 3_751_000_000n)
  })
})

describe("decimal text", () => {
  const fitting = fc.tuple(fc.bigInt({ min: -(LIMIT - 1n), max: LIMIT - 1n }), fc.integer({ min: 0, max: 8 }))
    .map(([u, s]) => BigDecimal.make(u / 10n ** BigInt(8 - s), s))

  it("the Schema's text decodes to the same value, and 8-place text parses back to it", () => {
    fc.assert(fc.property(fitting, (d) => {
      const text = Schema.encodeSync(Decimal)(d)
      const again = Schema.decodeUnknownSync(Decimal)(text)
      assert.strictEqual(toUnscaled(again), toUnscaled(d))
      const eight = formatFixed(toUnscaled(d)!)
      assert.match(eight, /^-?\d+\.\d{8}$/)
      assert.strictEqual(rescale(parseFixed(eight)), toUnscaled(d))
      assert.strictEqual(toUnscaled(Schema.decodeUnknownSync(Decimal)(eight)), toUnscaled(d))
    }), { numRuns: 5_000 })
  })
})
