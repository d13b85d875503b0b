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
import { Effect, Queue } from "effect"
import type {
  Consumer,
  KafkaError,
  KafkaRecord,
  StartFrom,
  SubscribeOptions,
  TopicPartition,
  TpKey
} from "../../services/KafkaSource.ts"
import { makeAssignments } from "./consumerAssignments.ts"
import { acceptedBatches } from "./consumerBatches.ts"
import { callbackRunner } from "./consumerCallbacks.ts"
import { consumerOf } from "./consumerControls.ts"
import type { ConsumerDriver } from "./consumerDriver.ts"
import { makeOffer } from "./consumerOffer.ts"
import { makeOutOfRange } from "./consumerOutOfRange.ts"
import type { PartState, Tagged } from "./consumerPartState.ts"
import { startOffsetsOf } from "./consumerStartOffsets.ts"

export type { ConsumerDriver } from "./consumerDriver.ts"
export { isKafkaError } from "./consumerErrors.ts"

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
  let failed = false
  // One counter for every partition state: a partition revoked and assigned again gets a new
  // state whose epochs never repeat the old one's, so batches buffered before the revoke stay stale.
  let epochs = 0
  const nextEpoch = () => ++epochs

  const run = callbackRunner<E, R>(context)

  const fail = (error: KafkaError) => {
    if (failed) return
    failed = true
    Effect.runSync(Queue.fail(queue, error))
  }

  const { assign, inFlight } = makeAssignments({
    options,
    context,
    driver,
    parts,
    nextEpoch,
    run,
    startOffsets: startOffsetsOf({ options, driver, startFrom, run }),
    fail,
    errorOf
  })
  const offer = makeOffer({ parts, queue, driver, nextEpoch })
  const outOfRange = makeOutOfRange({ parts, driver, startFrom, offer })
  const consumer = consumerOf({ options, driver, parts, nextEpoch, errorOf, batches: acceptedBatches(queue, parts) })

  const revokeAll = async () => {
    const lost = [...parts.values()].map((st) => st.tp)
    parts.clear()
    // Nobody reads `batches` any more: a client waiting in `offer` for room is let go (kafkajs
    // would otherwise wait for it in disconnect, forever).
    Queue.shutdownUnsafe(queue)
    await inFlight().catch(() => undefined)
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
