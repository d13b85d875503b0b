/**
 * kafkajs' record decoder, as K2's kafkajs layer loads it, over records with many headers: kafkajs
 * folded them with an object spread per header (quadratic: 5,000 headers took 54 s on the event
 * loop, long enough for the group session to expire, so the batch was fetched and decoded again
 * for ever). Unpatched, the 10,000-header record here held the event loop for minutes, past the test's time.
 */
import { assert, describe, it } from "@effect/vitest"
import type { IHeaders } from "kafkajs"
import { createRequire } from "node:module"
import { decodeHeaders, rawHeader, toRecords } from "../../../src/layers/kafka/kafkajsMessages.ts"
import { foldKafkajsHeadersLinearly } from "../../../src/layers/kafka/kafkajsHeaders.ts"

const require = createRequire(import.meta.url)
const Decoder = require("kafkajs/src/protocol/decoder.js") as new(buffer: Buffer) => { readVarIntBytes: () => Buffer }
const encodeRecord = require("kafkajs/src/protocol/recordBatch/record/v0/index.js") as (r: object) => { buffer: Buffer }
const decodeRecord = require("kafkajs/src/protocol/recordBatch/record/v0/decoder.js") as (
  d: unknown,
  context: object
) => { headers: IHeaders; value: Buffer }

/** A record as a fetch carries it, decoded as kafkajs' batch decoder does. */
const roundTrip = (headers: Record<string, string | Array<string>>) => {
  const bytes = encodeRecord({ key: Buffer.from("k"), value: Buffer.from("v"), headers }).buffer
  const body = new Decoder(bytes).readVarIntBytes()
  return decodeRecord(new Decoder(body), { firstOffset: "0", firstTimestamp: "0", magicByte: 2 })
}

const Encoder = require("kafkajs/src/protocol/encoder.js") as new() => Encoded
interface Encoded {
  buffer: Buffer
  writeInt8(n: number): Encoded
  writeVarLong(n: number): Encoded
  writeVarInt(n: number): Encoded
  writeVarIntBytes(b: Buffer | null): Encoded
  writeVarIntString(s: string): Encoded
  writeVarIntArray(a: Array<Encoded>): Encoded
}

/** A record's body with these headers in this order (kafkajs' encoder groups a name's values). */
const recordOf = (headers: ReadonlyArray<readonly [string, Buffer | null]>) => {
  const body = new Encoder().writeInt8(0).writeVarLong(0).writeVarInt(0).writeVarIntBytes(Buffer.from("k")).writeVarIntBytes(Buffer.from("v"))
    .writeVarIntArray(headers.map(([k, v]) => new Encoder().writeVarIntString(k).writeVarIntBytes(v)))
  return decodeRecord(new Decoder(body.buffer), { firstOffset: "0", firstTimestamp: "0", magicByte: 2 })
}

describe("kafkajs record headers", () => {
  // As the kafkajs layer does when it loads kafkajs: the tests below decode with the patched decoder.
  const linear = foldKafkajsHeadersLinearly()

  it("kafkajs' decoder is the one K2 patches, and folds a record's headers in one pass", () => {
    assert.isTrue(linear)
    assert.isTrue(foldKafkajsHeadersLinearly(), "applied once, still in place")
  })

  it("a record with 10,000 headers decodes, each header kept", () => {
    const headers = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`h-${i}`, `v-${i}`]))
    const record = roundTrip(headers)
    assert.strictEqual(Object.keys(record.headers).length, 10_000)
    assert.deepStrictEqual(decodeHeaders(record.headers), headers)
    assert.strictEqual(String(record.value), "v")
  })

  it("repeated names, a name of Object.prototype's and __proto__ come out as K2 read them before", () => {
    const record = roundTrip({ a: ["1", "2", "3"], constructor: "c", ["__proto__"]: "p" })
    assert.deepStrictEqual(record.headers.a, [Buffer.from("1"), Buffer.from("2"), Buffer.from("3")])
    const read = decodeHeaders(record.headers)
    assert.deepStrictEqual(Object.entries(read), [["a", "3"], ["constructor", "c"], ["__proto__", "p"]])
    assert.deepStrictEqual([...rawHeader(record.headers, "a")!], [...Buffer.from("3")])
  })

  it("a repeated name: the record carries every header in order, bytes as they came (headerList)", () => {
    const binary = Buffer.from([0xff, 0xfe])
    const decoded = recordOf([["x-hop", Buffer.from("1")], ["b", binary], ["constructor", Buffer.from("c")], ["x-hop", binary], ["x-hop", null]])
    const message = { offset: "0", key: Buffer.from("k"), value: Buffer.from("v"), headers: decoded.headers, timestamp: "0" }
    const [record] = toRecords([message as never])
    assert.deepStrictEqual(record!.headers, { "x-hop": "", b: "\ufffd\ufffd", constructor: "c" })
    assert.deepStrictEqual(
      record!.headerList?.map(([k, v]) => [k, [...v]]),
      [["x-hop", [0x31]], ["b", [0xff, 0xfe]], ["constructor", [0x63]], ["x-hop", [0xff, 0xfe]], ["x-hop", []]]
    )
    const [plain] = toRecords([{ ...message, headers: recordOf([["a", Buffer.from("1")], ["b", binary]]).headers } as never])
    assert.isFalse("headerList" in plain!)
  })
})
