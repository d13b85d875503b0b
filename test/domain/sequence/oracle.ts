/**
 * An independent model of the sequence tracker, written from docs/sequence-integrity.md
 * alone (not from the implementation): bigint sequences throughout, open gaps as a list
 * of ranges, the LRU as a Map's insertion order, local dates from Intl directly. Slow
 * and simple on purpose; the differential test compares the tracker against it.
 */
import type { SequenceEvent } from "../../../src/domain/reference.ts"
import type { SequenceInput } from "../../../src/domain/sequence/tracker.ts"

type Kind = "OK" | "GAP" | "DUPLICATE" | "OUT_OF_ORDER" | "RESET" | "GAP_FILLED"

export interface OracleOptions {
  readonly capacity: number
  readonly idleMicros: number
  readonly dayChange: boolean
  readonly maxGaps: number
  /** Exchange -> IANA zone; others UTC. */
  readonly zones: Readonly<Record<string, string>>
}

interface Stream {
  last: bigint
  lastTs: number
  floor: bigint
  /** Last timestamp of the session before the latest RESET. */
  prevTs: number | undefined
  /** Exchange time of the latest RESET. */
  startTs: number | undefined
  /** First sequence past a boundary when the session began with a forward step. */
  crossSeq: bigint | undefined
  /** The old session's last timestamp then. */
  crossFrom: number
  crossTs: number
  /** Sequences below crossSeq filled by messages stamped in the new session (at most maxGaps ranges' worth). */
  crossFills: Array<[bigint, bigint]>
  /** Exchange time of the earliest of those fills: a restart begins the session no later. */
  crossFillTs: number | undefined
  /** Open gaps, inclusive, ascending. */
  gaps: Array<[bigint, bigint]>
}

const MAX_LONG = 2n ** 63n - 1n

export class Oracle {
  readonly #streams = new Map<string, Stream>()
  readonly #formats = new Map<string, Intl.DateTimeFormat>()
  readonly counts: Record<Kind, number> = { OK: 0, GAP: 0, DUPLICATE: 0, OUT_OF_ORDER: 0, RESET: 0, GAP_FILLED: 0 }
  evictions = 0
  readonly gapsGivenUp = { reset: 0, limit: 0 }

  readonly options: OracleOptions

  constructor(options: OracleOptions) {
    this.options = options
  }

  get size(): number {
    return this.#streams.size
  }

  #localDate(exchange: string, micros: number): string {
    const zone = this.options.zones[exchange] ?? "UTC"
    let f = this.#formats.get(zone)
    if (f === undefined) {
      f = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
      this.#formats.set(zone, f)
    }
    return f.format(Math.floor(micros / 1000))
  }

  /** A session boundary between `from` and the later `to`. */
  #boundary(exchange: string, from: number, to: number): boolean {
    return to - from >= this.options.idleMicros ||
      (this.options.dayChange && this.#localDate(exchange, from) !== this.#localDate(exchange, to))
  }

  /** Opens a range, giving up the oldest ones beyond maxGaps. */
  #bound(s: Stream) {
    while (s.gaps.length > this.options.maxGaps) {
      const [, hi] = s.gaps.shift()!
      s.floor = hi + 1n
      this.gapsGivenUp.limit++
    }
  }

  /** Adds `seq` to the new session's fills below crossSeq, keeping the highest maxGaps ranges. */
  #crossFill(s: Stream, seq: bigint, ts: number) {
    if (s.crossFillTs === undefined || ts < s.crossFillTs) s.crossFillTs = ts
    const all = [...s.crossFills, [seq, seq] as [bigint, bigint]].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    const merged: Array<[bigint, bigint]> = []
    for (const [lo, hi] of all) {
      const top = merged[merged.length - 1]
      if (top !== undefined && lo <= top[1] + 1n) top[1] = hi > top[1] ? hi : top[1]
      else merged.push([lo, hi])
    }
    s.crossFills = merged.slice(Math.max(0, merged.length - this.options.maxGaps))
  }

  #judge(exchange: string, s: Stream, seq: bigint, ts: number): Kind {
    if (
      (s.prevTs !== undefined && ts <= s.prevTs) ||
      (s.startTs !== undefined && ts < s.startTs && this.#boundary(exchange, ts, s.startTs))
    ) return "OUT_OF_ORDER"
    if (seq > s.last && ts > s.lastTs && this.#boundary(exchange, s.lastTs, ts)) {
      s.crossSeq = seq
      s.crossFrom = s.lastTs
      s.crossTs = ts
      s.crossFills = []
      s.crossFillTs = undefined
    }
    if (seq === s.last + 1n) {
      s.last = seq
      if (ts > s.lastTs) s.lastTs = ts
      return "OK"
    }
    if (seq > s.last + 1n) {
      s.gaps.push([s.last + 1n, seq - 1n])
      this.#bound(s)
      s.last = seq
      if (ts > s.lastTs) s.lastTs = ts
      return "GAP"
    }
    if (ts > s.lastTs && this.#boundary(exchange, s.lastTs, ts)) {
      this.gapsGivenUp.reset += s.gaps.length
      s.prevTs = s.lastTs
      s.startTs = ts
      s.last = seq
      s.floor = seq
      s.lastTs = ts
      s.gaps = []
      s.crossSeq = undefined
      s.crossFills = []
      s.crossFillTs = undefined
      return "RESET"
    }
    const i = s.gaps.findIndex(([lo, hi]) => lo <= seq && seq <= hi)
    if (i >= 0) {
      const [lo, hi] = s.gaps[i]!
      const pieces: Array<[bigint, bigint]> = []
      if (lo < seq) pieces.push([lo, seq - 1n])
      if (seq < hi) pieces.push([seq + 1n, hi])
      s.gaps.splice(i, 1, ...pieces)
      this.#bound(s)
      if (s.crossSeq !== undefined && seq < s.crossSeq && ts > s.crossFrom && this.#boundary(exchange, s.crossFrom, ts)) {
        this.#crossFill(s, seq, ts)
      }
      return "GAP_FILLED"
    }
    if (
      s.floor <= seq && s.crossSeq !== undefined && seq < s.crossSeq && ts > s.crossFrom && s.lastTs > s.crossFrom &&
      !s.crossFills.some(([lo, hi]) => lo <= seq && seq <= hi) && this.#boundary(exchange, s.crossFrom, ts)
    ) {
      const cross = s.crossSeq
      const old = s.gaps.filter(([, hi]) => hi < cross)
      this.gapsGivenUp.reset += old.length
      // [seq + 1, cross - 1] less the new session's fills.
      const open: Array<[bigint, bigint]> = []
      for (let x = seq + 1n; x < cross;) {
        const fill = s.crossFills.find(([lo, hi]) => lo <= x && x <= hi)
        if (fill !== undefined) {
          x = fill[1] + 1n
          continue
        }
        const next = s.crossFills.filter(([lo]) => lo > x).map(([lo]) => lo).sort((a, b) => (a < b ? -1 : 1))[0]
        const hi = next === undefined || next > cross ? cross - 1n : next - 1n
        open.push([x, hi])
        x = hi + 1n
      }
      s.gaps = [...open, ...s.gaps.filter(([lo]) => lo > cross)]
      s.crossFills = []
      s.floor = seq
      s.prevTs = s.crossFrom
      s.startTs = Math.min(ts, s.crossTs, s.crossFillTs ?? Infinity)
      s.crossFillTs = undefined
      s.crossSeq = undefined
      this.#bound(s)
      return "RESET"
    }
    if (s.floor <= seq) return "DUPLICATE"
    return "OUT_OF_ORDER"
  }

  observe(rows: ReadonlyArray<SequenceInput>, detectedAt: number): { duplicates: Array<number>; events: Array<SequenceEvent> } {
    const duplicates: Array<number> = []
    const events: Array<SequenceEvent> = []
    rows.forEach((r, index) => {
      const seq = r.source_sequence
      if (seq === null) {
        this.counts.OK++
        return
      }
      const key = JSON.stringify([r.exchange, r.symbol])
      const s = this.#streams.get(key)
      if (s === undefined) {
        this.#streams.set(key, { last: seq, lastTs: r.exchange_timestamp, floor: seq, prevTs: undefined, startTs: undefined, crossSeq: undefined, crossFrom: 0, crossTs: 0, crossFills: [], crossFillTs: undefined, gaps: [] })
        if (this.#streams.size > this.options.capacity) {
          this.#streams.delete(this.#streams.keys().next().value!)
          this.evictions++
        }
        this.counts.OK++
        return
      }
      // Most recently seen last.
      this.#streams.delete(key)
      this.#streams.set(key, s)
      const expected = s.last + 1n
      const kind = this.#judge(r.exchange, s, seq, r.exchange_timestamp)
      this.counts[kind]++
      if (kind === "OK") return
      if (kind === "DUPLICATE") duplicates.push(index)
      events.push({
        detected_at: detectedAt,
        symbol: r.symbol,
        exchange: r.exchange,
        kind,
        expected: expected > MAX_LONG ? null : expected,
        received: seq,
        gap_size: kind === "GAP"
          ? seq - expected
          : kind === "GAP_FILLED"
          ? s.gaps.reduce((n, [lo, hi]) => n + hi - lo + 1n, 0n)
          : null,
        exchange_timestamp: r.exchange_timestamp,
        message_id: r.message_id,
        kafka_topic: r.kafka_topic ?? null,
        kafka_partition: r.kafka_partition ?? null,
        kafka_offset: r.kafka_offset ?? null
      })
    })
    return { duplicates, events }
  }
}
