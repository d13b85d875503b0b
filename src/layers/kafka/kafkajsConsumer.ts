/**
 * KafkaSource on kafkajs' consumer: classic group protocol (round robin by subscription,
 * assignor.ts), autoCommit off. On GROUP_JOIN the gained partitions are paused synchronously (before
 * kafkajs fetches), onAssign runs, then they are seeked and resumed; kept partitions are seeked back
 * to where delivery stopped (kafkajs resets positions to the committed offsets on every rejoin).
 */
import { Effect } from "effect"
import type { Admin, Consumer as KConsumer, Kafka } from "kafkajs"
import { type SubscribeOptions, type TopicPartition, type TpKey, tpKey, tpKeyOf } from "../../services/KafkaSource.ts"
import { kafkajsAssigner } from "./assignor.ts"
import { closeWithin } from "./closing.ts"
import { makeConsumerCore } from "./consumerCore.ts"
import { type Kafkajs, METADATA_MAX_AGE_MS } from "./kafkajsClients.ts"
import { type AbsentOr, attemptKafkajs, fromKafkajs } from "./kafkajsErrors.ts"
import { toRecords } from "./kafkajsMessages.ts"
import { committedOffsets, watermarksOf } from "./kafkajsOffsets.ts"
import { onKafkajsReset } from "./kafkajsResets.ts"
import type { KafkaSecurity } from "./security.ts"

/** Group heartbeat interval (ms), also while a batch waits for buffer room. */
const HEARTBEAT_MS = 3_000

const toTps = (assignment: Record<string, ReadonlyArray<number>>): Array<TopicPartition> =>
  Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition })))

export interface ConsumersOf {
  readonly kafkajs: Kafkajs
  readonly kafka: Kafka
  /** Reads the group's committed offsets and the watermarks. */
  readonly admin: Admin
  readonly security: KafkaSecurity | undefined
  readonly absentOr: AbsentOr
}

/** KafkaSource's subscribe: a group member until the scope closes. */
export const kafkajsSubscribe = ({ absentOr, admin, kafka, kafkajs, security }: ConsumersOf) => {
  const watermarks = watermarksOf(admin, absentOr)
  return <E, R>(opts: SubscribeOptions<E, R>) =>
    Effect.gen(function*() {
      /** A failure of this member: a refusal names its group and topics. */
      const inGroup = (operation: string, cause: unknown, topic?: string) =>
        fromKafkajs(operation, cause, topic, security, { topics: opts.topics, group: opts.groupId })
      const consumer: KConsumer = kafka.consumer({
        groupId: opts.groupId,
        sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
        heartbeatInterval: HEARTBEAT_MS,
        allowAutoTopicCreation: false,
        // Its round robin deals the leader's topics to every member: members of one group with
        // different --topics need an assignment by subscription (assignor.ts).
        partitionAssigners: [kafkajsAssigner(kafkajs)],
        // kafkajs rejoins when its metadata shows a subscribed topic grown; at its default age
        // (5 minutes) the partitions added to a topic went unread that long.
        metadataMaxAge: METADATA_MAX_AGE_MS,
        // What a partition actor holds at once.
        maxBytesPerPartition: 256 * 1024,
        // Whatever the partitions: a response is decoded at once, and 64 MB of one (240 partitions
        // with a backlog) ran `npm run ingest` out of its heap (ADR-57).
        maxBytes: 8 * 1024 * 1024,
        maxWaitTimeInMs: 250,
        retry: { retries: 8 }
      })
      const core = yield* makeConsumerCore(opts, {
        seek: (tp, offset) => consumer.seek({ topic: tp.topic, partition: tp.partition, offset: offset.toString() }),
        pause: (tps) => consumer.pause(tps.map((tp) => ({ topic: tp.topic, partitions: [tp.partition] }))),
        resume: (tps) => consumer.resume(tps.map((tp) => ({ topic: tp.topic, partitions: [tp.partition] }))),
        committed: (tps) => committedOffsets(admin, opts.groupId, tps),
        watermarks,
        commit: async (offsets) => {
          await consumer.commitOffsets(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset.toString() })))
        }
      }, inGroup)

      consumer.on(consumer.events.GROUP_JOIN, (event) => {
        // Synchronous part of assign runs here, before kafkajs starts fetching.
        void core.assign(toTps(event.payload.memberAssignment))
      })
      // A fetch that held only transaction markers or aborted records never reaches eachBatch:
      // kafkajs moves past it by itself. When it starts at the position the core wants, it is
      // offered as an empty batch that moves the position past them (an idle partition whose
      // log ends with a marker would otherwise read as lagging for good). When it starts beyond
      // (offsets compacted away), the next batch, fetched from beyond the position, is offered
      // as continuing it (as platformatic's skips do).
      const skips = new Map<TpKey, { from: bigint; to: bigint }>()
      /** The empty batch offered for a partition, which its next batch waits behind (order). */
      const moved = new Map<TpKey, Promise<void>>()
      /**
       * Partitions kafkajs reset while the core's check of them runs: a fetch of only transaction
       * markers at the new position must not pass for one continuing the old (the loss unsaid).
       */
      const resetting = new Set<TpKey>()
      consumer.on(consumer.events.START_BATCH_PROCESS, ({ payload }) => {
        if (payload.batchSize !== 0 || payload.firstOffset === null) return
        const key = tpKey(payload.topic, payload.partition)
        const pos = core.fetchPosition(key)
        if (pos === undefined) return
        const first = BigInt(payload.firstOffset)
        const to = BigInt(payload.lastOffset) + 1n
        // Reset: fetched from beyond the position, judged by the core (deleted or not) as any batch
        // fetched there. Else beyond it: offsets compacted away before the markers, and the next
        // batch continues this one from the position.
        const from = first === pos ? pos : first > pos && resetting.has(key) ? first : undefined
        if (from === undefined) {
          if (first > pos) skips.set(key, { from: pos, to })
          return
        }
        skips.delete(key)
        const offered = core.offer({ topic: payload.topic, partition: payload.partition }, from, [], to, BigInt(payload.highWatermark))
        moved.set(key, offered)
        // Handled both ways: a failed offer (a seek kafkajs refuses) reaches the next batch, which
        // waits behind it in eachBatch, not the process as an unhandled rejection.
        const forget = () => {
          if (moved.get(key) === offered) moved.delete(key)
        }
        offered.then(forget, forget)
      })
      // A fetch out of range (records deleted past the position): kafkajs resets the position by
      // itself and says nothing; told here (kafkajsResets.ts), the core checks the log start once
      // and moves the position there, telling the records lost.
      yield* Effect.acquireRelease(
        Effect.sync(() =>
          onKafkajsReset(opts.groupId, (tp) => {
            const key = tpKeyOf(tp)
            skips.delete(key)
            resetting.add(key)
            void core.outOfRange(tp).finally(() => resetting.delete(key))
          })
        ),
        (remove) => Effect.sync(remove)
      )
      consumer.on(consumer.events.CRASH, (event) => {
        const e = event.payload.error
        if (!event.payload.restart) core.fail(inGroup("consume", e))
      })

      // Before connecting: a subscription that fails (an unknown topic) still closes its connections.
      yield* Effect.addFinalizer(() => closeWithin("consumer", () => consumer.disconnect()))
      yield* Effect.acquireRelease(
        attemptKafkajs(security, opts.groupId)("subscribe", async () => {
          await consumer.connect()
          await consumer.subscribe({ topics: [...opts.topics], fromBeginning: (opts.startFrom ?? "earliest") === "earliest" })
            .catch((e: unknown) => absentOr("subscribe", opts.topics, e))
          await consumer.run({
            autoCommit: false,
            eachBatchAutoResolve: true,
            partitionsConsumedConcurrently: 1,
            eachBatch: async ({ batch, heartbeat }) => {
              const records = toRecords(batch.messages)
              const key = tpKey(batch.topic, batch.partition)
              const fetched = BigInt((batch as unknown as { fetchedOffset: string }).fetchedOffset)
              const skip = skips.get(key)
              skips.delete(key)
              const from = skip !== undefined && skip.to === fetched && core.fetchPosition(key) === skip.from ? skip.from : fetched
              const before = moved.get(key)
              const offer = () => core.offer(
                { topic: batch.topic, partition: batch.partition },
                from,
                records,
                BigInt(batch.lastOffset()) + 1n,
                // No topic id: kafkajs' metadata (v6) has none.
                BigInt(batch.highWatermark)
              )
              const offered = (before === undefined ? offer() : before.then(offer)).then(() => true)
              // kafkajs heartbeats only between batches: while this one waits for buffer room
              // (backpressure, as long as a slow flush takes) the member must stay in the group.
              // heartbeat() sends only once HEARTBEAT_MS have passed since the last answer, so it
              // is asked more often than that (asking every HEARTBEAT_MS could skip every other
              // turn and leave a gap as long as a short session timeout).
              // One wake-up a turn, not a race against `offered`: each race would leave a reaction
              // on it until it settles, one a second for as long as a stall lasts.
              let settled = false
              let wake = () => {}
              const done = offered.finally(() => {
                settled = true
                wake()
              })
              while (!settled) {
                await new Promise<void>((resolve) => {
                  const timer = setTimeout(resolve, HEARTBEAT_MS / 3)
                  timer.unref()
                  wake = () => {
                    clearTimeout(timer)
                    resolve()
                  }
                })
                if (!settled) await heartbeat().catch(() => undefined)
              }
              await done
            }
          })
        }, opts.topics),
        // Before the disconnect (the finalizer above), as the member leaves.
        () => Effect.promise(() => core.revokeAll())
      )
      return core.consumer
    })
}
