/**
 * The market simulator's model, pure and deterministic from a seed (pacing and files live in
 * src/layers/feeds/simulator.ts).
 *
 * - Calendar: weekdays from `startDate`, minus `holidays`, for `tradingDays` days; each
 *   session runs `sessionOpen`..`sessionClose` local time in `timeZone` (IANA, DST-aware).
 * - Arrivals: one non-homogeneous Poisson process for the whole universe, simulated by
 *   thinning, with the U-shaped intraday intensity
 *     λ(t) = Λ0 · (1 + a·x²),  x = (t − mid) / half  ∈ [−1, 1]
 *   so the open and close run at (1 + a) times the midday rate. Λ0 is chosen so a symbol
 *   averages `eventsPerSymbolPerDay`. Each arrival goes to a symbol with probability
 *   proportional to its activity weight (lognormal, fixed by the seed): superposition of
 *   per-symbol Poisson processes with the same shape.
 * - Prices: per symbol a mid following geometric Brownian motion in session time
 *   (σ = `annualVolatility`, 252 sessions a year); quotes snap it to the tick grid with a
 *   spread of max(1, round(mid·spreadBps/10⁴/tick)) ticks plus a geometric extra (never < 1
 *   tick); a trade happens against the symbol's last published quote, at the bid (SELL) or
 *   ask (BUY) with probability 0.85, else strictly inside the spread (UNKNOWN side).
 * - Ids: message_id `sim:<seed>:<symbol>:<n>` with n counting the symbol's events from 1;
 *   source_sequence counts from 1 per (exchange, symbol, data type), so each table's
 *   sequence tracker sees contiguous numbers; sequences carry over from day to day.
 * - Faults (independent PRNG stream, so turning them on leaves prices and times unchanged),
 *   each a probability per event (reset: per symbol and day change), at most one per event:
 *   GAP skips 1-3 sequence numbers; DUPLICATE re-emits the event verbatim right after it;
 *   OUT_OF_ORDER holds the event back until 1-3 later events of its (symbol, type) have gone
 *   (the consumer first sees a gap of one, then the late event); neither GAP nor OUT_OF_ORDER
 *   hits a key's first event, where a consumer cannot tell; RESET restarts a symbol's
 *   sequences at 1 at a day change; POISON inserts an undecodable payload (no sequence).
 *   Each is recorded in the manifest with the sequence the consumer expects at that point
 *   and the one it receives.
 */
import { BigDecimal, Schema } from "effect"
import { CODE_PATTERN, CODE_RULE, type Quote, type Side, type Trade } from "../marketData.ts"
import type { Instrument } from "../reference.ts"
import type { DataType, FeedEvent, InjectedAnomaly, SummaryCounter } from "./events.ts"
import { Rng } from "./random.ts"
import { quoted } from "../errors.ts"
import { TimestampMicros } from "../time.ts"
import { isKnownZone, zone } from "../zone.ts"
import { EXCHANGE_CODE_RULE, isExchangeCode } from "../wire.ts"

export interface FaultRates {
  readonly gap: number
  readonly duplicate: number
  readonly outOfOrder: number
  readonly reset: number
  readonly poison: number
}

export const NO_FAULTS: FaultRates = { gap: 0, duplicate: 0, outOfOrder: 0, reset: 0, poison: 0 }

export interface SimulatorModel {
  readonly seed: number
  readonly symbols: ReadonlyArray<string>
  readonly exchange: string
  readonly currency: string
  readonly timeZone: string
  /** Local "HH:MM". */
  readonly sessionOpen: string
  readonly sessionClose: string
  /** ISO date of the first calendar day considered. */
  readonly startDate: string
  readonly tradingDays: number
  /** ISO dates without a session. */
  readonly holidays: ReadonlyArray<string>
  readonly eventsPerSymbolPerDay: number
  /** a in λ(t) = Λ0·(1 + a·x²): open and close intensity over midday, minus one. */
  readonly intensitySkew: number
  /** Share of events that are trades (the rest are quote updates). */
  readonly tradeRatio: number
  readonly annualVolatility: number
  /** Decimal text, e.g. "0.01". */
  readonly tickSize: string
  readonly spreadBps: number
  /** Stop after this many generated market events (duplicates and poison not counted). */
  readonly maxEvents?: number | undefined
  readonly faults: FaultRates
}

/** The 20 largest ASX listings (by 2024 market value). */
export const DEFAULT_SYMBOLS: ReadonlyArray<string> = [
  "BHP", "CBA", "CSL", "NAB", "WBC", "ANZ", "WES", "MQG", "FMG", "TLS",
  "RIO", "WOW", "GMG", "TCL", "WDS", "STO", "ALL", "QBE", "COL", "REA"
]

/**
 * The most symbols a simulated universe holds: about what one ingest process's sequence trackers
 * hold (ADR-76: ~100,000 streams a table in its heap); a larger universe is split over processes.
 */
export const MAX_SYMBOLS = 100_000

/** `n` synthetic symbols S0..S{n-1}, zero-padded to one width so that they sort as they are numbered. */
export const syntheticSymbols = (n: number): ReadonlyArray<string> => {
  const width = String(Math.max(0, n - 1)).length
  return Array.from({ length: n }, (_, i) => `S${String(i).padStart(width, "0")}`)
}

/** Why a universe cannot be simulated (none, too many, a bad code, one twice), or undefined. */
export const symbolsProblem = (symbols: ReadonlyArray<string>): string | undefined => {
  if (symbols.length === 0) return "the universe has no symbols"
  if (symbols.length > MAX_SYMBOLS) return `${symbols.length} symbols, more than the ${MAX_SYMBOLS} a universe holds`
  const bad = symbols.find((s) => !CODE_PATTERN.test(s))
  if (bad !== undefined) return `symbol ${quoted(bad)} ${CODE_RULE}`
  const seen = new Set<string>()
  const twice = symbols.find((s) => seen.size === seen.add(s).size)
  return twice === undefined ? undefined : `symbol ${quoted(twice)} is given twice`
}

/** ASX national market holidays, 2024-2026. */
const ASX_HOLIDAYS: ReadonlyArray<string> = [
  "2024-01-01", "2024-01-26", "2024-03-29", "2024-04-01", "2024-04-25", "2024-06-10", "2024-12-25", "2024-12-26",
  "2025-01-01", "2025-01-27", "2025-04-18", "2025-04-21", "2025-04-25", "2025-06-09", "2025-12-25", "2025-12-26",
  "2026-01-01", "2026-01-26", "2026-04-03", "2026-04-06", "2026-04-27", "2026-06-08", "2026-12-25", "2026-12-28"
]

export const DEFAULT_MODEL: SimulatorModel = {
  seed: 42,
  symbols: DEFAULT_SYMBOLS,
  exchange: "ASX",
  currency: "AUD",
  timeZone: "Australia/Sydney",
  sessionOpen: "10:00",
  sessionClose: "16:00",
  startDate: "2024-01-02",
  tradingDays: 1,
  holidays: ASX_HOLIDAYS,
  eventsPerSymbolPerDay: 10_000,
  intensitySkew: 3,
  tradeRatio: 0.3,
  annualVolatility: 0.25,
  tickSize: "0.01",
  spreadBps: 5,
  faults: NO_FAULTS
}

/** The reason a model cannot run, or undefined. */
export const modelProblem = (m: SimulatorModel): string | undefined => {
  if (!isExchangeCode(m.exchange)) return `exchange ${quoted(m.exchange)} ${EXCHANGE_CODE_RULE}`
  const symbols = symbolsProblem(m.symbols)
  if (symbols !== undefined) return symbols
  if (!Number.isSafeInteger(m.seed)) return "seed must be a safe integer"
  if (!isKnownZone(m.timeZone)) return `unknown time zone ${m.timeZone}`
  const start = Date.parse(`${m.startDate}T00:00:00Z`)
  // Date.parse reads 2024-02-30 as March 1st: the date must survive the round trip.
  if (!/^\d{4}-\d{2}-\d{2}$/.test(m.startDate) || Number.isNaN(start) || new Date(start).toISOString().slice(0, 10) !== m.startDate) {
    return `startDate ${m.startDate} is not yyyy-mm-dd`
  }
  const open = hhmm(m.sessionOpen), close = hhmm(m.sessionClose)
  if (open === undefined || close === undefined || close <= open) return "session must be HH:MM..HH:MM with open < close"
  if (!(Number.isSafeInteger(m.tradingDays) && m.tradingDays >= 0)) return "tradingDays must be a whole number, not negative"
  if (m.maxEvents !== undefined && !(Number.isSafeInteger(m.maxEvents) && m.maxEvents >= 0)) {
    return "maxEvents must be a whole number, not negative"
  }
  // Finite too: an infinite rate never leaves the open, an infinite skew spins inside `next`
  // forever, and an infinite volatility or spread makes NaN prices (a RangeError in BigInt).
  if (!(m.eventsPerSymbolPerDay > 0 && Number.isFinite(m.eventsPerSymbolPerDay))) return "eventsPerSymbolPerDay must be positive and finite"
  if (!(m.intensitySkew >= 0 && Number.isFinite(m.intensitySkew))) return "intensitySkew must be finite, not negative"
  if (!(m.tradeRatio >= 0 && m.tradeRatio <= 1)) return "tradeRatio must be in [0, 1]"
  if (!(m.annualVolatility >= 0 && Number.isFinite(m.annualVolatility))) return "annualVolatility must be finite, not negative"
  if (!(m.spreadBps >= 0 && Number.isFinite(m.spreadBps))) return "spreadBps must be finite, not negative"
  if (!/^\d{1,10}(\.\d{1,8})?$/.test(m.tickSize) || /^[0.]*$/.test(m.tickSize)) return "tickSize must be a positive decimal"
  for (const [k, v] of Object.entries(m.faults)) if (!(v >= 0 && v <= 1)) return `fault rate ${k} must be in [0, 1]`
  // Every event's exchange_timestamp must be a valid instant, or all of them are dead letters (and
  // Date.UTC, under the zone, reads years 0-99 as 19xx). Walks at most the days until 2200.
  let days = 0
  if (m.tradingDays > 0) for (const s of sessionsOf(m)) {
    const last = s.openMicros + s.seconds * 1_000_000 - 1
    if (s.date < "1900" || !isInstant(s.openMicros) || !isInstant(last)) return `sessions must lie between 1900 and 2200 (${s.date})`
    if (++days >= m.tradingDays) break
  }
  return undefined
}

const isInstant = Schema.is(TimestampMicros)

const hhmm = (s: string): number | undefined => {
  const m = /^(\d{2}):(\d{2})$/.exec(s)
  if (m === null || Number(m[1]) > 23 || Number(m[2]) > 59) return undefined
  return Number(m[1]) * 60 + Number(m[2])
}

interface Session {
  readonly date: string
  readonly openMicros: number
  readonly seconds: number
}

/** The sessions from `startDate` on, without end. */
function* sessionsOf(m: SimulatorModel): Generator<Session> {
  const z = zone(m.timeZone)
  const open = hhmm(m.sessionOpen)!, close = hhmm(m.sessionClose)!
  const holidays = new Set(m.holidays)
  for (let day = Date.parse(`${m.startDate}T00:00:00Z`);; day += 86_400_000) {
    const d = new Date(day)
    const weekday = d.getUTCDay()
    const iso = d.toISOString().slice(0, 10)
    if (weekday !== 0 && weekday !== 6 && !holidays.has(iso)) {
      const y = d.getUTCFullYear(), mo = d.getUTCMonth() + 1, dd = d.getUTCDate()
      const o = z.toUtcMillis(y, mo, dd, Math.floor(open / 60), open % 60, 0, 0)
      const c = z.toUtcMillis(y, mo, dd, Math.floor(close / 60), close % 60, 0, 0)
      yield { date: iso, openMicros: o * 1000, seconds: (c - o) / 1000 }
    }
  }
}

/** The trading sessions of the calendar, in order. */
export const sessions = (m: SimulatorModel): Array<Session> => {
  const out: Array<Session> = []
  if (m.tradingDays <= 0) return out
  for (const s of sessionsOf(m)) {
    out.push(s)
    if (out.length >= m.tradingDays) break
  }
  return out
}

interface SymbolState {
  readonly symbol: string
  readonly index: number
  mid: number
  lastT: number
  quoted: boolean
  bid: number
  ask: number
  n: number
  poisonN: number
  readonly trades: KeyState
  readonly quotes: KeyState
}

interface KeyState {
  readonly dataType: DataType
  nextSeq: number
  lastEmitted: number
  held: FeedEvent | undefined
  heldSeq: number
  /** The message_id of the event sent after the held one (heldSeq + 1), once it has gone. */
  afterHeld: string | undefined
  releaseAfter: number
  resetPending: boolean
}

const keyState = (dataType: DataType): KeyState => ({
  dataType, nextSeq: 1, lastEmitted: 0, held: undefined, heldSeq: 0, afterHeld: undefined, releaseAfter: 0, resetPending: false
})

const TRADING_SESSIONS_PER_YEAR = 252
const TOUCH_PROBABILITY = 0.85
/** Shared (frozen) empty values: the simulator sets no conditions or vendor data. */
const NO_CONDITIONS: ReadonlyArray<string> = Object.freeze([])
const NO_VENDOR_DATA: Readonly<Record<string, string>> = Object.freeze({})
const encoder = new TextEncoder()

/**
 * The generator: `next(max)` returns the next events (instruments first), `[]` once the
 * calendar or `maxEvents` is exhausted. Counts go to `counter`, injected anomalies to `manifest`.
 */
export class Simulator {
  readonly manifest: Array<InjectedAnomaly> = []
  private readonly rng: Rng
  private readonly faultRng: Rng
  private readonly states: Array<SymbolState>
  private readonly cumulative: Float64Array
  private readonly sessions: Array<Session>
  /** Session seconds before each session's open (prefix sums). */
  private readonly sessionStart: Array<number>
  /** The session of the last generated event. */
  private eventDay = 0
  private readonly tickValue: bigint
  private readonly tickScale: number
  private readonly tick: number
  private readonly anyFault: boolean
  private instrumentsSent = false
  private dayIndex = 0
  private t = 0
  /** The next accepted arrival's session time (seconds from the open), or NaN before drawing. */
  private pending = Number.NaN
  private generated = 0
  private done = false

  readonly model: SimulatorModel
  readonly counter: SummaryCounter

  constructor(model: SimulatorModel, counter: SummaryCounter) {
    this.model = model
    this.counter = counter
    this.rng = new Rng(model.seed, 0)
    this.faultRng = new Rng(model.seed, 1)
    this.sessions = sessions(model)
    this.sessionStart = []
    let before = 0
    for (const s of this.sessions) {
      this.sessionStart.push(before)
      before += s.seconds
    }
    const dot = model.tickSize.indexOf(".")
    this.tickScale = dot === -1 ? 0 : model.tickSize.length - dot - 1
    this.tickValue = BigInt(model.tickSize.replace(".", ""))
    this.tick = Number(model.tickSize)
    const weights: Array<number> = []
    this.states = model.symbols.map((symbol, index) => {
      weights.push(Math.exp(0.5 * this.rng.normal()))
      const price = Math.min(300, Math.max(0.5, Math.exp(Math.log(30) + 0.8 * this.rng.normal())))
      return {
        symbol, index, mid: price, lastT: 0, quoted: false, bid: 0, ask: 0, n: 0, poisonN: 0,
        trades: keyState("trades"), quotes: keyState("quotes")
      }
    })
    const total = weights.reduce((a, b) => a + b, 0)
    this.cumulative = new Float64Array(weights.length)
    let acc = 0
    weights.forEach((w, i) => {
      acc += w / total
      this.cumulative[i] = acc
    })
    this.cumulative[weights.length - 1] = 1
    const f = model.faults
    this.anyFault = f.gap + f.duplicate + f.outOfOrder + f.reset + f.poison > 0
  }

  /**
   * The next event's time in seconds of session time since the first open (sessions laid end
   * to end, nights and holidays skipped); +∞ when the feed is exhausted. Pacing uses it.
   */
  nextClock(): number {
    const t = this.peekTime()
    return t === Number.POSITIVE_INFINITY ? t : this.sessionStart[this.dayIndex]! + t
  }

  /** The next arrival's time of day in seconds (drawing it if needed); +∞ at the end. */
  private peekTime(): number {
    if (!Number.isNaN(this.pending)) return this.pending
    const m = this.model
    for (;;) {
      const s = this.sessions[this.dayIndex]
      if (s === undefined || (m.maxEvents !== undefined && this.generated >= m.maxEvents)) {
        this.pending = Number.POSITIVE_INFINITY
        return this.pending
      }
      const T = s.seconds
      const a = m.intensitySkew
      const base = (m.eventsPerSymbolPerDay * m.symbols.length) / (T * (1 + a / 3))
      const max = base * (1 + a)
      this.t += this.rng.exponential(max)
      if (this.t >= T) {
        this.newDay()
        continue
      }
      const x = (this.t - T / 2) / (T / 2)
      if (this.rng.next() * (1 + a) <= 1 + a * x * x) {
        this.pending = this.t
        return this.pending
      }
    }
  }

  private newDay(): void {
    this.dayIndex++
    this.t = 0
    const day = this.dayIndex < this.sessions.length
    for (const st of this.states) {
      st.quoted = false
      st.lastT = 0
      if (day && this.model.faults.reset > 0 && this.faultRng.next() < this.model.faults.reset) {
        st.trades.resetPending = st.trades.lastEmitted > 0
        st.quotes.resetPending = st.quotes.lastEmitted > 0
      }
    }
  }

  /** Up to `max` events, stopping early before an event past `untilClock` (session seconds). */
  next(max: number, untilClock = Number.POSITIVE_INFINITY): Array<FeedEvent> {
    const out: Array<FeedEvent> = []
    if (!this.instrumentsSent) {
      this.instrumentsSent = true
      for (const st of this.states) out.push({ _tag: "Instrument", instrument: this.instrument(st.symbol) })
      this.counter.instruments = out.length
      return out
    }
    if (this.done) return out
    while (out.length < max) {
      const t = this.peekTime()
      if (t === Number.POSITIVE_INFINITY) {
        this.finish(out)
        break
      }
      if (this.dayIndex !== this.eventDay) {
        // A new session: events held back on the previous one are released first.
        this.releaseAll(out)
        this.eventDay = this.dayIndex
      }
      if (this.sessionStart[this.dayIndex]! + t > untilClock && out.length > 0) break
      this.pending = Number.NaN
      this.generated++
      this.counter.rowsRead++
      this.event(t, out)
    }
    return out
  }

  private finish(out: Array<FeedEvent>): void {
    this.releaseAll(out)
    this.done = true
    this.counter.complete = true
  }

  private releaseAll(out: Array<FeedEvent>): void {
    for (const st of this.states) {
      for (const k of [st.trades, st.quotes]) {
        if (k.held !== undefined) this.release(st, k, out)
      }
    }
  }

  private pickSymbol(): SymbolState {
    const u = this.rng.next()
    const c = this.cumulative
    let lo = 0, hi = c.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (u < c[mid]!) hi = mid
      else lo = mid + 1
    }
    return this.states[lo]!
  }

  private event(t: number, out: Array<FeedEvent>): void {
    const m = this.model
    const st = this.pickSymbol()
    const session = this.sessions[this.dayIndex]!
    const micros = session.openMicros + Math.floor(t * 1e6)
    st.n++
    const messageId = `sim:${m.seed}:${st.symbol}:${st.n}`
    const isTrade = st.quoted && this.rng.next() < m.tradeRatio
    if (isTrade) {
      const spread = st.ask - st.bid
      let ticks: number
      let side: Side
      if (spread <= 1 || this.rng.next() < TOUCH_PROBABILITY) {
        const buy = this.rng.next() < 0.5
        ticks = buy ? st.ask : st.bid
        side = buy ? "BUY" : "SELL"
      } else {
        ticks = st.bid + 1 + this.rng.int(spread - 1)
        side = "UNKNOWN"
      }
      const qty = Math.max(1, Math.round(Math.exp(Math.log(300) + this.rng.normal())))
      const price = this.price(ticks)
      const quantity = BigDecimal.make(BigInt(qty), 0)
      const make = (seq: number): FeedEvent => ({ _tag: "Trade", trade: {
        message_id: messageId,
        trade_id: `${st.symbol}-${st.n}`,
        symbol: st.symbol,
        exchange: m.exchange,
        asset_class: "equities",
        exchange_timestamp: micros,
        price,
        quantity,
        currency: m.currency,
        side,
        conditions: NO_CONDITIONS,
        source_sequence: BigInt(seq),
        vendor_data: NO_VENDOR_DATA
      } satisfies Trade })
      this.sequenced(st, st.trades, make, out)
    } else {
      // Advance the mid along GBM over the session time since the symbol's last quote.
      const dt = (t - st.lastT) / (session.seconds * TRADING_SESSIONS_PER_YEAR)
      const sigma = m.annualVolatility
      if (dt > 0) st.mid *= Math.exp(-0.5 * sigma * sigma * dt + sigma * Math.sqrt(dt) * this.rng.normal())
      st.lastT = t
      const midTicks = Math.max(2, st.mid / this.tick)
      const spread = Math.max(1, Math.round((midTicks * m.spreadBps) / 10_000)) + this.rng.geometric(0.7)
      const bid = Math.max(1, Math.floor(midTicks - spread / 2))
      st.bid = bid
      st.ask = bid + spread
      st.quoted = true
      const bidSize = 100 * (1 + this.rng.geometric(0.25))
      const askSize = 100 * (1 + this.rng.geometric(0.25))
      const bid_price = this.price(bid)
      const ask_price = this.price(st.ask)
      const bid_size = BigDecimal.make(BigInt(bidSize), 0)
      const ask_size = BigDecimal.make(BigInt(askSize), 0)
      const make = (seq: number): FeedEvent => ({ _tag: "Quote", quote: {
        message_id: messageId,
        quote_id: `${st.symbol}-${st.n}`,
        symbol: st.symbol,
        exchange: m.exchange,
        asset_class: "equities",
        exchange_timestamp: micros,
        bid_price,
        bid_size,
        ask_price,
        ask_size,
        currency: m.currency,
        conditions: NO_CONDITIONS,
        source_sequence: BigInt(seq),
        vendor_data: NO_VENDOR_DATA
      } satisfies Quote })
      this.sequenced(st, st.quotes, make, out)
    }
  }

  /**
   * The manifest as of the events given so far: `manifest`, plus a GAP for each event still held
   * back after a later one of its key went. A feed stopped now (--duration, a signal) never sends
   * it, so its consumer sees that gap for good.
   */
  anomalies(): Array<InjectedAnomaly> {
    const out = [...this.manifest]
    for (const st of this.states) {
      for (const k of [st.trades, st.quotes]) {
        if (k.held !== undefined && k.afterHeld !== undefined) {
          out.push({ kind: "GAP", exchange: this.model.exchange, symbol: st.symbol, data_type: k.dataType, expected: k.heldSeq, received: k.heldSeq + 1, message_id: k.afterHeld })
        }
      }
    }
    return out
  }

  private price(ticks: number): BigDecimal.BigDecimal {
    return BigDecimal.make(BigInt(ticks) * this.tickValue, this.tickScale)
  }

  private record(kind: InjectedAnomaly["kind"], st: SymbolState, k: KeyState, expected: number | null, received: number | null, messageId: string) {
    this.manifest.push({ kind, exchange: this.model.exchange, symbol: st.symbol, data_type: k.dataType, expected, received, message_id: messageId })
  }

  private emit(st: SymbolState, k: KeyState, e: FeedEvent, seq: number, out: Array<FeedEvent>): void {
    out.push(e)
    k.lastEmitted = seq
    this.count(st, e)
  }

  private count(st: SymbolState, e: FeedEvent): void {
    const c = this.counter.symbol(st.symbol)
    if (e._tag === "Trade") {
      this.counter.trades++
      c.trades++
    } else {
      this.counter.quotes++
      c.quotes++
    }
  }

  /** Assigns the sequence number and applies at most one fault. */
  private sequenced(st: SymbolState, k: KeyState, make: (seq: number) => FeedEvent, out: Array<FeedEvent>): void {
    if (!this.anyFault) {
      const seq = k.nextSeq++
      this.emit(st, k, make(seq), seq, out)
      return
    }
    const f = this.model.faults
    const fr = this.faultRng
    // Always draw the same number of variates per event, so one rate does not shift the others.
    const uGap = fr.next(), uDup = fr.next(), uOoo = fr.next(), uPoison = fr.next(), uSize = fr.next()
    if (k.resetPending && k.held === undefined) {
      k.resetPending = false
      const e = make(1)
      k.nextSeq = 2
      if (k.lastEmitted > 0) this.record("RESET", st, k, k.lastEmitted + 1, 1, messageIdOf(e))
      this.emit(st, k, e, 1, out)
      this.afterEvent(st, k, out)
      this.maybePoison(st, k, uPoison, out)
      return
    }
    // A consumer starts a stream at whatever it first receives: a gap or a late event before
    // the key's first emitted event is none to it (a late one is older than the stream).
    const started = k.lastEmitted > 0
    if (k.held !== undefined) {
      const seq = k.nextSeq++
      const e = make(seq)
      if (seq === k.heldSeq + 1) k.afterHeld = messageIdOf(e)
      this.emit(st, k, e, seq, out)
      this.afterEvent(st, k, out)
    } else if (started && uGap < f.gap) {
      const skip = 1 + Math.floor(uSize * 3)
      const expected = k.nextSeq
      k.nextSeq += skip
      const seq = k.nextSeq++
      const e = make(seq)
      this.record("GAP", st, k, expected, seq, messageIdOf(e))
      this.emit(st, k, e, seq, out)
    } else if (uDup < f.duplicate) {
      const seq = k.nextSeq++
      const e = make(seq)
      this.emit(st, k, e, seq, out)
      this.record("DUPLICATE", st, k, seq + 1, seq, messageIdOf(e))
      this.emit(st, k, e, seq, out)
    } else if (started && uOoo < f.outOfOrder) {
      const seq = k.nextSeq++
      k.held = make(seq)
      k.heldSeq = seq
      k.releaseAfter = 1 + Math.floor(uSize * 3)
    } else {
      const seq = k.nextSeq++
      this.emit(st, k, make(seq), seq, out)
    }
    this.maybePoison(st, k, uPoison, out)
  }

  /** Counts down a held event of this key and releases it when due. */
  private afterEvent(st: SymbolState, k: KeyState, out: Array<FeedEvent>): void {
    if (k.held !== undefined && --k.releaseAfter <= 0) this.release(st, k, out)
  }

  private release(st: SymbolState, k: KeyState, out: Array<FeedEvent>): void {
    const e = k.held!
    k.held = undefined
    k.afterHeld = undefined
    const last = k.lastEmitted
    out.push(e)
    this.count(st, e)
    if (last > k.heldSeq) {
      this.record("OUT_OF_ORDER", st, k, last + 1, k.heldSeq, messageIdOf(e))
      // The consumer's high-water mark stays at `last`: the late event is below it.
    } else {
      // Released (session or run over) before any later event of its key went: it arrives in
      // order, so it is no anomaly, and it is now the consumer's last number.
      k.lastEmitted = k.heldSeq
    }
  }

  private maybePoison(st: SymbolState, k: KeyState, u: number, out: Array<FeedEvent>): void {
    if (!(u < this.model.faults.poison)) return
    st.poisonN++
    const messageId = `sim:${this.model.seed}:${st.symbol}:poison-${st.poisonN}`
    const garbage = this.faultRng.next() < 0.5
    let payload: Uint8Array
    let reason: string
    if (garbage) {
      payload = new Uint8Array(8 + this.faultRng.int(57))
      for (let i = 0; i < payload.length; i++) payload[i] = this.faultRng.int(256)
      payload[0] = 0xff // never a Confluent frame (magic byte 0)
      reason = "garbage bytes"
    } else {
      payload = encoder.encode(JSON.stringify({
        message_id: messageId,
        symbol: st.symbol,
        exchange: this.model.exchange,
        price: "-1.00",
        quantity: "0",
        exchange_timestamp: "not a time"
      }))
      reason = "schema-invalid record (negative price, zero quantity, bad timestamp)"
    }
    out.push({
      _tag: "Poison",
      symbol: st.symbol,
      exchange: this.model.exchange,
      assetClass: "equities",
      dataType: k.dataType,
      message_id: messageId,
      payload,
      reason
    })
    this.counter.poison++
    this.counter.symbol(st.symbol).poison++
    this.record("POISON", st, k, null, null, messageId)
  }

  private instrument(symbol: string): Instrument {
    return {
      symbol,
      exchange: this.model.exchange,
      company_id: null,
      name: `Simulated ${symbol}`,
      isin: null,
      currency: this.model.currency,
      asset_class: "equities",
      listing_date: null,
      delisting_date: null
    }
  }
}

const messageIdOf = (e: FeedEvent): string =>
  e._tag === "Trade" ? e.trade.message_id : e._tag === "Quote" ? e.quote.message_id : e._tag === "Poison" ? e.message_id : ""
