/**
 * An in-process Kafka: partitioned logs with offsets, consumer groups with committed offsets,
 * and rebalances when members join or leave or a consumed topic is created, grown or deleted
 * (round-robin over the sorted partitions; members that lose partitions run onRevoke before
 * anyone gets them, as with Kafka's eager protocol).
 * Fetch-from-offset semantics are exact. Share one `MemoryBroker` between layers (or between
 * two subscriptions in one test) to exercise rebalances. Opt-in, it can also drop what every
 * group has committed and hold producers back while consumers lag (`MemoryOptions`), which keeps
 * a long embedded feed in bounded memory.
 */
import { Effect, Layer } from "effect"
import { setEntry, type TopicSpec, topicConfigEntries } from "../../domain/wire.ts"
import { KafkaAdmin, KafkaSink, type ProducerRecord, type RecordMetadata } from "../../services/KafkaSink.ts"
import {
  type KafkaError,
  kafkaError,
  type KafkaRecord,
  KafkaRejected,
  KafkaSource,
  type OffsetCommit,
  type SubscribeOptions,
  type TopicPartition,
  type TpKey,
  tpKey,
  tpKeyOf,
  UnknownTopic
} from "../../services/KafkaSource.ts"
import { type ConsumerCore, isKafkaError, makeConsumerCore } from "./consumerCore.ts"
import { BATCH_HEADER_BYTES, DEFAULT_MAX_MESSAGE_BYTES, inBatches, recordBytes } from "./batchBytes.ts"
import { ensureTopicsWith } from "./ensureTopics.ts"
import { limitOf, MessageLimits } from "./messageLimits.ts"
import { partitionForKey } from "./partitioner.ts"
import { mayHaveLostBytes, sentHeaderBytes, withBytesBeside } from "./textBytes.ts"
import { tracedSend } from "./tracing.ts"
import { Wakeup } from "./wakeup.ts"

interface MemTopic {
  readonly name: string
  /** Unique per creation, as Kafka's topic ids: a topic deleted and made again is another log. */
  readonly id: string
  /** The records still held: `partitions[p][i]` has offset `base[p] + i`. */
  readonly partitions: Array<Array<KafkaRecord>>
  /** Records released from the front of each partition (its low watermark). */
  readonly base: Array<number>
  config: Record<string, string>
}

interface MemMember {
  readonly id: string
  readonly topics: ReadonlyArray<string>
  assignment: ReadonlyArray<TopicPartition>
  /** The id of the topic each assigned partition belongs to (its positions are in that log). */
  readonly topicIds: Map<string, string>
  readonly core: ConsumerCore
}

interface MemGroup {
  readonly committed: Map<TpKey, bigint>
  readonly members: Array<MemMember>
  rebalancing: Promise<void>
}

const utf8 = new TextEncoder()
const text = new TextDecoder()

/** A produced key or header value's bytes where they matter: those given, or its text's when that holds U+FFFD; else undefined (plain text). */
const producedBytes = (given: Uint8Array | undefined, value: string | null): Uint8Array | undefined =>
  given ?? (value !== null && mayHaveLostBytes(value) ? utf8.encode(value) : undefined)

const producedHeaderBytes = (r: ProducerRecord, name: string) =>
  producedBytes(sentHeaderBytes(r.headerBytes, name), r.headers![name]!)

/**
 * A produced record as a consumer reads it back: a broker keeps keys and header values as bytes,
 * decoded as text with the bytes beside text that may have lost some (textBytes.ts). Plain text
 * (the usual case) is kept as given, without encoding it.
 */
const readBack = (r: ProducerRecord, offset: bigint): KafkaRecord => {
  const rawKey = producedBytes(r.keyBytes, r.key)
  const headers: Record<string, string> = {}
  for (const name in r.headers) {
    const raw = producedHeaderBytes(r, name)
    setEntry(headers, name, raw === undefined ? r.headers[name]! : text.decode(raw))
  }
  return withBytesBeside(
    {
      offset,
      key: rawKey === undefined ? r.key : text.decode(rawKey),
      value: r.value === null ? null : Uint8Array.from(r.value),
      headers,
      timestamp: r.timestamp ?? Date.now()
    },
    rawKey,
    r,
    producedHeaderBytes
  )
}

/** One partition's records of a send, as a client batches them. */
interface Batch {
  readonly topic: string
  readonly partition: number
  bytes: number
  records: number
  readonly firstTimestamp: number | undefined
  refused: boolean
}

export class MemoryBroker {
  readonly topics = new Map<string, MemTopic>()
  readonly groups = new Map<string, MemGroup>()
  /** The broker's message.max.bytes: the max.message.bytes of a topic without its own. */
  messageMaxBytes = DEFAULT_MAX_MESSAGE_BYTES
  private readonly wakeup = new Wakeup()
  private nextMember = 0
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
    Object.assign(this.topic(spec.name).config, Object.fromEntries(topicConfigEntries(spec)))
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
    const batches = new Map<string, Batch>()
    const batchOf = new Array<Batch>(records.length)
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!
      const id = `${r.topic}\u0000${partitions[i]}`
      let b = batches.get(id)
      if (b === undefined) {
        b = { topic: r.topic, partition: partitions[i]!, bytes: BATCH_HEADER_BYTES, records: 0, firstTimestamp: r.timestamp, refused: false }
        batches.set(id, b)
      }
      const timestampDelta = r.timestamp === undefined || b.firstTimestamp === undefined ? 0 : r.timestamp - b.firstTimestamp
      b.bytes += recordBytes(r, b.records++, timestampDelta)
      batchOf[i] = b
    }
    let refusal: KafkaError | undefined
    for (const b of batches.values()) {
      const limit = this.maxMessageBytes(b.topic)
      if (b.bytes > limit) {
        b.refused = true
        refusal ??= kafkaError(new KafkaRejected({
          operation: "send",
          // The broker's text, as both clients give it, then the sizes.
          detail: `MESSAGE_TOO_LARGE: The request included a message larger than the max message size the server will accept ` +
            `(a record batch of ${b.bytes} bytes, ${b.records} record${b.records === 1 ? "" : "s"} to ${b.topic}-${b.partition}; ` +
            `its max.message.bytes is ${limit})`
        }))
      }
    }
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

  /**
   * Deletes the topic and, as a broker does, every group's committed offsets of it. Groups
   * consuming it rebalance: their members give its partitions up, as clients do when it leaves
   * their metadata (kept, they would read a topic created again under the name from the old positions).
   */
  deleteTopic(name: string): void {
    const t = this.topic(name)
    for (const g of this.groups.values()) {
      for (let p = 0; p < t.partitions.length; p++) g.committed.delete(tpKey(name, p))
    }
    this.topics.delete(name)
    this.topicChanged(name)
  }

  /** The partition's end offset (its high watermark). */
  endOffset(topic: string, partition: number): number {
    const t = this.topic(topic)
    return t.base[partition]! + t.partitions[partition]!.length
  }

  /** Drop the partition's records below every group's committed offset (none while a group has none). */
  release(topic: string, partition: number): void {
    const t = this.topics.get(topic)
    if (t === undefined || t.partitions[partition] === undefined) return
    let upTo = this.endOffset(topic, partition)
    for (const g of this.groups.values()) {
      const c = g.committed.get(tpKey(topic, partition))
      if (c === undefined) return
      upTo = Math.min(upTo, Number(c))
    }
    this.deleteRecords(topic, partition, upTo)
  }

  /** Deletes the partition's records below `before`, as retention or DeleteRecords does. */
  deleteRecords(topic: string, partition: number, before: number): void {
    const t = this.topic(topic)
    const drop = Math.min(before, this.endOffset(topic, partition)) - t.base[partition]!
    if (drop <= 0) return
    t.partitions[partition]!.splice(0, drop)
    t.base[partition] = t.base[partition]! + drop
  }

  /**
   * Records of the topic its slowest live group (one with a member subscribed to it) has not
   * reached: past both its committed offset and its members' fetch positions, so a consumer that
   * seeked ahead (resuming from a table's marker) holds no producer back. 0 while no group
   * consumes the topic, so a producer never waits for a consumer that is not there.
   */
  backlog(topic: string): number {
    const t = this.topics.get(topic)
    if (t === undefined) return 0
    const live = [...this.groups.values()].filter((g) => g.members.some((m) => m.topics.includes(topic)))
    if (live.length === 0) return 0
    let n = 0
    for (let p = 0; p < t.partitions.length; p++) {
      const key = tpKey(topic, p)
      const base = t.base[p]!
      const reached = (g: MemGroup) => {
        let at = Number(g.committed.get(key) ?? base)
        for (const m of g.members) at = Math.max(at, Number(m.core.fetchPosition(key) ?? at))
        return at
      }
      const slowest = Math.min(...live.map(reached))
      n += Math.max(0, base + t.partitions[p]!.length - Math.max(slowest, base))
    }
    return n
  }

  group(groupId: string): MemGroup {
    let g = this.groups.get(groupId)
    if (g === undefined) {
      g = { committed: new Map(), members: [], rebalancing: Promise.resolve() }
      this.groups.set(groupId, g)
    }
    return g
  }

  memberId(): string {
    return `member-${String(this.nextMember++).padStart(6, "0")}`
  }

  /**
   * `topic` was created, grown or deleted: every group consuming it rebalances, as clients do when
   * a metadata refresh shows its new partitions (otherwise nobody would ever read them) or none.
   */
  topicChanged(topic: string): void {
    for (const [groupId, g] of this.groups) {
      if (g.members.some((m) => m.topics.includes(topic))) void this.rebalance(groupId)
    }
  }

  /** Recompute the group's assignment: revoke first (and wait), then assign. */
  rebalance(groupId: string): Promise<void> {
    const g = this.group(groupId)
    const step = async () => {
      const members = [...g.members].sort((a, b) => a.id.localeCompare(b.id))
      const target = new Map<string, Array<TopicPartition>>(members.map((m) => [m.id, []]))
      const topics = [...new Set(members.flatMap((m) => m.topics))].sort()
      let i = 0
      for (const topic of topics) {
        const t = this.topics.get(topic)
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
        const t = this.topics.get(topic)
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
      this.notify()
    }
    g.rebalancing = g.rebalancing.then(step, step)
    return g.rebalancing
  }
}

export interface MemoryOptions {
  /** Records per delivered batch at most. Default 500. */
  readonly maxBatchRecords?: number
  /**
   * Drop records once every group has committed past them, as retention would (offsets do not
   * change; a fetch below the low watermark starts at it). Off by default: tests re-read logs.
   */
  readonly releaseCommitted?: boolean
  /**
   * A send waits while a topic it writes has more records than this that its slowest live group
   * has not reached, by commit or fetch (a broker quota, in records). Default: no limit.
   */
  readonly maxBacklog?: number
}

const toKafkaError = (operation: string, cause: unknown): KafkaError =>
  isKafkaError(cause)
    ? cause
    : kafkaError(new KafkaRejected({ operation, detail: cause instanceof Error ? cause.message : String(cause) }))

const guard = <A>(operation: string, f: () => A): Effect.Effect<A, KafkaError> =>
  Effect.try({ try: f, catch: (e) => toKafkaError(operation, e) })

/** KafkaSource, KafkaSink and KafkaAdmin over one MemoryBroker (a fresh one unless given). */
export const layerMemory = (broker: MemoryBroker = new MemoryBroker(), options: MemoryOptions = {}) => {
  const maxBatch = options.maxBatchRecords ?? 500
  const maxBacklog = options.maxBacklog

  const roomFor = (records: ReadonlyArray<ProducerRecord>) =>
    Effect.gen(function*() {
      if (maxBacklog === undefined) return
      for (const topic of new Set(records.map((r) => r.topic))) {
        // Commits and members leaving notify; the timeout re-checks whatever else changed.
        while (broker.backlog(topic) > maxBacklog) yield* Effect.promise(() => broker.waitForChange(100))
      }
    })

  const subscribe = <E, R>(opts: SubscribeOptions<E, R>) =>
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

      const fetchLoop = Effect.promise(async () => {
        while (running) {
          let progressed = false
          for (const tp of member.assignment) {
            const key = tpKeyOf(tp)
            const pos = core.fetchPosition(key)
            if (pos === undefined) continue
            const t = broker.topics.get(tp.topic)
            const log = t?.partitions[tp.partition]
            // Deleted, or made again (its positions are the old log's): the rebalance that change
            // queued gives it up, or gains it afresh.
            if (t === undefined || log === undefined || member.topicIds.get(tp.topic) !== t.id) continue
            const base = t.base[tp.partition]!
            const end = base + log.length
            if (pos > BigInt(end)) {
              // Beyond the log end (a recreated topic): a broker answers OFFSET_OUT_OF_RANGE and
              // every client restarts at startFrom, as auto.offset.reset does; waiting would stall.
              const target = (opts.startFrom ?? "earliest") === "earliest" ? base : end
              await Effect.runPromise(Effect.ignore(core.consumer.seek(tp, BigInt(target))))
              progressed = true
              continue
            }
            // Every record from the position on was deleted (the log start is its end): an empty batch
            // moves the position to the log start, telling the records lost, as a broker's fetch
            // from the log start does (waiting for a record, the partition would lag for good).
            if (pos < BigInt(base) && log.length === 0) {
              progressed = true
              await core.offer(tp, pos, [], BigInt(base), BigInt(end), t.id, BigInt(base))
              if (!running) return
              continue
            }
            // Nothing at or after the position: nothing to offer.
            if (pos >= BigInt(end)) continue
            // Below the low watermark (released records) the fetch starts at it.
            const start = Math.max(Number(pos) - base, 0)
            const records = log.slice(start, start + maxBatch)
            progressed = true
            // A position below the log start: the records between were deleted before they were read.
            await core.offer(tp, pos, records, BigInt(base + start + records.length), BigInt(end), t.id, pos < BigInt(base) ? BigInt(base) : undefined)
            if (!running) return
          }
          if (!progressed) await broker.waitForChange(100)
        }
      }).pipe(
        // A fetch loop that breaks fails the consumer rather than stopping delivery unseen.
        Effect.catchDefect((e) => Effect.sync(() => core.fail(toKafkaError("fetch", e))))
      )

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

  const source = KafkaSource.of({ client: "memory", subscribe })

  // Read as the clients read them: once a topic, at its describe or the first write to it.
  const limits = new MessageLimits({
    topics: (names) => guard("describeTopics", () => new Map(names.map((name) => [name, broker.maxMessageBytes(name)]))),
    broker: () => Effect.succeed(broker.messageMaxBytes)
  })
  const describeTopics = (names: ReadonlyArray<string>) =>
    guard("describeTopics", () => {
      const described = names.map((name) => broker.describe(name))
      limits.learn(new Map(names.map((name) => [name, broker.maxMessageBytes(name)])))
      return described
    })

  const sink = KafkaSink.of({
    client: "memory",
    // Requests under their topics' max.message.bytes, as the other layers send (batchBytes.ts).
    send: tracedSend(inBatches(Effect.fnUntraced(function*(records: ReadonlyArray<ProducerRecord>) {
      yield* roomFor(records)
      // A send refused may have written its other partitions' batches: their readers are woken too.
      return yield* guard("send", () => broker.produce(records)).pipe(Effect.ensuring(Effect.sync(() => broker.notify())))
    }), limits)),
    flush: () => Effect.void
  })

  const admin = KafkaAdmin.of({
    // The real clients' steps (what grows and what is altered: topicChanges), over the broker.
    ensureTopics: ensureTopicsWith({
      list: () => Effect.sync(() => [...broker.topics.keys()]),
      create: (missing) =>
        guard("createTopics", () => {
          const existed: Array<string> = []
          for (const spec of missing) {
            // Created: a group may still subscribe to the name (the topic was deleted and made again).
            if (broker.createTopic(spec)) broker.topicChanged(spec.name)
            else existed.push(spec.name)
          }
          return existed
        }),
      describe: describeTopics,
      grow: (topics) =>
        guard("createPartitions", () => {
          for (const spec of topics) broker.addPartitions(spec.name, spec.partitions)
          for (const spec of topics) broker.topicChanged(spec.name)
        }),
      alter: (topics) => guard("alterConfigs", () => topics.forEach((spec) => broker.setConfig(spec)))
    }),
    describeTopics,
    listTopics: () => Effect.sync(() => [...broker.topics.keys()].sort()),
    deleteTopics: (names) =>
      guard("deleteTopics", () => {
        for (const n of names) broker.topic(n)
        for (const n of names) broker.deleteTopic(n)
      })
  })

  return Layer.mergeAll(
    Layer.succeed(KafkaSource)(source),
    Layer.succeed(KafkaSink)(sink),
    Layer.succeed(KafkaAdmin)(admin)
  )
}
