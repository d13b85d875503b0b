import { createHash } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Result, Schema } from "effect"
import { type FeedEvent, type InjectedAnomaly, SummaryCounter } from "../../../src/domain/feeds/events.ts"
import { Rng } from "../../../src/domain/feeds/random.ts"
import { modelProblem } from "../../../src/domain/feeds/modelProblem.ts"
import { sessions } from "../../../src/domain/feeds/sessionCalendar.ts"
import { Simulator } from "../../../src/domain/feeds/simulator.ts"
import { DEFAULT_MODEL, type SimulatorModel } from "../../../src/domain/feeds/simulatorModel.ts"
import { zone } from "../../../src/domain/zone.ts"
import { SequenceTrackerState } from "../../../src/domain/sequence/tracker.ts"
import { decodeQuote, decodeTrade, Quote, Trade } from "../../../src/domain/marketData.ts"

/** The fingerprint of seed 42's first events (see "is the same market from one release to the next"). */
const GOLDEN = "7131b0427ef5b299"

const model = (over: Partial<SimulatorModel> = {}): SimulatorModel => ({ ...DEFAULT_MODEL, eventsPerSymbolPerDay: 2_000, ...over })

const runAll = (m: SimulatorModel, chunk = 1000) => {
  const counter = new SummaryCounter("simulator")
  const sim = new Simulator(m, counter)
  const events: Array<FeedEvent> = []
  for (;;) {
    const batch = sim.next(chunk)
    if (batch.length === 0) break
    for (const e of batch) events.push(e)
  }
  return { events, manifest: sim.manifest, summary: counter.snapshot() }
}

const wire = (e: FeedEvent) =>
  e._tag === "Trade"
    ? Schema.encodeSync(Trade)(e.trade)
    : e._tag === "Quote"
    ? Schema.encodeSync(Quote)(e.quote)
    : e._tag === "Poison"
    ? { ...e, payload: Buffer.from(e.payload).toString("hex") }
    : e.instrument

const sydney = zone("Australia/Sydney")
const localHours = (micros: number) => {
  const ms = micros / 1000
  const local = new Date(ms + sydney.offsetAt(ms))
  return local.getUTCHours() + local.getUTCMinutes() / 60 + local.getUTCSeconds() / 3600
}

describe("Rng", () => {
  it("is deterministic and roughly uniform / normal", () => {
    const a = new Rng(7), b = new Rng(7), c = new Rng(8)
    const xs = Array.from({ length: 5 }, () => a.nextU32())
    assert.deepStrictEqual(xs, Array.from({ length: 5 }, () => b.nextU32()))
    assert.notDeepEqual(xs, Array.from({ length: 5 }, () => c.nextU32()))
    const r = new Rng(1)
    let sum = 0, sq = 0
    const n = 200_000
    for (let i = 0; i < n; i++) {
      const z = r.normal()
      sum += z
      sq += z * z
    }
    assert.approximately(sum / n, 0, 0.01)
    assert.approximately(sq / n, 1, 0.02)
    let u = 0
    for (let i = 0; i < n; i++) u += r.next()
    assert.approximately(u / n, 0.5, 0.005)
  })

  it("distinct (seed, stream) never share a sequence: every bit of both reaches the state", () => {
    // Folded into 32 bits by xor, the seeds 2^32 and 0x27d4eb2f were one, and a seed's fault
    // stream (1) was the price stream (0) of the seed xor K.
    const K = 0x165667b1 ^ 0x2caccf62
    const inputs: Array<readonly [number, number]> = [[2 ** 32, 0], [0x27d4eb2f, 0], [5, 1], [5 ^ K, 0]]
    for (let i = -1000; i < 1000; i++) {
      for (const seed of [i, i * 2 ** 32, i * 0x27d4eb2f, Number.MAX_SAFE_INTEGER - i]) {
        for (const stream of [0, 1, 2]) inputs.push([seed, stream])
      }
    }
    const heads = inputs.map(([seed, stream]) => {
      const r = new Rng(seed, stream)
      return `${r.nextU32()}:${r.nextU32()}`
    })
    assert.strictEqual(new Set(heads).size, new Set(inputs.map(String)).size)
  })
})

describe("simulator seeds", () => {
  it("two seeds make two markets", () => {
    const prices = (seed: number) =>
      runAll(model({ seed, eventsPerSymbolPerDay: 20 })).events.flatMap((e) =>
        e._tag === "Trade" ? [`${e.trade.symbol}@${BigDecimal.format(e.trade.price)}@${e.trade.exchange_timestamp}`] : []
      )
    assert.notDeepEqual(prices(2 ** 32), prices(0x27d4eb2f))
  })
})

describe("simulator model", () => {
  const { events, summary } = runAll(model())
  const market = events.filter((e) => e._tag === "Trade" || e._tag === "Quote")

  it("emits the universe as instruments first (default: 20 symbols)", () => {
    const instruments = events.filter((e) => e._tag === "Instrument")
    assert.strictEqual(instruments.length, 20)
    assert.isTrue(events.slice(0, 20).every((e) => e._tag === "Instrument"))
    assert.strictEqual(summary.instruments, 20)
  })

  it("produces about eventsPerSymbolPerDay per symbol, all valid domain records", () => {
    assert.approximately(market.length, 20 * 2_000, 20 * 2_000 * 0.05)
    assert.strictEqual(summary.rowsRead, market.length)
    assert.strictEqual(summary.trades + summary.quotes, market.length)
    for (const e of market.slice(0, 2_000)) {
      const ok = e._tag === "Trade" ? Result.isSuccess(decodeTrade(wire(e))) : Result.isSuccess(decodeQuote(wire(e)))
      assert.isTrue(ok, JSON.stringify(wire(e)))
    }
    const tradeShare = summary.trades / market.length
    assert.isTrue(tradeShare > 0.2 && tradeShare < 0.35, `trade share ${tradeShare}`)
  })

  it("keeps the spread positive, on the tick grid", () => {
    for (const e of market) {
      if (e._tag !== "Quote") continue
      const q = e.quote
      assert.isTrue(BigDecimal.isGreaterThan(q.ask_price, q.bid_price))
      assert.isTrue(BigDecimal.isPositive(q.bid_price))
      for (const p of [q.bid_price, q.ask_price]) {
        assert.strictEqual(BigDecimal.normalize(p).scale <= 2, true)
      }
    }
  })

  it("trades at or inside the last quote of their symbol", () => {
    const touch = new Map<string, { bid: BigDecimal.BigDecimal; ask: BigDecimal.BigDecimal }>()
    let atTouch = 0, trades = 0
    for (const e of market) {
      if (e._tag === "Quote") touch.set(e.quote.symbol, { bid: e.quote.bid_price, ask: e.quote.ask_price })
      else if (e._tag === "Trade") {
        const t = touch.get(e.trade.symbol)
        assert.isDefined(t, "a trade never precedes its symbol's first quote")
        assert.isTrue(BigDecimal.isGreaterThanOrEqualTo(e.trade.price, t!.bid) && BigDecimal.isLessThanOrEqualTo(e.trade.price, t!.ask))
        trades++
        if (BigDecimal.equals(e.trade.price, t!.bid) || BigDecimal.equals(e.trade.price, t!.ask)) atTouch++
        const side = BigDecimal.equals(e.trade.price, t!.ask) ? "BUY" : BigDecimal.equals(e.trade.price, t!.bid) ? "SELL" : "UNKNOWN"
        assert.strictEqual(e.trade.side, side)
      }
    }
    assert.isTrue(atTouch / trades > 0.8, `share at the touch ${atTouch / trades}`)
  })

  it("stays inside the 10:00-16:00 Sydney session, in time order", () => {
    let last = 0
    for (const e of market) {
      const ts = e._tag === "Trade" ? e.trade.exchange_timestamp : e._tag === "Quote" ? e.quote.exchange_timestamp : 0
      assert.isTrue(ts >= last)
      last = ts
      const h = localHours(ts)
      assert.isTrue(h >= 10 && h < 16, `local hour ${h}`)
    }
  })

  it("has a U-shaped intensity: busier in the first and last hour than at midday", () => {
    const byHour = new Array(6).fill(0) as Array<number>
    for (const e of market) {
      const ts = e._tag === "Trade" ? e.trade.exchange_timestamp : e._tag === "Quote" ? e.quote.exchange_timestamp : 0
      byHour[Math.floor(localHours(ts) - 10)]!++
    }
    const midday = (byHour[2]! + byHour[3]!) / 2
    // λ(x) ∝ 1 + 3x²: the outer hours average ≈ 3.1, the middle two ≈ 1.1 (ratio ≈ 2.8).
    assert.isTrue(byHour[0]! > 2 * midday, JSON.stringify(byHour))
    assert.isTrue(byHour[5]! > 2 * midday, JSON.stringify(byHour))
    assert.isTrue(byHour[1]! > midday && byHour[4]! > midday, JSON.stringify(byHour))
  })

  it("numbers each (symbol, data type) from 1 without gaps, and ids by symbol", () => {
    const next = new Map<string, bigint>()
    const ids = new Set<string>()
    for (const e of market) {
      const r = e._tag === "Trade" ? e.trade : e._tag === "Quote" ? e.quote : undefined
      if (r === undefined) continue
      const key = `${r.symbol}/${e._tag}`
      const expected = next.get(key) ?? 1n
      assert.strictEqual(r.source_sequence, expected)
      next.set(key, expected + 1n)
      assert.match(r.message_id, new RegExp(`^sim:42:${r.symbol}:\\d+$`))
      assert.isFalse(ids.has(r.message_id))
      ids.add(r.message_id)
    }
  })

  it("is deterministic: same seed, same events; another seed, other events; chunking does not matter", () => {
    const small = model({ eventsPerSymbolPerDay: 200 })
    const a = runAll(small, 64).events.map(wire)
    const b = runAll(small, 5000).events.map(wire)
    assert.deepStrictEqual(a, b)
    const c = runAll({ ...small, seed: 43 }).events.map(wire)
    assert.notDeepEqual(a.slice(20, 40), c.slice(20, 40))
  })
})

describe("simulator calendar", () => {
  it("runs on weekdays that are not holidays, DST-aware", () => {
    // 2024-01-25 Thursday; 26 is Australia Day; 27-28 weekend.
    const s = sessions(model({ startDate: "2024-01-25", tradingDays: 3 }))
    assert.deepStrictEqual(s.map((x) => x.date), ["2024-01-25", "2024-01-29", "2024-01-30"])
    // AEDT in January: 10:00 local = 23:00 UTC the day before; 6 hours.
    assert.strictEqual(s[0]!.openMicros, Date.UTC(2024, 0, 24, 23) * 1000)
    assert.strictEqual(s[0]!.seconds, 6 * 3600)
    const winter = sessions(model({ startDate: "2024-07-01", tradingDays: 1 }))
    assert.strictEqual(winter[0]!.openMicros, Date.UTC(2024, 6, 1, 0) * 1000)
  })

  it("emits every session's events on its own date and stops at maxEvents", () => {
    const { events } = runAll(model({ startDate: "2024-01-25", tradingDays: 3, eventsPerSymbolPerDay: 50 }))
    const dates = new Set(events.flatMap((e) => (e._tag === "Trade" ? [e.trade.exchange_timestamp] : e._tag === "Quote" ? [e.quote.exchange_timestamp] : []))
      .map((us) => new Date(us / 1000 + sydney.offsetAt(us / 1000)).toISOString().slice(0, 10)))
    assert.deepStrictEqual([...dates], ["2024-01-25", "2024-01-29", "2024-01-30"])
    const capped = runAll(model({ maxEvents: 123 }))
    assert.strictEqual(capped.summary.rowsRead, 123)
    assert.strictEqual(capped.events.filter((e) => e._tag !== "Instrument").length, 123)
  })

  it("names a refused symbol or exchange by its start: a message never repeats a whole K2_SIM_SYMBOLS", () => {
    const long = "X".repeat(100_000)
    for (const problem of [modelProblem(model({ symbols: ["BHP", long] }))!, modelProblem(model({ exchange: long }))!]) {
      assert.include(problem, "X".repeat(40))
      assert.isBelow(problem.length, 200, problem.slice(0, 300))
    }
  })

  it("rejects impossible models", () => {
    assert.match(modelProblem(model({ symbols: [] }))!, /no symbols/)
    // An exchange code names the topics: lower case, a dot or nothing would publish only poison or no topic.
    for (const exchange of ["asx", "X.Y", ""]) assert.match(modelProblem(model({ exchange }))!, /names the topics/)
    assert.isUndefined(modelProblem(model({ exchange: "T_1-X" })))
    assert.match(modelProblem(model({ timeZone: "Nowhere/Land" }))!, /time zone/)
    // Date.parse rolls these over into March / May instead of rejecting them.
    for (const startDate of ["2024-02-30", "2023-02-29", "2024-04-31"]) assert.match(modelProblem(model({ startDate }))!, /startDate/)
    // K2_SIM_DAYS=1.5 ran 2 days and K2_SIM_MAX_EVENTS=1.5 stopped after 2 events.
    assert.match(modelProblem(model({ tradingDays: 1.5 }))!, /tradingDays/)
    assert.match(modelProblem(model({ maxEvents: 1.5 }))!, /maxEvents/)
    assert.match(modelProblem(model({ faults: { ...DEFAULT_MODEL.faults, gap: 2 } }))!, /gap/)
    assert.isUndefined(modelProblem(DEFAULT_MODEL))
  })

  // Were accepted: an infinite rate (K2_SIM_EVENTS_PER_SYMBOL_PER_DAY=1e400) made an endless stream
  // at the first open, an infinite skew spun forever inside one `next` call (no event, no yield),
  // and an infinite volatility crashed on BigInt(NaN) at the first quote.
  it("rejects model numbers that are not finite", () => {
    assert.match(modelProblem(model({ eventsPerSymbolPerDay: Number.POSITIVE_INFINITY }))!, /eventsPerSymbolPerDay/)
    assert.match(modelProblem(model({ intensitySkew: Number.POSITIVE_INFINITY }))!, /intensitySkew/)
    assert.match(modelProblem(model({ annualVolatility: Number.POSITIVE_INFINITY }))!, /annualVolatility/)
    assert.match(modelProblem(model({ spreadBps: Number.POSITIVE_INFINITY }))!, /spreadBps/)
    assert.match(modelProblem(model({ spreadBps: Number.NaN }))!, /spreadBps/)
  })

  // Were accepted: 1850 made only records every consumer rejects (timestamps must lie in
  // 1900..2200), and 0050 made events dated 1950 (Date.UTC reads years 0-99 as 19xx).
  it("rejects a calendar whose sessions fall outside 1900..2200", () => {
    for (const startDate of ["1850-01-02", "0050-01-04"]) {
      assert.match(modelProblem(model({ startDate }))!, /between 1900 and 2200/, startDate)
    }
    assert.match(modelProblem(model({ startDate: "2199-12-30", tradingDays: 3 }))!, /between 1900 and 2200/)
    // 09:00 Sydney (+10:00) on 1900-01-01 is still 1899 in UTC; 10:00 is not, nor the last session before 2200.
    assert.match(modelProblem(model({ startDate: "1900-01-01", sessionOpen: "09:00" }))!, /between 1900 and 2200/)
    assert.isUndefined(modelProblem(model({ startDate: "1900-01-01" })))
    assert.isUndefined(modelProblem(model({ startDate: "2199-12-30", tradingDays: 2 })))
    const last = runAll(model({ startDate: "2199-12-30", tradingDays: 2, eventsPerSymbolPerDay: 20 }))
    const lastTrades = last.events.flatMap((e) => e._tag === "Trade" ? [e.trade] : [])
    assert.isAbove(lastTrades.length, 0, "the last sessions before 2200 make trades")
    for (const t of lastTrades) assert.isTrue(Result.isSuccess(decodeTrade(Schema.encodeSync(Trade)(t))), t.message_id)
  })
})

/**
 * A reference consumer-side sequence check per (exchange, symbol, data type): what the
 * platform should report. A gap that a later OUT_OF_ORDER event fills is the visible half of
 * that injection, not a separate one.
 */
const detect = (events: ReadonlyArray<FeedEvent>) => {
  const last = new Map<string, number>()
  const seen = new Set<string>()
  const lastDay = new Map<string, string>()
  const found: Array<Omit<InjectedAnomaly, "exchange">> = []
  for (const e of events) {
    if (e._tag === "Poison") {
      found.push({ kind: "POISON", symbol: e.symbol, data_type: e.dataType, expected: null, received: null, message_id: e.message_id })
      continue
    }
    const r = e._tag === "Trade" ? e.trade : e._tag === "Quote" ? e.quote : undefined
    if (r === undefined) continue
    const data_type = e._tag === "Trade" ? "trades" as const : "quotes" as const
    const key = `${r.symbol}/${data_type}`
    const seq = Number(r.source_sequence)
    const day = new Date(r.exchange_timestamp / 1000 + sydney.offsetAt(r.exchange_timestamp / 1000)).toISOString().slice(0, 10)
    const prev = last.get(key) ?? 0
    const base = { symbol: r.symbol, data_type, message_id: r.message_id }
    if (seq === 1 && prev > 0 && lastDay.get(key) !== day) {
      found.push({ ...base, kind: "RESET", expected: prev + 1, received: 1 })
      last.set(key, 1)
    } else if (seq === prev + 1) last.set(key, seq)
    else if (seq > prev + 1) {
      found.push({ ...base, kind: "GAP", expected: prev + 1, received: seq })
      last.set(key, seq)
    } else {
      found.push({ ...base, kind: seen.has(r.message_id) ? "DUPLICATE" : "OUT_OF_ORDER", expected: prev + 1, received: seq })
    }
    seen.add(r.message_id)
    lastDay.set(key, day)
  }
  return found
}

/** The manifest is exactly what `detect` finds. */
const assertMatchesChecker = (events: ReadonlyArray<FeedEvent>, manifest: ReadonlyArray<InjectedAnomaly>) => {
  const found = detect(events)
  // The gap of one an out-of-order event leaves (until it arrives) is part of that injection:
  // match each such gap with the next out-of-order injection of its (symbol, data type).
  const pending = new Map<string, Array<InjectedAnomaly>>()
  for (const m of manifest) {
    if (m.kind !== "OUT_OF_ORDER") continue
    const k = `${m.symbol}/${m.data_type}`
    pending.set(k, [...(pending.get(k) ?? []), m])
  }
  const induced = (f: (typeof found)[number]) => {
    const queue = pending.get(`${f.symbol}/${f.data_type}`) ?? []
    if (f.kind === "OUT_OF_ORDER") queue.shift()
    if (f.kind !== "GAP" || f.received !== f.expected! + 1 || queue[0]?.received !== f.expected) return false
    return true
  }
  const strip = ({ exchange: _, ...rest }: InjectedAnomaly) => rest
  assert.deepStrictEqual(found.filter((f) => !induced(f)), manifest.map(strip))
}

describe("fault injection", () => {
  const faulty = model({
    eventsPerSymbolPerDay: 300,
    tradingDays: 3,
    faults: { gap: 0.01, duplicate: 0.01, outOfOrder: 0.01, reset: 0.3, poison: 0.005 }
  })
  const { events, manifest, summary } = runAll(faulty)

  it("injects every kind and lists each in the manifest", () => {
    const kinds = new Set(manifest.map((m) => m.kind))
    assert.deepStrictEqual([...kinds].sort(), ["DUPLICATE", "GAP", "OUT_OF_ORDER", "POISON", "RESET"])
    assert.isTrue(manifest.every((m) => m.exchange === "ASX"))
    assert.strictEqual(events.filter((e) => e._tag === "Poison").length, manifest.filter((m) => m.kind === "POISON").length)
    assert.strictEqual(summary.poison, manifest.filter((m) => m.kind === "POISON").length)
  })

  it("matches what a sequence checker finds, anomaly for anomaly", () => {
    assertMatchesChecker(events, manifest)
  })

  it("lists no out-of-order event that arrived in order (held when its session or the run ended)", () => {
    // Few events per symbol and day: many held events are still waiting when the session ends.
    for (const seed of [1, 2, 3]) {
      for (const over of [{}, { maxEvents: 40 }]) {
        const { events, manifest } = runAll(model({
          seed,
          symbols: ["AAA", "BBB", "CCC"],
          eventsPerSymbolPerDay: 5,
          tradingDays: 3,
          faults: { ...DEFAULT_MODEL.faults, outOfOrder: 0.5, reset: 1 },
          ...over
        }))
        assertMatchesChecker(events, manifest)
      }
    }
  })

  it("lists exactly what K2's sequence tracker reports, also for faults drawn at a stream's first event", () => {
    // The tracker starts a stream at whatever it first receives: an injected gap there is no
    // gap to it, and a late first event is older than the stream it started (not a filled gap).
    for (const seed of [1, 2, 3, 4]) {
      const { events, manifest } = runAll(model({
        seed,
        symbols: ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"],
        eventsPerSymbolPerDay: 40,
        tradingDays: 2,
        faults: { ...DEFAULT_MODEL.faults, gap: 0.2, outOfOrder: 0.2, duplicate: 0.1, reset: 1 }
      }))
      const trackers = { Trade: new SequenceTrackerState(), Quote: new SequenceTrackerState() }
      const reported: Array<string> = []
      for (const e of events) {
        if (e._tag !== "Trade" && e._tag !== "Quote") continue
        const row = e._tag === "Trade" ? e.trade : e.quote
        const dataType = e._tag === "Trade" ? "trades" : "quotes"
        for (const v of trackers[e._tag].observe([row], 0).events) reported.push(`${v.kind} ${v.symbol}/${dataType} ${v.received}`)
      }
      const expected = manifest.flatMap((a) => {
        const key = `${a.symbol}/${a.data_type}`
        switch (a.kind) {
          case "OUT_OF_ORDER":
            return [`GAP ${key} ${a.received! + 1}`, `GAP_FILLED ${key} ${a.received}`]
          case "POISON":
            return []
          default:
            return [`${a.kind} ${key} ${a.received}`]
        }
      })
      assert.deepStrictEqual(reported.sort(), expected.sort(), `seed ${seed}`)
    }
  })

  it("duplicates are verbatim copies; poison payloads are not decodable", () => {
    const dupIds = new Set(manifest.filter((m) => m.kind === "DUPLICATE").map((m) => m.message_id))
    const copies = events.filter((e) => (e._tag === "Trade" || e._tag === "Quote") && dupIds.has(e._tag === "Trade" ? e.trade.message_id : e.quote.message_id))
    assert.strictEqual(copies.length, dupIds.size * 2)
    for (const e of events) {
      if (e._tag !== "Poison") continue
      assert.isTrue(e.payload.length > 0)
      assert.isTrue(e.payload[0] !== 0, "never looks like a Confluent frame")
    }
  })

  it("leaves prices and times unchanged (faults use their own random stream) and is deterministic", () => {
    const clean = runAll({ ...faulty, faults: DEFAULT_MODEL.faults }).events
    const ids = (es: ReadonlyArray<FeedEvent>) => {
      const seen = new Set<string>()
      return es.flatMap((e) => {
        const r = e._tag === "Trade" ? e.trade : e._tag === "Quote" ? e.quote : undefined
        if (r === undefined || seen.has(r.message_id)) return []
        seen.add(r.message_id)
        return [`${r.message_id}|${r.exchange_timestamp}`]
      }).sort()
    }
    assert.deepStrictEqual(ids(events), ids(clean))
    assert.deepStrictEqual(runAll(faulty).manifest, manifest)
  })
})

describe("simulator model limits", () => {
  it("refuses an empty session, a 24:00 close, a zero tick and repeated symbols; takes rates of 1 and no days", () => {
    assert.match(modelProblem(model({ sessionOpen: "10:00", sessionClose: "10:00" }))!, /open < close/)
    assert.match(modelProblem(model({ sessionClose: "24:00" }))!, /HH:MM/)
    for (const tickSize of ["0", "0.00", "0.0"]) assert.match(modelProblem(model({ tickSize }))!, /tickSize/, tickSize)
    // The repeated one is named: in a generated list of thousands "symbols must be distinct" left it to be found.
    assert.strictEqual(modelProblem(model({ symbols: ["BHP", "CBA", "BHP"] })), `symbol "BHP" is given twice`)
    assert.isUndefined(modelProblem(model({ faults: { gap: 1, duplicate: 1, outOfOrder: 1, reset: 1, poison: 1 } })))
    assert.isUndefined(modelProblem(model({ tradingDays: 0 })))
  })

  it("quotes at least one tick wide even when the spread in basis points rounds to none", () => {
    const { events } = runAll(model({ spreadBps: 0, eventsPerSymbolPerDay: 200 }))
    const quotes = events.flatMap((e) => e._tag === "Quote" ? [e.quote] : [])
    assert.isAbove(quotes.length, 1000)
    for (const q of quotes) assert.isTrue(BigDecimal.isGreaterThan(q.ask_price, q.bid_price), `${q.message_id}`)
  })

  it("is the same market from one release to the next: the first events of seed 42 (a resumed embedded day relies on it)", () => {
    const sim = new Simulator(model({ symbols: ["BHP", "CBA"], faults: { gap: 0.05, duplicate: 0.05, outOfOrder: 0.05, reset: 0, poison: 0.02 } }), new SummaryCounter("s"))
    const text = JSON.stringify([...sim.next(10), ...sim.next(300)].map(wire))
    assert.strictEqual(createHash("sha256").update(text).digest("hex").slice(0, 16), GOLDEN)
  })
})

describe("injected faults, one kind at a time", () => {
  const only = (faults: Partial<SimulatorModel["faults"]>, over: Partial<SimulatorModel> = {}) =>
    runAll(model({ eventsPerSymbolPerDay: 300, tradingDays: 3, faults: { ...DEFAULT_MODEL.faults, ...faults }, ...over }))

  it("resets alone are injected (at day changes)", () => {
    const { manifest } = only({ reset: 0.5 })
    assert.isAbove(manifest.length, 0)
    assert.isTrue(manifest.every((m) => m.kind === "RESET"))
  })

  it("an out-of-order event is held back until 1 to 3 later events of its key have gone", () => {
    const { manifest } = only({ outOfOrder: 0.05 })
    const late = manifest.filter((m) => m.kind === "OUT_OF_ORDER").map((m) => m.expected! - m.received!)
    assert.isAbove(late.length, 50)
    // expected - received = 1 + the later events sent before it.
    assert.deepStrictEqual([...new Set(late)].sort(), [2, 3, 4])
  })

  it("counts each event it emits once: trades and quotes are the events generated plus the duplicates", () => {
    const { events, manifest, summary } = only({ outOfOrder: 0.05, duplicate: 0.02 })
    const emitted = events.filter((e) => e._tag === "Trade" || e._tag === "Quote").length
    assert.strictEqual(summary.trades + summary.quotes, emitted)
    assert.strictEqual(emitted, summary.rowsRead + manifest.filter((m) => m.kind === "DUPLICATE").length)
  })

  it("garbage poison never starts with Kafka's magic byte 0 (it could pass for a framed record)", () => {
    const { events } = only({ poison: 0.5 }, { eventsPerSymbolPerDay: 300, tradingDays: 1 })
    const garbage = events.flatMap((e) => e._tag === "Poison" && e.reason === "garbage bytes" ? [e.payload] : [])
    assert.isAbove(garbage.length, 1000)
    for (const p of garbage) assert.notStrictEqual(p[0], 0)
  })

  it("stopped mid-run, each listed anomaly names the event that carries its received sequence", () => {
    const sim = new Simulator(model({ eventsPerSymbolPerDay: 300, faults: { ...DEFAULT_MODEL.faults, outOfOrder: 0.2, gap: 0.02 } }), new SummaryCounter("s"))
    const given = [...sim.next(100), ...sim.next(1_500)]
    const sequenceOf = new Map<string, number>()
    for (const e of given) {
      if (e._tag === "Trade") sequenceOf.set(e.trade.message_id, Number(e.trade.source_sequence))
      if (e._tag === "Quote") sequenceOf.set(e.quote.message_id, Number(e.quote.source_sequence))
    }
    const gaps = sim.anomalies().filter((m) => m.kind === "GAP")
    assert.isAbove(gaps.length, gaps.filter((m) => sim.manifest.includes(m)).length, "gaps of events still held")
    for (const m of gaps) assert.strictEqual(sequenceOf.get(m.message_id), m.received, m.message_id)
  })
})

describe("SummaryCounter", () => {
  it("a snapshot lists symbols in order and does not move with later counts", () => {
    const counter = new SummaryCounter("s")
    counter.symbol("WBC").trades++
    counter.symbol("ANZ").quotes++
    const snapshot = counter.snapshot()
    counter.symbol("ANZ").quotes++
    assert.deepStrictEqual(Object.keys(snapshot.bySymbol), ["ANZ", "WBC"])
    assert.strictEqual(snapshot.bySymbol["ANZ"]!.quotes, 1)
  })
})
