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
 *
 * Here: the generator (`Simulator`). Beside it: the settings and defaults (simulatorModel.ts),
 * the symbols (symbolUniverse.ts), the calendar (sessionCalendar.ts), the checks
 * (modelProblem.ts), arrivals (arrivals.ts), the mid (pricePath.ts), prices on the tick grid
 * (tickGrid.ts), trades, quotes and instruments (marketEvents.ts), sequence numbers and faults
 * (faultInjection.ts), the per-symbol state they share (symbolState.ts).
 */
import type { FeedEvent, InjectedAnomaly, SummaryCounter } from "./events.ts"
import { activityWeight, cumulativeShares, keepsArrival, peakIntensity, pickIndex } from "./arrivals.ts"
import { FaultInjector } from "./faultInjection.ts"
import { drawQuote, drawTrade, simulatedInstrument } from "./marketEvents.ts"
import { initialMid } from "./pricePath.ts"
import { Rng } from "./random.ts"
import { type Session, sessions } from "./sessionCalendar.ts"
import type { SimulatorModel } from "./simulatorModel.ts"
import { keyState, type SymbolState } from "./symbolState.ts"
import { TickGrid } from "./tickGrid.ts"

/**
 * The generator: `next(max)` returns the next events (instruments first), `[]` once the
 * calendar or `maxEvents` is exhausted. Counts go to `counter`, injected anomalies to `manifest`.
 */
export class Simulator {
  readonly manifest: Array<InjectedAnomaly>
  private readonly rng: Rng
  private readonly faults: FaultInjector
  private readonly states: Array<SymbolState>
  private readonly cumulative: Float64Array
  private readonly sessions: Array<Session>
  /** Session seconds before each session's open (prefix sums). */
  private readonly sessionStart: Array<number>
  /** The session of the last generated event. */
  private eventDay = 0
  private readonly grid: TickGrid
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
    this.faults = new FaultInjector(model, counter)
    this.manifest = this.faults.manifest
    this.sessions = sessions(model)
    this.sessionStart = []
    let before = 0
    for (const s of this.sessions) {
      this.sessionStart.push(before)
      before += s.seconds
    }
    this.grid = new TickGrid(model.tickSize)
    const weights: Array<number> = []
    this.states = model.symbols.map((symbol, index) => {
      weights.push(activityWeight(this.rng))
      const price = initialMid(this.rng)
      return {
        symbol, index, mid: price, lastT: 0, quoted: false, bid: 0, ask: 0, n: 0, poisonN: 0,
        trades: keyState("trades"), quotes: keyState("quotes")
      }
    })
    this.cumulative = cumulativeShares(weights)
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
      this.t += this.rng.exponential(peakIntensity(m, T))
      if (this.t >= T) {
        this.newDay()
        continue
      }
      if (keepsArrival(this.rng.next(), this.t, T, m.intensitySkew)) {
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
      if (day) this.faults.maybeReset(st)
    }
  }

  /** Up to `max` events, stopping early before an event past `untilClock` (session seconds). */
  next(max: number, untilClock = Number.POSITIVE_INFINITY): Array<FeedEvent> {
    const out: Array<FeedEvent> = []
    if (!this.instrumentsSent) {
      this.instrumentsSent = true
      for (const st of this.states) out.push({ _tag: "Instrument", instrument: simulatedInstrument(this.model, st.symbol) })
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
        this.faults.releaseAll(this.states, out)
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
    this.faults.releaseAll(this.states, out)
    this.done = true
    this.counter.complete = true
  }

  private event(t: number, out: Array<FeedEvent>): void {
    const m = this.model
    const st = this.states[pickIndex(this.cumulative, this.rng.next())]!
    const session = this.sessions[this.dayIndex]!
    const micros = session.openMicros + Math.floor(t * 1e6)
    st.n++
    const messageId = `sim:${m.seed}:${st.symbol}:${st.n}`
    const isTrade = st.quoted && this.rng.next() < m.tradeRatio
    if (isTrade) {
      this.faults.sequenced(st, st.trades, drawTrade(this.rng, this.grid, m, st, messageId, micros), out)
    } else {
      this.faults.sequenced(st, st.quotes, drawQuote(this.rng, this.grid, m, st, t, session.seconds, messageId, micros), out)
    }
  }

  /**
   * The manifest as of the events given so far: `manifest`, plus a GAP for each event still held
   * back after a later one of its key went. A feed stopped now (--duration, a signal) never sends
   * it, so its consumer sees that gap for good.
   */
  anomalies(): Array<InjectedAnomaly> {
    return this.faults.anomalies(this.states)
  }
}
