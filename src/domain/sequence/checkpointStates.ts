/** A decoded checkpoint's streams made states again, for the tracker to take into its LRU. */
import type { ExchangeCalendars } from "./calendar.ts"
import type { CheckpointStream, StreamFilter } from "./checkpointFormat.ts"
import { type Seq, StreamState } from "./machine.ts"

const needsBig = (
  last: number | string,
  floor: number | string,
  gaps: ReadonlyArray<number | string>,
  crossSeq: number | string | undefined,
  crossFills: ReadonlyArray<number | string>
): boolean =>
  [last, floor, ...gaps, ...(crossSeq === undefined ? [] : [crossSeq]), ...crossFills].some((x) =>
    typeof x === "string" || !Number.isSafeInteger(x)
  )

/**
 * The states of the streams `filter` selects (all without one), in checkpoint order, each
 * `seenAt` when the checkpoint says it was last seen (without that, its head's exchange time).
 */
export const restoredStreams = (
  streams: ReadonlyArray<CheckpointStream>,
  filter: StreamFilter | undefined,
  calendars: ExchangeCalendars
): Array<StreamState> => {
  const restoring: Array<StreamState> = []
  let seenAt = 0
  for (
    const [exchange, symbol, last, lastTs, floor, prevTs, gaps, seenAfter, startTs, crossSeq, crossFrom, crossTs, crossFills = [], crossFillTs] of streams
  ) {
    seenAt = seenAfter === undefined ? lastTs : seenAt + seenAfter
    if (filter !== undefined && !filter(exchange, symbol)) continue
    const big = needsBig(last, floor, gaps, crossSeq, crossFills)
    const seq = (x: number | string): Seq => big ? BigInt(x) : x as number
    const s = new StreamState(exchange, symbol, calendars.forExchange(exchange), seq(last), lastTs)
    s.big = big
    s.floor = seq(floor)
    s.prevTs = prevTs ?? -Infinity
    s.startTs = startTs ?? Number.NaN
    s.gaps = gaps.map(seq)
    if (crossSeq !== undefined) {
      s.crossSeq = seq(crossSeq)
      s.crossFrom = crossFrom!
      s.crossTs = crossTs!
      if (crossFills.length > 0) s.crossFills = crossFills.map(seq)
      if (crossFillTs !== undefined && crossFills.length > 0) s.crossFillTs = crossFillTs
    }
    s.seenAt = seenAt
    restoring.push(s)
  }
  return restoring
}
