/**
 * K2's CRC-32C (crc32c.ts) against the standard check value, RFC 3720's vectors, a bit-by-bit
 * reference on any bytes and ranges, and the CRCs real producers wrote into record batches.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { createRecordsBatch } from "@platformatic/kafka"
import fc from "fast-check"
import { crc32c } from "../../../src/layers/kafka/crc32c.ts"

/** CRC-32C one bit at a time, from its definition. */
const reference = (b: Uint8Array, start: number, end: number): number => {
  let c = 0xffffffff
  for (let i = start; i < end; i++) {
    c ^= b[i]!
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
  }
  return (c ^ 0xffffffff) >>> 0
}

const whole = (b: Uint8Array) => [b, 0, b.length] as const

/**
 * Batches the Java producer (kafka-clients 4.4.0) sent, as the broker stored and serves them: the
 * segment of a one-partition topic after `java -cp '.k2/kafka/lib/*' Produce.java <broker> 20
 * crc-java:none crc-java-zstd:zstd` (test/fixtures/kafka-compression/Produce.java).
 */
const javaBatch = (codec: string) => fs.readFileSync(path.resolve(import.meta.dirname, `../../fixtures/kafka-batches/java-producer.${codec}`))

describe("crc32c", () => {
  it("gives the standard check value and RFC 3720's vectors", () => {
    assert.strictEqual(crc32c(...whole(Buffer.from("123456789"))), 0xe3069283)
    assert.strictEqual(crc32c(...whole(Buffer.alloc(0))), 0)
    assert.strictEqual(crc32c(...whole(Buffer.alloc(32))), 0x8a9136aa)
    assert.strictEqual(crc32c(...whole(Buffer.alloc(32, 0xff))), 0x62a8ab43)
    assert.strictEqual(crc32c(...whole(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))), 0x46dd794e)
    assert.strictEqual(crc32c(...whole(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)))), 0x113fdb5c)
  })

  it("equals the bit-by-bit definition on any bytes, range and alignment", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), fc.nat({ max: 7 }), (bytes, a, b, shift) => {
      // A view at any offset of its memory.
      const buf = Buffer.concat([Buffer.alloc(shift), bytes]).subarray(shift)
      const start = bytes.length === 0 ? 0 : a % (bytes.length + 1)
      const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1))
      const want = reference(buf, start, end)
      assert.strictEqual(crc32c(buf, start, end), want)
    }))
  })

  it("matches the CRCs the Java producer and platformatic's encoder wrote into their batches", () => {
    const batches = [javaBatch("none"), javaBatch("zstd"), Buffer.from(createRecordsBatch([{ topic: "t", key: Buffer.from("k"), value: Buffer.from("v".repeat(999)) }] as never).buffer)]
    for (const batch of batches) {
      assert.strictEqual(batch.length, 12 + batch.readInt32BE(8))
      assert.strictEqual(crc32c(batch, 21, batch.length), batch.readUInt32BE(17))
    }
    assert.strictEqual(javaBatch("none").readUInt32BE(17), 0x11b64a23)
  })
})
