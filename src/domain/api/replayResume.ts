/**
 * Where a replayed SSE stream resumes. Every event carries an id, which a reconnecting client
 * (EventSource does by itself) sends back as `Last-Event-ID`: the instant of its last event, that
 * event's place among the events of that instant, and the snapshot ids the replay read. Events
 * of one instant come in the order key's total order, so a replay of the same snapshots from that
 * instant on, past that many of its events, goes on exactly after it: nothing repeated, nothing
 * skipped, and no commit made since mixed in. The end event's id is `end`: a client reconnecting
 * after it is told there is nothing more (204, which ends EventSource's reconnecting).
 *
 * The id ends with a short fingerprint of the query the stream answers (ADR-97): the same position in
 * another query (other symbols, tables, range or snapshot) names other events, so a resume sent with
 * another query is refused (ReplayResumeMismatch), not answered from the wrong place. An id without
 * one (given before ADR-97) is taken as it was.
 */
import { hash } from "node:crypto"
import { Schema } from "effect"
import { BadParam, type SnapshotParam } from "./params.ts"

export interface ReplayPosition {
  /** The last event's exchange_timestamp (epoch µs). */
  readonly at: number
  /** How many events of that instant came before it. */
  readonly index: number
  /** The snapshot id each table was read at ("-": the table had none). */
  readonly snapshots: { readonly trades: string | null; readonly quotes: string | null }
}

/** A position as a `Last-Event-ID` names it, with the fingerprint of its query (undefined: an id from before ADR-97). */
export interface ResumePosition extends ReplayPosition {
  readonly query: string | undefined
}

export const END_EVENT_ID = "end"

/** What decides which events a replay sends, in order: `speed` and the format do not. */
export interface ReplayQueryShape {
  readonly from: number
  readonly to: number
  /** Sorted, each once (parseSymbols); empty: every symbol. */
  readonly symbols: ReadonlyArray<string>
  readonly tables: ReadonlyArray<string>
  readonly snapshot: SnapshotParam
}

/** 8 base64url characters (48 bits) of a SHA-256 over the query's canonical form. */
export const queryFingerprint = (q: ReplayQueryShape): string => {
  const snapshot = q.snapshot._tag === "Latest" ? "latest" : q.snapshot._tag === "ById" ? `id:${q.snapshot.snapshotId}` : `asof:${q.snapshot.timestampMs}`
  const canonical = JSON.stringify([q.from, q.to, [...new Set(q.symbols)].sort(), [...new Set(q.tables)].sort(), snapshot])
  return hash("sha256", canonical, "base64url").slice(0, 8)
}

export const eventId = (p: ReplayPosition, query: string): string =>
  `${p.at}.${p.index}.${p.snapshots.trades ?? "-"}.${p.snapshots.quotes ?? "-"}.${query}`

const ID = /^(-?\d{1,16})\.(\d{1,9})\.(-?\d{1,20}|-)\.(-?\d{1,20}|-)(?:\.([A-Za-z0-9_-]{8}))?$/

/** A `Last-Event-ID` of another query than the request's (ADR-97): 400 `resume_mismatch`. */
export class ReplayResumeMismatch extends Schema.TaggedError<ReplayResumeMismatch>()("ReplayResumeMismatch", {
  /** The fingerprint the id carries, and this request's. */
  sent: Schema.String,
  expected: Schema.String
}) {
  override get message() {
    return `Last-Event-ID belongs to another replay (query ${this.sent}, this request's is ${this.expected}): its symbols, tables, from, to, snapshot_id or as_of differ. Resume with the URL the stream was opened with, or start this replay without Last-Event-ID`
  }
}

/** The resume `position` refused when its fingerprint is not `expected`; an id without one passes. */
export const checkResume = (position: ResumePosition, expected: string): ResumePosition | ReplayResumeMismatch =>
  position.query === undefined || position.query === expected ? position : new ReplayResumeMismatch({ sent: position.query, expected })

/** The position a `Last-Event-ID` names; `undefined` when there is none (a first connection). */
export const parseLastEventId = (text: string | undefined): ResumePosition | typeof END_EVENT_ID | undefined | BadParam => {
  if (text === undefined || text === "") return undefined
  if (text === END_EVENT_ID) return END_EVENT_ID
  const m = ID.exec(text)
  const at = m === null ? NaN : Number(m[1])
  if (m === null || !Number.isSafeInteger(at)) {
    return new BadParam({ name: "Last-Event-ID", detail: `${JSON.stringify(text.slice(0, 80))} is not an id this replay gave` })
  }
  return { at, index: Number(m[2]), snapshots: { trades: m[3] === "-" ? null : m[3]!, quotes: m[4] === "-" ? null : m[4]! }, query: m[5] }
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
