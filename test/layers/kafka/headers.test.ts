/**
 * Record headers as each client layer turns them into a KafkaRecord's: every name arrives, also
 * those of Object.prototype members ("__proto__" assigned to a plain object sets its prototype).
 */
import { createRequire } from "node:module"
import { assert, describe, it } from "@effect/vitest"
import type { IHeaders } from "kafkajs"
import { decodeHeaders as fromKafkajs, rawHeader as rawOfKafkajs } from "../../../src/layers/kafka/kafkajs.ts"
import { decodeHeaders as fromPlatformatic, rawHeader as rawOfPlatformatic } from "../../../src/layers/kafka/platformatic.ts"
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
