/**
 * KafkaSource's subscribe on the in-memory broker: a group member whose ConsumerCore reads the
 * group's committed offsets and the logs' watermarks, commits as a broker checks them, and is fed
 * by its fetch loop (memoryFetch.ts); leaving, it revokes everything before its partitions move.
 */
import { Effect } from "effect"
import { kafkaError, KafkaRejected, type OffsetCommit, type SubscribeOptions, tpKey, tpKeyOf } from "../../services/KafkaSource.ts"
import { makeConsumerCore } from "./consumerCore.ts"
import type { MemoryOptions } from "./memory.ts"
import type { MemoryBroker } from "./memoryBroker.ts"
import { guard, toKafkaError } from "./memoryErrors.ts"
import { memoryFetchLoop } from "./memoryFetch.ts"
import type { MemMember } from "./memoryGroups.ts"

export const memorySubscribe = (broker: MemoryBroker, options: MemoryOptions) => {
  const maxBatch = options.maxBatchRecords ?? 500
  return <E, R>(opts: SubscribeOptions<E, R>) =>
    Effect.gen(function*() {
      for (const topic of opts.topics) yield* guard("subscribe", () => broker.topic(topic))
      const g = broker.group(opts.groupId)
      const id = broker.memberId()
      const core = yield* makeConsumerCore(opts, {
        seek: () => broker.notify(),
        pause: () => undefined,
        resume: () => broker.notify(),
        committed: async (tps) => new Map(tps.map((tp) => [tpKeyOf(tp), g.committed.get(tpKeyOf(tp)) ?? null])),
        watermarks: async (topic) =>
          broker.topic(topic).partitions.map((_, partition) => ({
            topic,
            partition,
            low: BigInt(broker.topic(topic).base[partition]!),
            high: BigInt(broker.endOffset(topic, partition))
          })),
        commit: async (offsets: ReadonlyArray<OffsetCommit>) => {
          if (!g.members.some((m) => m.id === id)) {
            throw kafkaError(new KafkaRejected({ operation: "commit", detail: `${id} is not a member of ${opts.groupId}` }))
          }
          // As a broker answers UNKNOWN_TOPIC_OR_PARTITION (a topic deleted meanwhile): stored, the
          // offset would come back as the group's when a topic of that name is created again. An
          // offset read from a topic deleted and made again since is the old log's, not the new one's.
          for (const o of offsets) {
            const t = broker.topic(o.topic)
            if (t.partitions[o.partition] === undefined) {
              throw kafkaError(new KafkaRejected({ operation: "commit", detail: `${o.topic} has no partition ${o.partition}` }))
            }
            if (member.topicIds.get(o.topic) !== t.id) {
              throw kafkaError(new KafkaRejected({ operation: "commit", detail: `${o.topic} was deleted and made again since ${id} was assigned it` }))
            }
          }
          for (const o of offsets) {
            g.committed.set(tpKey(o.topic, o.partition), o.offset)
            if (options.releaseCommitted === true) broker.release(o.topic, o.partition)
          }
          broker.notify()
        }
      }, toKafkaError)
      const member: MemMember = { id, topics: opts.topics, assignment: [], topicIds: new Map(), core }
      let running = true

      const fetchLoop = memoryFetchLoop(broker, opts, member, maxBatch, () => running)

      yield* Effect.addFinalizer(() =>
        Effect.promise(async () => {
          running = false
          const i = g.members.indexOf(member)
          if (i >= 0) g.members.splice(i, 1)
          const revoked = core.revokeAll().then(() => {
            member.assignment = []
            broker.notify()
          })
          // Its partitions go to no one before its onRevoke is done, as a client leaves the group
          // only after onRevoke: a rebalance another member starts meanwhile waits for it.
          g.rebalancing = g.rebalancing.then(() => revoked, () => revoked)
          await revoked
          await broker.rebalance(opts.groupId)
        })
      )
      yield* Effect.forkScoped(fetchLoop)
      g.members.push(member)
      yield* Effect.promise(() => broker.rebalance(opts.groupId))
      return core.consumer
    })
}
