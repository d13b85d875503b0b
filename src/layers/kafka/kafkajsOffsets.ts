/**
 * A group's committed offsets and the partitions' watermarks, read with kafkajs' admin for the
 * consumer core.
 */
import type { Admin } from "kafkajs"
import { type TopicPartition, type TpKey, tpKey } from "../../services/KafkaSource.ts"
import type { AbsentOr } from "./kafkajsErrors.ts"

/** The offsets `groupId` committed for `tps`; null where it committed none. */
export const committedOffsets = async (admin: Pick<Admin, "fetchOffsets">, groupId: string, tps: ReadonlyArray<TopicPartition>) => {
  const topics = [...new Set(tps.map((tp) => tp.topic))]
  const res = await admin.fetchOffsets({ groupId, topics })
  const out = new Map<TpKey, bigint | null>()
  for (const t of res) {
    for (const p of t.partitions) {
      const o = BigInt(p.offset)
      out.set(tpKey(t.topic, p.partition), o < 0n ? null : o)
    }
  }
  return new Map(tps.map((tp) => [tpKey(tp.topic, tp.partition), out.get(tpKey(tp.topic, tp.partition)) ?? null]))
}

/** A topic's partitions' low and high watermarks, by partition; an absent topic is UnknownTopic. */
export const watermarksOf = (admin: Pick<Admin, "fetchTopicOffsets">, absentOr: AbsentOr) => async (topic: string) => {
  const res = await admin.fetchTopicOffsets(topic).catch((e: unknown) => absentOr("watermarks", [topic], e))
  return res
    .map((p) => ({ topic, partition: p.partition, low: BigInt(p.low), high: BigInt(p.high) }))
    .sort((a, b) => a.partition - b.partition)
}
