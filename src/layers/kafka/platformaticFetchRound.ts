/**
 * One fetch round of a platformatic consumer: the positions the consumer core wants, asked of each
 * partition's leader (incremental fetch sessions, KIP-227, read committed), and what came back
 * offered to the core. The records are read from the response's bytes (platformaticFetch.ts,
 * recordBatches.ts), their CRCs checked. A position below the log start (records deleted) is
 * fetched from the log start and told as a loss; one past the end (a recreated topic) restarts
 * where the subscription starts.
 */
import type { Consumer } from "@platformatic/kafka"
import { Effect } from "effect"
import {
  KafkaUnavailable,
  kafkaError,
  type KafkaError,
  type KafkaRecord,
  type PartitionWatermarks,
  type StartFrom,
  type TopicPartition,
  type TpKey,
  tpKey,
  tpKeyOf,
  UnknownTopic
} from "../../services/KafkaSource.ts"
import type { ConsumerCore } from "./consumerCore.ts"
import type { Platformatic } from "./platformaticClients.ts"
import { type decompressingIn, K2_RECORDS, type rawFetchPool } from "./platformaticFetch.ts"
import { readRecordBatches } from "./recordBatches.ts"

/** Long-poll wait of a fetch with no data (ms). */
export const MAX_WAIT_TIME_MS = 250

const OFFSET_OUT_OF_RANGE = 1

type FetchResponse = Awaited<ReturnType<Consumer["fetch"]>>
type Metadata = Awaited<ReturnType<Consumer["metadata"]>>

export interface FetchRoundOf {
  readonly lib: Pick<Platformatic, "findErrorBy">
  readonly consumer: Consumer
  readonly core: ConsumerCore
  /** The consumer's connections, its Fetch responses parsed by K2: one for the consumer's life (its fetch sessions). */
  readonly fetchPool: ReturnType<typeof rawFetchPool>
  readonly decompressIn: ReturnType<typeof decompressingIn>
  readonly topics: Array<string>
  readonly startFrom: StartFrom | undefined
  readonly maxBytesPerPartition: number
  readonly watermarks: (topic: string) => Promise<ReadonlyArray<PartitionWatermarks>>
  /** Read between partitions: a stopping member offers nothing more. */
  readonly member: { readonly running: boolean }
  /** Rejoins the group when `metadata` shows a subscribed topic grown; true if it did. */
  readonly rejoinIfGrown: (metadata: Metadata) => boolean
  /** A fetch's failure as the consumer's error. */
  readonly classify: (cause: unknown) => KafkaError
}

/** One round: false when there was nothing to fetch. */
export const fetchRound = (of: FetchRoundOf): () => Promise<boolean> => {
  const { classify, consumer, core, decompressIn, fetchPool, lib, maxBytesPerPartition, member, rejoinIfGrown, startFrom, topics, watermarks } = of
  /** Partitions whose position is below the log start (records deleted): fetch from `to` while the core still wants `from`. */
  const skips = new Map<TpKey, { from: bigint; to: bigint }>()

  const processResponse = async (
    response: FetchResponse,
    topicNames: ReadonlyMap<string, string>,
    requested: ReadonlyMap<TpKey, { tp: TopicPartition; pos: bigint; req: bigint }>
  ): Promise<boolean> => {
    /** Partitions that failed with something else than OFFSET_OUT_OF_RANGE. */
    let failed = false
    // Every partition's records are read before the first offer waits for room, and the
    // response's bytes are let go: only the lighter KafkaRecords wait.
    const ready: Array<{ tp: TopicPartition; pos: bigint; records: Array<KafkaRecord>; next: bigint; hw: bigint; topicId: string; logStart: bigint | undefined }> = []
    for (const t of response.responses) {
      const topic = topicNames.get(t.topicId) ?? t.topicId
      for (const p of t.partitions) {
        if (!member.running) return failed
        const key = tpKey(topic, p.partitionIndex)
        const r = requested.get(key)
        if (r === undefined) continue
        if (p.errorCode === OFFSET_OUT_OF_RANGE) {
          // The broker sends -1 watermarks with the error: ask for them.
          const m = (await watermarks(r.tp.topic)).find((x) => x.partition === r.tp.partition)
          skips.delete(key)
          if (m === undefined || core.fetchPosition(key) !== r.pos) continue
          if (r.req < m.low) {
            // Below the log start (retention deleted those records): they are gone for good,
            // so the partition goes on from the log start, as past compacted offsets.
            skips.set(key, { from: r.pos, to: m.low })
          } else {
            // Past the end (a recreated topic): like auto.offset.reset, restart at startFrom.
            const target = (startFrom ?? "earliest") === "earliest" ? m.low : m.high
            await Effect.runPromise(Effect.ignore(core.consumer.seek(r.tp, target)))
          }
          continue
        }
        if (p.errorCode !== 0) {
          failed = true
          continue
        }
        const raw = (p as { [K2_RECORDS]?: Buffer | null })[K2_RECORDS]
        ;(p as { [K2_RECORDS]?: unknown })[K2_RECORDS] = undefined
        const hw = p.lastStableOffset >= 0n ? p.lastStableOffset : p.highWatermark
        // K2 reads the batches from the response's bytes (recordBatches.ts; every Fetch the pool lets through).
        const { next, records } = raw === null || raw === undefined
          ? { next: -1n, records: [] }
          : readRecordBatches(raw, r.req, p.abortedTransactions, decompressIn(topic, p.partitionIndex), topic, p.partitionIndex)
        if (next < 0n) {
          // Fetched from the log start (a skip) and nothing there: every record from the position
          // on was deleted. An empty batch moves the position to the log start, telling the
          // records lost; waiting for a record, the partition would lag for good.
          if (r.req > r.pos) {
            skips.delete(key)
            ready.push({ tp: r.tp, pos: r.pos, records: [], next: r.req, hw, topicId: t.topicId, logStart: r.req })
          }
          continue
        }
        if (next <= r.req) continue
        // No record (only transaction markers or aborted records): offered all the same, an
        // empty batch that moves the position past them.
        skips.delete(key)
        ready.push({
          tp: r.tp,
          pos: r.pos,
          records,
          next,
          hw,
          topicId: t.topicId,
          // Fetched from the log start, past the position (a skip): the records between were deleted.
          logStart: r.req > r.pos ? r.req : undefined
        })
      }
    }
    // The core accepts a batch only if tp is still wanted from pos (no seek, pause or rebalance meanwhile).
    for (const b of ready) {
      if (!member.running) return failed
      await core.offer(b.tp, b.pos, b.records, b.next, b.hw, b.topicId, b.logStart)
    }
    return failed
  }

  return async (): Promise<boolean> => {
    const assignment = Effect.runSync(core.consumer.assignment)
    const wanted: Array<{ tp: TopicPartition; key: TpKey; pos: bigint; req: bigint }> = []
    for (const tp of assignment) {
      const key = tpKeyOf(tp)
      const pos = core.fetchPosition(key)
      if (pos === undefined) continue
      const skip = skips.get(key)
      wanted.push({ tp, key, pos, req: skip !== undefined && skip.from === pos ? skip.to : pos })
    }
    let metadata = await consumer.metadata({ topics })
    // The leader assigned partitions from its metadata: this member's, cached for 5 s, may
    // predate partitions just added. Read afresh, not taken for an unknown topic (fatal).
    if (wanted.some((w) => metadata.topics.get(w.tp.topic)?.partitions[w.tp.partition] === undefined)) {
      metadata = await consumer.metadata({ topics, forceUpdate: true })
    }
    // Checked by members without partitions too: the leader may be one, and only its rejoin rebalances.
    if (rejoinIfGrown(metadata)) return true
    if (wanted.length === 0) return false
    const topicNames = new Map<string, string>()
    const byNode = new Map<number, Map<string, Array<{ partition: number; fetchOffset: bigint; partitionMaxBytes: number; currentLeaderEpoch: number; lastFetchedEpoch: number }>>>()
    const requested = new Map<TpKey, { tp: TopicPartition; pos: bigint; req: bigint }>()
    for (const w of wanted) {
      const tm = metadata.topics.get(w.tp.topic)
      const pm = tm?.partitions[w.tp.partition]
      if (tm === undefined) throw kafkaError(new UnknownTopic({ topic: w.tp.topic }))
      // Not in the broker's metadata yet (a partition just added): fetched again after a backoff.
      if (pm === undefined) {
        throw kafkaError(new KafkaUnavailable({ operation: "fetch", detail: `the metadata of ${w.tp.topic} shows no partition ${w.tp.partition} yet` }))
      }
      topicNames.set(tm.id, w.tp.topic)
      let node = byNode.get(pm.leader)
      if (node === undefined) byNode.set(pm.leader, (node = new Map()))
      let parts = node.get(tm.id)
      if (parts === undefined) node.set(tm.id, (parts = []))
      parts.push({ partition: w.tp.partition, fetchOffset: w.req, partitionMaxBytes: maxBytesPerPartition, currentLeaderEpoch: -1, lastFetchedEpoch: -1 })
      requested.set(w.key, w)
    }
    const results = await Promise.all([...byNode].map(([node, byTopic]) =>
      consumer.fetch({
        node,
        connectionPool: fetchPool as never,
        maxWaitTime: MAX_WAIT_TIME_MS,
        topics: [...byTopic].map(([topicId, partitions]) => ({ topicId, partitions }))
      }).then(
        (response) => ({ response, error: undefined as unknown }),
        (error: unknown) => ({
          response: (lib.findErrorBy(error as Error, "code", "PLT_KFK_RESPONSE") as { response?: FetchResponse } | null)?.response,
          error
        })
      )
    ))
    const errors: Array<unknown> = []
    for (const { response, error } of results) {
      if (!member.running) return true
      if (response !== undefined && response.errorCode === 0) {
        // A response with partition errors still carries the other partitions' records.
        const failed = await processResponse(response, topicNames, requested)
        // Offset-out-of-range partitions were reset; any other partition error is reported as the client's error.
        if (error !== undefined && (failed || lib.findErrorBy(error as Error, "apiId", "OFFSET_OUT_OF_RANGE") === null)) {
          errors.push(error)
        }
      } else if (error !== undefined) {
        errors.push(error)
      }
    }
    if (errors.length === 0) return true
    const error = classify(errors.length === 1 ? errors[0] : new AggregateError(errors, "fetch failed"))
    // A leader that does not know the partition (metadata older than a reassignment or a broker's
    // restart) is stale metadata, as kafkajs and Java take it: read again after a backoff. A
    // topic deleted fails the metadata read next (UnknownTopic, not retried).
    if (error.reason._tag === "UnknownTopic") {
      throw kafkaError(new KafkaUnavailable({ operation: "fetch", detail: `a leader does not know a partition fetched (stale metadata?): ${error.message}` }))
    }
    throw error
  }
}
