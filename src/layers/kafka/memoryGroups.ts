/**
 * The in-memory broker's consumer groups: their members and committed offsets, and a rebalance
 * round (round-robin over the sorted partitions; members that lose partitions run onRevoke before
 * anyone gets them, as with Kafka's eager protocol).
 */
import { type TopicPartition, type TpKey, tpKeyOf } from "../../services/KafkaSource.ts"
import type { ConsumerCore } from "./consumerCore.ts"
import type { MemoryLog } from "./memoryLog.ts"

export interface MemMember {
  readonly id: string
  readonly topics: ReadonlyArray<string>
  assignment: ReadonlyArray<TopicPartition>
  /** The id of the topic each assigned partition belongs to (its positions are in that log). */
  readonly topicIds: Map<string, string>
  readonly core: ConsumerCore
}

export interface MemGroup {
  readonly committed: Map<TpKey, bigint>
  readonly members: Array<MemMember>
  rebalancing: Promise<void>
}

/** One rebalance of the group: revoke first (and wait), then assign. MemoryBroker.rebalance queues them. */
export const rebalanceRound = async (broker: MemoryLog, g: MemGroup): Promise<void> => {
  const members = [...g.members].sort((a, b) => a.id.localeCompare(b.id))
  const target = new Map<string, Array<TopicPartition>>(members.map((m) => [m.id, []]))
  const topics = [...new Set(members.flatMap((m) => m.topics))].sort()
  let i = 0
  for (const topic of topics) {
    const t = broker.topics.get(topic)
    if (t === undefined) continue
    const subscribers = members.filter((m) => m.topics.includes(topic))
    for (let p = 0; p < t.partitions.length; p++) {
      const m = subscribers[i++ % subscribers.length]!
      target.get(m.id)!.push({ topic, partition: p })
    }
  }
  // A member that left meanwhile revoked everything itself and queued the next rebalance: it
  // gets nothing more (its callbacks would run after its scope closed).
  const present = (m: MemMember) => g.members.includes(m)
  const ids = new Map(topics.flatMap((topic) => {
    const t = broker.topics.get(topic)
    return t === undefined ? [] : [[topic, t.id] as const]
  }))
  // Phase 1: everyone gives up what moves away, and finishes onRevoke. A partition of a topic
  // deleted and made again since it was assigned is given up too: it is gained afresh.
  await Promise.all(members.filter(present).map((m) => {
    const keep = new Set(target.get(m.id)!.map(tpKeyOf))
    m.assignment = m.assignment.filter((tp) => keep.has(tpKeyOf(tp)) && m.topicIds.get(tp.topic) === ids.get(tp.topic))
    return m.core.assign(m.assignment)
  }))
  // Phase 2: the new assignment (onAssign runs before any record is delivered).
  await Promise.all(members.filter(present).map((m) => {
    m.assignment = target.get(m.id)!
    m.topicIds.clear()
    for (const tp of m.assignment) m.topicIds.set(tp.topic, ids.get(tp.topic)!)
    return m.core.assign(m.assignment)
  }))
  broker.notify()
}
