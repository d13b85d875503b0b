/**
 * The states of many streams, (exchange, symbol), in a bounded LRU, judged a batch at a
 * time. Plain synchronous code (the hot path of ingestion); the SequenceTracker service
 * wraps it. Checkpoints are compact, deterministic JSON (docs/sequence-integrity.md).
 */
import { Result, Schema } from "effect"
import type { SequenceEvent } from "../reference.ts"
import type { EpochMicros } from "../time.ts"
import { defaultExchangeZones, ExchangeCalendars } from "./calendar.ts"
import {
  defaultRules,
  DUPLICATE,
  GAP,
  GAP_FILLED,
  MAX_LONG,
  newStream,
  OK,
  openMissing,
  type GapGiveUpReason,
  type Seq,
  SequenceMachine,
  type SequenceMessage,
  type SequenceRules,
  StreamState,
  type VerdictName,
  verdictNames
} from "./machine.ts"

/** A message as ingestion has it: a TradeRow or QuoteRow fits as is. */
export interface SequenceInput extends SequenceMessage {
  readonly exchange: string
  readonly symbol: string
  readonly kafka_topic?: string | null | undefined
  readonly kafka_partition?: number | null | undefined
  readonly kafka_offset?: bigint | null | undefined
}

export interface Observation {
  /** Indices, ascending, of the input rows judged DUPLICATE: they are not written. */
  readonly duplicates: ReadonlyArray<number>
  /** One sequence_events row per verdict other than OK, in input order. */
  readonly events: ReadonlyArray<SequenceEvent>
}

export interface SequenceStats {
  readonly verdicts: Readonly<Record<VerdictName, number>>
  readonly evictions: number
  /**
   * Open gap ranges abandoned, by reason: `reset`, still open at a RESET; `limit`, the oldest of a
   * stream beyond maxGaps.
   */
  readonly gapsGivenUp: Readonly<Record<GapGiveUpReason, number>>
  readonly streams: number
  readonly capacity: number
}

export interface TrackerOptions extends SequenceRules {
  /** Streams kept; the least recently seen is evicted beyond it. */
  readonly capacity: number
  /** IANA zone per exchange, for the trading-day rule. */
  readonly zones: Readonly<Record<string, string>>
  /** Zone of exchanges missing from `zones`. */
  readonly defaultZone: string
}

export const defaultTrackerOptions: TrackerOptions = {
  ...defaultRules,
  capacity: 10_000,
  zones: defaultExchangeZones,
  defaultZone: "UTC"
}

/** Selects streams by key, for partial checkpoints and forget. */
export type StreamFilter = (exchange: string, symbol: string) => boolean

/** Calls `f` with each row that is written (all but the duplicates) and its index among `rows`. */
export const forEachKept = <R>(rows: ReadonlyArray<R>, observation: Observation, f: (row: R, index: number) => void): void => {
  let d = 0
  for (let i = 0; i < rows.length; i++) {
    if (observation.duplicates[d] === i) d++
    else f(rows[i]!, i)
  }
}

// Checkpoint: {"v":1,"streams":[[exchange, symbol, last, lastTs, floor, prevTs | null, [lo, hi, ...], seenAt, startTs?,
// crossSeq?, crossFrom?, crossTs?, crossFills?], ...]}
// least recently seen first. Sequences are JSON numbers, or decimal strings in a stream that needs bigints.
// seenAt is when the tracker last saw the stream, less the seenAt of the stream before (a few digits: the
// list is in seenAt order); older checkpoints have none. startTs, the exchange time of the RESET that began
// the session, only follows a prevTs (older checkpoints lack it: stragglers are then told by prevTs alone);
// null in its place when crossSeq, crossFrom and crossTs follow (a session begun by a forward step), then
// crossFills, that session's late fills below crossSeq as ranges, when it has any.
const SeqJson = Schema.Union([Schema.Int, Schema.String.check(Schema.isPattern(/^-?\d+$/))])
const StreamJson = Schema.Tuple([
  Schema.String,
  Schema.String,
  SeqJson,
  Schema.Int,
  SeqJson,
  Schema.NullOr(Schema.Int),
  Schema.Array(SeqJson),
  Schema.optionalKey(Schema.Int),
  Schema.optionalKey(Schema.NullOr(Schema.Int)),
  Schema.optionalKey(SeqJson),
  Schema.optionalKey(Schema.Int),
  Schema.optionalKey(Schema.Int),
  Schema.optionalKey(Schema.Array(SeqJson))
])
const CheckpointJson = Schema.fromJsonString(Schema.Struct({ v: Schema.Literal(1), streams: Schema.Array(StreamJson) }))
const decodeCheckpoint = Schema.decodeUnknownResult(CheckpointJson)

const encodeSeq = (x: Seq): number | string => typeof x === "bigint" ? x.toString() : x

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
 * Why a decoded stream is no state the machine reaches, or undefined. Reachable: floor <= last;
 * the previous session ends before the head; open gaps are ascending ranges lo <= hi, each
 * above a seen sequence (the floor, or one between it and the range below) and below the head.
 */
const unreachableState = (stream: typeof StreamJson.Type): string | undefined => {
  const [, , lastJson, lastTs, floorJson, prevTs, gapsJson, , startTs, crossJson, crossFrom, crossTs, fillsJson] = stream
  // Exact whatever the size (a restore is rare: bigints cost nothing that matters here).
  const last = BigInt(lastJson)
  const floor = BigInt(floorJson)
  if (floor > last) return "floor above the last sequence"
  if (prevTs !== null && prevTs >= lastTs) return "previous session does not end before the head"
  if (startTs !== undefined && startTs !== null && (prevTs === null || startTs <= prevTs)) return "session start not after the previous session"
  if ((crossJson === undefined) !== (crossTs === undefined)) return "forward session start without its times"
  if (crossFrom !== undefined && crossTs !== undefined && crossFrom >= crossTs) return "forward session start not after the old head"
  const cross = crossJson === undefined ? undefined : BigInt(crossJson)
  if (cross !== undefined && cross > last) return "forward session start above the last sequence"
  let seen = floor
  for (let i = 0; i < gapsJson.length; i += 2) {
    const lo = BigInt(gapsJson[i]!), hi = BigInt(gapsJson[i + 1]!)
    if (!(seen < lo && lo <= hi && hi < last)) return "open gaps not ascending, disjoint ranges between floor and last"
    if (cross !== undefined && lo <= cross && cross <= hi) return "forward session start inside an open gap"
    seen = hi + 1n
  }
  if (fillsJson !== undefined) {
    if (cross === undefined || fillsJson.length % 2 !== 0) return "late fills without a forward session start"
    let below: bigint | undefined
    for (let i = 0; i < fillsJson.length; i += 2) {
      const lo = BigInt(fillsJson[i]!), hi = BigInt(fillsJson[i + 1]!)
      if (!((below === undefined || below < lo) && lo <= hi && hi < cross)) return "late fills not ascending, disjoint ranges below the forward session start"
      for (let j = 0; j < gapsJson.length; j += 2) {
        if (lo <= BigInt(gapsJson[j + 1]!) && BigInt(gapsJson[j]!) <= hi) return "late fills inside an open gap"
      }
      below = hi + 1n
    }
  }
  return undefined
}

/** A stream as a checkpoint holds it; `seenBefore`: when the stream before it in that checkpoint was seen. */
const checkpointEntry = (s: StreamState, seenBefore: number): unknown => [
  s.exchange,
  s.symbol,
  encodeSeq(s.last),
  s.lastTs,
  encodeSeq(s.floor),
  s.prevTs === -Infinity ? null : s.prevTs,
  s.gaps.map(encodeSeq),
  s.seenAt - seenBefore,
  ...(s.crossSeq !== null
    ? [
      s.prevTs === -Infinity || Number.isNaN(s.startTs) ? null : s.startTs,
      encodeSeq(s.crossSeq),
      s.crossFrom,
      s.crossTs,
      ...(s.crossFills.length > 0 ? [s.crossFills.map(encodeSeq)] : [])
    ]
    : s.prevTs === -Infinity || Number.isNaN(s.startTs)
    ? []
    : [s.startTs])
]

export class SequenceTrackerState {
  readonly options: TrackerOptions
  readonly machine: SequenceMachine
  readonly #calendars: ExchangeCalendars
  readonly #byExchange = new Map<string, Map<string, StreamState>>()
  /** LRU list: `newest` was seen last, `oldest` is evicted first. */
  #newest: StreamState | null = null
  #oldest: StreamState | null = null
  #size = 0
  #evictions = 0
  readonly #verdicts = new Float64Array(verdictNames.length)

  constructor(options: Partial<TrackerOptions> = {}) {
    this.options = { ...defaultTrackerOptions, ...options }
    if (!(Number.isInteger(this.options.capacity) && this.options.capacity > 0)) {
      throw new RangeError(`capacity must be a positive integer, got ${this.options.capacity}`)
    }
    if (!(Number.isInteger(this.options.maxGaps) && this.options.maxGaps > 0)) {
      throw new RangeError(`maxGaps must be a positive integer, got ${this.options.maxGaps}`)
    }
    this.machine = new SequenceMachine(this.options)
    this.#calendars = new ExchangeCalendars(this.options.zones, this.options.defaultZone)
  }

  get size(): number {
    return this.#size
  }

  /** Exchanges with a tracked stream (for tests). */
  get exchanges(): number {
    return this.#byExchange.size
  }

  /** Judges `rows` in order. `detectedAt` stamps the events. */
  observe(rows: ReadonlyArray<SequenceInput>, detectedAt: EpochMicros): Observation {
    const duplicates: Array<number> = []
    const events: Array<SequenceEvent> = []
    const verdicts = this.#verdicts
    const machine = this.machine
    let exchange: string | undefined
    let symbols: Map<string, StreamState> | undefined
    // Never before the newest stream (a clock stepping back, a checkpoint from a clock ahead):
    // the LRU list stays in seenAt order, which restore merges into.
    const seenAt = this.#newest === null ? detectedAt : Math.max(detectedAt, this.#newest.seenAt)
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!
      const seq = r.source_sequence
      if (seq === null) {
        verdicts[OK] = verdicts[OK]! + 1
        continue
      }
      if (r.exchange !== exchange) {
        exchange = r.exchange
        symbols = this.#byExchange.get(exchange)
        if (symbols === undefined) {
          symbols = new Map()
          this.#byExchange.set(exchange, symbols)
        }
      }
      let s = symbols!.get(r.symbol)
      if (s === undefined) {
        s = newStream(exchange, r.symbol, this.#calendars.forExchange(exchange), seq, r.exchange_timestamp)
        s.seenAt = seenAt
        symbols!.set(r.symbol, s)
        this.#link(s)
        if (++this.#size > this.options.capacity) this.#evictOldest()
        verdicts[OK] = verdicts[OK]! + 1
        continue
      }
      s.seenAt = seenAt
      if (s !== this.#newest) {
        this.#unlink(s)
        this.#link(s)
      }
      const last = s.last
      const code = machine.step(s, seq, r.exchange_timestamp)
      verdicts[code] = verdicts[code]! + 1
      if (code === OK) continue
      if (code === DUPLICATE) duplicates.push(i)
      const expected = BigInt(last) + 1n
      events.push({
        detected_at: detectedAt,
        symbol: r.symbol,
        exchange: r.exchange,
        kind: verdictNames[code] as SequenceEvent["kind"],
        // Past the largest long nothing is expected (and 2^63 does not fit the long column).
        expected: expected > MAX_LONG ? null : expected,
        received: seq,
        gap_size: code === GAP ? seq - expected : code === GAP_FILLED ? openMissing(s) : null,
        exchange_timestamp: r.exchange_timestamp,
        message_id: r.message_id,
        kafka_topic: r.kafka_topic ?? null,
        kafka_partition: r.kafka_partition ?? null,
        kafka_offset: r.kafka_offset ?? null
      })
    }
    return { duplicates, events }
  }

  stats(): SequenceStats {
    const verdicts = {} as Record<VerdictName, number>
    verdictNames.forEach((name, code) => verdicts[name] = this.#verdicts[code]!)
    return {
      verdicts,
      evictions: this.#evictions,
      gapsGivenUp: { ...this.machine.gapsGivenUp },
      streams: this.#size,
      capacity: this.options.capacity
    }
  }

  /** The state of one stream, for inspection; undefined when not tracked. */
  peek(exchange: string, symbol: string): StreamState | undefined {
    return this.#byExchange.get(exchange)?.get(symbol)
  }

  /** The streams (all, or those `filter` selects), least recently seen first, as compact JSON. */
  checkpoint(filter?: StreamFilter): string {
    const all = [0] as const
    return this.checkpointsOf(all, (exchange, symbol) => filter === undefined || filter(exchange, symbol) ? all : undefined).get(0)!
  }

  /**
   * The checkpoints of several owners from one walk of the streams, each what `checkpoint` gives
   * with a filter selecting the streams `owners` names it for: a walk an owner took the streams
   * times the owners, the event loop held (480 partitions, 50,000 streams: 550 ms, one walk ~0.1 s).
   */
  checkpointsOf<K>(keys: Iterable<K>, owners: (exchange: string, symbol: string) => ReadonlyArray<K> | undefined): Map<K, string> {
    const acc = new Map<K, { readonly streams: Array<unknown>; seenBefore: number }>()
    for (const key of keys) acc.set(key, { streams: [], seenBefore: 0 })
    for (let s = this.#oldest; s !== null; s = s.newer) {
      for (const key of owners(s.exchange, s.symbol) ?? []) {
        const a = acc.get(key)
        if (a === undefined) continue
        a.streams.push(checkpointEntry(s, a.seenBefore))
        a.seenBefore = s.seenAt
      }
    }
    return new Map([...acc].map(([key, a]) => [key, JSON.stringify({ v: 1, streams: a.streams })]))
  }

  /**
   * Adds the streams of a checkpoint, replacing tracked streams of the same keys. Each takes
   * its place in the LRU by when it was last seen (in a checkpoint without that, its head's
   * exchange time), so that checkpoints restored one after another (one per partition)
   * rebuild the order the streams were seen in. Beyond capacity the least recently seen are
   * evicted. Fails, changing nothing, on a malformed checkpoint.
   */
  restore(json: string, filter?: StreamFilter): Result.Result<number, string> {
    const decoded = decodeCheckpoint(json)
    if (Result.isFailure(decoded)) return Result.fail(String(decoded.failure))
    for (const stream of decoded.success.streams) {
      if (stream[6].length % 2 !== 0) return Result.fail(`stream ${stream[0]}/${stream[1]}: odd number of gap bounds`)
      // A state the machine cannot reach would judge wrongly, e.g. drop a late message as DUPLICATE.
      const unreachable = unreachableState(stream)
      if (unreachable !== undefined) return Result.fail(`stream ${stream[0]}/${stream[1]}: ${unreachable}`)
    }
    const restoring: Array<StreamState> = []
    let seenAt = 0
    for (
      const [exchange, symbol, last, lastTs, floor, prevTs, gaps, seenAfter, startTs, crossSeq, crossFrom, crossTs, crossFills = []] of decoded
        .success
        .streams
    ) {
      seenAt = seenAfter === undefined ? lastTs : seenAt + seenAfter
      if (filter !== undefined && !filter(exchange, symbol)) continue
      const big = needsBig(last, floor, gaps, crossSeq, crossFills)
      const seq = (x: number | string): Seq => big ? BigInt(x) : x as number
      const s = new StreamState(exchange, symbol, this.#calendars.forExchange(exchange), seq(last), lastTs)
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
      }
      s.seenAt = seenAt
      restoring.push(s)
    }
    // One pass merging two lists in seenAt order (the sort is stable: ties keep checkpoint order,
    // after the tracked streams).
    restoring.sort((a, b) => a.seenAt - b.seenAt)
    let at = this.#oldest
    for (const s of restoring) {
      if (at !== null && this.#byExchange.get(s.exchange)?.get(s.symbol) === at) at = at.newer
      this.#remove(s.exchange, s.symbol)
      while (at !== null && at.seenAt <= s.seenAt) at = at.newer
      // After the removal, which drops the exchange's map when that was its last stream.
      let symbols = this.#byExchange.get(s.exchange)
      if (symbols === undefined) {
        symbols = new Map()
        this.#byExchange.set(s.exchange, symbols)
      }
      symbols.set(s.symbol, s)
      this.#linkBefore(s, at)
      this.#size++
    }
    while (this.#size > this.options.capacity) this.#evictOldest()
    return Result.succeed(restoring.length)
  }

  /** Drops the streams `filter` selects (all without one), e.g. those of a revoked partition. */
  forget(filter?: StreamFilter): number {
    let n = 0
    for (let s = this.#oldest; s !== null;) {
      const next = s.newer
      if (filter === undefined || filter(s.exchange, s.symbol)) {
        this.#remove(s.exchange, s.symbol)
        n++
      }
      s = next
    }
    return n
  }

  #remove(exchange: string, symbol: string) {
    const symbols = this.#byExchange.get(exchange)
    const s = symbols?.get(symbol)
    if (s === undefined) return
    this.#drop(s)
  }

  /** Unindexes a stream; an exchange left without streams goes too (a feed may name endless ones). */
  #drop(s: StreamState) {
    const symbols = this.#byExchange.get(s.exchange)!
    symbols.delete(s.symbol)
    if (symbols.size === 0) this.#byExchange.delete(s.exchange)
    this.#unlink(s)
    this.#size--
  }

  #evictOldest() {
    this.#drop(this.#oldest!)
    this.#evictions++
  }

  #link(s: StreamState) {
    s.older = this.#newest
    s.newer = null
    if (this.#newest !== null) this.#newest.newer = s
    else this.#oldest = s
    this.#newest = s
  }

  /** Links `s` just older than `at`; as the newest when `at` is null. */
  #linkBefore(s: StreamState, at: StreamState | null) {
    if (at === null) return this.#link(s)
    s.newer = at
    s.older = at.older
    if (at.older !== null) at.older.newer = s
    else this.#oldest = s
    at.older = s
  }

  #unlink(s: StreamState) {
    if (s.older !== null) s.older.newer = s.newer
    else this.#oldest = s.newer
    if (s.newer !== null) s.newer.older = s.older
    else this.#newest = s.older
    s.older = null
    s.newer = null
  }
}

/**
 * The streams a checkpoint holds, as (exchange, symbol, last sequence, exchange time of the
 * head, when the tracker last judged it: undefined in a checkpoint older than that), without
 * restoring it; [] when it is not one.
 */
export const checkpointStreams = (
  json: string
): ReadonlyArray<readonly [string, string, bigint, EpochMicros, number | undefined]> => {
  const decoded = decodeCheckpoint(json)
  if (Result.isFailure(decoded)) return []
  let seenAt = 0
  return decoded.success.streams.map((s) => {
    seenAt = s[7] === undefined ? Number.NaN : seenAt + s[7]
    return [s[0], s[1], BigInt(s[2]), s[3], Number.isNaN(seenAt) ? undefined : seenAt] as const
  })
}
