/**
 * The size K2's sinks cut each send under, per topic (ADR-78): the topic's max.message.bytes where
 * the principal may read it (DescribeConfigs of a topic gives its own setting, or the broker's
 * message.max.bytes it takes), else the broker's message.max.bytes where it may read that, else
 * Kafka's default; never above the default (requests stay ~1 MB, as before).
 *
 * Read once per topic: when `ensureTopics` (or anyone) describes the topic, or at the sink's first
 * write to it. A send whose topics are all known costs a look-up per topic it names, no I/O.
 */
import { Effect } from "effect"
import type { ProducerRecord } from "../../services/KafkaSink.ts"
import type { KafkaError } from "../../services/KafkaSource.ts"
import { DEFAULT_MAX_MESSAGE_BYTES, type SendLimits } from "./batchBytes.ts"

/** What a client layer reads the limits with. */
export interface LimitReads {
  /**
   * The topics' max.message.bytes as DescribeConfigs of each topic gives it (its own, or the broker's
   * it takes); a topic absent from the answer is not known. NotAuthorized without DESCRIBE_CONFIGS
   * on them.
   */
  readonly topics: (names: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, number>, KafkaError>
  /** The broker's message.max.bytes. NotAuthorized without DESCRIBE_CONFIGS on the cluster. */
  readonly broker: () => Effect.Effect<number | undefined, KafkaError>
}

/** A config's value as a limit: a positive integer, else undefined (not known). */
export const limitOf = (value: string | null | undefined): number | undefined => {
  if (value === null || value === undefined) return undefined
  const n = Number(value)
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

/**
 * Each topic's max.message.bytes from a describe's answer (its own or the broker's: DescribeConfigs
 * gives what the topic takes), the answer given as (topic, value) pairs whatever the client's shape.
 */
export const topicLimits = (described: Iterable<readonly [topic: string, value: string | null | undefined]>): Map<string, number> => {
  const limits = new Map<string, number>()
  for (const [topic, value] of described) {
    const limit = limitOf(value)
    if (limit !== undefined) limits.set(topic, limit)
  }
  return limits
}

const refused = (e: KafkaError) => e.reason._tag === "NotAuthorized"

export class MessageLimits implements SendLimits {
  private readonly byTopic = new Map<string, number>()
  /** The broker's limit once read (the default when refused). */
  private brokerLimit: number | undefined
  private readonly reads: LimitReads

  constructor(reads: LimitReads) {
    this.reads = reads
  }

  /** Limits read by a describe (ensureTopics'): the sink asks no more for these topics. */
  learn(limits: ReadonlyMap<string, number>): void {
    for (const [topic, limit] of limits) this.byTopic.set(topic, Math.min(limit, DEFAULT_MAX_MESSAGE_BYTES))
  }

  /**
   * The send's limit (the lowest of its topics') when every topic's is known; undefined when one is
   * not (`read` it). A send names few topics, often two interleaved (produce's trades and quotes):
   * the last two are compared by identity, each other topic looked up once.
   */
  known(records: ReadonlyArray<ProducerRecord>): number | undefined {
    let limit = DEFAULT_MAX_MESSAGE_BYTES
    let seen: Array<string> | undefined
    let last: string | undefined
    let before: string | undefined
    next: for (let i = 0; i < records.length; i++) {
      const topic = records[i]!.topic
      if (topic === last || topic === before) continue
      before = last
      last = topic
      if (seen !== undefined) {
        for (let j = 0; j < seen.length; j++) if (seen[j] === topic) continue next
      }
      ;(seen ??= []).push(topic)
      const l = this.byTopic.get(topic)
      if (l === undefined) return undefined
      if (l < limit) limit = l
    }
    return limit
  }

  /**
   * Reads the limits of the send's topics not known yet, then gives the send's. A topic whose config
   * the principal may not read takes the broker's limit (or the default). Any other failure (a topic
   * not there yet, the broker busy) leaves the topic unknown, asked again at its next send, and this
   * send is cut under the default: the send itself says what is wrong. The clients fail a describe
   * whole for one topic's refusal, so a refused read of several topics reads each alone: a topic set
   * lower keeps its own limit, not the broker's, when another topic of its first send is refused.
   */
  read(records: ReadonlyArray<ProducerRecord>): Effect.Effect<number> {
    const unknown = [...new Set(records.map((r) => r.topic))].filter((t) => !this.byTopic.has(t))
    const readThen = (topics: ReadonlyArray<string>, whenRefused: Effect.Effect<void, KafkaError>) =>
      this.reads.topics(topics).pipe(
        Effect.tap((limits) => Effect.sync(() => this.learn(limits))),
        Effect.catchIf(refused, () => whenRefused),
        Effect.ignore
      )
    const alone = (topic: string) =>
      readThen([topic], Effect.map(this.broker(), (limit) => void this.byTopic.set(topic, limit)))
    const all = unknown.length === 1
      ? alone(unknown[0]!)
      : readThen(unknown, Effect.forEach(unknown, alone, { discard: true }))
    return Effect.map(all, () => this.known(records) ?? this.lowestKnown(records))
  }

  /** The lowest limit of the send's topics that are known, the default for the others. */
  private lowestKnown(records: ReadonlyArray<ProducerRecord>): number {
    let limit = DEFAULT_MAX_MESSAGE_BYTES
    for (const t of new Set(records.map((r) => r.topic))) limit = Math.min(limit, this.byTopic.get(t) ?? limit)
    return limit
  }

  /** The broker's limit, read once; the default when refused. Not kept after another failure. */
  private broker(): Effect.Effect<number, KafkaError> {
    if (this.brokerLimit !== undefined) return Effect.succeed(this.brokerLimit)
    return this.reads.broker().pipe(
      Effect.map((limit) => Math.min(limit ?? DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_MESSAGE_BYTES)),
      Effect.catchIf(refused, () => Effect.succeed(DEFAULT_MAX_MESSAGE_BYTES)),
      Effect.tap((limit) => Effect.sync(() => void (this.brokerLimit = limit)))
    )
  }
}
