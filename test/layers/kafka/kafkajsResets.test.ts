/** kafkajs' recovery from a fetch out of range tells the consumers of its group which partition it reset (ADR-75). */
import { createRequire } from "node:module"
import { assert, describe, it } from "@effect/vitest"
import { onKafkajsReset, tellKafkajsResets } from "../../../src/layers/kafka/kafkajsResets.ts"
import type { TopicPartition } from "../../../src/services/KafkaSource.ts"

const require = createRequire(import.meta.url)
type Recover = (this: unknown, e: unknown) => Promise<void>
const ConsumerGroup = require("kafkajs/src/consumer/consumerGroup.js") as { prototype: { recoverFromOffsetOutOfRange: Recover } }

/** A consumer group of `groupId` as far as kafkajs' recovery reads it: its reset (the default offset committed) recorded. */
const group = (groupId: string) => {
  const resets: Array<string> = []
  const self = {
    groupId,
    preferredReadReplicasPerTopicPartition: {},
    logger: { error: () => undefined, info: () => undefined },
    offsetManager: { setDefaultOffset: async ({ topic, partition }: TopicPartition) => void resets.push(`${topic}:${partition}`) }
  }
  const recover = (topic: string, partition: number) => ConsumerGroup.prototype.recoverFromOffsetOutOfRange.call(self, { topic, partition })
  return { resets, recover }
}

describe("kafkajs' resets of a position out of range", () => {
  it("are told, after kafkajs' own reset, to the listeners of the group only", async () => {
    assert.isTrue(tellKafkajsResets())
    assert.isTrue(tellKafkajsResets(), "patched once")
    const g = group("g")
    const told: Array<string> = []
    const remove = onKafkajsReset("g", (tp) => void told.push(`${tp.topic}:${tp.partition}:${g.resets.length}`))
    const other: Array<TopicPartition> = []
    const removeOther = onKafkajsReset("h", (tp) => void other.push(tp))
    await g.recover("t", 3)
    assert.deepStrictEqual(told, ["t:3:1"], "told once kafkajs had reset it")
    assert.deepStrictEqual(other, [])
    remove()
    await g.recover("t", 4)
    assert.deepStrictEqual(told, ["t:3:1"])
    removeOther()
  })
})
