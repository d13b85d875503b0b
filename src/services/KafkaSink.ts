/**
 * Producing to Kafka (KafkaSink) and administering topics (KafkaAdmin).
 *
 * The producer is idempotent (enable.idempotence: exactly one copy of each record per partition
 * despite retries, in order) with acks=all. Records are keyed by symbol, so the default
 * partitioner (murmur2, as the Java client) puts all of a symbol's events in one partition.
 */
import { Context, type Effect } from "effect"
import type { TopicSpec } from "../domain/wire.ts"
import type { KafkaError, KafkaHeaderBytes, KafkaHeaderEntry, KafkaHeaders } from "./KafkaSource.ts"

export interface ProducerRecord {
  readonly topic: string
  /** The symbol for market data. */
  readonly key: string | null
  readonly value: Uint8Array | null
  /** UTF-8 header values: k2-schema-id, k2-correlation-id, traceparent (see domain/wire.ts Header). */
  readonly headers?: KafkaHeaders
  /** Sent as the key instead of `key`'s text (a record's key that was not UTF-8, dead-lettered). */
  readonly keyBytes?: Uint8Array
  /** Sent instead of these headers' text. */
  readonly headerBytes?: KafkaHeaderBytes
  /**
   * Sent instead of `headers` and `headerBytes`: every header in order, a name maybe more than once
   * (a dead letter of a record whose names repeat; kafkajs groups a name's values at its first place).
   */
  readonly headerList?: ReadonlyArray<KafkaHeaderEntry>
  /** Explicit partition; default: murmur2(key) like the Java client. One the topic lacks fails the send (KafkaRejected), nothing of it written. */
  readonly partition?: number
  /** Epoch ms; default now. */
  readonly timestamp?: number
}

export interface RecordMetadata {
  readonly topic: string
  readonly partition: number
  /** Offset of the first record of this send (of its request, when it took several) in that partition (when the client reports it). */
  readonly baseOffset: bigint | null
}

export class KafkaSink extends Context.Service<KafkaSink, {
  readonly client: string
  /**
   * Send records (any topics, any partitions) and wait for the broker's acknowledgement of all of
   * them. Order is preserved per partition. Fails with KafkaError (retryable when transient). The
   * client's own retries inside a send never duplicate; a caller's retry after a failed send may
   * under platformatic (it starts a new producer session after a failure), so it is at least once;
   * kafkajs resends a failed request under the same producer id and sequences, deduplicated by the
   * broker, but a request of the send already acknowledged under new ones (ADR-89). A send of
   * any size: one larger than its topics' max.message.bytes (read once a topic, never above the
   * default) goes as several requests, one after another, each under it (ADR-73, ADR-78); a record
   * too large alone fails the send (KafkaRejected).
   */
  send(records: ReadonlyArray<ProducerRecord>): Effect.Effect<ReadonlyArray<RecordMetadata>, KafkaError>
  /** Wait until everything sent so far is acknowledged. */
  flush(): Effect.Effect<void, KafkaError>
}>()("k2/services/KafkaSink") {}

export interface TopicDescription {
  readonly name: string
  readonly partitions: number
  /**
   * Topic configs that differ from the broker defaults (retention.ms, compression.type ...); absent
   * when the principal may not read them (no DESCRIBE_CONFIGS on the topic).
   */
  readonly config?: Readonly<Record<string, string>>
}

export interface EnsureResult {
  readonly created: ReadonlyArray<string>
  /** Topics that existed; their configs were altered to the spec when they differed. */
  readonly existing: ReadonlyArray<string>
  /** Topics whose partition count was raised (never lowered: Kafka cannot). */
  readonly grown: ReadonlyArray<string>
}

export class KafkaAdmin extends Context.Service<KafkaAdmin, {
  /**
   * Make every topic exist as specified: create the missing, raise partition counts that are
   * lower than the spec, set retention/compression configs. Idempotent. A topic with MORE
   * partitions than the spec is left as is (reported in `existing`). Specs naming a topic twice,
   * a new topic with fewer than 1 partition, a topic name or config value the broker refuses
   * (INVALID_TOPIC_EXCEPTION, INVALID_CONFIG), are rejected (KafkaRejected). Existing topics need no
   * permission beyond DESCRIBE: configs the principal may not read or alter, and partitions it may not
   * add, are left as they are with a warning; a missing topic it may not create fails (NotAuthorized).
   */
  ensureTopics(specs: ReadonlyArray<TopicSpec>): Effect.Effect<EnsureResult, KafkaError>
  describeTopics(names: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<TopicDescription>, KafkaError>
  listTopics(): Effect.Effect<ReadonlyArray<string>, KafkaError>
  deleteTopics(names: ReadonlyArray<string>): Effect.Effect<void, KafkaError>
}>()("k2/services/KafkaAdmin") {}
