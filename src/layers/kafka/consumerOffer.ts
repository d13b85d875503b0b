/**
 * A fetched batch of one partition judged against the partition's position: delivered (trimmed
 * to the position), dropped as stale, or, fetched from beyond the position, checked against the
 * log start (records deleted, ADR-68) before it continues the partition.
 */
import { Effect, Queue } from "effect"
import { type KafkaError, type PartitionBatch, type TpKey, tpKeyOf } from "../../services/KafkaSource.ts"
import type { ConsumerCore } from "./consumerCore.ts"
import type { ConsumerDriver } from "./consumerDriver.ts"
import type { PartState, Tagged } from "./consumerPartState.ts"

export interface OfferOf {
  readonly parts: Map<TpKey, PartState>
  readonly queue: Queue.Queue<Tagged, KafkaError>
  readonly driver: ConsumerDriver
  readonly nextEpoch: () => number
}

export type Offer = ConsumerCore["offer"]

export const makeOffer = ({ driver, nextEpoch, parts, queue }: OfferOf): Offer => {
  const offer: Offer = (tp, fetchOffset, records, nextOffset, highWatermark, topicId, logStart) => {
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
  return offer
}
