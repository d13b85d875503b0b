/**
 * Consuming from Kafka as a member of a consumer group, built for exactly-once ingestion where
 * the TABLE (not the group) holds the truth about what has been ingested.
 *
 * ```ts
 * const consumer = yield* source.subscribe({
 *   groupId: "k2-ingest",
 *   topics: ["market.equities.trades.asx"],
 *   // Called for NEWLY assigned partitions, before any record of them is delivered. Return
 *   // where each must start (the next offset after the table's marker). Partitions left out
 *   // start at the group's committed offset, or `startFrom` when it has none.
 *   onAssign: (tps) => readMarkers(tps),
 *   // Called for partitions this member lost (rebalance, shutdown). Their batches still
 *   // queued are dropped; later commits for them are rejected by the broker or ignored.
 *   onRevoke: (tps) => stopWorkers(tps)
 * })
 * yield* consumer.batches.pipe(Stream.runForEach((batch) => routeToWorker(batch)))
 * // after the catalog commit succeeded:
 * yield* consumer.commit([{ topic, partition, offset: nextOffset }])
 * ```
 *
 * Guarantees, identical across the kafkajs, platformatic and memory layers:
 * - ordering: the batches of one partition arrive in offset order, contiguous from the
 *   position (seek target or committed offset) with no gaps except compacted or transaction
 *   control offsets, and no overlap. Batches of different partitions interleave.
 * - seek(tp, o): the next batch of tp starts at o exactly (offset `o` or, if compacted away,
 *   the next one); batches of tp fetched before the seek and not yet taken are discarded.
 * - pause(tps) stops delivery of those partitions (within the batches already taken) until
 *   resume; the consumer stays in the group (heartbeats continue).
 * - rebalance: a partition kept across a rebalance continues where it was (no onAssign, no
 *   redelivery); a partition gained calls onAssign first; a partition lost calls onRevoke.
 *   A partition lost and gained again is the new assignment's only once its onAssign is asked
 *   (after the old one's onRevoke returned): seek, pause and resume of it meanwhile belong to the
 *   old assignment and are ignored (seek: NotAssigned), so they cannot leave it paused for good.
 * - the subscription is scoped: closing the scope leaves the group cleanly (after onRevoke of
 *   every assigned partition).
 * - offsets are bigint everywhere; a commit offset is the NEXT offset to read (Kafka's rule).
 */
import { Context, type Effect, Schema, type Scope, type Stream } from "effect"

export interface TopicPartition {
  readonly topic: string
  readonly partition: number
}

/** `topic:partition`, the key of per-partition maps. */
export type TpKey = string
export const tpKey = (topic: string, partition: number): TpKey => `${topic}:${partition}`
export const tpKeyOf = (tp: TopicPartition): TpKey => `${tp.topic}:${tp.partition}`

/** Header values as UTF-8 strings (the values K2 writes are all text). */
export type KafkaHeaders = Readonly<Record<string, string>>

/** Header values as bytes, where they are not UTF-8 text. */
export type KafkaHeaderBytes = Readonly<Record<string, Uint8Array>>

/** One header as the record holds it: its name, and its value's bytes (a value of length -1 as none). */
export type KafkaHeaderEntry = readonly [name: string, value: Uint8Array]

export interface KafkaRecord {
  readonly offset: bigint
  /** The symbol for market data (UTF-8); null when the producer sent no key. */
  readonly key: string | null
  /** Raw value bytes (a framed Avro value for market data); null for a tombstone. */
  readonly value: Uint8Array | null
  /** Read-only: records with the same header bytes may share one object (platformatic). */
  readonly headers: KafkaHeaders
  /**
   * The key's bytes, present only when they may not be UTF-8 text (`key` holds them decoded, with
   * U+FFFD in place of what is not): a dead letter carries the key as it came.
   */
  readonly keyBytes?: Uint8Array
  /** As `keyBytes`, for header values: the bytes of those whose text holds U+FFFD. */
  readonly headerBytes?: KafkaHeaderBytes
  /**
   * Every header in order, present only when a name repeats (Kafka allows it; `headers` keeps a
   * name's last value): a dead letter carries them all (ADR-105).
   */
  readonly headerList?: ReadonlyArray<KafkaHeaderEntry>
  /** Record timestamp, epoch milliseconds (create time unless the topic says log-append time). */
  readonly timestamp: number
}

/**
 * Records of ONE partition, contiguous, in offset order. `records` is empty only when the offsets
 * from `fromOffset` to `nextOffset` hold nothing to deliver (transaction commit / abort markers,
 * records of aborted transactions): such a batch only moves the partition's position, as the Java
 * consumer's position moves past them, so a log that ends with a marker reads as caught up.
 */
export interface PartitionBatch {
  readonly topic: string
  readonly partition: number
  readonly records: ReadonlyArray<KafkaRecord>
  /**
   * The partition's position this batch continues from: the previous batch's `nextOffset`, or
   * the seek target (or start position). The batch holds the partition's records from here up
   * to `nextOffset` (offsets may be missing between only where the log has none: compaction,
   * transaction markers, or records retention deleted before they were read). A consumer that moved on (its own restart) tells a batch fetched for an
   * older position by this.
   */
  readonly fromOffset: bigint
  /** Offset of the first record; `nextOffset` when `records` is empty. */
  readonly firstOffset: bigint
  /** The next offset to read after this batch (last offset + 1): what to commit once it is durable. */
  readonly nextOffset: bigint
  /**
   * The partition's high-water mark when fetched (for read_committed consumers the last stable
   * offset): lag = highWatermark - nextOffset.
   */
  readonly highWatermark: bigint
  /**
   * The topic's id, when the client tells it (platformatic and memory do, kafkajs does not): a
   * topic deleted and made again under its name has a new one, and offsets of the old are not
   * positions in it.
   */
  readonly topicId?: string
  /**
   * Set only when the fetch began below the log's start: the records from `fromOffset` up to this
   * offset were deleted (retention, DeleteRecords) before they were read, and the batch continues
   * the partition from here. Gaps where the log holds no record (compaction, transaction markers,
   * aborted records) leave it unset: those offsets had nothing to read.
   */
  readonly logStartOffset?: bigint
}

export interface OffsetCommit {
  readonly topic: string
  readonly partition: number
  /** The next offset to read (last processed offset + 1). */
  readonly offset: bigint
}

export interface PartitionWatermarks {
  readonly topic: string
  readonly partition: number
  /** Earliest available offset (log start). */
  readonly low: bigint
  /** High-water mark (next offset to be written). */
  readonly high: bigint
}

export type StartFrom = "earliest" | "latest"

export interface SubscribeOptions<E = never, R = never> {
  readonly groupId: string
  readonly topics: ReadonlyArray<string>
  /**
   * Newly assigned partitions, before any of their records is delivered: return the offset each
   * must start from. Partitions missing from the map start at the committed group offset (or
   * `startFrom`). A failure, or a negative offset (KafkaRejected), fails the consumer (its `batches` stream).
   */
  readonly onAssign?: (assigned: ReadonlyArray<TopicPartition>) => Effect.Effect<ReadonlyMap<TpKey, bigint>, E, R>
  /** Partitions this member lost. Must not take long: the group waits for it during a rebalance. */
  readonly onRevoke?: (revoked: ReadonlyArray<TopicPartition>) => Effect.Effect<void, E, R>
  /** Where a partition with no committed offset and no onAssign answer starts. Default earliest. */
  readonly startFrom?: StartFrom
  /** Batches buffered between the client and `batches` (bounded). Default 16. */
  readonly bufferBatches?: number
  /** Client id reported to the broker. */
  readonly clientId?: string
  /** Session timeout (ms) of the group membership. Default 30 000. */
  readonly sessionTimeoutMs?: number
}

export interface Consumer {
  readonly groupId: string
  /**
   * Every delivered batch, in the guarantees above. Bounded: not pulling it stops fetching.
   * Fails with KafkaError when the client fails (or onAssign/onRevoke fail: their error E).
   * Consume it from ONE fiber and route batches to per-partition workers.
   */
  readonly batches: Stream.Stream<PartitionBatch, KafkaError>
  /** The partitions currently assigned to this member. */
  readonly assignment: Effect.Effect<ReadonlyArray<TopicPartition>>
  /** The next batch of tp starts at `offset` (never negative: KafkaRejected). tp must be assigned to this member. */
  seek(tp: TopicPartition, offset: bigint): Effect.Effect<void, KafkaError>
  /** Stop delivering these partitions (backpressure); the member stays in the group. */
  pause(tps: ReadonlyArray<TopicPartition>): Effect.Effect<void>
  resume(tps: ReadonlyArray<TopicPartition>): Effect.Effect<void>
  /** Commit group offsets (next offsets to read). For lag monitoring; never for recovery. */
  commit(offsets: ReadonlyArray<OffsetCommit>): Effect.Effect<void, KafkaError>
  /** The group's committed offsets for these partitions (null when none). */
  committed(tps: ReadonlyArray<TopicPartition>): Effect.Effect<ReadonlyMap<TpKey, bigint | null>, KafkaError>
  /** Low and high watermarks of every partition of a topic (for lag). */
  watermarks(topic: string): Effect.Effect<ReadonlyArray<PartitionWatermarks>, KafkaError>
}

// ---------------------------------------------------------------------------
// Errors

/** Broker unreachable, leader moving, request timed out, coordinator loading...: retry with backoff. */
export class KafkaUnavailable extends Schema.TaggedError<KafkaUnavailable>()("KafkaUnavailable", {
  operation: Schema.String,
  detail: Schema.String
}) {
  readonly retryable = true
  override get message() {
    return `kafka unavailable during ${this.operation}: ${this.detail}`
  }
}

/** The group rebalanced under us (stale generation, unknown member) during a commit: harmless for K2. */
export class RebalanceInProgress extends Schema.TaggedError<RebalanceInProgress>()("RebalanceInProgress", {
  operation: Schema.String,
  detail: Schema.String
}) {
  readonly retryable = true
  override get message() {
    return `group rebalanced during ${this.operation}: ${this.detail}`
  }
}

export class UnknownTopic extends Schema.TaggedError<UnknownTopic>()("UnknownTopic", {
  topic: Schema.String
}) {
  readonly retryable = false
  override get message() {
    return `unknown topic ${this.topic}`
  }
}

/** The partition is not assigned to this member (seek / commit of a revoked partition). */
export class NotAssigned extends Schema.TaggedError<NotAssigned>()("NotAssigned", {
  topic: Schema.String,
  partition: Schema.Number
}) {
  readonly retryable = false
  override get message() {
    return `${this.topic}:${this.partition} is not assigned to this consumer`
  }
}

/** The record or request is invalid (too large, bad topic config, authorisation...): do not retry. */
export class KafkaRejected extends Schema.TaggedError<KafkaRejected>()("KafkaRejected", {
  operation: Schema.String,
  detail: Schema.String
}) {
  readonly retryable = false
  override get message() {
    return `kafka rejected ${this.operation}: ${this.detail}`
  }
}

/**
 * The cluster's ACLs refused the principal an operation (TOPIC_, GROUP_, CLUSTER_,
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED): no retry grants a permission, so it is never waited
 * out as an outage (docs/kafka.md "ACLs").
 */
export class NotAuthorized extends Schema.TaggedError<NotAuthorized>()("NotAuthorized", {
  operation: Schema.String,
  /** The broker's error code, e.g. TOPIC_AUTHORIZATION_FAILED. */
  code: Schema.String,
  /** "topic market.equities.trades.asx.dlq", "group k2-ingest", "the cluster". */
  resource: Schema.String,
  /** The ACL operation(s) the principal needs on it, e.g. "WRITE". */
  needs: Schema.String,
  /** "User:k2", or what the principal is when K2 does not know its name. */
  principal: Schema.String
}) {
  readonly retryable = false
  override get message() {
    return `kafka refused ${this.operation} (${this.code}): ${this.principal} is not allowed ${this.needs} on ${this.resource}. ` +
      `Grant it in the cluster's ACLs (docs/kafka.md "ACLs"), or check K2_KAFKA_SASL_USERNAME`
  }
}

/** An onAssign / onRevoke callback failed; `cause` is its error. */
export class CallbackFailed extends Schema.TaggedError<CallbackFailed>()("CallbackFailed", {
  callback: Schema.Literals(["onAssign", "onRevoke"]),
  cause: Schema.Defect()
}) {
  readonly retryable = false
  override get message() {
    return `${this.callback} failed: ${String(this.cause)}`
  }
}

export class KafkaError extends Schema.TaggedError<KafkaError>()("KafkaError", {
  reason: Schema.Union([KafkaUnavailable, RebalanceInProgress, UnknownTopic, NotAssigned, KafkaRejected, NotAuthorized, CallbackFailed]),
  /**
   * A KafkaSink send made several requests (cut under max.message.bytes, batchBytes.ts) whose
   * first ones were acknowledged: how many of its records, from its start, they wrote. The failed
   * request may have written some of its own (its other partitions'); none after it went.
   */
  sentBefore: Schema.optional(Schema.Number)
}) {
  get retryable(): boolean {
    return this.reason.retryable
  }
  override get message() {
    return this.reason.message
  }
}

export type KafkaErrorReason = KafkaError["reason"]
export const kafkaError = (reason: KafkaErrorReason) => new KafkaError({ reason })

// ---------------------------------------------------------------------------

export class KafkaSource extends Context.Service<KafkaSource, {
  /** Which client implements it ("kafkajs", "platformatic", "memory"). */
  readonly client: string
  /** Join `groupId` and subscribe; leaves the group when the scope closes. */
  subscribe<E = never, R = never>(options: SubscribeOptions<E, R>): Effect.Effect<Consumer, KafkaError, Scope.Scope | R>
}>()("k2/services/KafkaSource") {}
