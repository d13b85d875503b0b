/**
 * The sequence state machine of one stream, (exchange, symbol): given the stream's
 * state and the next message (source_sequence, exchange_timestamp) it returns a verdict
 * and updates the state. Rules, in order, for a message of sequence `seq` at `ts` on a
 * stream whose highest sequence is `last` (docs/sequence-integrity.md):
 *
 *   0. no source_sequence                       → OK, the state is untouched
 *   1. first message of the stream              → OK, the stream starts at seq
 *   2. ts <= the last timestamp of the session before the latest RESET, or a session
 *      boundary lies between ts and the later start of the current session
 *                                               → OUT_OF_ORDER (a straggler of an old session)
 *   3. seq = last + 1                           → OK
 *   4. seq > last + 1                           → GAP of [last + 1, seq - 1], remembered as open
 *   5. seq <= last after a session boundary     → RESET: the stream starts again at seq
 *   6. seq <= last inside an open gap           → GAP_FILLED (late, never seen)
 *   7. seq below the first sequence of a session that began with a forward step, stamped
 *      past the boundary that began it      → RESET (the numbering restarted; not seen this session)
 *   8. floor <= seq <= last otherwise           → DUPLICATE (this sequence was seen)
 *   9. seq < floor                              → OUT_OF_ORDER (older than what is tracked)
 *
 * A session boundary lies between the stream's head (at lastTs, the latest exchange time of the
 * messages that raised `last` this session) and a newer message at ts when ts - lastTs >= idle
 * time, or when their local dates differ in the exchange's time zone.
 *
 * State is small and bounded: last, lastTs, floor, the previous session's last
 * timestamp, the current session's start, the first sequence of a session that began with a
 * forward step (and the old head's time), and at most `maxGaps` open gap ranges; when a
 * new range would exceed that, the oldest range is given up (counted under `limit`) and the
 * floor moves above it. Ranges of the old session still open at a RESET are given up too
 * (counted under `reset`).
 *
 * Sequences are bigint in the domain. A stream keeps them as numbers while every value
 * is a safe integer and switches to bigint (exactly, for that stream only) on the first
 * value beyond 2^53 - 1.
 */
import type { EpochMicros } from "../time.ts"
import type { ZoneCalendar } from "./calendar.ts"

const MICROS_PER_MS = 1000
const MS_PER_DAY = 86_400_000
/**
 * A UTC offset grows by at most this much around a local midnight (DST: 1-2 hours; the
 * day-skipping changes, Samoa 2011 and Kwajalein 1993, fell on midnight itself): the local
 * day cannot end earlier than this before the midnight of the current offset.
 */
const MAX_OFFSET_JUMP_MS = 3 * 3_600_000

export const OK = 0
export const GAP = 1
export const DUPLICATE = 2
const OUT_OF_ORDER = 3
const RESET = 4
export const GAP_FILLED = 5
export type VerdictCode = 0 | 1 | 2 | 3 | 4 | 5

/** Verdict names by code; all but OK are SequenceEventKind values. */
export const verdictNames = ["OK", "GAP", "DUPLICATE", "OUT_OF_ORDER", "RESET", "GAP_FILLED"] as const
export type VerdictName = (typeof verdictNames)[number]

/** A sequence as the state keeps it: number while safe, bigint once a stream needs it. */
export type Seq = number | bigint

export interface SequenceRules {
  /** A newer message at least this long after the stream's head starts a new session. */
  readonly idleMicros: number
  /** A change of local date (exchange time zone) starts a new session. */
  readonly dayChange: boolean
  /** Open gap ranges kept per stream; beyond it the oldest is given up. */
  readonly maxGaps: number
}

export const defaultRules: SequenceRules = {
  idleMicros: 30 * 60 * 1_000_000,
  dayChange: true,
  maxGaps: 64
}

/** The empty `crossFills` every stream shares until it has one (never mutated: the heap a stream costs). */
const NO_FILLS: Array<Seq> = []

/** One stream's state. The two links make it a node of the tracker's LRU list. */
export class StreamState {
  /** Sequences are bigints (some value exceeded 2^53 - 1). */
  big = false
  /** Highest sequence of the session. */
  last: Seq
  /** Latest exchange timestamp of the messages that moved `last` in this session (or started it). */
  lastTs: EpochMicros
  /** Lowest sequence the state knows about: session start, or above the last given-up gap. */
  floor: Seq
  /** `lastTs` of the session before the latest RESET, -Infinity when there was none. */
  prevTs: number = -Infinity
  /**
   * Exchange timestamp of the RESET that began the session; NaN without one (or from a checkpoint
   * older than it). An old session's message can be stamped after its head (`prevTs`), so
   * `prevTs` alone does not tell it from the current session's.
   */
  startTs: number = Number.NaN
  /**
   * The first sequence past a session boundary when the session began with a forward step (the
   * numbering may have gone on, or restarted with its first messages late); null otherwise.
   * Sequences below it were seen in the old session only.
   */
  crossSeq: Seq | null = null
  /** `lastTs` of the old session when `crossSeq` was set (NaN without one). */
  crossFrom: number = Number.NaN
  /** Exchange time of the forward step (NaN without one): the session's first message seen. */
  crossTs: number = Number.NaN
  /**
   * Sequences below `crossSeq` seen in the new session (late fills stamped past the boundary), as
   * inclusive ranges [lo0, hi0, ...], ascending: a re-send of one is a DUPLICATE, not a restart.
   */
  crossFills: Array<Seq> = NO_FILLS
  /**
   * Exchange time of the earliest of those late fills (NaN without one): stamped before the forward
   * step, it was of the session too, so a restart (rule 7) begins the session no later (rule 2).
   */
  crossFillTs: number = Number.NaN
  /**
   * Cache, not state: before this exchange time no newer message can be on another local day
   * than the head (a lower bound; -Infinity: not known). Keeps the boundary check of forward
   * steps to two comparisons a message.
   */
  dayEnd: number = -Infinity
  /** Open gaps as inclusive ranges, flat [lo0, hi0, lo1, hi1, ...], ascending. */
  gaps: Array<Seq> = []
  /** When the tracker last saw the stream (its clock, us): orders the LRU, across checkpoints too. */
  seenAt = 0
  older: StreamState | null = null
  newer: StreamState | null = null

  readonly exchange: string
  readonly symbol: string
  readonly calendar: ZoneCalendar

  constructor(exchange: string, symbol: string, calendar: ZoneCalendar, seq: Seq, ts: EpochMicros) {
    this.exchange = exchange
    this.symbol = symbol
    this.calendar = calendar
    this.last = seq
    this.floor = seq
    this.lastTs = ts
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER
/** The largest source_sequence (a long): a stream there expects nothing next. */
export const MAX_LONG = 2n ** 63n - 1n

/** The sequence as the state of a new stream keeps it. */
const toSeq = (seq: bigint): Seq => {
  const n = Number(seq)
  return n <= MAX_SAFE && n >= -MAX_SAFE ? n : seq
}

export const newStream = (
  exchange: string,
  symbol: string,
  calendar: ZoneCalendar,
  seq: bigint,
  ts: EpochMicros
): StreamState => {
  const s = new StreamState(exchange, symbol, calendar, toSeq(seq), ts)
  s.big = typeof s.last === "bigint"
  return s
}

const toBig = (s: StreamState) => {
  s.big = true
  s.last = BigInt(s.last)
  s.floor = BigInt(s.floor)
  if (s.crossSeq !== null) s.crossSeq = BigInt(s.crossSeq)
  s.gaps = s.gaps.map((g) => BigInt(g))
  if (s.crossFills !== NO_FILLS) s.crossFills = s.crossFills.map((g) => BigInt(g))
}

/** Missing sequences still open on the stream. */
export const openMissing = (s: StreamState): bigint => {
  let total = 0n
  for (let i = 0; i < s.gaps.length; i += 2) total += BigInt(s.gaps[i + 1]!) - BigInt(s.gaps[i]!) + 1n
  return total
}

/**
 * Why an open gap range was given up: `reset`, still open at a RESET (a feed that never fills a
 * gap gives it up at the next session, normally every day); `limit`, the oldest of a stream
 * beyond `maxGaps` open ranges (a stream losing messages badly, or a limit too low).
 */
export const gapGiveUpReasons = ["reset", "limit"] as const
export type GapGiveUpReason = (typeof gapGiveUpReasons)[number]

/** Verdicts of one stream at a time, with the rules and the count of given-up gaps. */
export class SequenceMachine {
  readonly rules: SequenceRules
  /** Open gap ranges abandoned, by reason. */
  readonly gapsGivenUp: Record<GapGiveUpReason, number> = { reset: 0, limit: 0 }

  constructor(rules: SequenceRules = defaultRules) {
    this.rules = rules
  }

  /** Rules 2-9 for a stream that exists; updates `s` in place. */
  step(s: StreamState, seq: bigint, ts: EpochMicros): VerdictCode {
    if (!s.big) {
      const n = Number(seq)
      if (n <= MAX_SAFE && n >= -MAX_SAFE) return this.#step(s, n, ts, 1)
      toBig(s)
    }
    return this.#step(s, seq, ts, 1n)
  }

  /**
   * One body for both representations: `seq`, `s.last`, `s.floor`, `s.gaps` and `one`
   * are all numbers or all bigints (the `any` only erases that pairing from the types).
   */
  #step(s: StreamState, seq: any, ts: EpochMicros, one: any): VerdictCode {
    // A straggler stamped on the old side of the boundary that began this session: judged against
    // this session it would be a false GAP (moving the head back a session) or dropped as DUPLICATE.
    if (ts <= s.prevTs || (ts < s.startTs && this.#apart(s, ts, s.startTs))) return OUT_OF_ORDER
    const last: any = s.last
    if (seq > last) {
      const expected = last + one
      // Two comparisons a message; the exact check only near a boundary.
      if (ts >= s.dayEnd || ts - s.lastTs >= this.rules.idleMicros) this.#forward(s, seq, ts)
      s.last = seq
      // A head stamped back keeps the session's latest head time: the stream was already there,
      // and measured from the earlier stamp a copy of a message before it looked past a boundary (RESET).
      if (ts > s.lastTs) s.lastTs = ts
      if (seq === expected) return OK
      this.#openGap(s, expected, seq - one)
      return GAP
    }
    if (ts > s.lastTs && this.#apart(s, s.lastTs, ts)) return this.#reset(s, seq, ts)
    if (seq < s.floor) return OUT_OF_ORDER
    if (s.gaps.length > 0 && this.#fill(s, seq, one)) {
      if (s.crossSeq !== null && seq < s.crossSeq && ts > s.crossFrom && this.#apart(s, s.crossFrom, ts)) this.#crossFill(s, seq, ts, one)
      return GAP_FILLED
    }
    // Seen only in the old session, and this message is of the new one: the numbering restarted
    // (its first messages came after later ones). Not a duplicate: dropping it would lose it.
    if (s.crossSeq !== null && this.#restarted(s, seq, ts)) return this.#restart(s, seq, ts, one)
    return DUPLICATE
  }

  /** Rule 5: a backwards jump past a boundary from the head; the stream starts again at `seq`. */
  #reset(s: StreamState, seq: Seq, ts: EpochMicros): VerdictCode {
    this.gapsGivenUp.reset += s.gaps.length / 2
    s.prevTs = s.lastTs
    s.startTs = ts
    s.last = seq
    s.floor = seq
    s.lastTs = ts
    s.gaps = []
    s.crossSeq = null
    s.crossFrom = Number.NaN
    s.crossTs = Number.NaN
    s.crossFills = NO_FILLS
    s.crossFillTs = Number.NaN
    s.dayEnd = -Infinity
    return RESET
  }

  /** Rule 7: `seq`, below the forward step that began the session, is stamped in the new session. */
  #restarted(s: StreamState, seq: Seq, ts: EpochMicros): boolean {
    return seq < s.crossSeq! && ts > s.crossFrom && s.lastTs > s.crossFrom && !inRanges(s.crossFills, seq) &&
      this.#apart(s, s.crossFrom, ts)
  }

  /**
   * A late fill below `crossSeq` stamped in the new session: `seq` was seen in this session. At most
   * `maxGaps` ranges; beyond, the lowest is forgotten (a re-send of it is then a RESET: kept, not dropped).
   */
  #crossFill(s: StreamState, seq: any, ts: EpochMicros, one: any) {
    if (s.crossFills === NO_FILLS) s.crossFills = []
    // NaN (none yet) compares false.
    if (!(ts >= s.crossFillTs)) s.crossFillTs = ts
    const f: Array<any> = s.crossFills
    let i = 0
    while (i < f.length && f[i + 1] + one < seq) i += 2
    const joinsBelow = i < f.length && f[i + 1] + one === seq
    const joinsAbove = joinsBelow ? i + 2 < f.length && f[i + 2] === seq + one : i < f.length && f[i] === seq + one
    if (joinsBelow && joinsAbove) f.splice(i + 1, 2)
    else if (joinsBelow) f[i + 1] = seq
    else if (joinsAbove) f[i] = seq
    else f.splice(i, 0, seq, seq)
    while (f.length > 2 * this.rules.maxGaps) f.splice(0, 2)
  }

  /** A forward step near a boundary: marks a session begun by it, and renews the day cache. */
  #forward(s: StreamState, seq: Seq, ts: EpochMicros) {
    if (ts > s.lastTs && this.#apart(s, s.lastTs, ts)) {
      s.crossSeq = seq
      s.crossFrom = s.lastTs
      s.crossTs = ts
      s.crossFills = NO_FILLS
      s.crossFillTs = Number.NaN
    }
    s.dayEnd = this.#dayEnd(s, ts > s.lastTs ? ts : s.lastTs)
  }

  /** When the local day of `ts` ends, or a lower bound of it on a day the offset changes. */
  #dayEnd(s: StreamState, ts: EpochMicros): number {
    if (!this.rules.dayChange) return Infinity
    const ms = Math.floor(ts / MICROS_PER_MS)
    const offset = s.calendar.offsetMs(ms)
    const midnight = (Math.floor((ms + offset) / MS_PER_DAY) + 1) * MS_PER_DAY - offset
    // The same offset just before midnight: no change between (offsets change at most twice a year).
    const end = s.calendar.offsetMs(midnight - 1) === offset ? midnight : midnight - MAX_OFFSET_JUMP_MS
    return end * MICROS_PER_MS
  }

  /**
   * RESET of a session that began with a forward step (at `crossSeq`): it restarted its numbering
   * at or below `seq`. The sequences between `seq` and `crossSeq` are open (not seen in this
   * session); the old session's gaps, all below `crossSeq`, are given up.
   */
  #restart(s: StreamState, seq: any, ts: EpochMicros, one: any): VerdictCode {
    const cross: any = s.crossSeq
    const g: Array<any> = s.gaps
    let i = 0
    while (i < g.length && g[i] < cross) i += 2
    this.gapsGivenUp.reset += i / 2
    const rest = g.slice(i)
    // [seq + 1, cross - 1] was not seen in this session but for its late fills.
    const open: Array<any> = []
    let lo = seq + one
    const f: Array<any> = s.crossFills
    for (let j = 0; j < f.length; j += 2) {
      if (f[j + 1] < lo) continue
      if (f[j] > lo) open.push(lo, f[j] - one)
      lo = f[j + 1] + one
    }
    if (lo < cross) open.push(lo, cross - one)
    s.gaps = [...open, ...rest]
    s.floor = seq
    s.prevTs = s.crossFrom
    // The session began at its first message seen: the step, a late fill or this one.
    s.startTs = Math.min(ts, s.crossTs, Number.isNaN(s.crossFillTs) ? Infinity : s.crossFillTs)
    s.crossSeq = null
    s.crossFrom = Number.NaN
    s.crossTs = Number.NaN
    s.crossFills = NO_FILLS
    s.crossFillTs = Number.NaN
    this.#bound(s)
    return RESET
  }

  /** A session boundary lies between `from` and the later `to`. */
  #apart(s: StreamState, from: EpochMicros, to: EpochMicros): boolean {
    return to - from >= this.rules.idleMicros ||
      (this.rules.dayChange && s.calendar.localDay(to) !== s.calendar.localDay(from))
  }

  #openGap(s: StreamState, lo: Seq, hi: Seq) {
    s.gaps.push(lo, hi)
    this.#bound(s)
  }

  #bound(s: StreamState) {
    while (s.gaps.length > 2 * this.rules.maxGaps) {
      const hi: any = s.gaps[1]
      s.floor = hi + (s.big ? 1n : 1)
      s.gaps.splice(0, 2)
      this.gapsGivenUp.limit++
    }
  }

  /** Takes `seq` out of the open range holding it; false when no range holds it. */
  #fill(s: StreamState, seq: any, one: any): boolean {
    const g: Array<any> = s.gaps
    for (let i = 0; i < g.length; i += 2) {
      const lo = g[i], hi = g[i + 1]
      if (seq < lo) return false
      if (seq > hi) continue
      if (lo === hi) g.splice(i, 2)
      else if (seq === lo) g[i] = lo + one
      else if (seq === hi) g[i + 1] = hi - one
      else {
        g.splice(i + 1, 0, seq - one, seq + one)
        this.#bound(s)
      }
      return true
    }
    return false
  }
}

/** Whether `seq` lies in one of the inclusive ranges [lo0, hi0, ...]. */
const inRanges = (ranges: ReadonlyArray<Seq>, seq: Seq): boolean => {
  for (let i = 0; i < ranges.length; i += 2) if (ranges[i]! <= seq && seq <= ranges[i + 1]!) return true
  return false
}

/** A message as the state machine sees it. */
export interface SequenceMessage {
  readonly source_sequence: bigint | null
  readonly exchange_timestamp: EpochMicros
  readonly message_id: string
}
