/**
 * A client's fetch out of range: the log start moved past the position (records deleted before
 * they were read, told as lost) or the log end fell below it (the topic re-created).
 */
import { type StartFrom, type TopicPartition, type TpKey, tpKeyOf } from "../../services/KafkaSource.ts"
import type { ConsumerDriver } from "./consumerDriver.ts"
import type { Offer } from "./consumerOffer.ts"
import type { PartState } from "./consumerPartState.ts"

export interface OutOfRangeOf {
  readonly parts: Map<TpKey, PartState>
  readonly driver: ConsumerDriver
  readonly startFrom: StartFrom
  readonly offer: Offer
}

export const makeOutOfRange = ({ driver, offer, parts, startFrom }: OutOfRangeOf) => async (tp: TopicPartition): Promise<void> => {
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
