/**
 * Record headers as each client layer turns them into a KafkaRecord's: every name arrives, also
 * those of Object.prototype members ("__proto__" assigned to a plain object sets its prototype).
 */
import { createRequire } from "node:module"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import type { IHeaders } from "kafkajs"
import { decodeHeaders as fromKafkajs, rawHeader as rawOfKafkajs } from "../../../src/layers/kafka/kafkajs.ts"
import {
  decodeHeaders as fromPlatformatic,
  makeRecordTexts,
  offsetOf,
  rawHeader as rawOfPlatformatic,
  timestampOf
} from "../../../src/layers/kafka/platformatic.ts"
import { headerBytesBeside } from "../../../src/layers/kafka/textBytes.ts"

const sent: Record<string, string> = JSON.parse(
  "{\"k2-correlation-id\": \"c1\", \"__proto__\": \"p\", \"constructor\": \"c\", \"toString\": \"t\", \"hasOwnProperty\": \"h\"}"
)

/** A record with `headers` through kafkajs' own encoder and decoder: its decoded headers. */
const require = createRequire(import.meta.url)
const kafkajsHeaders = (headers: Record<string, string>) => {
  const encodeRecord = require("kafkajs/src/protocol/recordBatch/record/v0")
  const decodeRecord = require("kafkajs/src/protocol/recordBatch/record/v0/decoder")
  const Decoder = require("kafkajs/src/protocol/decoder")
  const decoder = new Decoder(encodeRecord({ key: Buffer.from("k"), value: Buffer.from("v"), headers }).buffer)
  decoder.readVarInt() // the record's length
  return decodeRecord(decoder, { firstOffset: "0", firstTimestamp: "0", magicByte: 2 }).headers
}

describe("record headers named like Object.prototype members", () => {
  it("platformatic: every header arrives, as sent", () => {
    const received = fromPlatformatic(Object.entries(sent).map(([k, v]) => [Buffer.from(k), Buffer.from(v)] as const))
    assert.deepStrictEqual(Object.entries(received), Object.entries(sent))
  })

  it("kafkajs: every header arrives, as sent", () => {
    assert.deepStrictEqual(Object.entries(fromKafkajs(kafkajsHeaders(sent))), Object.entries(sent))
  })

  it("a header without value reads as the empty string in both layers", () => {
    assert.deepStrictEqual(fromPlatformatic([[Buffer.from("x"), null]]), { x: "" })
    // kafkajs' decoder reads a value of length -1 as null (its encoder cannot write one).
    assert.deepStrictEqual(fromKafkajs({ x: null } as unknown as IHeaders), { x: "" })
  })
})

describe("a header name repeated in one record", () => {
  const text = Buffer.from("text")
  const binary = Buffer.from([0xff, 0xfe])

  it("the last value is the header's, and the bytes kept beside its text are that value's, in both layers", () => {
    const platformatic = [[Buffer.from("h"), binary], [Buffer.from("h"), text], [Buffer.from("g"), text], [Buffer.from("g"), binary]] as const
    assert.deepStrictEqual(fromPlatformatic(platformatic), { h: "text", g: "\ufffd\ufffd" })
    assert.deepStrictEqual([...rawOfPlatformatic(platformatic, "g")!], [0xff, 0xfe])
    assert.deepStrictEqual([...rawOfPlatformatic(platformatic, "h")!], [...text])
    const kafkajs = { h: [binary, text], g: [text, binary] } as unknown as IHeaders
    assert.deepStrictEqual(fromKafkajs(kafkajs), { h: "text", g: "\ufffd\ufffd" })
    assert.deepStrictEqual([...rawOfKafkajs(kafkajs, "g")!], [0xff, 0xfe])
    assert.deepStrictEqual([...rawOfKafkajs(kafkajs, "h")!], [...text])
  })

  it("only header values that lost bytes in decoding carry them beside their text", () => {
    const platformatic = [[Buffer.from("a"), text], [Buffer.from("b"), binary]] as const
    const beside = headerBytesBeside(fromPlatformatic(platformatic), platformatic, rawOfPlatformatic)
    assert.deepStrictEqual(Object.keys(beside ?? {}), ["b"])
    assert.isUndefined(headerBytesBeside({ a: "text" }, [[Buffer.from("a"), text]] as const, rawOfPlatformatic))
  })
})

describe("platformatic: keys and headers shared with the previous record", () => {
  const bytes = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b))
  const raw = fc.constantFrom(Buffer.from("k2-schema-id"), Buffer.from("k2-correlation-id"), Buffer.from("x"))
  const headers = fc.array(fc.tuple(fc.option(raw, { nil: null }), fc.option(fc.oneof(bytes, raw), { nil: null })), { maxLength: 3 })
  // Records alike (the same bytes in other buffers), or apart by a byte.
  const record = fc.tuple(fc.option(fc.oneof(bytes, raw), { nil: null }), headers)

  it("read as each record's own key and headers, whatever came before", () => {
    fc.assert(fc.property(fc.array(record, { maxLength: 30 }), fc.boolean(), (records, copies) => {
      const texts = makeRecordTexts()
      for (const [key, hs] of records) {
        const k = key === null || !copies ? key : Buffer.from(key)
        const h = copies ? hs.map(([n, v]) => [n && Buffer.from(n), v && Buffer.from(v)] as const) : hs
        assert.deepStrictEqual(texts.key(k), key === null ? null : key.toString("utf8"))
        assert.deepStrictEqual(texts.headers(h), fromPlatformatic(hs))
      }
    }))
  })

  it("a record with the previous record's header bytes shares its decoded headers", () => {
    const texts = makeRecordTexts()
    const first = texts.headers([[Buffer.from("k2-schema-id"), Buffer.from("1")]])
    assert.strictEqual(texts.headers([[Buffer.from("k2-schema-id"), Buffer.from("1")]]), first)
    assert.deepStrictEqual(texts.headers([[Buffer.from("k2-schema-id"), Buffer.from("2")]]), { "k2-schema-id": "2" })
  })
})

describe("platformatic: a record's offset and timestamp from its batch's", () => {
  const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })

  it("are the exact sums, also beyond 2^53", () => {
    fc.assert(fc.property(
      fc.oneof(int64, fc.bigInt({ min: 0n, max: 2n ** 53n })),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.oneof(int64, fc.bigInt({ min: -(2n ** 20n), max: 2n ** 20n })),
      (first, offsetDelta, timestampDelta) => {
        assert.strictEqual(offsetOf(first, Number(first), offsetDelta), first + BigInt(offsetDelta))
        assert.strictEqual(timestampOf(first, Number(first), timestampDelta), Number(first + timestampDelta))
      }
    ))
    assert.strictEqual(offsetOf(2n ** 53n - 1n, 2 ** 53 - 1, 1), 2n ** 53n)
    assert.strictEqual(timestampOf(2n ** 53n + 1n, 2 ** 53, -2n), 2 ** 53 - 1)
  })
})
