/**
 * The consumer core's offset reads and writes on a platformatic consumer: the group's committed
 * offsets, a topic's watermarks, and the commit of the partitions this member owns.
 */
import type { Consumer } from "@platformatic/kafka"
import {
  type OffsetCommit,
  type PartitionWatermarks,
  type TopicPartition,
  type TpKey,
  tpKey,
  tpKeyOf
} from "../../services/KafkaSource.ts"
import type { Platformatic } from "./platformaticClients.ts"

/** The group's committed offset of each of `tps`, null where none is. */
export const committedOffsets = async (consumer: Consumer, tps: ReadonlyArray<TopicPartition>) => {
  const byTopic = new Map<string, Array<number>>()
  for (const tp of tps) {
    const list = byTopic.get(tp.topic) ?? []
    list.push(tp.partition)
    byTopic.set(tp.topic, list)
  }
  const res = await consumer.listCommittedOffsets({
    topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions }))
  })
  const out = new Map<TpKey, bigint | null>()
  for (const tp of tps) {
    const o = res.get(tp.topic)?.[tp.partition]
    out.set(tpKeyOf(tp), o === undefined || o < 0n ? null : o)
  }
  return out
}

/** Every partition's log start and end of `topic`. */
export const watermarksOf = (consumer: Consumer, timestamps: Platformatic["ListOffsetTimestamps"]) =>
async (topic: string): Promise<ReadonlyArray<PartitionWatermarks>> => {
  const [low, high] = await Promise.all([
    consumer.listOffsets({ topics: [topic], timestamp: timestamps.EARLIEST }),
    consumer.listOffsets({ topics: [topic], timestamp: timestamps.LATEST })
  ])
  const lows = low.get(topic) ?? []
  const highs = high.get(topic) ?? []
  return highs.map((h, partition) => ({ topic, partition, low: lows[partition] ?? 0n, high: h }))
}

/**
 * Commits the offsets of the partitions in the member's `assignment`; the others are ignored (platformatic would
 * rejoin and commit them under the new generation, moving another member's offsets).
 */
export const commitOwned = async (
  consumer: Consumer,
  assignment: () => ReadonlyArray<TopicPartition>,
  offsets: ReadonlyArray<OffsetCommit>
) => {
  const owned = new Set(assignment().map(tpKeyOf))
  const mine = offsets.filter((o) => owned.has(tpKey(o.topic, o.partition)))
  if (mine.length === 0) return
  await consumer.commit({
    offsets: mine.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, leaderEpoch: -1 }))
  })
}
