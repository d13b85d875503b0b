/**
 * The kafkajs producer's partitioner: the partition Java's (and kafkajs') default gives, for keys of
 * any size. kafkajs' own murmur2 runs on BigInts that grow with the key (quadratic, on the event
 * loop): a dead letter keyed by a 1 MB key took minutes to place, its partition stalled meanwhile.
 */
import { assert, describe, it } from "@effect/vitest"
import * as kafkajs from "kafkajs"
import { checkedPartitioner } from "../../../src/layers/kafka/kafkajsSink.ts"
import { partitionForKey } from "../../../src/layers/kafka/partitioner.ts"

const metadata = (n: number) => Array.from({ length: n }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0] })) as never

describe("kafkajs partitioner", () => {
  it("places a keyed record where kafkajs' default does", () => {
    const ours = checkedPartitioner(kafkajs)()
    const theirs = kafkajs.Partitioners.DefaultPartitioner()
    for (const key of ["BHP", "CBA", "", "ü\u0000", "K".repeat(301), Buffer.from([0xff, 0xfe, 0, 1])]) {
      for (const n of [1, 3, 12, 480]) {
        const args = { topic: "t", partitionMetadata: metadata(n), message: { key, value: null } }
        assert.strictEqual(ours(args), theirs(args), `${String(key).slice(0, 10)} over ${n}`)
      }
    }
  })

  it("places a record keyed by 1 MB", () => {
    const key = "K".repeat(1024 * 1024)
    const ours = checkedPartitioner(kafkajs)()
    assert.strictEqual(ours({ topic: "t", partitionMetadata: metadata(12), message: { key, value: null } }), partitionForKey(key, 12))
  })

  it("a named partition is kept, a keyless record still goes to one the topic has", () => {
    const ours = checkedPartitioner(kafkajs)()
    assert.strictEqual(ours({ topic: "t", partitionMetadata: metadata(3), message: { key: "BHP", value: null, partition: 2 } }), 2)
    const p = ours({ topic: "t", partitionMetadata: metadata(3), message: { key: null, value: null } })
    assert.isTrue(p >= 0 && p < 3)
  })
})
