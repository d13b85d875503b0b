import { assert, describe, it } from "@effect/vitest"
import { compatibilityPartitioner } from "@platformatic/kafka"
import kafkajs from "kafkajs"
import { murmur2, partitionForKey } from "../../../src/layers/kafka/partitioner.ts"

describe("partitioner", () => {
  it("hashes as Java's Utils.murmur2 (its UtilsTest's and librdkafka's cases)", () => {
    const cases: ReadonlyArray<readonly [string, number]> = [
      ["21", -973932308],
      ["foobar", -790332482],
      ["a-little-bit-long-string", -985981536],
      ["a-little-bit-longer-string", -1486304829],
      ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
      ["abc", 479470107],
      ["kafka", -798503068],
      ["1", -1993445489],
      ["12", 126087238],
      ["123", -267702483],
      ["1234", -1614185708],
      ["12345", -1188365604]
    ]
    for (const [key, hash] of cases) {
      assert.strictEqual(murmur2(new TextEncoder().encode(key)), hash, key)
      // toPositive (& 0x7fffffff), then the partition count.
      assert.strictEqual(partitionForKey(key, 7), (hash & 0x7fffffff) % 7, key)
    }
  })


  const keys = ["BHP", "CBA", "CSL", "NAB", "WBC", "A", "AB", "ABC", "ABCD", "ABCDE", "BTC-USD", "日本", ""]
  it("puts a key where kafkajs' (Java-compatible) default partitioner does", () => {
    const partitioner = kafkajs.Partitioners.DefaultPartitioner()

    for (const partitions of [1, 3, 12, 50]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }))
      for (const key of keys) {
        const expected = partitioner({ topic: "t", partitionMetadata, message: { key: Buffer.from(key), value: null } })
        assert.strictEqual(partitionForKey(key, partitions), expected, `${key} over ${partitions}`)
      }
    }
    // @platformatic/kafka's DEFAULT partitioner is not Java-compatible (murmur2 >>> 0 instead of
    // & 0x7fffffff): it put "BHP" on partition 6 of 12 on the real broker, Java/kafkajs on 10.
    // A platformatic producer must pass its compatibilityPartitioner.
    assert.strictEqual(partitionForKey("BHP", 12), 10)
    for (const key of keys) {
      for (const partitions of [3, 12]) {
        assert.strictEqual((compatibilityPartitioner(undefined as never, Buffer.from(key)) % partitions), partitionForKey(key, partitions))
      }
    }
  })
})
