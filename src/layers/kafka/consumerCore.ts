/**
 * The client-independent half of a Consumer: assignment bookkeeping, positions, seek / pause
 * semantics and the bounded batch buffer. Each client layer supplies a small driver (seek, pause,
 * resume on the client; offsets look-ups; commit) and calls `assign` on every (re)assignment and
 * `offer` for every fetched partition batch. That keeps the guarantees documented in
 * src/services/KafkaSource.ts identical across kafkajs, platformatic and memory.
 *
 * Positions: every partition has
 * - `fetchPos`: the offset the next batch offered by the client must have been fetched from
 *   (a batch whose fetch offset differs is stale: fetched before a seek, pause or rebalance);
 * - `deliveredPos`: the next offset after the last batch handed to `batches`.
 * A seek, pause or reassignment bumps the partition's epoch, which discards batches already
 * buffered for it. Resume seeks the client back to `deliveredPos`.
 */
import { Effect, Queue, Result, Stream } from "effect"
import {
  CallbackFailed,
  type Consumer,
  type KafkaError,
  kafkaError,
  type KafkaRecord,
  KafkaRejected,
  KafkaUnavailable,
  NotAssigned,
  type OffsetCommit,
  type PartitionBatch,
  type PartitionWatermarks,
  type StartFrom,
  type SubscribeOptions,
  type TopicPartition,
  type TpKey,
  tpKey,
  tpKeyOf
} from "../../services/KafkaSource.ts"

export interface ConsumerDriver {
  /** Make the client fetch `tp` from `offset` next. */
  seek(tp: TopicPartition, offset: bigint): void
  pause(tps: ReadonlyArray<TopicPartition>): void
  resume(tps: ReadonlyArray<TopicPartition>): void
  committed(tps: ReadonlyArray<TopicPartition>): Promise<ReadonlyMap<TpKey, bigint | null>>
  watermarks(topic: string): Promise<ReadonlyArray<PartitionWatermarks>>
  commit(offsets: ReadonlyArray<OffsetCommit>): Promise<void>
}

interface PartState {
  readonly tp: TopicPartition
  epoch: number
  fetchPos: bigint
  deliveredPos: bigint
  /** Paused by the user (backpressure). */
  paused: boolean
  /** Waiting for onAssign / the committed offset: nothing is accepted. */
  starting: boolean
  /**
   * Right after a seek (or resume, or assignment) the next batch must come from exactly fetchPos;
   * afterwards a client may skip ahead by itself (offsets hidden by compaction or control records).
   */
  strict: boolean
  /** Sought while starting: that seek, made after onAssign was asked, says where it starts. */
  sought: boolean
  /**
   * Handed to onAssign (asked, or about to be). Until then the partition is nobody's to seek,
   * pause or resume: clients hand it back (the next generation) without waiting for the previous
   * assignment's onRevoke, and its worker, not yet stopped, would pause or seek the new assignment
   * (paused for good: the new one's worker does not know it paused).
   */
  announced: boolean
}

interface Tagged {
  readonly key: TpKey
  readonly epoch: number
  readonly batch: PartitionBatch
}

export interface ConsumerCore {
  readonly consumer: Consumer
  /** The client's new full assignment. The synchronous part (pausing what must not be fetched yet) runs before this returns. */
  assign(tps: ReadonlyArray<TopicPartition>): Promise<void>
  /**
   * A fetched batch of one partition (records in order; empty when the fetch held only
   * transaction markers or aborted records). `fetchOffset` is the offset the fetch asked for;
   * `nextOffset` the offset after the batch (may exceed last record + 1 when control records or
   * compaction hid offsets). `logStart`: the log's start, given when the fetch began below it
   * (records deleted before they were read: `PartitionBatch.logStartOffset`). Resolves when
   * buffered (backpressure) or dropped.
   */
  offer(
    tp: TopicPartition,
    fetchOffset: bigint,
    records: ReadonlyArray<KafkaRecord>,
    nextOffset: bigint,
    highWatermark: bigint,
    topicId?: string,
    logStart?: bigint
  ): Promise<void>
  /**
   * The client's fetch of tp was out of range (kafkajs then resets the position by itself). When
   * the log now starts past the position, the records between were deleted before they were read:
   * an empty batch moves the position to the log start and tells them lost (`logStartOffset`), and
   * the client fetches from there. A wholly deleted log tells it no other way (fetches at its start
   * hold nothing); a partly deleted one, at once, whatever the client's first fetch there holds.
   */
  outOfRange(tp: TopicPartition): Promise<void>
  /** The position the client should fetch tp from, or undefined when tp must not be fetched. */
  fetchPosition(key: TpKey): bigint | undefined
  /** Fail the consumer (batches stream) with a client error. */
  fail(error: KafkaError): void
  /** Revoke everything (scope closing): runs onRevoke for the current assignment. */
  revokeAll(): Promise<void>
}

export const makeConsumerCore = Effect.fnUntraced(function*<E, R>(
  options: SubscribeOptions<E, R>,
  driver: ConsumerDriver,
  errorOf: (operation: string, cause: unknown) => KafkaError
) {
  const context = yield* Effect.context<R>()
  const queue = yield* Queue.bounded<Tagged, KafkaError>(options.bufferBatches ?? 16)
  const parts = new Map<TpKey, PartState>()
  const startFrom: StartFrom = options.startFrom ?? "earliest"
  let chain: Promise<void> = Promise.resolve()
  let failed = false
  // One counter for every partition state: a partition revoked and assigned again gets a new
  // state whose epochs never repeat the old one's, so batches buffered before the revoke stay stale.
  let epochs = 0
  const nextEpoch = () => ++epochs

  const run = <A>(effect: Effect.Effect<A, E, R>, callback: "onAssign" | "onRevoke"): Promise<A> =>
    Effect.runPromiseWith(context)(
      effect.pipe(Effect.mapError((cause) => kafkaError(new CallbackFailed({ callback, cause }))))
    )

  const fail = (error: KafkaError) => {
    if (failed) return
    failed = true
    Effect.runSync(Queue.fail(queue, error))
  }

  const startOffsets = async (tps: ReadonlyArray<TopicPartition>): Promise<Map<TpKey, bigint>> => {
    const out = new Map<TpKey, bigint>()
    const chosen = options.onAssign ? await run(options.onAssign(tps), "onAssign") : new Map<TpKey, bigint>()
    for (const [k, v] of chosen) if (v < 0n) throw negativeOffset("onAssign", k, v)
    const rest = tps.filter((tp) => !chosen.has(tpKeyOf(tp)))
    for (const [k, v] of chosen) out.set(k, v)
    if (rest.length === 0) return out
    const committed = await driver.committed(rest)
    const needReset = rest.filter((tp) => (committed.get(tpKeyOf(tp)) ?? null) === null)
    for (const tp of rest) {
      const c = committed.get(tpKeyOf(tp)) ?? null
      if (c !== null) out.set(tpKeyOf(tp), c)
    }
    const topics = [...new Set(needReset.map((tp) => tp.topic))]
    for (const topic of topics) {
      const marks = await driver.watermarks(topic)
      for (const m of marks) {
        const key = `${m.topic}:${m.partition}`
        if (needReset.some((tp) => tpKeyOf(tp) === key)) out.set(key, startFrom === "earliest" ? m.low : m.high)
      }
    }
    // A client whose metadata predates partitions just added has no offsets for them yet: the
    // consumer fails, retryable, rather than leave them without a position.
    const unknown = needReset.filter((tp) => !out.has(tpKeyOf(tp)))
    if (unknown.length > 0) {
      throw kafkaError(
        new KafkaUnavailable({ operation: "watermarks", detail: `no offsets yet for ${unknown.map(tpKeyOf).join(", ")}` })
      )
    }
    return out
  }

  const subscribed = new Set(options.topics)
  const assign = (assignedTps: ReadonlyArray<TopicPartition>): Promise<void> => {
    // A leader assigning with another assignor (an older K2's, a library's round robin) may hand
    // this member topics it does not subscribe to: they are left unread, as kafkajs leaves them,
    // not handed to onAssign (whose routing does not know them). They wait for the next assignment.
    const tps = assignedTps.filter((tp) => subscribed.has(tp.topic))
    if (tps.length < assignedTps.length) {
      const foreign = [...new Set(assignedTps.filter((tp) => !subscribed.has(tp.topic)).map((tp) => tp.topic))]
      Effect.runForkWith(context)(Effect.logWarning(
        `group ${options.groupId}: the leader assigned this member topics it does not subscribe to (${foreign.join(", ")}); ` +
          `left unread until the next rebalance. Members of one group with different topics need a leader of K2 with the subscription-aware assignor (docs/kafka.md)`
      ))
    }
    const next = new Map(tps.map((tp) => [tpKeyOf(tp), tp] as const))
    const lost: Array<TopicPartition> = []
    for (const [key, st] of parts) {
      if (!next.has(key)) {
        lost.push(st.tp)
        parts.delete(key)
      }
    }
    const gained: Array<TopicPartition> = []
    const gainedStates: Array<PartState> = []
    const kept: Array<PartState> = []
    for (const [key, tp] of next) {
      const st = parts.get(key)
      if (st === undefined) {
        gained.push(tp)
        const fresh: PartState = { tp, epoch: nextEpoch(), fetchPos: -1n, deliveredPos: -1n, paused: false, starting: true, strict: true, sought: false, announced: false }
        gainedStates.push(fresh)
        parts.set(key, fresh)
      } else {
        kept.push(st)
      }
    }
    // Synchronously: nothing gained is fetched before its start offset is known.
    if (gained.length > 0) driver.pause(gained)
    for (const st of kept) {
      // Clients may reset positions on a rebalance: continue exactly where delivery stopped.
      st.epoch = nextEpoch()
      st.strict = true
      if (!st.starting) {
        st.fetchPos = st.deliveredPos
        driver.seek(st.tp, st.deliveredPos)
      }
      if (st.paused || st.starting) driver.pause([st.tp])
    }
    const work = async () => {
      if (lost.length > 0 && options.onRevoke) await run(options.onRevoke(lost), "onRevoke")
      if (gained.length === 0) return
      // The previous assignments' onRevoke has returned: their workers are stopped.
      for (const st of gainedStates) if (parts.get(tpKeyOf(st.tp)) === st) st.announced = true
      const offsets = await startOffsets(gained)
      const toResume: Array<TopicPartition> = []
      for (const st of gainedStates) {
        const tp = st.tp
        // Lost again meanwhile; if gained once more, that assignment's onAssign (run after this
        // one) says where it starts, not this older answer.
        if (parts.get(tpKeyOf(tp)) !== st || !st.starting) continue
        const o = st.sought ? st.fetchPos : offsets.get(tpKeyOf(tp))!
        st.epoch = nextEpoch()
        st.fetchPos = o
        st.deliveredPos = o
        st.starting = false
        st.strict = true
        driver.seek(tp, o)
        if (!st.paused) toResume.push(tp)
      }
      if (toResume.length > 0) driver.resume(toResume)
    }
    chain = chain.then(work).catch((e) => fail(isKafkaError(e) ? e : errorOf("rebalance", e)))
    return chain
  }

  const offer = (
    tp: TopicPartition,
    fetchOffset: bigint,
    records: ReadonlyArray<KafkaRecord>,
    nextOffset: bigint,
    highWatermark: bigint,
    topicId?: string,
    logStart?: bigint
  ): Promise<void> => {
    const key = tpKeyOf(tp)
    const st = parts.get(key)
    if (st === undefined || st.starting || st.paused) return Promise.resolve()
    /** Hands the batch to `batches` as fetched from `from`, the partition's position. */
    const deliver = (from: bigint, deletedTo: bigint | undefined = logStart): Promise<void> => {
      st.strict = false
      // Trim anything below the position (a client may return a whole record batch).
      let recs = records
      if (recs.length > 0 && recs[0]!.offset < from) recs = recs.filter((r) => r.offset >= from)
      const fromOffset = st.fetchPos
      st.fetchPos = nextOffset
      // Nothing to deliver and the position did not move: nothing to tell. With no record but a
      // position moved (offsets that hold only transaction markers or aborted records), an empty
      // batch moves the reader's position too, as the Java consumer's position moves past them: an
      // idle partition whose log ends with a marker would otherwise read as lagging for good.
      if (recs.length === 0 && nextOffset <= fromOffset) return Promise.resolve()
      const firstOffset = recs.length > 0 ? recs[0]!.offset : nextOffset
      const batch: PartitionBatch = {
        topic: tp.topic,
        partition: tp.partition,
        records: recs,
        fromOffset,
        firstOffset,
        nextOffset,
        highWatermark,
        ...(topicId === undefined ? {} : { topicId }),
        // Records deleted before they were read lie between the position and the log start (never
        // past the batch's first offset: what it holds was read).
        ...(deletedTo !== undefined && deletedTo > fromOffset ? { logStartOffset: deletedTo < firstOffset ? deletedTo : firstOffset } : {})
      }
      return Effect.runPromise(Queue.offer(queue, { key, epoch: st.epoch, batch })).then(() => undefined, () => undefined)
    }
    /** Whether nothing (a seek, a delivered batch, a rebalance) moved the partition since `offer` began. */
    const { epoch, fetchPos } = st
    const unchanged = () => parts.get(key) === st && st.epoch === epoch && st.fetchPos === fetchPos
    /**
     * For a batch judged after something moved the partition: another batch delivered meanwhile
     * (`outOfRange` moving the position to the log start while the client's batch waits on the
     * watermarks) left the client going on from this batch's end, past records never delivered,
     * so it fetches from the position again. A seek, pause or rebalance (a new epoch) told it already.
     */
    const resync = () => {
      if (parts.get(key) === st && st.epoch === epoch && st.fetchPos !== fetchPos) driver.seek(tp, st.fetchPos)
    }
    if (fetchOffset > st.fetchPos) {
      // Right after a seek: stale (fetched before it), unless the client reset a position the log
      // no longer holds (kafkajs does, like auto.offset.reset). Later: the client went on from
      // beyond the position by itself, past offsets compacted away, or reset past records deleted
      // while it was behind (kafkajs, OFFSET_OUT_OF_RANGE). Deleted, the records between are gone
      // for good: the batch continues the partition and says so (ADR-68). Only kafkajs fetches
      // from beyond the position: the other layers offer every batch at it.
      const strict = st.strict
      return driver.watermarks(tp.topic).then(
        (marks) => {
          if (!unchanged()) return resync()
          const low = marks.find((m) => m.partition === tp.partition)?.low
          // Deleted up to where the client fetched from, or the log start it says it fetched from
          // (no further: retention may have moved the log start on since, past records this batch
          // holds; `deliver` holds it to the batch's first offset).
          if (low !== undefined && low >= fetchOffset) return deliver(fetchPos, logStart !== undefined && logStart > fetchOffset ? logStart : fetchOffset)
          // The position is below the log start but the client went on from beyond it (kafkajs
          // resets to the log end when startFrom is latest): the records from the log start on
          // still exist, so fetch from there; left alone, every later batch would be dropped.
          if (low !== undefined && low > fetchPos) return driver.seek(tp, low)
          if (!strict) return deliver(fetchOffset)
        },
        // Undecided: fetch from the position again (a client that moved on by itself would
        // otherwise have every later batch dropped), and decide on that batch. A partition being
        // read goes on as before (the gap reads as offsets with nothing to read).
        () => {
          if (!unchanged()) return resync()
          if (!strict) return deliver(fetchOffset)
          driver.seek(tp, fetchPos)
        }
      )
    }
    if (st.strict && fetchOffset < st.fetchPos) {
      // Stale (fetched before a seek), unless the position is beyond the log end (a recreated
      // topic) and the client reset it to startFrom by itself (kafkajs does): dropping its
      // batches would stall the partition for good, so they restart it there, as a seek.
      return driver.watermarks(tp.topic).then(
        (marks) => {
          if (!unchanged()) return resync()
          const high = marks.find((m) => m.partition === tp.partition)?.high
          if (high !== undefined && high < fetchPos) {
            st.epoch = nextEpoch()
            st.fetchPos = fetchOffset
            st.deliveredPos = fetchOffset
            return deliver(fetchOffset)
          }
          // Stale, or a reset judged after the log grew past the position, or undecided: fetch
          // from the position again. A client that reset by itself goes on from the dropped batch's
          // end otherwise, skipping its records or passing the position (every later batch dropped).
          driver.seek(tp, fetchPos)
        },
        () => {
          if (unchanged()) driver.seek(tp, fetchPos)
          else resync()
        }
      )
    }
    if (!st.strict && fetchOffset < st.fetchPos) return Promise.resolve()
    return deliver(fetchOffset)
  }

  const outOfRange = async (tp: TopicPartition): Promise<void> => {
    const key = tpKeyOf(tp)
    const st = parts.get(key)
    if (st === undefined || st.starting || st.paused) return
    const { epoch, fetchPos } = st
    // Undecided: the client's own reset goes on, and its next batch, from beyond the position, is judged in `offer`.
    const marks = await driver.watermarks(tp.topic).catch(() => undefined)
    const m = marks?.find((x) => x.partition === tp.partition)
    if (m === undefined || parts.get(key) !== st || st.epoch !== epoch || st.fetchPos !== fetchPos) return
    // Its caller (a kafkajs hook) waits on nothing: a seek refused because the consumer stopped
    // meanwhile (restarting after a crash, or closing) must not reject unhandled. The next
    // assignment seeks the client to the position.
    const seek = (offset: bigint) => {
      try {
        driver.seek(tp, offset)
      } catch {
        // nothing to move: the consumer is not running
      }
    }
    if (m.high < fetchPos) {
      // The log ends below the position (the topic re-created, the log truncated): the client reset
      // to startFrom by itself. Judged strictly, its batches from there restart the partition (as in
      // `offer`) instead of being dropped as behind the position until they pass it; sought there
      // again, as a batch of its reset may have been dropped before this check answered.
      st.strict = true
      return seek(startFrom === "earliest" ? m.low : m.high)
    }
    if (m.low <= fetchPos) return
    const moved = offer(tp, fetchPos, [], m.low, m.high, undefined, m.low)
    // Whatever the client reset to (the log end, for startFrom latest), it reads on from the log start;
    // a batch it fetched from elsewhere is stale.
    st.strict = true
    seek(m.low)
    return moved
  }

  const accept = (t: Tagged): Result.Result<PartitionBatch, undefined> => {
    const st = parts.get(t.key)
    if (st === undefined || st.epoch !== t.epoch || st.paused || st.starting) return Result.fail(undefined)
    st.deliveredPos = t.batch.nextOffset
    return Result.succeed(t.batch)
  }

  /** tp's state, when its assignment was announced (a caller may act on it). */
  const announced = (tp: TopicPartition): PartState | undefined => {
    const st = parts.get(tpKeyOf(tp))
    return st?.announced === true ? st : undefined
  }

  const assigned = (tp: TopicPartition) =>
    announced(tp) !== undefined
      ? Effect.void
      : Effect.fail(kafkaError(new NotAssigned({ topic: tp.topic, partition: tp.partition })))

  const tryPromise = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, KafkaError> =>
    Effect.tryPromise({ try: f, catch: (e) => (isKafkaError(e) ? e : errorOf(operation, e)) })

  // The queue is emptied at once, as deep a read-ahead as before (a shallower one costs rate:
  // docs/benchmarks.md), but what it held is judged one batch per pull, when the reader asks for
  // it: a seek, pause or revoke made while it handled the previous batch discards what is held
  // behind (judging the whole chunk at once delivered them after the seek or onRevoke).
  const held: Array<Tagged> = []
  const takeAccepted = Effect.gen(function*() {
    for (;;) {
      if (held.length === 0) held.push(...(yield* Queue.takeAll(queue)))
      const accepted = accept(held.shift()!)
      if (Result.isSuccess(accepted)) return [accepted.success] as const
    }
  })

  const consumer: Consumer = {
    groupId: options.groupId,
    batches: Stream.fromPull(Effect.succeed(takeAccepted)),
    assignment: Effect.sync(() => [...parts.values()].map((st) => st.tp)),
    seek: Effect.fn("KafkaSource.seek")(function*(tp: TopicPartition, offset: bigint) {
      yield* assigned(tp)
      if (offset < 0n) return yield* Effect.fail(negativeOffset("seek", tpKeyOf(tp), offset))
      const st = announced(tp)!
      st.epoch = nextEpoch()
      st.fetchPos = offset
      st.deliveredPos = offset
      st.strict = true
      if (st.starting) {
        st.sought = true
        return
      }
      driver.seek(tp, offset)
    }),
    pause: (tps) =>
      Effect.sync(() => {
        const now: Array<TopicPartition> = []
        for (const tp of tps) {
          const st = announced(tp)
          if (st === undefined || st.paused) continue
          st.paused = true
          st.epoch = nextEpoch()
          now.push(tp)
        }
        if (now.length > 0) driver.pause(now)
      }),
    resume: (tps) =>
      Effect.sync(() => {
        const now: Array<TopicPartition> = []
        for (const tp of tps) {
          const st = announced(tp)
          if (st === undefined || !st.paused) continue
          st.paused = false
          st.epoch = nextEpoch()
          if (st.starting) continue
          st.fetchPos = st.deliveredPos
          st.strict = true
          driver.seek(tp, st.deliveredPos)
          now.push(tp)
        }
        if (now.length > 0) driver.resume(now)
      }),
    commit: Effect.fn("KafkaSource.commit")(function*(offsets: ReadonlyArray<OffsetCommit>) {
      // Offsets of partitions this member no longer owns are ignored: the broker checks only the
      // generation, so a late commit would move the new owner's offset back (kafkajs, memory).
      const mine = offsets.filter((o) => parts.has(tpKey(o.topic, o.partition)))
      if (mine.length === 0) return
      yield* tryPromise("commit", () => driver.commit(mine))
    }),
    committed: (tps) => tryPromise("committed", () => driver.committed(tps)),
    watermarks: (topic) => tryPromise("watermarks", () => driver.watermarks(topic))
  }

  const revokeAll = async () => {
    const lost = [...parts.values()].map((st) => st.tp)
    parts.clear()
    // Nobody reads `batches` any more: a client waiting in `offer` for room is let go (kafkajs
    // would otherwise wait for it in disconnect, forever).
    Queue.shutdownUnsafe(queue)
    await chain.catch(() => undefined)
    if (lost.length > 0 && options.onRevoke && !failed) {
      await run(options.onRevoke(lost), "onRevoke").catch(() => undefined)
    }
  }

  const fetchPosition = (key: TpKey): bigint | undefined => {
    const st = parts.get(key)
    return st === undefined || st.starting || st.paused ? undefined : st.fetchPos
  }

  const core: ConsumerCore = { consumer, assign, offer, outOfRange, fetchPosition, fail, revokeAll }
  return core
})

/**
 * Offsets are never negative: kafkajs would take -1 and -2 for "latest" and "earliest", a broker
 * answers OFFSET_OUT_OF_RANGE and the memory log read from its start, so each layer would differ.
 */
const negativeOffset = (operation: string, key: TpKey, offset: bigint) =>
  kafkaError(new KafkaRejected({ operation, detail: `${key}: offset ${offset} (offsets are at least 0)` }))

export const isKafkaError = (e: unknown): e is KafkaError =>
  typeof e === "object" && e !== null && (e as { _tag?: unknown })._tag === "KafkaError"
