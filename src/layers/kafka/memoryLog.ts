/**
 * The in-memory broker's topics: partitioned logs with offsets and low watermarks, created, grown,
 * configured, written to (a send's batches checked against max.message.bytes) and trimmed.
 * MemoryBroker (memoryBroker.ts) adds the consumer groups.
 */
import { type TopicSpec, topicConfigEntries } from "../../domain/wire.ts"
import type { ProducerRecord, RecordMetadata } from "../../services/KafkaSink.ts"
import { kafkaError, type KafkaRecord, KafkaRejected, UnknownTopic } from "../../services/KafkaSource.ts"
import { DEFAULT_MAX_MESSAGE_BYTES } from "./batchBytes.ts"
import { batchesOf, refuseOversized } from "./memoryBatches.ts"
import { readBack } from "./memoryRecords.ts"
import { limitOf } from "./messageLimits.ts"
import { refusedTopicConfig, refusedTopicName } from "./memoryTopicRules.ts"
import { partitionForKey } from "./partitioner.ts"
import { Wakeup } from "./wakeup.ts"

export interface MemTopic {
  readonly name: string
  /** Unique per creation, as Kafka's topic ids: a topic deleted and made again is another log. */
  readonly id: string
  /** The records still held: `partitions[p][i]` has offset `base[p] + i`. */
  readonly partitions: Array<Array<KafkaRecord>>
  /** Records released from the front of each partition (its low watermark). */
  readonly base: Array<number>
  config: Record<string, string>
}

export class MemoryLog {
  readonly topics = new Map<string, MemTopic>()
  /** The broker's message.max.bytes: the max.message.bytes of a topic without its own. */
  messageMaxBytes = DEFAULT_MAX_MESSAGE_BYTES
  private readonly wakeup = new Wakeup()
  private roundRobin = 0

  /** Wake every fetcher (new records, seek, resume, assignment). */
  notify(): void {
    this.wakeup.wake()
  }

  /** Resolves on the next notify, or after `ms`. */
  waitForChange(ms: number): Promise<void> {
    return this.wakeup.sleep(ms)
  }

  createTopic(spec: TopicSpec): boolean {
    const existing = this.topics.get(spec.name)
    if (existing === undefined && !(Number.isInteger(spec.partitions) && spec.partitions >= 1)) {
      // As a broker answers INVALID_PARTITIONS.
      throw kafkaError(new KafkaRejected({ operation: "createTopics", detail: `${spec.name}: ${spec.partitions} partitions (at least 1)` }))
    }
    if (existing !== undefined) return false
    const refused = refusedTopicName(spec.name, this.topics.keys()) ?? refusedTopicConfig(spec)
    if (refused !== undefined) throw kafkaError(new KafkaRejected({ operation: "createTopics", detail: refused }))
    this.topics.set(spec.name, {
      name: spec.name,
      id: crypto.randomUUID(),
      partitions: Array.from({ length: spec.partitions }, () => []),
      base: Array.from({ length: spec.partitions }, () => 0),
      config: Object.fromEntries(topicConfigEntries(spec))
    })
    return true
  }

  /** Raises the topic's partition count to `partitions` (CreatePartitions). */
  addPartitions(name: string, partitions: number): void {
    const t = this.topic(name)
    while (t.partitions.length < partitions) {
      t.partitions.push([])
      t.base.push(0)
    }
  }

  /** Sets the spec's configs, leaving the topic's other overrides (IncrementalAlterConfigs). */
  setConfig(spec: TopicSpec): void {
    const t = this.topic(spec.name)
    const refused = refusedTopicConfig(spec)
    if (refused !== undefined) throw kafkaError(new KafkaRejected({ operation: "alterConfigs", detail: refused }))
    Object.assign(t.config, Object.fromEntries(topicConfigEntries(spec)))
  }

  describe(name: string): { readonly name: string; readonly partitions: number; readonly config: Record<string, string> } {
    const t = this.topic(name)
    return { name, partitions: t.partitions.length, config: { ...t.config } }
  }

  /** The topic's max.message.bytes: its own, else the broker's (as DescribeConfigs of the topic gives it). */
  maxMessageBytes(name: string): number {
    return limitOf(this.topic(name).config["max.message.bytes"]) ?? this.messageMaxBytes
  }

  topic(name: string): MemTopic {
    const t = this.topics.get(name)
    if (t === undefined) throw kafkaError(new UnknownTopic({ topic: name }))
    return t
  }

  /** The partition a record goes to; fails as a broker does for an unknown topic or partition. */
  partitionOf(r: ProducerRecord): number {
    const t = this.topic(r.topic)
    const n = t.partitions.length
    const key = r.keyBytes ?? r.key
    const partition = r.partition ?? (key !== null ? partitionForKey(key, n) : this.roundRobin++ % n)
    if (t.partitions[partition] === undefined) {
      throw kafkaError(new KafkaRejected({ operation: "send", detail: `${r.topic} has no partition ${partition}` }))
    }
    return partition
  }

  /**
   * Appends a send's records, each partition's records held as one record batch to its topic's
   * max.message.bytes, as a broker does: a batch larger is refused (MESSAGE_TOO_LARGE, not
   * retryable) and the send fails, while its other partitions' batches are written (a produce
   * request is answered partition by partition). Both clients send one partition's records of a
   * send as one batch (kafkajs' sendBatch, platformatic's send: neither splits one under the limit,
   * unlike Java's batch.size), and the broker checks the batch as sent, uncompressed (K2's clients
   * compress nothing): the sizes here are the broker's to the byte (measured, docs/kafka.md); K2's
   * sinks cut their sends under their topics' limits before (batchBytes.ts, ADR-73, ADR-78). A
   * record for a partition the topic lacks fails the send before anything is written, as the
   * clients check their metadata first.
   */
  produce(records: ReadonlyArray<ProducerRecord>): Array<RecordMetadata> {
    const partitions = records.map((r) => this.partitionOf(r))
    const { batches, batchOf } = batchesOf(records, partitions)
    const refusal = refuseOversized(batches.values(), (topic) => this.maxMessageBytes(topic))
    const out = new Array<RecordMetadata>(records.length)
    for (let i = 0; i < records.length; i++) {
      if (!batchOf[i]!.refused) out[i] = this.append(records[i]!, partitions[i]!)
    }
    if (refusal !== undefined) throw refusal
    return out
  }

  private append(r: ProducerRecord, partition: number): RecordMetadata {
    const t = this.topic(r.topic)
    const log = t.partitions[partition]!
    const offset = BigInt(t.base[partition]! + log.length)
    log.push(readBack(r, offset))
    return { topic: r.topic, partition, baseOffset: offset }
  }

  /** The partition's end offset (its high watermark). */
  endOffset(topic: string, partition: number): number {
    const t = this.topic(topic)
    return t.base[partition]! + t.partitions[partition]!.length
  }

  /** Deletes the partition's records below `before`, as retention or DeleteRecords does. */
  deleteRecords(topic: string, partition: number, before: number): void {
    const t = this.topic(topic)
    const drop = Math.min(before, this.endOffset(topic, partition)) - t.base[partition]!
    if (drop <= 0) return
    t.partitions[partition]!.splice(0, drop)
    t.base[partition] = t.base[partition]! + drop
  }
}
