/**
 * The group leader's partition assignment (classic protocol), for both clients.
 *
 * Members of one group may subscribe to different topics (two `ingest`s with different
 * `--topics`, or a rolling upgrade that adds a topic). Both libraries' round-robin assignors
 * assume one subscription for the whole group: they deal the *leader's* topics to *every*
 * member, so a member is handed topics it never subscribed to (platformatic: K2 then failed on
 * them; kafkajs: the member drops them and they stay unread) and topics only other members
 * subscribe to are handed to no one. This one is Kafka's own RoundRobinAssignor: all
 * topic-partitions in order (topic, partition), dealt over the sorted members, skipping a member
 * that does not subscribe to the topic. Each partition goes to exactly one of its subscribers.
 * The wire protocol is unchanged (same protocol names, same metadata), so members of older K2
 * versions in the group still understand it.
 */
import type { GroupPartitionsAssigner } from "@platformatic/kafka"
import type { PartitionAssigner } from "kafkajs"

/** The kafkajs module, as the kafkajs layer loads it (with the layer, not this module). */
type Kafkajs = typeof import("kafkajs")

export interface MemberSubscription {
  readonly memberId: string
  readonly topics: ReadonlyArray<string>
}

/** memberId -> topic -> partitions (ascending). Every member is present, possibly with nothing. */
export type GroupAssignment = Map<string, Map<string, Array<number>>>

/**
 * `partitionCounts`: topic -> its partition count. A subscribed topic missing from it (no
 * metadata yet) is assigned to no one this generation.
 */
export const assignRoundRobin = (
  members: ReadonlyArray<MemberSubscription>,
  partitionCounts: ReadonlyMap<string, number>
): GroupAssignment => {
  const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0))
  const subscribed = new Map(sorted.map((m) => [m.memberId, new Set(m.topics)]))
  const assignment: GroupAssignment = new Map(sorted.map((m) => [m.memberId, new Map()]))
  const topics = [...new Set(sorted.flatMap((m) => m.topics))].sort()
  let next = 0
  for (const topic of topics) {
    const count = partitionCounts.get(topic) ?? 0
    for (let partition = 0; partition < count; partition++) {
      // Advance the circular cursor to the next member subscribing to this topic (one exists:
      // the topic came from some member's subscription).
      let member = sorted[next % sorted.length]!
      while (!subscribed.get(member.memberId)!.has(topic)) member = sorted[++next % sorted.length]!
      next++
      const mine = assignment.get(member.memberId)!
      const partitions = mine.get(topic) ?? []
      partitions.push(partition)
      mine.set(topic, partitions)
    }
  }
  return assignment
}

/** For platformatic's `joinGroup({ partitionAssigner })`: its `topics` argument is only the leader's, so it is ignored. */
export const platformaticAssigner: GroupPartitionsAssigner = (_current, members, _leaderTopics, metadata) => {
  const counts = new Map([...metadata.topics].map(([topic, t]) => [topic, t.partitionsCount]))
  const assignment = assignRoundRobin([...members.values()].map((m) => ({ memberId: m.memberId, topics: m.topics ?? [] })), counts)
  return [...assignment].map(([memberId, byTopic]) => ({
    memberId,
    assignments: new Map([...byTopic].map(([topic, partitions]) => [topic, { topic, partitions }]))
  }))
}

/**
 * For kafkajs' `partitionAssigners`. Same name and version as kafkajs' RoundRobinAssigner, so a
 * group mixing K2 versions still agrees on the protocol; only the leader's arithmetic changes.
 */
export const kafkajsAssigner = (kafkajs: Kafkajs): PartitionAssigner => (config) => {
  const { cluster } = config
  const builtin = kafkajs.PartitionAssigners.roundRobin(config)
  return {
    name: builtin.name,
    version: builtin.version,
    protocol: (subscription) => builtin.protocol(subscription),
    async assign({ members }) {
      const subscriptions = members.map((m) => ({
        memberId: m.memberId,
        topics: kafkajs.AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.topics ?? []
      }))
      const topics = [...new Set(subscriptions.flatMap((s) => s.topics))]
      // Metadata of topics only other members subscribe to: the leader's client may not track them.
      await cluster.addMultipleTargetTopics(topics)
      const counts = new Map(topics.map((topic) => [topic, cluster.findTopicPartitionMetadata(topic).length]))
      const assignment = assignRoundRobin(subscriptions, counts)
      return [...assignment].map(([memberId, byTopic]) => ({
        memberId,
        memberAssignment: kafkajs.AssignerProtocol.MemberAssignment.encode({
          version: builtin.version,
          assignment: Object.fromEntries(byTopic),
          userData: Buffer.alloc(0)
        })
      }))
    }
  }
}
