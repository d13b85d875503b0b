/**
 * Sequence numbering and fault injection: numbers each (symbol, data type) stream's events from 1
 * and applies at most one fault per event, drawn from its own PRNG stream (so turning faults on
 * leaves prices and times unchanged). Every fault goes to the manifest with the sequence the
 * consumer expects at that point and the one it receives.
 */
import type { FeedEvent, InjectedAnomaly, SummaryCounter } from "./events.ts"
import { Rng } from "./random.ts"
import type { SimulatorModel } from "./simulatorModel.ts"
import type { KeyState, SymbolState } from "./symbolState.ts"

const encoder = new TextEncoder()

export class FaultInjector {
  readonly manifest: Array<InjectedAnomaly> = []
  private readonly rng: Rng
  private readonly anyFault: boolean
  private readonly model: SimulatorModel
  private readonly counter: SummaryCounter

  constructor(model: SimulatorModel, counter: SummaryCounter) {
    this.model = model
    this.counter = counter
    this.rng = new Rng(model.seed, 1)
    const f = model.faults
    this.anyFault = f.gap + f.duplicate + f.outOfOrder + f.reset + f.poison > 0
  }

  /** At a day change: with probability `faults.reset`, the symbol's streams restart at 1 (each once it has sent something). */
  maybeReset(st: SymbolState): void {
    if (this.model.faults.reset > 0 && this.rng.next() < this.model.faults.reset) {
      st.trades.resetPending = st.trades.lastEmitted > 0
      st.quotes.resetPending = st.quotes.lastEmitted > 0
    }
  }

  /**
   * The manifest as of the events given so far: `manifest`, plus a GAP for each event still held
   * back after a later one of its key went. A feed stopped now (--duration, a signal) never sends
   * it, so its consumer sees that gap for good.
   */
  anomalies(states: ReadonlyArray<SymbolState>): Array<InjectedAnomaly> {
    const out = [...this.manifest]
    for (const st of states) {
      for (const k of [st.trades, st.quotes]) {
        if (k.held !== undefined && k.afterHeld !== undefined) {
          out.push({ kind: "GAP", exchange: this.model.exchange, symbol: st.symbol, data_type: k.dataType, expected: k.heldSeq, received: k.heldSeq + 1, message_id: k.afterHeld })
        }
      }
    }
    return out
  }

  /** Releases every event still held back. */
  releaseAll(states: ReadonlyArray<SymbolState>, out: Array<FeedEvent>): void {
    for (const st of states) {
      for (const k of [st.trades, st.quotes]) {
        if (k.held !== undefined) this.release(st, k, out)
      }
    }
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
  sequenced(st: SymbolState, k: KeyState, make: (seq: number) => FeedEvent, out: Array<FeedEvent>): void {
    if (!this.anyFault) {
      const seq = k.nextSeq++
      this.emit(st, k, make(seq), seq, out)
      return
    }
    const f = this.model.faults
    const fr = this.rng
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
    const garbage = this.rng.next() < 0.5
    let payload: Uint8Array
    let reason: string
    if (garbage) {
      payload = new Uint8Array(8 + this.rng.int(57))
      for (let i = 0; i < payload.length; i++) payload[i] = this.rng.int(256)
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
}

const messageIdOf = (e: FeedEvent): string =>
  e._tag === "Trade" ? e.trade.message_id : e._tag === "Quote" ? e.quote.message_id : e._tag === "Poison" ? e.message_id : ""
