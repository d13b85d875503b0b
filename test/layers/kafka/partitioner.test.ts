import { assert, describe, it } from "@effect/vitest"
import { compatibilityPartitioner } from "@platformatic/kafka"
import kafkajs from "kafkajs"
import { partitionForKey } from "../../../src/layers/kafka/partitioner.ts"

describe("partitioner", () => {
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
