/**
 * KafkaSource, KafkaSink and KafkaAdmin on @platformatic/kafka 2.12.
 *
 * - Producer: idempotent, acks=all. Keyed records use Java's partitioner (`murmur2 & 0x7fffffff`,
 *   our partitioner.ts): platformatic's default (`murmur2 >>> 0`) would put symbols elsewhere than
 *   kafkajs / Java producers. Records without key go round-robin. Headers are sent as
 *   Map<Buffer, Buffer> (string keys make its idempotent producer hang). Explicit partitions are
 *   checked against the topic's partition count (platformatic would silently take them modulo).
 * - Consumer: platformatic's MessagesStream has no per-partition seek or pause, so it is not used.
 *   The member joins the group with `joinGroup()` (classic protocol, round robin by subscription:
 *   assignor.ts; platformatic heartbeats and rejoins by itself and reports every new assignment with
 *   `consumer:group:join`) and a fetch loop of our own calls `consumer.fetch` (incremental fetch
 *   sessions, KIP-227) for exactly the positions the consumer core wants. Positions therefore
 *   live only in consumerCore.ts: seek / pause / resume need no client call. While the member is
 *   rejoining (`consumer:group:rebalance`) nothing is fetched, so partitions about to move stop
 *   early (batches already buffered are still delivered, as with kafkajs).
 * - Read committed. Control batches (transaction markers) and aborted records are never
 *   delivered; a fetch that held nothing else is delivered as an empty batch whose nextOffset is
 *   past them (the position moves on, as the Java consumer's does).
 * - Fetch responses (v12-v17) keep each partition's record batches as bytes, which K2 reads itself
 *   (platformaticFetch.ts, recordBatches.ts), their CRCs checked: platformatic's parse was most of
 *   ingest's garbage. An older Fetch (a broker before Kafka 2.7) fails the consumer (ADR-88).
 */
import type { Consumer as PConsumer, Partitioner } from "@platformatic/kafka"
import { Context, Effect, Layer } from "effect"
import { topicConfigEntries } from "../../domain/wire.ts"
import { KafkaAdmin, KafkaSink, type ProducerRecord, type RecordMetadata } from "../../services/KafkaSink.ts"
import {
  type KafkaError,
  kafkaError,
  type KafkaHeaderBytes,
  type KafkaRecord,
  KafkaRejected,
  KafkaSource,
  KafkaUnavailable,
  type PartitionWatermarks,
  RebalanceInProgress,
  type SubscribeOptions,
  type TopicPartition,
  type TpKey,
  tpKey,
  tpKeyOf,
  UnknownTopic
} from "../../services/KafkaSource.ts"
import { platformaticAssigner } from "./assignor.ts"
import { closeWithin } from "./closing.ts"
import { guardPlatformaticCodecs } from "./compression.ts"
import { isKafkaError, makeConsumerCore } from "./consumerCore.ts"
import { ensureTopicsWith, untilLed } from "./ensureTopics.ts"
import { murmur2 } from "./partitioner.ts"
import { decompressingIn, K2_RECORDS, makeFetchParser, type PReader, rawFetchPool } from "./platformaticFetch.ts"
import { readRecordBatches } from "./recordBatches.ts"
import { authorizationFailure, configsUnlessRefused, type Target } from "./authorization.ts"
import { inBatches } from "./batchBytes.ts"
import { limitOf, MessageLimits, topicLimits } from "./messageLimits.ts"
import { classifiedBy } from "./classified.ts"
import { closedConnectionHint, type KafkaSecurity, platformaticSecurity, securityFailure } from "./security.ts"
import { sentHeaderBytes, toBuffer } from "./textBytes.ts"
import { tracedSend } from "./tracing.ts"
import { Wakeup } from "./wakeup.ts"

export interface PlatformaticOptions {
  readonly brokers: ReadonlyArray<string>
  readonly clientId?: string
  /** Max bytes per partition per fetch. Default 256 KiB: what a partition actor holds at once. */
  readonly maxBytesPerPartition?: number
  /** TLS and SASL (ADR-54); none: PLAINTEXT. */
  readonly security?: KafkaSecurity
  /**
   * The producer's own retries ride out a broker restart (~40 s, RESTART_RETRIES) rather than
   * platformatic's ~2 s: `produce`, which waits its sends out (ADR-89). Not for the others: a send
   * under way is not interrupted (replay's republish, ingest's dead letters), and a stop would wait
   * for those retries.
   */
  readonly producerRidesOutRestart?: boolean
}

/**
 * Max bytes per fetch response, whatever the partitions: a response is decoded into records at once,
 * and at 64 MB (256 KB for each of 240 partitions with a backlog) that was more than `npm run
 * ingest`'s 256 MB heap (ADR-57). Above 24 partitions' 256 KB, so two topics of 12 fetch as before;
 * the broker's fetch session moves the partitions that returned data to the back, so none starves.
 */
const MAX_FETCH_BYTES = 8 * 1024 * 1024
/** Long-poll wait of a fetch with no data (ms). */
const MAX_WAIT_TIME_MS = 250
/** Heartbeat interval of group members (ms), at most a third of the session timeout. */
const HEARTBEAT_MS = 3_000

/**
 * The producer's own retries of a request: 12, capped (5 s), jittered exponential backoff from
 * 250 ms, about 40 s in all. A send the producer retries keeps its producer id and sequence
 * numbers, so the broker, its producer state restored from the log after a restart, drops a batch
 * it already wrote; a send that fails ends the producer session, and a caller's resend goes under
 * a new id the broker cannot deduplicate. The default 8 retries 250 ms apart failed a send 2-5 s
 * into a broker restart (10-25 s); these ride it out inside the send (ADR-89).
 */
const RESTART_RETRIES = {
  retries: 12,
  retryDelay: (_client: unknown, _operation: string, attempt: number): number =>
    Math.min(250 * 2 ** (attempt - 1), 5_000) * (0.8 + Math.random() * 0.4)
}
/** How much longer than its session timeout a consumer's request is waited for: a JoinGroup may block for the whole rebalance timeout. */
export const JOIN_WAIT_MARGIN_MS = 10_000

// ---------------------------------------------------------------------------
// Errors

const REBALANCE_IDS = new Set(["REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "FENCED_INSTANCE_ID", "MEMBER_ID_REQUIRED"])
const UNKNOWN_TOPIC_IDS = new Set(["UNKNOWN_TOPIC_OR_PARTITION", "UNKNOWN_TOPIC_ID"])
/**
 * Socket errors a NetworkError carries as its cause when a connection fails: the broker's host down
 * or unreachable, its name not resolving for now (a restarting pod), the connect timing out, the
 * peer gone. platformatic retries them (canRetry) and kafkajs reports them as KafkaJSConnectionError.
 */
const SOCKET_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENETRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND"
])

interface PltError {
  readonly name?: string
  readonly message?: string
  readonly code?: string
  readonly apiId?: string
  readonly canRetry?: boolean
  readonly errors?: ReadonlyArray<unknown>
  readonly cause?: unknown
}

/** Every leaf error of a platformatic error tree (MultipleErrors / ResponseError / cause chains). */
const leaves = (e: unknown, out: Array<PltError> = [], depth = 0): Array<PltError> => {
  if (e === null || typeof e !== "object" || depth > 8) return out
  const err = e as PltError
  if (Array.isArray(err.errors) && err.errors.length > 0) {
    for (const x of err.errors) leaves(x, out, depth + 1)
  } else {
    out.push(err)
    if (err.cause !== undefined && typeof err.cause === "object") leaves(err.cause, out, depth + 1)
  }
  return out
}

/**
 * Classify a platformatic error into the K2 reasons: group membership errors are
 * RebalanceInProgress, unknown topics UnknownTopic, ACLs refusing the principal NotAuthorized, network errors / timeouts / retriable broker
 * errors (leader moving, coordinator loading...) KafkaUnavailable, the rest KafkaRejected.
 */
export const fromPlatformatic = (operation: string, cause: unknown, topic?: string, security?: KafkaSecurity, target?: Target): KafkaError => {
  if (isKafkaError(cause)) return cause
  // Before the broker's errors: a refused SASL authentication is one, wrapped in a network error.
  const secured = securityFailure(operation, cause, security)
  if (secured !== undefined) return secured
  const refused = authorizationFailure(operation, cause, security, target ?? (topic === undefined ? {} : { topics: [topic] }))
  if (refused !== undefined) return refused
  const top = cause as PltError | undefined
  const all = leaves(cause)
  const detailOf = (e: PltError | undefined) => `${e?.apiId ?? e?.code ?? e?.name ?? "Error"}: ${e?.message ?? String(e)}`
  const detail = (top === undefined || top === null
    ? String(cause)
    : `${detailOf(top)}${all.length > 0 && all[0] !== top ? ` (${[...new Set(all.map(detailOf))].join("; ")})` : ""}`) +
    closedConnectionHint(cause, security)
  if (all.some((e) => e.apiId !== undefined && REBALANCE_IDS.has(e.apiId))) {
    return kafkaError(new RebalanceInProgress({ operation, detail }))
  }
  if (all.some((e) => e.apiId !== undefined && UNKNOWN_TOPIC_IDS.has(e.apiId))) {
    return kafkaError(new UnknownTopic({ topic: topic ?? "?" }))
  }
  // Metadata requests turn UNKNOWN_TOPIC_OR_PARTITION into UserError("Unknown topic <name>.").
  for (const e of all) {
    const m = e.code === "PLT_KFK_USER" ? /^Unknown topic (.*)\.$/.exec(e.message ?? "") : null
    if (m !== null) return kafkaError(new UnknownTopic({ topic: m[1] !== "unknown" ? m[1]! : topic ?? "?" }))
  }
  // A broker error that will not go away (MESSAGE_TOO_LARGE, POLICY_VIOLATION, authorisation...).
  const fatalProtocol = all.some((e) => e.apiId !== undefined && e.canRetry === false)
  const transient = all.length > 0 && all.every((e) =>
    e.canRetry === true ||
    e.code === "PLT_KFK_NETWORK" || // NetworkError and TimeoutError
    e.code === "PLT_KFK_TIMEOUT" ||
    SOCKET_ERRORS.has(e.code ?? "") ||
    (e.code === "PLT_KFK_USER" && /closed while retrying/i.test(e.message ?? "")) ||
    // A fetch sent to a leader that has left the cluster (a rolling restart): new metadata names another.
    (e.code === "PLT_KFK_USER" && /^Cannot find broker with node id/.test(e.message ?? ""))
  )
  if (!fatalProtocol && transient) return kafkaError(new KafkaUnavailable({ operation, detail }))
  return kafkaError(new KafkaRejected({ operation, detail }))
}

const attemptWith = classifiedBy(fromPlatformatic)

// ---------------------------------------------------------------------------
// Codec helpers


/** Keys and header names this short are cached (received ones are interned: recordBatches.ts). */
const SHORT_NAME = 32

/**
 * UTF-8 of record keys and header names: a few symbols and names repeat on every record. Short
 * ones only (as recordBatches.ts interns them): a dead letter carries its poison record's key and
 * header names, each distinct and of any length, which were all kept until 100,000 of them.
 */
const utf8Cache = new Map<string, Buffer>()
const UTF8_CACHE_ENTRIES = 100_000
const cachedUtf8 = (s: string): Buffer => {
  if (s.length > SHORT_NAME) return Buffer.from(s, "utf8")
  let b = utf8Cache.get(s)
  if (b === undefined) {
    if (utf8Cache.size >= UTF8_CACHE_ENTRIES) utf8Cache.clear()
    b = Buffer.from(s, "utf8")
    utf8Cache.set(s, b)
  }
  return b
}

/** Short header values (schema ids) repeat on every record; long ones (ids, trace context) do not. */
const SHORT_VALUE = 8

const encodeHeaders = (h: Readonly<Record<string, string>>, bytes: KafkaHeaderBytes | undefined): Map<Buffer, Buffer> => {
  const out = new Map<Buffer, Buffer>()
  for (const k in h) {
    const v = h[k]!
    const raw = sentHeaderBytes(bytes, k)
    out.set(cachedUtf8(k), raw !== undefined ? toBuffer(raw) : v.length <= SHORT_VALUE ? cachedUtf8(v) : Buffer.from(v, "utf8"))
  }
  return out
}

interface PMessage {
  topic: string
  key?: Buffer
  value?: Buffer
  headers?: Map<Buffer, Buffer>
  partition?: number
  timestamp?: bigint
}

/** Built field by field: object spreads per record showed in produce profiles. */
const toMessage = (r: ProducerRecord): PMessage => {
  const m: PMessage = { topic: r.topic }
  if (r.keyBytes !== undefined) m.key = toBuffer(r.keyBytes)
  else if (r.key !== null) m.key = cachedUtf8(r.key)
  if (r.value !== null) m.value = toBuffer(r.value)
  if (r.headers !== undefined) m.headers = encodeHeaders(r.headers, r.headerBytes)
  if (r.partition !== undefined) m.partition = r.partition
  if (r.timestamp !== undefined) m.timestamp = BigInt(r.timestamp)
  return m
}

const OFFSET_OUT_OF_RANGE = 1

type FetchResponse = Awaited<ReturnType<PConsumer["fetch"]>>

// ---------------------------------------------------------------------------

export const layerPlatformatic = (options: PlatformaticOptions) =>
  Layer.effectContext(Effect.gen(function*() {
    // Loaded with the layer, not the module: programs that refuse their options, print --help
    // or run the embedded default never pay for it (about 0.7 s of CPU).
    const {
      Admin,
      compressionsAlgorithms,
      compressionsAlgorithmsByBitmask,
      ConfigResourceTypes,
      ConfigSources,
      Consumer: PConsumer,
      FetchIsolationLevels,
      findErrorBy,
      IncrementalAlterConfigOperationTypes,
      ListOffsetTimestamps,
      Producer: PProducer,
      ProduceAcks,
      readKnownTaggedFields,
      ResponseError,
      UnsupportedCompressionError
    } = yield* Effect.promise(() => import("@platformatic/kafka"))
    // A batch its decoders fail on fails the consumer at once, naming the codec (compression.ts).
    guardPlatformaticCodecs(compressionsAlgorithms, UnsupportedCompressionError)
    // Fetch responses with their record batches as bytes, read by K2 (platformaticFetch.ts).
    const fetchParser = makeFetchParser(
      readKnownTaggedFields as unknown as Parameters<typeof makeFetchParser>[0],
      ResponseError as unknown as Parameters<typeof makeFetchParser>[1]
    )
    const decompressIn = decompressingIn(compressionsAlgorithmsByBitmask as never, UnsupportedCompressionError)
    const clientId = options.clientId ?? "k2"
    const bootstrapBrokers = [...options.brokers]
    const base = { clientId, bootstrapBrokers, retries: 8, retryDelay: 250, ...platformaticSecurity(options.security, bootstrapBrokers) }
    const classify = (operation: string, cause: unknown, topic?: string, target?: Target) => fromPlatformatic(operation, cause, topic, options.security, target)
    const attempt = attemptWith(options.security)

    const admin = new Admin({ ...base })
    // Not waited for: the admin has nothing to flush, and its connect under way (the first contact,
    // cut short when the wait runs out, ADR-38) would hold the scope until its connect timeout.
    yield* Effect.addFinalizer(() => Effect.sync(() => void admin.close().catch(() => undefined)))

    // Java's partitioner for keyed records (the producer takes the result modulo the partition count).
    let roundRobin = 0
    const partitioner: Partitioner<Buffer, Buffer, Buffer, Buffer> = (_message, key) =>
      key !== undefined && key !== null ? murmur2(key) & 0x7fffffff : (roundRobin++ & 0x7fffffff)
    const producer = new PProducer({
      ...base,
      ...(options.producerRidesOutRestart === true ? RESTART_RETRIES : {}),
      idempotent: true,
      acks: ProduceAcks.ALL,
      partitioner,
      timeout: 30_000
    })
    yield* Effect.addFinalizer(() => closeWithin("producer", () => producer.close(true)))

    // -------------------------------------------------------------------------
    // KafkaSource

    const subscribe = <E, R>(opts: SubscribeOptions<E, R>) =>
      Effect.gen(function*() {
        const sessionTimeout = opts.sessionTimeoutMs ?? 30_000
        const maxBytesPerPartition = options.maxBytesPerPartition ?? 256 * 1024
        const consumer = new PConsumer({
          ...base,
          clientId: opts.clientId ?? clientId,
          groupId: opts.groupId,
          autocommit: false,
          sessionTimeout,
          rebalanceTimeout: sessionTimeout,
          heartbeatInterval: Math.min(HEARTBEAT_MS, Math.floor(sessionTimeout / 3)),
          requestTimeout: sessionTimeout + JOIN_WAIT_MARGIN_MS,
          maxWaitTime: MAX_WAIT_TIME_MS,
          minBytes: 1,
          maxBytes: MAX_FETCH_BYTES,
          isolationLevel: FetchIsolationLevels.READ_COMMITTED
        })
        const topics = [...opts.topics]
        // The consumer's own connections, its Fetch responses parsed by K2 (one pool: platformatic keeps a fetch session per pool).
        const fetchPool = rawFetchPool(() => consumer.connections as never, fetchParser as (c: number, k: number, v: number, r: PReader) => unknown)
        /** A failure of this member: a refusal names its group and topics. */
        const inGroup = (operation: string, cause: unknown, topic?: string) => classify(operation, cause, topic, { topics, group: opts.groupId })
        const groupOptions = {
          sessionTimeout,
          rebalanceTimeout: sessionTimeout,
          heartbeatInterval: Math.min(HEARTBEAT_MS, Math.floor(sessionTimeout / 3)),
          // Its round robin deals the leader's topics to every member: members of one group with
          // different --topics need an assignment by subscription (assignor.ts).
          partitionAssigner: platformaticAssigner
        }
        let running = true
        let rejoining = false
        const wakeup = new Wakeup()
        const wake = () => wakeup.wake()
        const sleep = (ms: number) => wakeup.sleep(ms)

        const committed = async (tps: ReadonlyArray<TopicPartition>) => {
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

        const watermarks = async (topic: string): Promise<ReadonlyArray<PartitionWatermarks>> => {
          const [low, high] = await Promise.all([
            consumer.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.EARLIEST }),
            consumer.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.LATEST })
          ])
          const lows = low.get(topic) ?? []
          const highs = high.get(topic) ?? []
          return highs.map((h, partition) => ({ topic, partition, low: lows[partition] ?? 0n, high: h }))
        }

        const core = yield* makeConsumerCore(opts, {
          // Positions live in the core: the fetch loop asks it for them on every fetch.
          seek: () => wake(),
          pause: () => undefined,
          resume: () => wake(),
          committed,
          watermarks,
          commit: async (offsets) => {
            // Commits of partitions this member does not own are ignored (platformatic would rejoin
            // and commit them under the new generation, moving another member's offsets).
            const owned = new Set(Effect.runSync(core.consumer.assignment).map(tpKeyOf))
            const mine = offsets.filter((o) => owned.has(tpKey(o.topic, o.partition)))
            if (mine.length === 0) return
            await consumer.commit({
              offsets: mine.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, leaderEpoch: -1 }))
            })
          }
        }, inGroup)

        consumer.on("consumer:group:rebalance", () => {
          rejoining = true
        })
        consumer.on("consumer:group:join", (payload) => {
          rejoining = false
          const tps = (payload.assignments ?? []).flatMap((a) => a.partitions.map((partition) => ({ topic: a.topic, partition })))
          void core.assign(tps)
          wake()
        })
        // A failed rejoin (retries exhausted) is emitted as 'error': without a listener it would throw.
        consumer.on("error", (e: unknown) => {
          if (running) core.fail(inGroup("rebalance", e, topics[0]))
        })

        /** Partitions whose position is below the log start (records deleted): fetch from `to` while the core still wants `from`. */
        const skips = new Map<TpKey, { from: bigint; to: bigint }>()
        let failures = 0

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
              if (!running) return failed
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
                  const target = (opts.startFrom ?? "earliest") === "earliest" ? m.low : m.high
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
            if (!running) return failed
            await core.offer(b.tp, b.pos, b.records, b.next, b.hw, b.topicId, b.logStart)
          }
          return failed
        }

        const fetchOnce = async (): Promise<boolean> => {
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
          if (grownSinceJoin(metadata)) {
            rejoin()
            return true
          }
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
                response: (findErrorBy(error as Error, "code", "PLT_KFK_RESPONSE") as { response?: FetchResponse } | null)?.response,
                error
              })
            )
          ))
          const errors: Array<unknown> = []
          for (const { response, error } of results) {
            if (!running) return true
            if (response !== undefined && response.errorCode === 0) {
              // A response with partition errors still carries the other partitions' records.
              const failed = await processResponse(response, topicNames, requested)
              // Offset-out-of-range partitions were reset; any other partition error is reported as the client's error.
              if (error !== undefined && (failed || findErrorBy(error as Error, "apiId", "OFFSET_OUT_OF_RANGE") === null)) {
                errors.push(error)
              }
            } else if (error !== undefined) {
              errors.push(error)
            }
          }
          if (errors.length === 0) return true
          const error = inGroup("fetch", errors.length === 1 ? errors[0] : new AggregateError(errors, "fetch failed"), topics[0])
          // A leader that does not know the partition (metadata older than a reassignment or a broker's
          // restart) is stale metadata, as kafkajs and Java take it: read again after a backoff. A
          // topic deleted fails the metadata read next (UnknownTopic, not retried).
          if (error.reason._tag === "UnknownTopic") {
            throw kafkaError(new KafkaUnavailable({ operation: "fetch", detail: `a leader does not know a partition fetched (stale metadata?): ${error.message}` }))
          }
          throw error
        }

        /**
         * Partition counts of the subscribed topics as this member last saw them. The classic group
         * protocol rebalances only when a member asks: Java's consumer rejoins when its metadata
         * shows a subscribed topic grown; platformatic does not, so the new partitions stayed
         * unassigned (their records unread, their lag unseen) until a member came or went.
         */
        const knownCounts = new Map<string, number>()
        const grownSinceJoin = (metadata: { readonly topics: ReadonlyMap<string, { readonly partitionsCount: number }> }) => {
          let grown = false
          for (const topic of topics) {
            const n = metadata.topics.get(topic)?.partitionsCount
            if (n === undefined) continue
            const known = knownCounts.get(topic)
            if (known !== undefined && n > known) grown = true
            knownCounts.set(topic, n)
          }
          return grown
        }
        /** Joins again: the broker rebalances when the leader rejoins, and every member sees the growth. */
        const rejoin = () => {
          rejoining = true
          consumer.joinGroup(groupOptions).then(
            () => {
              rejoining = false
              wake()
            },
            (e: unknown) => {
              rejoining = false
              if (running) core.fail(inGroup("rebalance", e, topics[0]))
            }
          )
        }

        const fetchLoop = async () => {
          while (running) {
            if (rejoining) {
              await sleep(50)
              continue
            }
            try {
              const fetched = await fetchOnce()
              failures = 0
              if (!fetched) await sleep(100)
            } catch (e) {
              if (!running) return
              const error = inGroup("fetch", e, topics[0])
              failures++
              // Transient trouble (leader moving, broker restarting): back off and fetch again,
              // for about a minute before the consumer fails.
              if (!error.retryable || failures > 12) {
                core.fail(error)
                return
              }
              consumer.clearMetadata()
              await sleep(Math.min(250 * 2 ** (failures - 1), 8_000))
            }
          }
        }

        // Finalizer before the fork: the fetch fiber is interrupted first, then the member leaves.
        yield* Effect.addFinalizer(() =>
          Effect.promise(async () => {
            running = false
            wake()
            await core.revokeAll()
          }).pipe(Effect.andThen(closeWithin("consumer", () => consumer.close(true))))
        )

        yield* attemptWith(options.security, opts.groupId)("subscribe", async () => {
          // Unknown topics fail here (the group would otherwise wait for their metadata).
          grownSinceJoin(await consumer.metadata({ topics }))
          consumer.topics.trackAll(...topics)
          await consumer.joinGroup(groupOptions)
        }, topics)
        yield* Effect.forkScoped(Effect.promise(() => fetchLoop().catch((e) => core.fail(inGroup("fetch", e, topics[0])))))
        return core.consumer
      })

    const source = KafkaSource.of({ client: "platformatic", subscribe })

    // -------------------------------------------------------------------------
    // KafkaSink

    const checkPartitions = async (records: ReadonlyArray<ProducerRecord>) => {
      const explicit = records.filter((r) => r.partition !== undefined)
      if (explicit.length === 0) return
      const topics = [...new Set(explicit.map((r) => r.topic))]
      const missing = (metadata: Awaited<ReturnType<typeof producer.metadata>>) =>
        explicit.find((r) => {
          const n = metadata.topics.get(r.topic)?.partitionsCount ?? 0
          return !Number.isInteger(r.partition) || r.partition! < 0 || r.partition! >= n
        })
      // The producer's metadata may predate partitions just added: ask the broker before refusing
      // (the producer's send reads the same, now fresh, metadata).
      const r = missing(await producer.metadata({ topics })) !== undefined
        ? missing(await producer.metadata({ topics, forceUpdate: true }))
        : undefined
      if (r !== undefined) {
        throw kafkaError(new KafkaRejected({ operation: "send", detail: `${r.topic} has no partition ${r.partition}` }))
      }
    }

    type Described = ReadonlyArray<{ readonly resourceName: string; readonly configs: ReadonlyArray<{ readonly name: string; readonly value?: string | null | undefined }> }>
    const limitsIn = (resources: Described) =>
      topicLimits(resources.map((r) => [r.resourceName, r.configs.find((e) => e.name === "max.message.bytes")?.value] as const))
    const limits = new MessageLimits({
      topics: (names) =>
        attempt("describeTopics", () =>
          admin.describeConfigs({
            includeSynonyms: false,
            resources: names.map((name) => ({ resourceType: ConfigResourceTypes.TOPIC, resourceName: name, configurationKeys: ["max.message.bytes"] }))
          }), [...names]).pipe(Effect.map(limitsIn)),
      broker: () =>
        attempt("describeTopics", async () => {
          const { brokers } = await admin.metadata({ topics: [] })
          const [node] = brokers.keys()
          if (node === undefined) return undefined
          const [described] = await admin.describeConfigs({
            includeSynonyms: false,
            resources: [{ resourceType: ConfigResourceTypes.BROKER, resourceName: String(node), configurationKeys: ["message.max.bytes"] }]
          })
          return limitOf(described?.configs.find((e) => e.name === "message.max.bytes")?.value)
        })
    })

    const sink = KafkaSink.of({
      client: "platformatic",
      // platformatic sends a partition's records of a send as one batch: requests under the limit (batchBytes.ts).
      send: tracedSend(inBatches(Effect.fnUntraced(function*(records: ReadonlyArray<ProducerRecord>) {
        if (records.length === 0) return []
        const res = yield* attempt("send", async () => {
          await checkPartitions(records)
          return producer.send({ messages: records.map(toMessage) })
        }, [...new Set(records.map((r) => r.topic))])
        return (res.offsets ?? []).map((o): RecordMetadata => ({ topic: o.topic, partition: o.partition, baseOffset: o.offset >= 0n ? o.offset : null }))
      }), limits)),
      // send resolves only once acknowledged: nothing is buffered.
      flush: () => Effect.void
    })

    // -------------------------------------------------------------------------
    // KafkaAdmin

    const describeTopics = Effect.fn("KafkaAdmin.describeTopics")(function*(names: ReadonlyArray<string>) {
      if (names.length === 0) return []
      const meta = yield* attempt("describeTopics", () => admin.metadata({ topics: [...names], forceUpdate: true }), names[0])
      const configs = yield* attempt("describeTopics", () =>
        admin.describeConfigs({
          includeSynonyms: false,
          resources: names.map((name) => ({ resourceType: ConfigResourceTypes.TOPIC, resourceName: name }))
        }), names).pipe(configsUnlessRefused)
      // The sinks cut their sends under these limits, read here at ensureTopics (ADR-78).
      if (configs !== undefined) limits.learn(limitsIn(configs))
      return names.map((name) => {
        if (configs === undefined) return { name, partitions: meta.topics.get(name)?.partitionsCount ?? 0 }
        const c = configs.find((r) => r.resourceName === name)
        const config: Record<string, string> = {}
        for (const e of c?.configs ?? []) {
          if (e.configSource === ConfigSources.DYNAMIC_TOPIC_CONFIG && e.value != null) config[e.name] = e.value
        }
        return { name, partitions: meta.topics.get(name)?.partitionsCount ?? 0, config }
      })
    })

    /**
     * Every partition of `names` led and, for the topics `atLeast` names, as many partitions as it
     * says: CreatePartitions answers while the broker's metadata may still show the old count, all led.
     */
    const waitForLeaders = (operation: string, names: ReadonlyArray<string>, atLeast: ReadonlyMap<string, number> = new Map()) =>
      untilLed(operation, names, async () => {
        const meta = await admin.metadata({ topics: [...names], forceUpdate: true })
        return names.every((n) => {
          const t = meta.topics.get(n)
          return t !== undefined && t.partitions.length === t.partitionsCount && t.partitionsCount >= (atLeast.get(n) ?? 0) &&
            t.partitions.every((p) => p !== undefined && p.leader >= 0)
        })
      })

    const listTopics = () => attempt("listTopics", () => admin.listTopics())

    const adminService = KafkaAdmin.of({
      ensureTopics: ensureTopicsWith({
        list: listTopics,
        create: (missing) =>
          // One request per topic: CreateTopics' configs apply to every topic of a request.
          Effect.forEach(missing, (s) =>
            attempt("createTopics", () =>
              admin.createTopics({
                topics: [s.name],
                partitions: s.partitions,
                replicas: -1,
                configs: topicConfigEntries(s).map(([name, value]) => ({ name, value }))
              }).then(
                () => [],
                // Another client created it since the listing: ensureTopics checks it as existing.
                (e: unknown) => findErrorBy(e as Error, "apiId", "TOPIC_ALREADY_EXISTS") !== null ? [s.name] : Promise.reject(e)
              ), s.name), { concurrency: 4 }).pipe(
              Effect.tap(attempt("createTopics", () => waitForLeaders("createTopics", missing.map((s) => s.name)), missing[0]!.name)),
              Effect.map((raced) => raced.flat())
            ),
        describe: describeTopics,
        grow: (topics) =>
          attempt("createPartitions", () =>
            admin.createPartitions({ topics: topics.map((s) => ({ name: s.name, count: s.partitions })) }), topics[0]!.name).pipe(
              Effect.andThen(attempt("createPartitions", () =>
                waitForLeaders("createPartitions", topics.map((s) => s.name), new Map(topics.map((s) => [s.name, s.partitions]))), topics[0]!.name))
            ),
        alter: (topics) =>
          // Incremental: only the spec's keys are set, other topic overrides stay.
          attempt("alterConfigs", () =>
            admin.incrementalAlterConfigs({
              resources: topics.map((s) => ({
                resourceType: ConfigResourceTypes.TOPIC,
                resourceName: s.name,
                configs: topicConfigEntries(s).map(([name, value]) => ({
                  name,
                  configOperation: IncrementalAlterConfigOperationTypes.SET,
                  value
                }))
              }))
            }), topics[0]!.name).pipe(Effect.asVoid)
      }),
      describeTopics,
      listTopics,
      deleteTopics: (names) =>
        names.length === 0 ? Effect.void : attempt("deleteTopics", () => admin.deleteTopics({ topics: [...names] }), names[0])
    })

    return Context.make(KafkaSource, source).pipe(
      Context.add(KafkaSink, sink),
      Context.add(KafkaAdmin, adminService)
    )
  }))
