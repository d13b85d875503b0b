/**
 * The states of many streams, (exchange, symbol), in a bounded LRU, judged a batch at a
 * time. Plain synchronous code (the hot path of ingestion); the SequenceTracker service
 * wraps it. Checkpoints are compact, deterministic JSON (docs/sequence-integrity.md).
 *
 * Here: the tracker (`SequenceTrackerState`: the LRU list and its index, the judging loop, the
 * merge of restored streams), whole: the loop reads and relinks the list and its index itself, no
 * call or object between them a message. Beside it: the settings (trackerOptions.ts), a batch in and its
 * judgement out (trackerObservation.ts), the counts (trackerStats.ts), and the checkpoint: its
 * JSON (checkpointFormat.ts), writing (checkpointEntries.ts), the checks before a restore
 * (checkpointChecks.ts) and its streams made states again (checkpointStates.ts).
 */
import { Result } from "effect"
import type { SequenceEvent } from "../reference.ts"
import type { EpochMicros } from "../time.ts"
import { ExchangeCalendars } from "./calendar.ts"
import { checkpointProblem } from "./checkpointChecks.ts"
import { checkpointsFrom } from "./checkpointEntries.ts"
import { decodeCheckpoint, type StreamFilter } from "./checkpointFormat.ts"
import { restoredStreams } from "./checkpointStates.ts"
import {
  DUPLICATE,
  GAP,
  GAP_FILLED,
  MAX_LONG,
  newStream,
  OK,
  openMissing,
  SequenceMachine,
  StreamState,
  verdictNames
} from "./machine.ts"
import type { Observation, SequenceInput } from "./trackerObservation.ts"
import { type TrackerOptions, trackerOptions } from "./trackerOptions.ts"
import { type SequenceStats, verdictCounts } from "./trackerStats.ts"

export { checkpointStreams, type StreamFilter } from "./checkpointFormat.ts"
export { forEachKept, type Observation, type SequenceInput } from "./trackerObservation.ts"
export { defaultTrackerOptions, type TrackerOptions } from "./trackerOptions.ts"
export type { SequenceStats } from "./trackerStats.ts"

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
    this.options = trackerOptions(options)
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
    return {
      verdicts: verdictCounts(this.#verdicts),
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
    return checkpointsFrom(this.#oldest, keys, owners)
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
    const problem = checkpointProblem(decoded.success.streams)
    if (problem !== undefined) return Result.fail(problem)
    const restoring = restoredStreams(decoded.success.streams, filter, this.#calendars)
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
