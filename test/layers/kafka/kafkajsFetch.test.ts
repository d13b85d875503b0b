/**
 * The kafkajs layer's Fetch responses: each complete record batch's CRC-32C checked before kafkajs
 * decodes it (kafkajsFetch.ts, through kafkajs' own v4-v11 decoders as compression.ts wraps them).
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { registerKafkajsCodecs } from "../../../src/layers/kafka/compression.ts"
import { KafkaBatchCorrupt, KafkaRecordFormatUnsupported } from "../../../src/layers/kafka/recordBatches.ts"

const require = createRequire(import.meta.url)
type Decoded = { responses: Array<{ topicName: string; partitions: Array<{ partition: number; messages: Array<{ offset: string; value: Buffer }> }> }> }
const fetchResponse = (version: number) =>
  require(`kafkajs/src/protocol/requests/fetch/v${version}/response.js`) as { decode: (raw: Buffer) => Promise<Decoded> }

/** One batch of 20 records the Java producer sent, as the broker serves it (crc32c.test.ts). */
const javaBatch = fs.readFileSync(path.resolve(import.meta.dirname, "../../fixtures/kafka-batches/java-producer.none"))

const int16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff])
const int32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}
/** The batch moved to `base` (the CRC does not cover the base offset). */
const at = (base: bigint) => {
  const b = Buffer.from(javaBatch)
  b.writeBigInt64BE(base, 0)
  return b
}
/** A Fetch response (v4 or v11): quotes partition 0 empty, trades partition 3 holding `records`. */
const response = (records: Buffer, version = 11) => {
  // v4: no log start offset, no preferred read replica; no error code and session id before the topics.
  const partition = (id: number, bytes: Buffer) =>
    version === 11
      ? Buffer.concat([int32(id), int16(0), Buffer.alloc(8 * 3), int32(-1), int32(-1), int32(bytes.length), bytes])
      : Buffer.concat([int32(id), int16(0), Buffer.alloc(8 * 2), int32(-1), int32(bytes.length), bytes])
  const topic = (name: string, partitions: Array<Buffer>) => Buffer.concat([int16(name.length), Buffer.from(name), int32(partitions.length), ...partitions])
  return Buffer.concat([
    ...(version === 11 ? [int32(0), int16(0), int32(0)] : [int32(0)]),
    int32(2),
    topic("market.equities.quotes.asx", [partition(0, Buffer.alloc(0))]),
    topic("market.equities.trades.asx", [partition(3, records)])
  ])
}
const decoded = async (raw: Buffer, version = 11) => {
  assert.isTrue(registerKafkajsCodecs())
  return fetchResponse(version).decode(raw).then((d) => d.responses[1]!.partitions[0]!.messages, (e: unknown) => e)
}
/** Where a batch's records count is. */
const COUNT_AT = 57

describe("kafkajs fetch responses", () => {
  it("reads intact batches, and leaves a truncated last one for the next fetch unchecked", async () => {
    const n = javaBatch.readInt32BE(COUNT_AT)
    const two = await decoded(response(Buffer.concat([at(100n), at(100n + BigInt(n))])))
    assert.isArray(two)
    assert.strictEqual((two as Array<unknown>).length, 2 * n)
    // The second batch cut short, a byte of its tail changed: not complete, so neither read nor checked.
    const cut = at(100n + BigInt(n)).subarray(0, javaBatch.length - 3)
    cut[cut.length - 1]! ^= 0xff
    const one = await decoded(response(Buffer.concat([at(100n), cut])))
    assert.isArray(one)
    assert.strictEqual((one as Array<{ offset: string }>).at(-1)!.offset, String(100 + n - 1))
  })

  it("fails a batch whose bytes do not match its CRC-32C, naming the partition, offset and both CRCs", async () => {
    const n = javaBatch.readInt32BE(COUNT_AT)
    const stored = javaBatch.readUInt32BE(17)
    for (const version of [4, 11]) {
      const damaged = at(100n + BigInt(n))
      damaged[damaged.length - 5]! ^= 0x01 // a byte of the last record's value
      const e = await decoded(response(Buffer.concat([at(100n), damaged]), version), version)
      assert.instanceOf(e, KafkaBatchCorrupt)
      assert.strictEqual((e as KafkaBatchCorrupt).reason, "crc")
      assert.strictEqual((e as KafkaBatchCorrupt).retriable, false)
      assert.include(
        (e as Error).message,
        `in market.equities.trades.asx partition 3, the batch at offset ${100 + n} fails its CRC-32C check (stored 0x${stored.toString(16).padStart(8, "0")}, computed 0x`
      )
    }
  })

  it("fails a later batch of magic 1 rather than let kafkajs read it as v2", async () => {
    const old = at(200n)
    old.writeInt8(1, 16)
    const e = await decoded(response(Buffer.concat([at(100n), old])))
    assert.instanceOf(e, KafkaRecordFormatUnsupported)
    assert.include((e as Error).message, "in market.equities.trades.asx partition 3, the batch at offset 200 has magic 1: kafkajs reads")
  })
})
