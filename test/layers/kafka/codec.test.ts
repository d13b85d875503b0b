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
import { framedSchemaId } from "../../../src/domain/avro/framing.ts"
import { BigIntLong } from "../../../src/domain/avro/bigintLong.ts"
import { quoteSchema, tradeSchema } from "../../../src/domain/avro/schemas.ts"
import { toUnscaled } from "../../../src/domain/decimal.ts"
import { decodeQuote, decodeTrade, MESSAGE_ID_MAX, type Quote, type Trade } from "../../../src/domain/marketData.ts"
import { quoteColumns, tradeColumns } from "../../../src/domain/rows.ts"
import { formatIsoMicros } from "../../../src/domain/time.ts"
import { dlqTopicName, parseTopicName, topicName, topicSpecs, valueSubject } from "../../../src/domain/wire.ts"
import { ok, poison } from "../../support/wire.ts"

const repo = path.resolve(import.meta.dirname, "../../..")

const trade: Trade = {
  message_id: "asx-1",
  trade_id: "T1",
  symbol: "BHP",
  exchange: "ASX",
  asset_class: "equities",
  exchange_timestamp: Date.UTC(2024, 2, 10, 10, 5, 44) * 1000 + 516_123,
  price: BigDecimal.fromStringUnsafe("45.12345678"),
  quantity: BigDecimal.fromStringUnsafe("1200"),
  currency: "AUD",
  side: "BUY",
  conditions: ["XT", "LT"],
  source_sequence: 9_007_199_254_740_993n, // beyond 2^53
  vendor_data: { venue: "CXA" }
}

const quote: Quote = {
  message_id: "asx-q1",
  quote_id: "Q1",
  symbol: "CBA",
  exchange: "ASX",
  asset_class: "equities",
  exchange_timestamp: Date.UTC(2024, 2, 10) * 1000,
  bid_price: BigDecimal.fromStringUnsafe("0"),
  bid_size: BigDecimal.fromStringUnsafe("0"),
  ask_price: BigDecimal.fromStringUnsafe("9999999999.99999999"),
  ask_size: BigDecimal.fromStringUnsafe("0.00000001"),
  currency: "AUD",
  conditions: [],
  source_sequence: null,
  vendor_data: {}
}

const codec = makeWireCodec()


const sameDecimal = (a: BigDecimal.BigDecimal, b: BigDecimal.BigDecimal) =>
  assert.isTrue(BigDecimal.equals(a, b), `${BigDecimal.format(a)} != ${BigDecimal.format(b)}`)

/** The domain's encoded (JSON) form of a wire record, for decodeTrade / decodeQuote. */
const encodedTrade = (t: Trade) => ({
  ...t,
  exchange_timestamp: formatIsoMicros(t.exchange_timestamp),
  price: BigDecimal.format(t.price),
  quantity: BigDecimal.format(t.quantity),
  source_sequence: t.source_sequence === null ? null : t.source_sequence.toString()
})

describe("wire codec", () => {
  it("schemas/*.avsc are the schemas the code uses", () => {
    assert.deepStrictEqual(JSON.parse(fs.readFileSync(path.join(repo, "schemas/trade.avsc"), "utf8")), tradeSchema)
    assert.deepStrictEqual(JSON.parse(fs.readFileSync(path.join(repo, "schemas/quote.avsc"), "utf8")), quoteSchema)
  })

  it("frames with magic byte 0 and the big-endian schema id", () => {
    const bytes = codec.encodeTrade(trade)
    assert.strictEqual(bytes[0], 0)
    assert.deepStrictEqual([...bytes.subarray(1, 5)], [0, 0, 0, 1])
    assert.strictEqual(framedSchemaId(codec.encodeQuote(quote)), 2)
    const custom = makeWireCodec({ tradeSchemaId: 0x01020304 })
    assert.deepStrictEqual([...custom.encodeTrade(trade).subarray(0, 5)], [0, 1, 2, 3, 4])
  })

  it("round-trips trades and quotes exactly (decimals, micros, long beyond 2^53, nulls, maps)", () => {
    const t = ok(codec.decode(codec.encodeTrade(trade)))
    assert.strictEqual(t.kind, "trade")
    assert.strictEqual(t.schemaId, 1)
    const tv = t.value as Trade
    sameDecimal(tv.price, trade.price)
    sameDecimal(tv.quantity, trade.quantity)
    assert.strictEqual(tv.exchange_timestamp, trade.exchange_timestamp)
    assert.strictEqual(tv.source_sequence, trade.source_sequence)
    assert.deepStrictEqual({ ...tv, price: 0, quantity: 0 }, { ...trade, price: 0, quantity: 0 })
    const q = ok(codec.decode(codec.encodeQuote(quote)))
    assert.strictEqual(q.kind, "quote")
    const qv = q.value as Quote
    for (const f of ["bid_price", "bid_size", "ask_price", "ask_size"] as const) sameDecimal(qv[f], quote[f])
    assert.isNull(qv.source_sequence)
    assert.deepStrictEqual(qv.vendor_data, {})
  })

  it("the bytes are standard Avro: the decimal is the unscaled value, readable by plain avsc", () => {
    const body = Buffer.from(codec.encodeTrade({ ...trade, source_sequence: 42n })).subarray(5)
    const plain = avro.Type.forSchema(tradeSchema as unknown as avro.Schema, { logicalTypes: {} })
    const v = plain.fromBuffer(body) as { price: Buffer; exchange_timestamp: number }
    assert.strictEqual(unscaledFromBytes(v.price), 4_512_345_678n)
    assert.strictEqual(v.exchange_timestamp, trade.exchange_timestamp)
  })

  it("decimal bytes are minimal two's complement and round-trip across the whole range", () => {
    for (const v of [0n, 1n, -1n, 127n, 128n, -128n, -129n, 255n, 256n, 2n ** 47n, -(2n ** 47n), 2n ** 48n, 10n ** 18n - 1n, -(10n ** 18n) + 1n]) {
      assert.strictEqual(unscaledFromBytes(unscaledToBytes(v)), v, `value ${v}`)
    }
    assert.deepStrictEqual([...unscaledToBytes(128n)], [0, 128])
    assert.deepStrictEqual([...unscaledToBytes(-1n)], [255])
    fc.assert(fc.property(fc.bigInt({ min: -(10n ** 18n) + 1n, max: 10n ** 18n - 1n }), (v) =>
      unscaledFromBytes(unscaledToBytes(v)) === v
    ))
  })

  it("poison: not framed (short, wrong magic byte)", () => {
    assert.strictEqual(poison(codec.decode(new Uint8Array([0, 0, 1]))) ._tag, "NotFramed")
    const bytes = codec.encodeTrade(trade).slice()
    bytes[0] = 7
    assert.strictEqual(poison(codec.decode(bytes))._tag, "NotFramed")
    assert.strictEqual(poison(codec.decode(new TextEncoder().encode('{"json": true}')))._tag, "NotFramed")
  })

  it("framedSchemaId: none for a value without the magic byte (ingest never asks the registry for it); the id read unsigned", () => {
    assert.isUndefined(framedSchemaId(new TextEncoder().encode('{"json": true}')))
    assert.isUndefined(framedSchemaId(new Uint8Array([1, 0, 0, 0, 1])))
    assert.strictEqual(framedSchemaId(new Uint8Array([0, 0x80, 0, 0, 1])), 0x80000001)
    const bytes = codec.encodeTrade(trade).slice()
    bytes.set([0x80, 0, 0, 1], 1)
    assert.strictEqual((poison(codec.decode(bytes)) as { schemaId: number }).schemaId, 0x80000001)
  })

  it("poison: unknown schema id", () => {
    const bytes = codec.encodeTrade(trade).slice()
    bytes[4] = 99
    const p = poison(codec.decode(bytes))
    assert.strictEqual(p._tag, "UnknownSchemaId")
    assert.strictEqual((p as { schemaId: number }).schemaId, 99)
  })

  it("poison: undecodable body (truncated, trailing bytes, garbage)", () => {
    const bytes = codec.encodeTrade(trade)
    assert.strictEqual(poison(codec.decode(bytes.subarray(0, bytes.length - 3)))._tag, "Undecodable")
    const trailing = new Uint8Array(bytes.length + 2)
    trailing.set(bytes)
    assert.strictEqual(poison(codec.decode(trailing))._tag, "Undecodable")
    const garbage = new Uint8Array(40).fill(0xff)
    garbage.set([0, 0, 0, 0, 1])
    assert.strictEqual(poison(codec.decode(garbage))._tag, "Undecodable")
  })

  it("poison: hostile bodies are Undecodable, each saying what is wrong", () => {
    const frame = (id: number, ...body: ReadonlyArray<number>) => Uint8Array.from([0, 0, 0, 0, id, ...body])
    const plain = Buffer.from(codec.encodeTrade({ ...trade, source_sequence: null, vendor_data: {} }))
    // The source_sequence branch is the record's last byte but one (the empty map's end is last).
    const branch2 = Buffer.from(plain)
    branch2[branch2.length - 2] = 4
    const cases: ReadonlyArray<readonly [Uint8Array, string]> = [
      [frame(1, 0x80), "truncated"], // a varint cut after a continuation byte
      [frame(1, 0x01), "negative length -1"],
      [frame(1, 0x7e, 0x61, 0x62), "truncated"], // a length of 63 with 2 bytes left
      [frame(1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), "long beyond 64 bits"],
      [branch2, "union branch 2 of 2"]
    ]
    for (const [bytes, detail] of cases) {
      const p = poison(codec.decode(bytes))
      assert.strictEqual(p._tag, "Undecodable", detail)
      assert.include(p.message, detail)
    }
    // A trade's body under the quote's id is read as a quote and refused, never taken as one.
    const asQuote = Buffer.from(plain)
    asQuote[4] = 2
    assert.include(["Undecodable", "SchemaInvalid"], poison(codec.decode(asQuote))._tag)
  })

  it("poison: schema-invalid (non-positive price/size, bad codes, timestamp out of range)", () => {
    const bad = (patch: Partial<Record<keyof Trade, unknown>>) => {
      const raw = avroTypeOf(tradeSchema)
      const body = raw.toBuffer({
        ...trade,
        ...patch,
        exchange_timestamp: BigInt((patch.exchange_timestamp as number | undefined) ?? trade.exchange_timestamp),
        price: unscaledToBytes((patch.price as bigint | undefined) ?? toUnscaled(trade.price)!),
        quantity: unscaledToBytes((patch.quantity as bigint | undefined) ?? toUnscaled(trade.quantity)!)
      })
      const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), body])
      const p = poison(codec.decode(framed))
      assert.strictEqual(p._tag, "SchemaInvalid")
      return (p as { problems: ReadonlyArray<{ field: string }> }).problems.map((x) => x.field)
    }
    assert.deepStrictEqual(bad({ price: 0n }), ["price"])
    assert.deepStrictEqual(bad({ quantity: -5n }), ["quantity"])
    assert.deepStrictEqual(bad({ price: 10n ** 18n }), ["price"])
    assert.deepStrictEqual(bad({ symbol: "bhp" }), ["symbol"])
    assert.deepStrictEqual(bad({ side: "HOLD" }), ["side"])
    assert.deepStrictEqual(bad({ exchange_timestamp: Date.UTC(2300, 0, 1) * 1000 }), ["exchange_timestamp"])
    assert.deepStrictEqual(bad({ currency: "aud", message_id: "" }), ["message_id", "currency"])
    // Page cursors carry the message id, and must fit the API's cursor parameter.
    assert.deepStrictEqual(bad({ message_id: "m".repeat(MESSAGE_ID_MAX + 1) }), ["message_id"])
    assert.isTrue(Result.isSuccess(codec.decode(codec.encodeTrade({ ...trade, message_id: "é".repeat(MESSAGE_ID_MAX) }))))
    assert.isTrue(Result.isFailure(decodeTrade({ ...trade, message_id: "m".repeat(MESSAGE_ID_MAX + 1) })))
  })

  it("accepts exactly what decodeTrade / decodeQuote accept (property test)", () => {
    const code = fc.oneof(fc.constantFrom("BHP", "CBA", "ASX", "A.B-C_1"), fc.string({ maxLength: 4 }))
    const dec = fc.bigInt({ min: -(10n ** 18n) - 5n, max: 10n ** 18n + 5n }).filter((v) => v > -(2n ** 63n))
    const micros = fc.integer({ min: Date.UTC(1850, 0, 1), max: Date.UTC(2250, 0, 1) }).map((ms) => ms * 1000 + 123)
    const common = {
      message_id: fc.oneof(fc.constant(""), fc.string({ minLength: 1, maxLength: 8 })),
      symbol: code,
      exchange: code,
      asset_class: fc.constantFrom("equities", "fx", "bonds", "crypto"),
      exchange_timestamp: micros,
      currency: fc.constantFrom("AUD", "USD", "aud", "AUDX"),
      conditions: fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }),
      source_sequence: fc.option(fc.bigInt({ min: -5n, max: 2n ** 62n }), { nil: null }),
      vendor_data: fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 }), { maxKeys: 2 })
    }
    const rawTrade = avroTypeOf(tradeSchema)
    const rawQuote = avroTypeOf(quoteSchema)
    const frame = (id: number, body: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, 0, id]), body])
    const asDecimalText = (u: bigint) => BigDecimal.format(BigDecimal.make(u, 8))
    fc.assert(fc.property(
      fc.record({ ...common, trade_id: fc.constantFrom("", "T1"), price: dec, quantity: dec, side: fc.constantFrom("BUY", "SELL", "SELL_SHORT", "UNKNOWN", "X") }),
      (t) => {
        const wire = codec.decode(frame(1, rawTrade.toBuffer({ ...t, exchange_timestamp: BigInt(t.exchange_timestamp), price: unscaledToBytes(t.price), quantity: unscaledToBytes(t.quantity) })))
        const domain = decodeTrade({
          ...t,
          exchange_timestamp: formatIsoMicros(t.exchange_timestamp),
          price: asDecimalText(t.price),
          quantity: asDecimalText(t.quantity),
          source_sequence: t.source_sequence === null ? null : t.source_sequence.toString()
        })
        assert.strictEqual(Result.isSuccess(wire), Result.isSuccess(domain), JSON.stringify({ ...t, price: String(t.price), quantity: String(t.quantity), source_sequence: String(t.source_sequence) }))
        if (Result.isSuccess(wire) && Result.isSuccess(domain)) {
          const w = wire.success.value as Trade
          sameDecimal(w.price, domain.success.price)
          assert.strictEqual(w.exchange_timestamp, domain.success.exchange_timestamp)
          assert.strictEqual(w.source_sequence, domain.success.source_sequence)
        }
        if (Result.isFailure(wire) && Result.isFailure(domain)) {
          const wf = (wire.failure as { problems: ReadonlyArray<{ field: string }> }).problems.map((p) => p.field).sort()
          const df = [...new Set(domain.failure.problems.map((p) => p.field.split(".")[0]!))].sort()
          assert.deepStrictEqual(wf, df)
        }
      }
    ), { numRuns: 2000 })
    fc.assert(fc.property(
      fc.record({ ...common, quote_id: fc.constantFrom("", "Q1"), bid_price: dec, bid_size: dec, ask_price: dec, ask_size: dec }),
      (q) => {
        const wire = codec.decode(frame(2, rawQuote.toBuffer({ ...q, exchange_timestamp: BigInt(q.exchange_timestamp), bid_price: unscaledToBytes(q.bid_price), bid_size: unscaledToBytes(q.bid_size), ask_price: unscaledToBytes(q.ask_price), ask_size: unscaledToBytes(q.ask_size) })))
        const domain = decodeQuote({
          ...q,
          exchange_timestamp: formatIsoMicros(q.exchange_timestamp),
          bid_price: asDecimalText(q.bid_price),
          bid_size: asDecimalText(q.bid_size),
          ask_price: asDecimalText(q.ask_price),
          ask_size: asDecimalText(q.ask_size),
          source_sequence: q.source_sequence === null ? null : q.source_sequence.toString()
        })
        assert.strictEqual(Result.isSuccess(wire), Result.isSuccess(domain))
      }
    ), { numRuns: 1000 })
    // The hand-written round trip agrees with the domain codec on a real trade.
    assert.isTrue(Result.isSuccess(decodeTrade(encodedTrade(trade))))
  })

  it("resolves values written with another registered writer schema", () => {
    const v2 = { ...tradeSchema, fields: [...tradeSchema.fields, { name: "venue", type: "string", default: "" }] }
    const writer = avroTypeOf(v2)
    const body = writer.toBuffer({
      ...trade,
      exchange_timestamp: BigInt(trade.exchange_timestamp),
      price: unscaledToBytes(toUnscaled(trade.price)!),
      quantity: unscaledToBytes(toUnscaled(trade.quantity)!),
      venue: "CXA"
    })
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), body])
    const c = makeWireCodec()
    assert.strictEqual(poison(c.decode(framed))._tag, "UnknownSchemaId")
    c.addWriterSchema(7, "trade", v2)
    sameDecimal((ok(c.decode(framed)).value as Trade).price, trade.price)
  })

  it("refuses a writer schema whose logical types differ from ours (another decimal scale, another time unit)", () => {
    const c = makeWireCodec()
    const retyped = (name: string, type: unknown) =>
      ({ ...tradeSchema, fields: tradeSchema.fields.map((f) => (f.name === name ? { ...f, type } : f)) })
    assert.throws(
      () => c.addWriterSchema(7, "trade", retyped("price", { type: "bytes", logicalType: "decimal", precision: 18, scale: 4 })),
      "field price is written as decimal scale 4, read as decimal scale 8"
    )
    assert.throws(
      () => c.addWriterSchema(8, "trade", retyped("exchange_timestamp", { type: "long", logicalType: "timestamp-millis" })),
      "field exchange_timestamp is written as timestamp-millis, read as timestamp-micros"
    )
    assert.throws(() => c.addWriterSchema(9, "trade", retyped("quantity", "bytes")), "written as no logical type")
    assert.isFalse(c.knows(7) || c.knows(8) || c.knows(9))
    // A wider precision at the same scale reads the same values (range-checked per record).
    c.addWriterSchema(10, "trade", retyped("price", { type: "bytes", logicalType: "decimal", precision: 24, scale: 8 }))
    assert.isTrue(c.knows(10))
    // A writer schema that is a union holding our record resolves to it (Avro spec): its fields
    // are checked the same, else prices at scale 4 were read at scale 8, a millionth of their value.
    const rescaled = retyped("price", { type: "bytes", logicalType: "decimal", precision: 18, scale: 4 })
    assert.throws(() => c.addWriterSchema(11, "trade", [rescaled]), "field price is written as decimal scale 4, read as decimal scale 8")
    const millis = retyped("exchange_timestamp", { type: "long", logicalType: "timestamp-millis" })
    assert.throws(() => c.addWriterSchema(12, "trade", [{ type: "enum", name: "Other", symbols: ["A"] }, millis]), "timestamp-millis")
    assert.isFalse(c.knows(11) || c.knows(12))
    c.addWriterSchema(13, "trade", [tradeSchema])
    const body = avroTypeOf([tradeSchema]).toBuffer({
      ...trade,
      exchange_timestamp: BigInt(trade.exchange_timestamp),
      price: unscaledToBytes(toUnscaled(trade.price)!),
      quantity: unscaledToBytes(toUnscaled(trade.quantity)!)
    })
    sameDecimal((ok(c.decode(Buffer.concat([Buffer.from([0, 0, 0, 0, 13]), body]))).value as Trade).price, trade.price)
  })

  it("a writer union with a branch ours cannot read (widened, made optional) is learned: only values in that branch are poison", () => {
    // Both evolutions pass the registry's default (BACKWARD) check; the Avro spec fails only the
    // values written in the unreadable branch, not every record of the schema.
    const retyped = (changes: Record<string, unknown>) =>
      ({ ...tradeSchema, fields: tradeSchema.fields.map((f) => (f.name in changes ? { name: f.name, type: changes[f.name] } : f)) })
    const v2 = retyped({ source_sequence: ["null", "long", "string"], trade_id: ["null", "string"] })
    const c = makeWireCodec()
    c.addWriterSchema(7, "trade", v2)
    const framed = (value: object) =>
      Buffer.concat([
        Buffer.from([0, 0, 0, 0, 7]),
        avroTypeOf(v2).toBuffer({
          ...trade,
          exchange_timestamp: BigInt(trade.exchange_timestamp),
          price: unscaledToBytes(toUnscaled(trade.price)!),
          quantity: unscaledToBytes(toUnscaled(trade.quantity)!),
          ...value
        })
      ])
    const t = ok(c.decode(framed({}))).value as Trade
    assert.strictEqual(t.trade_id, trade.trade_id)
    assert.strictEqual(t.source_sequence, trade.source_sequence)
    assert.isNull((ok(c.decode(framed({ source_sequence: null }))).value as Trade).source_sequence)
    const text = poison(c.decode(framed({ source_sequence: "seven" })))
    assert.strictEqual(text._tag, "Undecodable")
    assert.include(text.message, "\"string\"")
    assert.strictEqual(poison(c.decode(framed({ trade_id: null })))._tag, "Undecodable")
    // A branch without our logical type is no branch to read: its text's UTF-8 was read as a price
    // (the annotations of all branches were compared together, and the decimal one matched).
    const decimal = { type: "bytes", logicalType: "decimal", precision: 18, scale: 8 }
    assert.throws(() => c.addWriterSchema(9, "trade", retyped({ price: ["string", decimal] })), "field price is written as")
    assert.throws(() => c.addWriterSchema(10, "trade", retyped({ exchange_timestamp: ["null", "long"] })), "no logical type")
    c.addWriterSchema(11, "trade", retyped({ price: ["null", decimal], exchange_timestamp: ["null", { type: "long", logicalType: "timestamp-micros" }] }))
    assert.isFalse(c.knows(9) || c.knows(10))
    // No branch readable at all: nothing of the schema could be read, so it is refused whole.
    assert.throws(() => c.addWriterSchema(8, "trade", retyped({ trade_id: ["null", "boolean"] })), "cannot read")
    assert.isFalse(c.knows(8))
  })
})

describe("a nullable writer schema (a union of null and our record)", () => {
  // Confluent producers of nullable values register ["null", record]. The Avro spec resolves a
  // writer union against a reader record by the branch written: a record reads as ours, a null
  // is an error for that value alone.
  const nullable = ["null", { ...tradeSchema, namespace: "com.acme.md" }]
  const framed = (id: number, value: unknown) => Buffer.concat([Buffer.from([0, 0, 0, 0, id]), avroTypeOf(nullable).toBuffer(value)])

  it("reads the records written in the record branch as trades", () => {
    const c = makeWireCodec()
    c.addWriterSchema(7, "trade", nullable)
    const t = ok(c.decode(framed(7, {
      ...trade,
      exchange_timestamp: BigInt(trade.exchange_timestamp),
      price: unscaledToBytes(toUnscaled(trade.price)!),
      quantity: unscaledToBytes(toUnscaled(trade.quantity)!)
    }))).value as Trade
    assert.strictEqual(t.trade_id, trade.trade_id)
    assert.strictEqual(t.exchange_timestamp, trade.exchange_timestamp)
    assert.strictEqual(t.source_sequence, trade.source_sequence)
    sameDecimal(t.price, trade.price)
    sameDecimal(t.quantity, trade.quantity)
  })

  it("a null written in it is Undecodable, saying it is the null branch (not an avsc TypeError)", () => {
    const c = makeWireCodec()
    c.addWriterSchema(7, "trade", nullable)
    const reason = poison(c.decode(framed(7, null)))
    assert.strictEqual(reason._tag, "Undecodable")
    assert.strictEqual(
      reason.message,
      `undecodable Avro body (schema id 7): written in union branch 0 ("null"), which ours ("k2.Trade") cannot read`
    )
    // A null quote likewise; the writer's record branch resolves as ours.
    c.addWriterSchema(8, "quote", ["null", quoteSchema])
    const q = poison(c.decode(Buffer.concat([Buffer.from([0, 0, 0, 0, 8]), avroTypeOf(["null", quoteSchema]).toBuffer(null)])))
    assert.include(q.message, `written in union branch 0 ("null"), which ours ("k2.Quote") cannot read`)
  })
})

describe("map keys named like Object.prototype members", () => {
  // Parsed, so "__proto__" is an own key like the others (a literal's would set the prototype).
  const odd: Record<string, string> = JSON.parse(
    "{\"venue\": \"CXA\", \"__proto__\": \"p\", \"constructor\": \"c\", \"toString\": \"t\", \"hasOwnProperty\": \"h\"}"
  )
  const lineage = { ingestion_timestamp: 0, kafka_topic: "t", kafka_partition: 0, kafka_offset: 0n }

  it("vendor_data round-trips exactly, and reaches the Parquet column buffers whole", () => {
    const t = ok(codec.decode(codec.encodeTrade({ ...trade, vendor_data: odd }))).value as Trade
    assert.deepStrictEqual(Object.entries(t.vendor_data), Object.entries(odd))
    const q = ok(codec.decode(codec.encodeQuote({ ...quote, vendor_data: odd }))).value as Quote
    assert.deepStrictEqual(Object.entries(q.vendor_data), Object.entries(odd))
    assert.deepStrictEqual(tradeColumns([{ ...t, ...lineage }]).columns["vendor_data"], [Object.entries(odd)])
    assert.deepStrictEqual(quoteColumns([{ ...q, ...lineage }]).columns["vendor_data"], [Object.entries(odd)])
  })

  it("vendor_data round-trips exactly under another writer schema (read by avsc)", () => {
    const v2 = { ...tradeSchema, fields: [...tradeSchema.fields, { name: "venue", type: "string", default: "" }] }
    const body = avroTypeOf(v2).toBuffer({
      ...trade,
      vendor_data: odd,
      exchange_timestamp: BigInt(trade.exchange_timestamp),
      price: unscaledToBytes(toUnscaled(trade.price)!),
      quantity: unscaledToBytes(toUnscaled(trade.quantity)!),
      venue: "CXA"
    })
    const c = makeWireCodec()
    c.addWriterSchema(7, "trade", v2)
    const t = ok(c.decode(Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), body]))).value as Trade
    assert.deepStrictEqual(Object.entries(t.vendor_data), Object.entries(odd))
  })

  it("a registry schema's \"__proto__\" attribute is an attribute, not the prototype of the schema avsc reads", () => {
    const schema = JSON.parse("{\"type\": \"record\", \"name\": \"R\", \"fields\": [], \"__proto__\": {\"doc\": \"inherited\"}}")
    assert.isUndefined(avroTypeOf(schema).doc)
  })
})

describe("writer schemas against poison", () => {
  it("a huge block count under a learned writer schema is Undecodable at once (avsc would loop over it)", () => {
    // A newer producer with an array field ours lacks (skipped) and our conditions (read).
    const v2 = { ...tradeSchema, fields: [{ name: "tags", type: { type: "array", items: "string" }, default: [] }, ...tradeSchema.fields] }
    const c = makeWireCodec()
    c.addWriterSchema(9, "trade", v2)
    const body = avroTypeOf(v2).toBuffer({
      ...trade,
      tags: ["a"],
      exchange_timestamp: BigInt(trade.exchange_timestamp),
      price: unscaledToBytes(toUnscaled(trade.price)!),
      quantity: unscaledToBytes(toUnscaled(trade.quantity)!)
    })
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 9]), body])
    sameDecimal((ok(c.decode(framed)).value as Trade).price, trade.price)
    // The tags block count (1, zig-zag 2) replaced by 10^9 (zig-zag 2 * 10^9 as a varint): avsc
    // took 4 s for 10^7, so minutes, far past the test's time-out.
    let z = 2_000_000_000
    const count: Array<number> = []
    for (; z >= 0x80; z = Math.floor(z / 0x80)) count.push((z % 0x80) | 0x80)
    count.push(z)
    const poisoned = Buffer.concat([framed.subarray(0, 5), Buffer.from(count), framed.subarray(6)])
    assert.strictEqual(poison(c.decode(poisoned))._tag, "Undecodable")
  })

  it("a negative block count's byte size must be the block's: avsc skips a field ours lacks by it (a size of -2 looped for ever)", () => {
    // A newer producer with an array field ours lacks, which avsc skips by the block's size.
    const v2 = { ...tradeSchema, fields: [{ name: "tags", type: { type: "array", items: "string" }, default: [] }, ...tradeSchema.fields] }
    const c = makeWireCodec()
    c.addWriterSchema(9, "trade", v2)
    const ours = avroTypeOf(tradeSchema).toBuffer({
      ...trade,
      exchange_timestamp: BigInt(trade.exchange_timestamp),
      price: unscaledToBytes(toUnscaled(trade.price)!),
      quantity: unscaledToBytes(toUnscaled(trade.quantity)!)
    })
    const framed = (tags: ReadonlyArray<number>) => Buffer.concat([Buffer.from([0, 0, 0, 0, 9, ...tags]), ours])
    // Valid Avro: count -1 (zig-zag 1), the block's size in bytes, its item, then the 0 ending the array.
    sameDecimal((ok(c.decode(framed([0x01, 0x08, 0x06, 0x61, 0x62, 0x63, 0x00]))).value as Trade).price, trade.price)
    sameDecimal((ok(c.decode(framed([0x01, 0x02, 0x00, 0x00]))).value as Trade).price, trade.price)
    // A size of -2 (zig-zag 3) sent avsc's skip back onto the count: the ingest thread spun for ever.
    const back = poison(c.decode(framed([0x01, 0x03, 0x00, 0x00])))
    assert.strictEqual(back._tag, "Undecodable")
    assert.include(back.message, "block size -2")
    // A size that is not the items' own: avsc skipped to another place than the items end (another parse).
    const short = poison(c.decode(framed([0x01, 0x00, 0x00, 0x00])))
    assert.strictEqual(short._tag, "Undecodable")
    assert.include(short.message, "block size 0, its items take 1 bytes")
  })

  it("reads a writer schema whose array and map carry a logical type it does not know (the spec has readers ignore it)", () => {
    const annotated = {
      ...tradeSchema,
      fields: tradeSchema.fields.map((f) =>
        f.name === "conditions"
          ? { ...f, type: { type: "array", items: "string", logicalType: "tags" } }
          : f.name === "vendor_data"
          ? { ...f, type: { type: "map", values: { type: "string", logicalType: "label" }, logicalType: "attributes" } }
          : f
      )
    }
    const c = makeWireCodec()
    c.addWriterSchema(7, "trade", annotated)
    // Written by plain avsc, which reads the timestamp-micros long as a number.
    const body = avro.Type.forSchema(annotated as avro.Schema, { registry: { long: BigIntLong } }).toBuffer({
      ...trade,
      price: unscaledToBytes(toUnscaled(trade.price)!),
      quantity: unscaledToBytes(toUnscaled(trade.quantity)!)
    })
    const t = ok(c.decode(Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), body]))).value as Trade
    assert.deepStrictEqual(t.conditions, trade.conditions)
    assert.deepStrictEqual(t.vendor_data, trade.vendor_data)
    assert.strictEqual(t.source_sequence, trade.source_sequence)
    sameDecimal(t.price, trade.price)
  })

  it("an Avro int beyond 32 bits is Undecodable, not read as the long it would be (int -> long promotion)", () => {
    const narrow = { ...tradeSchema, fields: tradeSchema.fields.map((f) => (f.name === "source_sequence" ? { name: f.name, type: "int" } : f)) }
    const c = makeWireCodec()
    c.addWriterSchema(7, "trade", narrow)
    const body = (sequence: number) =>
      Buffer.concat([
        Buffer.from([0, 0, 0, 0, 7]),
        avroTypeOf({ ...tradeSchema, fields: tradeSchema.fields.map((f) => (f.name === "source_sequence" ? { name: f.name, type: "long" } : f)) })
          .toBuffer({
            ...trade,
            source_sequence: BigInt(sequence),
            exchange_timestamp: BigInt(trade.exchange_timestamp),
            price: unscaledToBytes(toUnscaled(trade.price)!),
            quantity: unscaledToBytes(toUnscaled(trade.quantity)!)
          })
      ])
    assert.strictEqual((ok(c.decode(body(2 ** 31 - 1))).value as Trade).source_sequence, 2147483647n)
    const p = poison(c.decode(body(2 ** 40)))
    assert.strictEqual(p._tag, "Undecodable")
    assert.include(p.message, "int beyond 32 bits")
  })

  it("resolves a writer record of another namespace: the spec matches records by their unqualified name", () => {
    const vendor = { ...tradeSchema, namespace: "com.vendor.md" }
    const c = makeWireCodec()
    c.addWriterSchema(7, "trade", vendor)
    const body = avroTypeOf(vendor).toBuffer({
      ...trade,
      exchange_timestamp: BigInt(trade.exchange_timestamp),
      price: unscaledToBytes(toUnscaled(trade.price)!),
      quantity: unscaledToBytes(toUnscaled(trade.quantity)!)
    })
    const t = ok(c.decode(Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), body]))).value as Trade
    assert.strictEqual(t.source_sequence, trade.source_sequence)
    sameDecimal(t.price, trade.price)
    // Another record name is still no trade.
    assert.throws(() => c.addWriterSchema(8, "trade", { ...tradeSchema, name: "Execution" }))
    // A union writer's branch of another namespace has its logical types checked as ours.
    const rescaled = { ...vendor, fields: tradeSchema.fields.map((f) => (f.name === "price" ? { ...f, type: { type: "bytes", logicalType: "decimal", precision: 18, scale: 4 } } : f)) }
    assert.throws(() => c.addWriterSchema(9, "trade", ["null", rescaled]), "field price is written as decimal scale 4, read as decimal scale 8")
  })

  it("reads a writer whose message_id is a uuid string (the text is the value: every record was refused)", () => {
    const uuid = { ...tradeSchema, fields: tradeSchema.fields.map((f) => (f.name === "message_id" ? { ...f, type: { type: "string", logicalType: "uuid" } } : f)) }
    const c = makeWireCodec()
    c.addWriterSchema(7, "trade", uuid)
    const id = "123e4567-e89b-12d3-a456-426614174000"
    const body = avroTypeOf(uuid).toBuffer({
      ...trade,
      message_id: id,
      exchange_timestamp: BigInt(trade.exchange_timestamp),
      price: unscaledToBytes(toUnscaled(trade.price)!),
      quantity: unscaledToBytes(toUnscaled(trade.quantity)!)
    })
    const t = ok(c.decode(Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), body]))).value as Trade
    assert.strictEqual(t.message_id, id)
    sameDecimal(t.price, trade.price)
    // A uuid as 16 fixed bytes is no text: still refused (not readable as our string).
    assert.throws(() =>
      c.addWriterSchema(8, "trade", {
        ...tradeSchema,
        fields: tradeSchema.fields.map((f) => (f.name === "message_id" ? { ...f, type: { type: "fixed", name: "Id", size: 16, logicalType: "uuid" } } : f))
      })
    )
  })

  it("refuses a decimal annotation on a string (invalid, so a string: its text is no unscaled value)", () => {
    const c = makeWireCodec()
    const retyped = (type: unknown) => ({ ...tradeSchema, fields: tradeSchema.fields.map((f) => (f.name === "price" ? { ...f, type } : f)) })
    assert.throws(
      () => c.addWriterSchema(7, "trade", retyped({ type: "string", logicalType: "decimal", precision: 18, scale: 8 })),
      "field price is written as no logical type, read as decimal scale 8"
    )
    // Scale above precision is no decimal either (the spec has readers ignore it).
    assert.throws(() => c.addWriterSchema(8, "trade", retyped({ type: "bytes", logicalType: "decimal", precision: 4, scale: 8 })))
    assert.isFalse(c.knows(7) || c.knows(8))
  })

  it("two kinds cannot share a schema id", () => {
    assert.throws(() => makeWireCodec({ tradeSchemaId: 3, quoteSchemaId: 4 }), "schema ids must differ")
    const none = makeWireCodec({ tradeSchemaId: 3, quoteSchemaId: 4, instrumentSchemaId: null })
    assert.strictEqual(ok(none.decode(none.encodeTrade(trade))).kind, "trade")
    assert.isUndefined(none.instrumentSchemaId)
  })
})

describe("topic names", () => {
  it("builds, parses and derives DLQ topics and subjects", () => {
    const name = topicName({ assetClass: "equities", dataType: "trades", exchange: "ASX" })
    assert.strictEqual(name, "market.equities.trades.asx")
    assert.deepStrictEqual(parseTopicName(name), { assetClass: "equities", dataType: "trades", exchange: "ASX" })
    assert.isUndefined(parseTopicName(dlqTopicName(name)))
    assert.isUndefined(parseTopicName("market.stocks.trades.asx"))
    assert.strictEqual(valueSubject(name), "market.equities.trades.asx-value")
    const specs = topicSpecs([{ assetClass: "equities", dataType: "quotes", exchange: "asx", partitions: 12, compression: "zstd" }])
    assert.deepStrictEqual(specs.map((s) => [s.name, s.partitions]), [["market.equities.quotes.asx", 12], ["market.equities.quotes.asx.dlq", 1]])
  })
})
