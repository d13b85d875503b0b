/**
 * The hand-written Avro writer and reader behind the wire codec: the writer's bytes are avsc's
 * for any trade, quote and instrument, its values survive later writes, the reader reads what
 * avsc reads (also from damaged bytes), and instruments round-trip.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import avro from "avsc"
import { BigDecimal, Result } from "effect"
import * as fc from "fast-check"
import { unscaledToBytes } from "../../../src/domain/avro/binary.ts"
import { avroTypeOf } from "../../../src/domain/avro/avscTypes.ts"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { unscaledFromBytes } from "../../../src/domain/avro/decimalBytes.ts"
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

  it("writes avsc's bytes at the edges: the smallest decimal of each length, U+007F and U+0080", () => {
    const [base] = fc.sample(trades, { numRuns: 1, seed: 1 })
    for (const unscaled of [-128n, -129n, 127n, 128n, -32768n, -(2n ** 47n), -(2n ** 55n), 2n ** 55n - 1n]) {
      for (const symbol of ["\u007f", "\u0080", "a\u0080b"]) {
        const t: Trade = { ...base!, symbol, price: BigDecimal.make(unscaled, 8) }
        assert.deepStrictEqual([...codec.encodeTrade(t)], reference(rawTrade, 1, {
          ...t,
          exchange_timestamp: BigInt(t.exchange_timestamp),
          price: bytes(t.price),
          quantity: bytes(t.quantity)
        }), `${unscaled} ${JSON.stringify(symbol)}`)
      }
    }
    // Sequences around 2^52, where a long leaves the exact-double path.
    for (const source_sequence of [2n ** 52n - 1n, 2n ** 52n, 2n ** 52n + 1n]) {
      const t: Trade = { ...base!, source_sequence }
      assert.deepStrictEqual([...codec.encodeTrade(t)], reference(rawTrade, 1, {
        ...t,
        exchange_timestamp: BigInt(t.exchange_timestamp),
        price: bytes(t.price),
        quantity: bytes(t.quantity)
      }), String(source_sequence))
    }
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
    // A long beyond 64 bits is refused, not wrapped (2^64 read back as 1).
    assert.throws(() => codec.encodeTrade({ ...base, source_sequence: 2n ** 64n }), RangeError)
    assert.isTrue(Result.isSuccess(codec.decode(codec.encodeTrade({ ...base, source_sequence: 2n ** 63n - 1n }))))
    assert.isTrue(Result.isSuccess(codec.decode(codec.encodeTrade(base))), "the writer recovers from a refused value")
  })

  it("refuses a timestamp that is not an integer, rather than writing another instant", () => {
    const base: Trade = {
      message_id: "m", trade_id: "t", symbol: "BHP", exchange: "ASX", asset_class: "equities", exchange_timestamp: 0,
      price: BigDecimal.make(1n, 0), quantity: BigDecimal.make(1n, 0), currency: "AUD", side: "BUY", conditions: [],
      source_sequence: null, vendor_data: {}
    }
    // 1.5 was written as the zig-zag varint 3, read back as -2; 1.25 as 1.
    for (const exchange_timestamp of [1.5, 1.25, -0.5, 1_700_000_000_000_000.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => codec.encodeTrade({ ...base, exchange_timestamp }), RangeError, "integer")
    }
    assert.strictEqual((ok(codec.decode(codec.encodeTrade({ ...base, exchange_timestamp: -1 }))).value as Trade).exchange_timestamp, -1)
  })
})

describe("Avro reader", () => {
  /** What avsc reads from a framed value: the raw record, or undefined when it cannot. */
  const avscRead = (type: avro.Type, bytes: Uint8Array) => {
    try {
      const r = type.decode(Buffer.from(bytes), 5)
      return r.offset === bytes.length ? r.value as Record<string, unknown> : undefined
    } catch {
      return undefined
    }
  }
  /**
   * The codec's decode agrees with avsc: the same fields, or SchemaInvalid, when it reads a value;
   * with `both`, also Undecodable exactly when avsc cannot read it. (avsc is only asked about
   * corrupted bytes our reader accepts: it does not stop at the end of its input, so a corrupted
   * block count can keep it reading for hours.)
   */
  const agree = (type: avro.Type, decimals: ReadonlyArray<string>, bytes: Uint8Array, both: boolean) => {
    const decoded = codec.decode(bytes)
    if (!both && Result.isFailure(decoded) && decoded.failure._tag === "Undecodable") return
    const raw = avscRead(type, bytes)
    if (raw === undefined) return assert.strictEqual(poison(decoded)._tag, "Undecodable")
    if (Result.isFailure(decoded)) return assert.strictEqual(decoded.failure._tag, "SchemaInvalid")
    const value = decoded.success.value as unknown as Record<string, unknown>
    for (const [k, v] of Object.entries(raw)) {
      if (decimals.includes(k)) assert.strictEqual(toUnscaled(value[k] as BigDecimal.BigDecimal), unscaledFromBytes(v as Buffer), k)
      else if (k === "exchange_timestamp") assert.strictEqual(BigInt(value[k] as number), v, k)
      else assert.deepStrictEqual(value[k], v, k)
    }
  }

  it("reads what avsc reads from any trade and quote, and from every truncation and corruption of them", () => {
    const truncated = (bytes: Uint8Array, cut: number) => bytes.subarray(0, Math.max(5, Math.min(bytes.length, cut)))
    const corrupted = (bytes: Uint8Array, at: number, xor: number) => {
      const copy = Buffer.from(bytes)
      copy[5 + (at % (copy.length - 5))]! ^= xor
      return copy
    }
    const damage = fc.tuple(fc.nat({ max: 400 }), fc.nat(), fc.integer({ min: 0, max: 255 }))
    // Mostly valid values, so that what the readers read is compared, not only that both refuse it.
    const code = fc.oneof(fc.constantFrom("BHP", "CBA", "ASX", "XASX"), fc.stringMatching(/^[A-Z0-9._-]{1,32}$/))
    const positive = fc.bigInt({ min: 1n, max: 10n ** 18n - 1n }).map((u) => BigDecimal.make(u, 8))
    const valid = { symbol: code, exchange: code, currency: fc.stringMatching(/^[A-Z]{3}$/), message_id: fc.string({ minLength: 1 }) }
    const validTrades = fc.record({ ...common, ...valid, trade_id: fc.string({ minLength: 1 }), price: positive, quantity: positive, side: fc.constantFrom("BUY" as const, "SELL" as const) })
    const validQuotes = fc.record({ ...common, ...valid, quote_id: fc.string({ minLength: 1 }), bid_price: positive, bid_size: positive, ask_price: positive, ask_size: positive })
    fc.assert(fc.property(fc.oneof(trades, validTrades), damage, (t: Trade, [cut, at, xor]) => {
      const bytes = codec.encodeTrade(t)
      agree(rawTrade, ["price", "quantity"], bytes, true)
      agree(rawTrade, ["price", "quantity"], truncated(bytes, cut), true)
      agree(rawTrade, ["price", "quantity"], corrupted(bytes, at, xor), false)
    }), { numRuns: 1000 })
    fc.assert(fc.property(fc.oneof(quotes, validQuotes), damage, (q: Quote, [cut, at, xor]) => {
      const bytes = codec.encodeQuote(q)
      agree(rawQuote, ["bid_price", "bid_size", "ask_price", "ask_size"], bytes, true)
      agree(rawQuote, ["bid_price", "bid_size", "ask_price", "ask_size"], truncated(bytes, cut), true)
      agree(rawQuote, ["bid_price", "bid_size", "ask_price", "ask_size"], corrupted(bytes, at, xor), false)
    }), { numRuns: 1000 })
  })
})

describe("long decimal bytes", () => {
  it("read exactly, and a 400 KB decimal is SchemaInvalid at once instead of holding the thread", () => {
    for (const v of [2n ** 200n + 12345n, -(2n ** 300n) - 7n, 10n ** 40n, -(10n ** 40n)]) {
      assert.strictEqual(unscaledFromBytes(unscaledToBytes(v)), v)
    }
    const head = Buffer.from(codec.encodeTrade({
      message_id: "m", trade_id: "t", symbol: "BHP", exchange: "ASX", asset_class: "equities",
      exchange_timestamp: 1_700_000_000_000_000, price: BigDecimal.make(1n, 0), quantity: BigDecimal.make(1n, 0),
      currency: "AUD", side: "BUY", conditions: [], source_sequence: null, vendor_data: {}
    }))
    // The price (1: bytes [2, 0x05, 0xf5, 0xe1, 0x00] = 10^8) replaced by 400,000 bytes of 0x7f:
    // byte by byte (quadratic) that took minutes, far past the test's time-out.
    const at = head.indexOf(Buffer.from([0x08, 0x05, 0xf5, 0xe1, 0x00]))
    const n = 400_000
    const length = Buffer.from([((2 * n) & 0x7f) | 0x80, (((2 * n) >> 7) & 0x7f) | 0x80, (2 * n) >> 14])
    const framed = Buffer.concat([head.subarray(0, at), length, Buffer.alloc(n, 0x7f), head.subarray(at + 5)])
    const failure = poison(codec.decode(framed))
    assert.strictEqual(failure._tag, "SchemaInvalid")
    assert.deepStrictEqual(failure._tag === "SchemaInvalid" ? failure.problems.map((p) => p.field) : [], ["price"])
  })
})

describe("strings on the wire", () => {
  /** `framed` with the first occurrence of `text`'s bytes replaced by `bytes` (as long). */
  const patched = (framed: Uint8Array, text: string, bytes: ReadonlyArray<number>) => {
    const copy = Buffer.from(framed)
    const at = copy.indexOf(Buffer.from(text))
    assert.isAtLeast(at, 5, text)
    Buffer.from(bytes).copy(copy, at)
    return copy
  }
  const trade: Trade = {
    message_id: "m-AAAA", trade_id: "t-1", symbol: "BHP", exchange: "ASX", asset_class: "equities",
    exchange_timestamp: 1_700_000_000_000_000, price: BigDecimal.make(1n, 0), quantity: BigDecimal.make(1n, 0),
    currency: "AUD", side: "BUY", conditions: ["CCCC"], source_sequence: 1n, vendor_data: { KKKK: "VVVV" }
  }
  const notUtf8 = (bytes: Uint8Array, what: string) => {
    const failure = poison(codec.decode(bytes))
    assert.strictEqual(failure._tag, "Undecodable", what)
    assert.include(failure.message, "UTF-8", what)
  }

  it("bytes that are not UTF-8 are Undecodable, not read as U+FFFD (in every reader); a real U+FFFD is text", () => {
    const framed = codec.encodeTrade(trade)
    // A lone continuation byte, an overlong encoding, a truncated sequence, a surrogate.
    notUtf8(patched(framed, "AAAA", [0xff, 0xfe, 0x41, 0x41]), "message_id")
    notUtf8(patched(framed, "CCCC", [0xc0, 0xaf, 0x43, 0x43]), "condition")
    notUtf8(patched(framed, "KKKK", [0x4b, 0x4b, 0xe2, 0x82]), "vendor key")
    notUtf8(patched(framed, "VVVV", [0xed, 0xa0, 0x80, 0x56]), "vendor value")
    const real = ok(codec.decode(codec.encodeTrade({ ...trade, message_id: "m-\uFFFD" })))
    assert.strictEqual(real.kind === "trade" ? real.value.message_id : "", "m-\uFFFD")

    // A writer schema resolved to ours (avsc reads it), with a field ours lacks.
    const evolved = { ...tradeSchema, fields: [...tradeSchema.fields, { name: "note", type: "string", default: "" }] }
    const resolving = makeWireCodec()
    resolving.addWriterSchema(7, "trade", evolved)
    const body = avroTypeOf(evolved).toBuffer({
      ...trade, exchange_timestamp: BigInt(trade.exchange_timestamp), price: bytes(trade.price), quantity: bytes(trade.quantity), note: "NNNN"
    })
    const evolvedFramed = Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), body])
    assert.strictEqual(ok(resolving.decode(evolvedFramed)).kind, "trade")
    for (const [text, what] of [["AAAA", "message_id"], ["VVVV", "vendor value"], ["NNNN", "a field the reader skips"]] as const) {
      const failure = poison(resolving.decode(patched(evolvedFramed, text, [0x80, 0x41, 0x41, 0x41])))
      assert.strictEqual(failure._tag, "Undecodable", what)
    }

    const named = codec.encodeInstrument({ ...instrument, name: "NAME" })
    notUtf8(patched(named, "NAME", [0x4e, 0xf8, 0x88, 0x80]), "instrument name")
  })

  it("a writer's bytes read as our strings (the spec's bytes-to-string promotion) that are not UTF-8 are Undecodable", () => {
    // An older producer wrote message_id, conditions and vendor values as bytes: valid UTF-8 is
    // text, anything else must not become U+FFFD (two ids would read alike).
    const promoted = {
      ...tradeSchema,
      fields: tradeSchema.fields.map((f) =>
        f.name === "message_id" ? { ...f, type: "bytes" }
        : f.name === "conditions" ? { ...f, type: { type: "array", items: "bytes" } }
        : f.name === "vendor_data" ? { ...f, type: { type: "map", values: "bytes" } }
        : f
      )
    }
    const c = makeWireCodec()
    c.addWriterSchema(7, "trade", promoted)
    const framed = (message_id: Buffer, condition: Buffer, value: Buffer) =>
      Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), avroTypeOf(promoted).toBuffer({
        ...trade, exchange_timestamp: BigInt(trade.exchange_timestamp), price: bytes(trade.price), quantity: bytes(trade.quantity),
        message_id, conditions: [condition], vendor_data: { KKKK: value }
      })])
    const good = ok(c.decode(framed(Buffer.from("m-\uFFFD"), Buffer.from("CCCC"), Buffer.from("VVVV")))).value as Trade
    assert.deepStrictEqual([good.message_id, good.conditions, good.vendor_data], ["m-\uFFFD", ["CCCC"], { KKKK: "VVVV" }])
    const bad = Buffer.from([0x6d, 0xff])
    for (const [what, value] of [
      ["message_id", framed(bad, Buffer.from("CCCC"), Buffer.from("VVVV"))],
      ["condition", framed(Buffer.from("m-1"), bad, Buffer.from("VVVV"))],
      ["vendor value", framed(Buffer.from("m-1"), Buffer.from("CCCC"), bad)]
    ] as const) {
      const failure = poison(c.decode(value))
      assert.strictEqual(failure._tag, "Undecodable", what)
      assert.include(failure.message, "UTF-8", what)
    }
    // Instruments always go through avsc.
    const instrumentBytes = { ...instrumentSchema, fields: instrumentSchema.fields.map((f) => (f.name === "name" ? { ...f, type: "bytes" } : f)) }
    c.addWriterSchema(8, "instrument", instrumentBytes)
    const named = (name: Buffer) =>
      Buffer.concat([Buffer.from([0, 0, 0, 0, 8]), avroTypeOf(instrumentBytes).toBuffer({ ...instrument, listing_date: 10_957, name })])
    assert.strictEqual((ok(c.decode(named(Buffer.from("BHP LTD")))).value as Instrument).name, "BHP LTD")
    assert.include(poison(c.decode(named(bad))).message, "UTF-8")
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

describe("decimals at the reader's number/bigint edge", () => {
  /** `u` as `n` bytes of big-endian two's complement (more than the fewest: sign-extended). */
  const twos = (u: bigint, n: number) => {
    const out = Buffer.alloc(n)
    let v = BigInt.asUintN(8 * n, u)
    for (let i = n - 1; i >= 0; i--) {
      out[i] = Number(v & 0xffn)
      v >>= 8n
    }
    return out
  }
  const fewest = (u: bigint) => Buffer.from(unscaledToBytes(u))
  const base = {
    message_id: "m", trade_id: "t", symbol: "BHP", exchange: "ASX", asset_class: "equities",
    exchange_timestamp: 1_700_000_000_000_000n, currency: "AUD", side: "BUY", conditions: [], source_sequence: null, vendor_data: {}
  }
  const tradeWith = (price: Buffer) => {
    const quantity = fewest(100_000_000n)
    return Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), rawTrade.toBuffer({ ...base, price, quantity })])
  }
  const quoteWith = (bid_size: Buffer) => {
    const one = fewest(100_000_000n)
    const { side: _, trade_id: __, ...common } = base
    return Buffer.concat([Buffer.from([0, 0, 0, 0, 2]), rawQuote.toBuffer({ ...common, quote_id: "q", bid_price: one, bid_size, ask_price: one, ask_size: one })])
  }
  const limit = 10n ** 18n
  const edges = [
    0n, 1n, -1n, 127n, 128n, -128n, -129n, 2n ** 40n - 1n, -(2n ** 40n), 2n ** 47n - 1n, 2n ** 47n, -(2n ** 47n), -(2n ** 47n) - 1n,
    2n ** 48n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, limit - 1n, limit, -limit, 2n ** 63n - 1n, -(2n ** 63n)
  ]

  it("read as avsc's bytes say, refused as before, from the fewest bytes and from sign-extended ones", () => {
    for (const u of edges) {
      const encodings = [fewest(u), ...[6, 7, 8, 9, 16, 17].filter((n) => n >= fewest(u).length).map((n) => twos(u, n))]
      for (const enc of encodings) {
        assert.strictEqual(unscaledFromBytes(enc), u, `${u} in ${enc.length} bytes`)
        const trade = codec.decode(tradeWith(enc))
        if (u > 0n && u < limit) {
          const price = (ok(trade).value as Trade).price
          assert.strictEqual(toUnscaled(price), u, `${u} in ${enc.length} bytes`)
          // One shared value however it was read.
          assert.strictEqual((ok(codec.decode(tradeWith(fewest(u)))).value as Trade).price, price, `${u} shared`)
        } else {
          const failure = poison(trade)
          assert.deepStrictEqual(
            failure._tag === "SchemaInvalid" ? failure.problems : [],
            [{ field: "price", problem: u <= 0n ? "must be greater than 0" : "must fit decimal(18, 8)" }],
            `${u} in ${enc.length} bytes`
          )
        }
        const quote = codec.decode(quoteWith(enc))
        if (u >= 0n && u < limit) {
          const size = (ok(quote).value as Quote).bid_size
          assert.strictEqual(toUnscaled(size), u, `${u} in ${enc.length} bytes`)
          if (u === 0n) assert.isFalse(Object.is(Number(BigDecimal.format(size)), -0))
        } else {
          const failure = poison(quote)
          assert.deepStrictEqual(
            failure._tag === "SchemaInvalid" ? failure.problems : [],
            [{ field: "bid_size", problem: u < 0n ? "must not be negative" : "must fit decimal(18, 8)" }],
            `${u} in ${enc.length} bytes`
          )
        }
      }
    }
  })

  it("the empty decimal is 0: a refused price, a size of 0", () => {
    assert.deepStrictEqual(
      (poison(codec.decode(tradeWith(Buffer.alloc(0)))) as { problems?: unknown }).problems,
      [{ field: "price", problem: "must be greater than 0" }]
    )
    assert.strictEqual(toUnscaled((ok(codec.decode(quoteWith(Buffer.alloc(0)))).value as Quote).bid_size), 0n)
  })

  it("codes: one codec's valid code does not pass another's invalid one, and the checks hold past the remembered count", () => {
    const other = makeWireCodec()
    const trade = (symbol: string, currency: string) => Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), rawTrade.toBuffer({ ...base, symbol, currency, price: fewest(1n), quantity: fewest(1n) })])
    for (let i = 0; i < 5_000; i++) ok(codec.decode(trade(`S${i}`, "AUD")))
    for (const c of [codec, other]) {
      for (const [symbol, currency, field] of [["bhp", "AUD", "symbol"], ["BHP", "aud", "currency"], ["BHP", "AUDX", "currency"], ["", "AUD", "symbol"], ["S1", "AUD ", "currency"]] as const) {
        const failure = poison(c.decode(trade(symbol, currency)))
        assert.deepStrictEqual(failure._tag === "SchemaInvalid" ? failure.problems.map((p) => p.field) : [], [field], `${symbol} ${currency}`)
      }
      ok(c.decode(trade("S4999", "AUD")))
      ok(c.decode(trade("S0", "AUD")))
    }
  })
})
