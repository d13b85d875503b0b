/**
 * The hand-written Avro writer behind the wire codec's encoders: its bytes are avsc's for any
 * trade, quote and instrument, its values survive later writes, and instruments round-trip.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import avro from "avsc"
import { BigDecimal, Result } from "effect"
import * as fc from "fast-check"
import { avroTypeOf, makeWireCodec, unscaledToBytes } from "../../../src/domain/avro/codec.ts"
import { instrumentSchema, quoteSchema, tradeSchema } from "../../../src/domain/avro/schemas.ts"
import { toUnscaled } from "../../../src/domain/decimal.ts"
import type { Quote, Trade } from "../../../src/domain/marketData.ts"
import type { Instrument } from "../../../src/domain/reference.ts"
import { daysOfIsoDate } from "../../../src/domain/time.ts"
import { ok, poison } from "../../support/wire.ts"

const repo = path.resolve(import.meta.dirname, "../../..")
const codec = makeWireCodec()
const rawTrade = avroTypeOf(tradeSchema)
const rawQuote = avroTypeOf(quoteSchema)
const rawInstrument = avroTypeOf(instrumentSchema)

/** avsc's encoding of a value, framed: what the codec wrote before it had its own writer. */
const reference = (type: avro.Type, id: number, value: unknown) =>
  [...Buffer.concat([Buffer.from([0, 0, 0, 0, id]), type.toBuffer(value)])]

const bytes = (d: BigDecimal.BigDecimal) => unscaledToBytes(toUnscaled(d)!)


// Decimals of decimal(18, 8) at every scale, on both sides of 2^53 (the writer's two paths).
const decimal = fc.tuple(fc.bigInt({ min: -(10n ** 18n) + 1n, max: 10n ** 18n - 1n }), fc.integer({ min: 0, max: 8 }))
  .map(([u, s]) => BigDecimal.make(u / 10n ** BigInt(8 - s), s))
const text = fc.oneof(fc.string({ maxLength: 10 }), fc.string({ unit: "grapheme", maxLength: 70 }), fc.string({ minLength: 64, maxLength: 200 }))
const common = {
  message_id: text,
  symbol: text,
  exchange: text,
  asset_class: fc.constant("equities" as const),
  // 1900 .. 2200, negative before 1970.
  exchange_timestamp: fc.integer({ min: -2_208_988_800_000_000, max: 7_258_118_400_000_000 }),
  currency: text,
  conditions: fc.array(text, { maxLength: 3 }),
  source_sequence: fc.option(fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), { nil: null }),
  vendor_data: fc.dictionary(text, text, { maxKeys: 3 })
}
const trades = fc.record({ ...common, trade_id: text, price: decimal, quantity: decimal, side: fc.constant("BUY" as const) })
const quotes = fc.record({ ...common, quote_id: text, bid_price: decimal, bid_size: decimal, ask_price: decimal, ask_size: decimal })

const instrument: Instrument = {
  symbol: "BHP",
  exchange: "ASX",
  company_id: "1001",
  name: "BHP BILLITON LIMITED",
  isin: "AU000000BHP4",
  currency: "AUD",
  asset_class: "equities",
  listing_date: "2000-01-01",
  delisting_date: null
}

describe("Avro writer", () => {
  it("writes avsc's bytes for any trade and quote (decimals across the range, longs beyond 2^53, UTF-8)", () => {
    fc.assert(fc.property(trades, (t: Trade) => {
      assert.deepStrictEqual([...codec.encodeTrade(t)], reference(rawTrade, 1, {
        ...t,
        exchange_timestamp: BigInt(t.exchange_timestamp),
        price: bytes(t.price),
        quantity: bytes(t.quantity)
      }))
    }), { numRuns: 500 })
    fc.assert(fc.property(quotes, (q: Quote) => {
      assert.deepStrictEqual([...codec.encodeQuote(q)], reference(rawQuote, 2, {
        ...q,
        exchange_timestamp: BigInt(q.exchange_timestamp),
        bid_price: bytes(q.bid_price),
        bid_size: bytes(q.bid_size),
        ask_price: bytes(q.ask_price),
        ask_size: bytes(q.ask_size)
      }))
    }), { numRuns: 500 })
  })

  it("never overwrites a value it returned, also when a value outgrows the arena", () => {
    const t = (i: number, message_id = `m-${i}`): Trade => ({
      message_id,
      trade_id: `T${i}`,
      symbol: "BHP",
      exchange: "ASX",
      asset_class: "equities",
      exchange_timestamp: 1_700_000_000_000_000 + i,
      price: BigDecimal.make(BigInt(4_512_345_678 + i), 8),
      quantity: BigDecimal.make(BigInt(i + 1), 0),
      currency: "AUD",
      side: "SELL",
      conditions: [],
      source_sequence: BigInt(i),
      vendor_data: {}
    })
    const written = Array.from({ length: 20_000 }, (_, i) => codec.encodeTrade(t(i, i === 7_000 ? "x".repeat(600_000) : `m-${i}`)))
    for (let i = 0; i < written.length; i += 997) {
      assert.strictEqual((ok(codec.decode(written[i]!)).value as Trade).trade_id, `T${i}`)
    }
    assert.strictEqual(written[7_000]!.length, reference(rawTrade, 1, {
      ...t(7_000, "x".repeat(600_000)),
      exchange_timestamp: BigInt(t(7_000).exchange_timestamp),
      price: bytes(t(7_000).price),
      quantity: bytes(t(7_000).quantity)
    }).length)
  })

  it("refuses a decimal that does not fit decimal(18, 8) exactly", () => {
    const base: Trade = {
      message_id: "m", trade_id: "t", symbol: "BHP", exchange: "ASX", asset_class: "equities", exchange_timestamp: 0,
      price: BigDecimal.make(1n, 0), quantity: BigDecimal.make(1n, 0), currency: "AUD", side: "BUY", conditions: [],
      source_sequence: null, vendor_data: {}
    }
    assert.throws(() => codec.encodeTrade({ ...base, price: BigDecimal.make(1n, 9) }), RangeError)
    assert.throws(() => codec.encodeTrade({ ...base, quantity: BigDecimal.make(10n ** 10n, 0) }), RangeError)
    assert.isTrue(Result.isSuccess(codec.decode(codec.encodeTrade(base))), "the writer recovers from a refused value")
  })
})

describe("instruments on the wire", () => {
  it("schemas/instrument.avsc is the schema the code uses", () => {
    assert.deepStrictEqual(JSON.parse(fs.readFileSync(path.join(repo, "schemas/instrument.avsc"), "utf8")), instrumentSchema)
  })

  it("round-trip with schema id 3; dates are Avro date ints", () => {
    const framed = codec.encodeInstrument(instrument)
    assert.deepStrictEqual([...framed.subarray(0, 5)], [0, 0, 0, 0, 3])
    assert.deepStrictEqual([...framed], reference(rawInstrument, 3, { ...instrument, listing_date: daysOfIsoDate("2000-01-01") }))
    const plain = avro.Type.forSchema(instrumentSchema as unknown as avro.Schema, { logicalTypes: {} })
    assert.strictEqual((plain.fromBuffer(Buffer.from(framed.subarray(5))) as { listing_date: number }).listing_date, 10_957)
    assert.deepStrictEqual(ok(codec.decode(framed)), { kind: "instrument", schemaId: 3, value: instrument })
    const minimal = { ...instrument, company_id: null, isin: null, listing_date: null, delisting_date: "1969-12-31" }
    assert.deepStrictEqual(ok(codec.decode(codec.encodeInstrument(minimal))).value, minimal)
  })

  it("an instrument that breaks the domain rules is SchemaInvalid, naming the fields", () => {
    const body = rawInstrument.toBuffer({ ...instrument, isin: "NOT-AN-ISIN", currency: "dollars", listing_date: 2 ** 30 })
    const failure = poison(codec.decode(Buffer.concat([Buffer.from([0, 0, 0, 0, 3]), body])))
    assert.strictEqual(failure._tag, "SchemaInvalid")
    if (failure._tag !== "SchemaInvalid") return
    assert.strictEqual(failure.kind, "instrument")
    assert.deepStrictEqual(failure.problems.map((p) => p.field).sort(), ["currency", "isin", "listing_date"])
  })
})
