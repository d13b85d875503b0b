/**
 * Where a replayed SSE stream resumes. Every event carries an id, which a reconnecting client
 * (EventSource does by itself) sends back as `Last-Event-ID`: the instant of its last event, that
 * event's place among the events of that instant, and the snapshot ids the replay read. Events
 * of one instant come in the order key's total order, so a replay of the same snapshots from that
 * instant on, past that many of its events, goes on exactly after it: nothing repeated, nothing
 * skipped, and no commit made since mixed in. The end event's id is `end`: a client reconnecting
 * after it is told there is nothing more (204, which ends EventSource's reconnecting).
 */
import { BadParam } from "./params.ts"

export interface ReplayPosition {
  /** The last event's exchange_timestamp (epoch µs). */
  readonly at: number
  /** How many events of that instant came before it. */
  readonly index: number
  /** The snapshot id each table was read at ("-": the table had none). */
  readonly snapshots: { readonly trades: string | null; readonly quotes: string | null }
}

export const END_EVENT_ID = "end"

export const eventId = (p: ReplayPosition): string =>
  `${p.at}.${p.index}.${p.snapshots.trades ?? "-"}.${p.snapshots.quotes ?? "-"}`

const ID = /^(-?\d{1,16})\.(\d{1,9})\.(-?\d{1,20}|-)\.(-?\d{1,20}|-)$/

/** The position a `Last-Event-ID` names; `undefined` when there is none (a first connection). */
export const parseLastEventId = (text: string | undefined): ReplayPosition | typeof END_EVENT_ID | undefined | BadParam => {
  if (text === undefined || text === "") return undefined
  if (text === END_EVENT_ID) return END_EVENT_ID
  const m = ID.exec(text)
  const at = m === null ? NaN : Number(m[1])
  if (m === null || !Number.isSafeInteger(at)) {
    return new BadParam({ name: "Last-Event-ID", detail: `${JSON.stringify(text.slice(0, 80))} is not an id this replay gave` })
  }
  return { at, index: Number(m[2]), snapshots: { trades: m[3] === "-" ? null : m[3]!, quotes: m[4] === "-" ? null : m[4]! } }
}

/**
 * Numbers the events of a stream as they pass (`next` gives each event's position) and, when
 * resuming, says which to drop: those of the resumed instant up to and including the last one sent.
 */
export const positions = (snapshots: ReplayPosition["snapshots"], resume: ReplayPosition | undefined) => {
  let at: number | undefined
  let index = 0
  return {
    next: (eventAt: number): ReplayPosition | undefined => {
      index = eventAt === at ? index + 1 : 0
      at = eventAt
      const sent = resume !== undefined && eventAt === resume.at && index <= resume.index
      return sent ? undefined : { at: eventAt, index, snapshots }
    }
  }
}
