/**
 * Property tests: the tracker against a naive reference model (full history sets, no
 * bounds) over random interleaved streams with injected gaps, duplicates, reorderings,
 * late fills, idle and day-change resets, stragglers of old sessions and sequences
 * beyond 2^53; and restart equivalence at any point of the input.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { Result } from "effect"
import { SequenceMachine, type StreamState } from "../../../src/domain/sequence/machine.ts"
import { ExchangeCalendars, ZoneCalendar } from "../../../src/domain/sequence/calendar.ts"
import { type Observation, type SequenceInput, SequenceTrackerState } from "../../../src/domain/sequence/tracker.ts"
import { transition } from "../../support/sequenceTransition.ts"

interface ModelMessage {
  readonly exchange: string
  readonly symbol: string
  readonly source_sequence: bigint | null
  readonly exchange_timestamp: number
  readonly message_id: string
}

interface ModelVerdict {
  readonly kind: "OK" | "GAP" | "DUPLICATE" | "OUT_OF_ORDER" | "RESET" | "GAP_FILLED"
  readonly expected: bigint | null
  readonly received: bigint | null
  readonly gapSize: bigint | null
}

interface Stream {
  floor: bigint
  max: bigint
  lastTs: number
  prevTs: number
  /** When the latest RESET began the session (NaN before one). */
  startTs: number
  /** First sequence past a boundary when the session began with a forward step, and the old head's time. */
  crossSeq: bigint | undefined
  crossFrom: number
  crossTs: number
  /** Sequences below crossSeq filled by messages stamped in the new session. */
  crossFills: Set<bigint>
  /** Exchange time of the earliest of those fills (NaN without one). */
  crossFillTs: number
  seen: Set<bigint>
}

const dateFormats = new Map<string, Intl.DateTimeFormat>()
const localDate = (zone: string, micros: number): string => {
  let f = dateFormats.get(zone)
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
    dateFormats.set(zone, f)
  }
  return f.format(Math.floor(micros / 1000))
}

const runModel = (
  messages: ReadonlyArray<ModelMessage>,
  options: { readonly idleMicros: number; readonly zones: Record<string, string> }
): Array<ModelVerdict> => {
  const streams = new Map<string, Stream>()
  const zoneOf = (exchange: string) => options.zones[exchange] ?? "UTC"
  return messages.map((m): ModelVerdict => {
    const seq = m.source_sequence
    const ts = m.exchange_timestamp
    if (seq === null) return { kind: "OK", expected: null, received: null, gapSize: null }
    const key = `${m.exchange}\u0000${m.symbol}`
    const s = streams.get(key)
    if (s === undefined) {
      streams.set(key, { floor: seq, max: seq, lastTs: ts, prevTs: -Infinity, startTs: Number.NaN, crossSeq: undefined, crossFrom: 0, crossTs: 0, crossFills: new Set(), crossFillTs: Number.NaN, seen: new Set([seq]) })
      return { kind: "OK", expected: null, received: seq, gapSize: null }
    }
    const expected = s.max + 1n
    const verdict = (kind: ModelVerdict["kind"], gapSize: bigint | null = null): ModelVerdict => ({
      kind,
      expected,
      received: seq,
      gapSize
    })
    const zone = zoneOf(m.exchange)
    const apart = (from: number, to: number) => to - from >= options.idleMicros || localDate(zone, from) !== localDate(zone, to)
    // An old session's straggler: at or before its head, or on the far side of the boundary that began this one.
    if (ts <= s.prevTs || (ts < s.startTs && apart(ts, s.startTs))) return verdict("OUT_OF_ORDER")
    if (seq > s.max) {
      if (ts > s.lastTs && apart(s.lastTs, ts)) {
        s.crossSeq = seq
        s.crossFrom = s.lastTs
        s.crossTs = ts
        s.crossFills = new Set()
        s.crossFillTs = Number.NaN
      }
      s.seen.add(seq)
      s.max = seq
      // The session's latest head time: a head stamped back does not move it back.
      if (ts > s.lastTs) s.lastTs = ts
      return seq === expected ? verdict("OK") : verdict("GAP", seq - expected)
    }
    if (ts > s.lastTs && apart(s.lastTs, ts)) {
      s.prevTs = s.lastTs
      s.startTs = ts
      s.floor = seq
      s.max = seq
      s.lastTs = ts
      s.seen = new Set([seq])
      s.crossSeq = undefined
      s.crossFills = new Set()
      s.crossFillTs = Number.NaN
      return verdict("RESET")
    }
    if (seq < s.floor) return verdict("OUT_OF_ORDER")
    if (!s.seen.has(seq)) {
      s.seen.add(seq)
      if (s.crossSeq !== undefined && seq < s.crossSeq && ts > s.crossFrom && apart(s.crossFrom, ts)) {
        s.crossFills.add(seq)
        if (!(ts >= s.crossFillTs)) s.crossFillTs = ts
      }
      return verdict("GAP_FILLED", s.max - s.floor + 1n - BigInt(s.seen.size))
    }
    // Seen in the old session only, stamped in the new one: the numbering restarted.
    const cross = s.crossSeq
    if (
      cross !== undefined && seq < cross && !s.crossFills.has(seq) && ts > s.crossFrom && s.lastTs > s.crossFrom &&
      apart(s.crossFrom, ts)
    ) {
      s.prevTs = s.crossFrom
      s.startTs = Math.min(ts, s.crossTs, Number.isNaN(s.crossFillTs) ? Infinity : s.crossFillTs)
      s.floor = seq
      s.seen = new Set([seq, ...[...s.seen].filter((x) => x >= cross || (x > seq && s.crossFills.has(x)))])
      s.crossSeq = undefined
      s.crossFills = new Set()
      s.crossFillTs = Number.NaN
      return verdict("RESET")
    }
    return verdict("DUPLICATE")
  })
}

// ---- Scenario generator ----------------------------------------------------------

const KEYS = [["ASX", "BHP"], ["ASX", "CBA"], ["NYSE", "IBM"], ["XTST", "ZZZ"]] as const
const ZONES = { ASX: "Australia/Sydney", NYSE: "America/New_York" }
const IDLE = 30 * 60 * 1_000_000
const MINUTE = 60 * 1_000_000

/** Starting instants close to local midnights, some on DST change days (Sydney, New York). */
const BASES = [
  Date.UTC(2024, 3, 6, 12, 40), // 23:40 Sydney (AEDT), DST ends at 03:00 the next morning
  Date.UTC(2024, 9, 5, 13, 40), // 23:40 Sydney (AEST), DST starts at 02:00 the next morning
  Date.UTC(2024, 2, 10, 4, 40), // 23:40 New York the night before DST starts
  Date.UTC(2024, 0, 2, 23, 40) // 23:40 UTC
].map((ms) => ms * 1000)

type Op =
  | { readonly op: "next"; readonly key: number; readonly step: number }
  | { readonly op: "skip"; readonly key: number; readonly n: number }
  | { readonly op: "late"; readonly key: number; readonly pick: number }
  | { readonly op: "dup"; readonly key: number; readonly pick: number; readonly fresh: boolean }
  | { readonly op: "swap"; readonly key: number }
  | { readonly op: "reset"; readonly key: number; readonly start: number; readonly jump: number }
  | { readonly op: "null"; readonly key: number }

const key = fc.nat(KEYS.length - 1)
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant("next" as const), key, step: fc.integer({ min: 0, max: 20 * MINUTE }) }), weight: 12 },
  { arbitrary: fc.record({ op: fc.constant("skip" as const), key, n: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(100_000)) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant("late" as const), key, pick: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant("dup" as const), key, pick: fc.nat(), fresh: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant("swap" as const), key }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant("reset" as const),
      key,
      start: fc.integer({ min: -3, max: 5 }),
      // idle (>= 30 min), or a short jump that may or may not cross a local midnight
      jump: fc.oneof(fc.integer({ min: IDLE, max: IDLE + 120 * MINUTE }), fc.integer({ min: 1, max: 29 * MINUTE }))
    }),
    weight: 1
  },
  { arbitrary: fc.record({ op: fc.constant("null" as const), key }), weight: 1 }
)

interface Producer {
  next: bigint
  ts: number
  n: number
  emitted: Array<SequenceInput>
  withheld: Array<SequenceInput>
}

/** Plays the ops as a feed would publish them; `offset` is added to every sequence. */
const play = (ops: ReadonlyArray<Op>, base: number, offset: bigint, start: bigint): Array<SequenceInput> => {
  const producers = KEYS.map((): Producer => ({ next: start, ts: base, n: 0, emitted: [], withheld: [] }))
  const out: Array<SequenceInput> = []
  const make = (k: number, p: Producer, seq: bigint | null): SequenceInput => ({
    exchange: KEYS[k]![0],
    symbol: KEYS[k]![1],
    source_sequence: seq === null ? null : seq + offset,
    exchange_timestamp: p.ts,
    message_id: `${KEYS[k]![1]}:${p.n++}`,
    kafka_topic: "trades",
    kafka_partition: k,
    kafka_offset: BigInt(out.length)
  })
  const emit = (m: SequenceInput, p?: Producer) => {
    out.push(m)
    p?.emitted.push(m)
  }
  for (const o of ops) {
    const p = producers[o.key]!
    switch (o.op) {
      case "next":
        p.ts += o.step
        emit(make(o.key, p, p.next++), p)
        break
      case "skip":
        for (let i = 0; i < Math.min(o.n, 3); i++) p.withheld.push(make(o.key, p, p.next + BigInt(i)))
        p.next += BigInt(o.n)
        break
      case "late": {
        if (p.withheld.length === 0) break
        const [m] = p.withheld.splice(o.pick % p.withheld.length, 1)
        emit(m!, p)
        break
      }
      case "dup": {
        if (p.emitted.length === 0) break
        const m = p.emitted[p.emitted.length - 1 - (o.pick % Math.min(p.emitted.length, 8))]!
        if (o.fresh) p.ts += 1000
        emit(o.fresh ? { ...m, exchange_timestamp: p.ts, kafka_offset: BigInt(out.length) } : { ...m, kafka_offset: BigInt(out.length) })
        break
      }
      case "swap": {
        p.ts += 1000
        const a = make(o.key, p, p.next)
        const b = make(o.key, p, p.next + 1n)
        emit(b, p)
        emit(a, p)
        p.next += 2n
        break
      }
      case "reset":
        p.ts += o.jump
        p.next = start + BigInt(o.start) < 0n ? 0n : start + BigInt(o.start)
        emit(make(o.key, p, p.next++), p)
        break
      case "null":
        p.ts += 1000
        emit(make(o.key, p, null))
        break
    }
  }
  return out
}

const scenario = fc.record({
  ops: fc.array(opArb, { maxLength: 300, size: "max" }),
  base: fc.constantFrom(...BASES),
  // plain numbers, all bigints, or crossing 2^53 - 1 in the middle of the streams
  offset: fc.constantFrom(0n, 1n << 60n, (1n << 53n) - 40n),
  start: fc.constantFrom(1n, 0n, 1000n)
}).map(({ base, offset, ops, start }) => play(ops, base, offset, start))

// ---- Comparison ------------------------------------------------------------------

const options = { idleMicros: IDLE, zones: ZONES }
const unbounded = { ...options, capacity: 1000, maxGaps: 100_000 }

const expectedOf = (messages: ReadonlyArray<SequenceInput>) => {
  const verdicts = runModel(messages, options)
  return {
    duplicates: verdicts.flatMap((v, i) => v.kind === "DUPLICATE" ? [i] : []),
    events: verdicts.flatMap((v, i) =>
      v.kind === "OK" ? [] : [[v.kind, v.expected, v.received, v.gapSize, messages[i]!.message_id, messages[i]!.kafka_offset]]
    )
  }
}

const actualOf = (observations: ReadonlyArray<Observation>, sizes: ReadonlyArray<number>) => {
  let base = 0
  const duplicates: Array<number> = []
  const events: Array<unknown> = []
  observations.forEach((o, n) => {
    for (const d of o.duplicates) duplicates.push(base + d)
    for (const e of o.events) events.push([e.kind, e.expected, e.received, e.gap_size, e.message_id, e.kafka_offset])
    base += sizes[n]!
  })
  return { duplicates, events }
}

/** Splits `messages` into batches at the given cut points. */
const batches = <A>(messages: ReadonlyArray<A>, cuts: ReadonlyArray<number>): Array<ReadonlyArray<A>> => {
  const points = [...new Set(cuts.map((c) => c % (messages.length + 1)))].sort((a, b) => a - b)
  const out: Array<ReadonlyArray<A>> = []
  let from = 0
  for (const p of [...points, messages.length]) {
    out.push(messages.slice(from, p))
    from = p
  }
  return out
}

describe("sequence state machine vs reference model", () => {
  it("the tracker gives the model's verdicts, in any batching", () => {
    fc.assert(
      fc.property(scenario, fc.array(fc.nat(), { maxLength: 5 }), (messages, cuts) => {
        const tracker = new SequenceTrackerState(unbounded)
        const parts = batches(messages, cuts)
        const observations = parts.map((b) => tracker.observe(b, 0))
        assert.deepStrictEqual(actualOf(observations, parts.map((b) => b.length)), expectedOf(messages))
        const model = runModel(messages, options)
        const counts = tracker.stats().verdicts
        for (const kind of ["OK", "GAP", "DUPLICATE", "OUT_OF_ORDER", "RESET", "GAP_FILLED"] as const) {
          assert.strictEqual(counts[kind], model.filter((v) => v.kind === kind).length, kind)
        }
      }),
      { numRuns: 400 }
    )
  })

  it("the pure transition function gives the model's verdicts and leaves its input state alone", () => {
    const machine = new SequenceMachine({ idleMicros: IDLE, dayChange: true, maxGaps: 100_000 })
    const calendars = new ExchangeCalendars(ZONES)
    fc.assert(
      fc.property(scenario, (messages) => {
        const states = new Map<string, StreamState | undefined>()
        const model = runModel(messages, options)
        messages.forEach((m, i) => {
          const k = `${m.exchange}/${m.symbol}`
          const before = states.get(k)
          const snapshot = before === undefined ? undefined : JSON.stringify([before.last, before.floor, before.gaps, before.lastTs].map(String))
          const { state, verdict } = transition(machine, calendars.forExchange(m.exchange), m.exchange, m.symbol, before, m)
          if (before !== undefined) {
            assert.strictEqual(JSON.stringify([before.last, before.floor, before.gaps, before.lastTs].map(String)), snapshot)
          }
          states.set(k, state)
          assert.deepStrictEqual(verdict, model[i])
        })
      }),
      { numRuns: 200 }
    )
  })

  it("a restart from a checkpoint at any point reports exactly what an uninterrupted run reports", () => {
    fc.assert(
      fc.property(scenario, fc.nat(), fc.integer({ min: 1, max: 4 }), (messages, cut, capacity) => {
        const at = cut % (messages.length + 1)
        // Small capacities exercise eviction: the restored LRU order must evict the same streams.
        const config = { ...unbounded, capacity }
        const whole = new SequenceTrackerState(config)
        const uninterrupted = actualOf([whole.observe(messages, 0)], [messages.length])

        const first = new SequenceTrackerState(config)
        const before = first.observe(messages.slice(0, at), 0)
        const checkpoint = first.checkpoint()
        const second = new SequenceTrackerState(config)
        assert.isTrue(Result.isSuccess(second.restore(checkpoint)))
        assert.strictEqual(second.checkpoint(), checkpoint)
        const after = second.observe(messages.slice(at), 0)
        assert.deepStrictEqual(actualOf([before, after], [at, messages.length - at]), uninterrupted)
        assert.strictEqual(second.checkpoint(), whole.checkpoint())
      }),
      { numRuns: 400 }
    )
  })

  it("a restart from one checkpoint per partition, restored in any order, reports what an uninterrupted run reports", () => {
    fc.assert(
      fc.property(
        scenario,
        fc.nat(),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.nat(2), { minLength: KEYS.length, maxLength: KEYS.length }),
        fc.constantFrom([0, 1, 2], [2, 1, 0], [1, 2, 0]),
        (messages, cut, capacity, partitionOf, order) => {
          const at = cut % (messages.length + 1)
          const config = { ...unbounded, capacity }
          // One observe per message, each at its own time: the LRU order across partitions is defined.
          const run = (t: SequenceTrackerState, ms: ReadonlyArray<SequenceInput>, from: number) =>
            ms.map((m, i) => t.observe([m], from + i))
          const partition = (exchange: string, symbol: string) => partitionOf[KEYS.findIndex(([e, s]) => e === exchange && s === symbol)]
          const whole = new SequenceTrackerState(config)
          const uninterrupted = run(whole, messages, 0)

          const first = new SequenceTrackerState(config)
          const before = run(first, messages.slice(0, at), 0)
          const checkpoints = order.map((p) => first.checkpoint((exchange, symbol) => partition(exchange, symbol) === p))
          const second = new SequenceTrackerState(config)
          for (const checkpoint of checkpoints) assert.isTrue(Result.isSuccess(second.restore(checkpoint)))
          const after = run(second, messages.slice(at), at)
          const ones = messages.map(() => 1)
          assert.deepStrictEqual(actualOf([...before, ...after], ones), actualOf(uninterrupted, ones))
          assert.strictEqual(second.checkpoint(), whole.checkpoint())
        }
      ),
      { numRuns: 400 }
    )
  })

  it("with few open gaps kept, a row is only dropped when certainly a duplicate, and a restart anywhere changes nothing", () => {
    fc.assert(
      fc.property(scenario, fc.integer({ min: 1, max: 3 }), fc.nat(), (messages, maxGaps, cut) => {
        const config = { ...unbounded, maxGaps }
        const model = runModel(messages, options)
        const tracker = new SequenceTrackerState(config)
        // Streams whose numbering restarted below the raised floor: the tracker cannot tell it from a
        // given-up gap's late message and keeps the row (OUT_OF_ORDER); its state is no longer the model's.
        const apart = new Set<string>()
        messages.forEach((m, i) => {
          const want = model[i]!
          const event = tracker.observe([m], 0).events[0]
          const key = `${m.exchange}/${m.symbol}`
          if (apart.has(key)) return
          if (want.kind === "RESET" && event?.kind === "OUT_OF_ORDER") {
            assert.isTrue(BigInt(tracker.peek(m.exchange, m.symbol)!.floor) > m.source_sequence!, `${i}`)
            return apart.add(key)
          }
          // OK stays OK: last and the session are the model's whatever gaps were given up.
          if (want.kind === "OK") return assert.isUndefined(event, `${i}`)
          if (event === undefined) return assert.fail(`no event for ${want.kind} at ${i}`)
          assert.deepStrictEqual([event.expected, event.received], [want.expected, want.received])
          if (event.kind === want.kind) {
            if (want.kind !== "GAP_FILLED") assert.strictEqual(event.gap_size, want.gapSize)
          } else {
            // Only below the floor raised over given-up gaps may the tracker know less: it keeps the row.
            assert.strictEqual(event.kind, "OUT_OF_ORDER", `${want.kind} at ${i}`)
            assert.include(["DUPLICATE", "GAP_FILLED"], want.kind)
          }
        })

        const at = cut % (messages.length + 1)
        const whole = new SequenceTrackerState(config)
        const uninterrupted = actualOf([whole.observe(messages, 0)], [messages.length])
        const first = new SequenceTrackerState(config)
        const before = first.observe(messages.slice(0, at), 0)
        const second = new SequenceTrackerState(config)
        assert.isTrue(Result.isSuccess(second.restore(first.checkpoint())))
        const after = second.observe(messages.slice(at), 0)
        assert.deepStrictEqual(actualOf([before, after], [at, messages.length - at]), uninterrupted)
      }),
      { numRuns: 300 }
    )
  })

  it("local days from the cached offsets match Intl for any instant and zone", () => {
    const zones = ["Australia/Sydney", "Australia/Lord_Howe", "America/New_York", "Europe/London", "Asia/Kolkata", "UTC"]
    const calendars = zones.map((z) => new ZoneCalendar(z))
    const from = Date.UTC(1990, 0, 1) * 1000
    const to = Date.UTC(2040, 0, 1) * 1000
    fc.assert(
      fc.property(fc.nat(zones.length - 1), fc.integer({ min: from, max: to }), (z, micros) => {
        const [y, m, d] = localDate(zones[z]!, micros).split("-").map(Number)
        assert.strictEqual(calendars[z]!.localDay(micros), Date.UTC(y!, m! - 1, d!) / 86_400_000)
      }),
      { numRuns: 3000 }
    )
  })

  it("local days within a day of every DST change of Sydney and New York in 2024, minute by minute", () => {
    for (const [zone, utcHours] of [["Australia/Sydney", [Date.UTC(2024, 3, 6, 16), Date.UTC(2024, 9, 5, 16)]], [
      "America/New_York",
      [Date.UTC(2024, 2, 10, 7), Date.UTC(2024, 10, 3, 6)]
    ]] as const) {
      const calendar = new ZoneCalendar(zone)
      for (const at of utcHours) {
        for (let ms = at - 26 * 3_600_000; ms <= at + 26 * 3_600_000; ms += 60_000) {
          const [y, m, d] = localDate(zone, ms * 1000).split("-").map(Number)
          assert.strictEqual(calendar.localDay(ms * 1000), Date.UTC(y!, m! - 1, d!) / 86_400_000, `${zone} ${new Date(ms).toISOString()}`)
        }
      }
    }
  })

  it("local days before 1970 (records from 1900 on are accepted) are the dates they fall on", () => {
    for (const [zone, iso, date] of [
      ["UTC", "1969-12-31T12:00:00Z", "1969-12-31"],
      ["UTC", "1900-01-01T00:00:00Z", "1900-01-01"],
      ["Australia/Sydney", "1969-12-31T12:00:00Z", "1969-12-31"],
      ["Australia/Sydney", "1969-12-31T15:00:00Z", "1970-01-01"],
      ["America/New_York", "1960-06-15T03:00:00Z", "1960-06-14"]
    ] as const) {
      assert.strictEqual(new ZoneCalendar(zone).localDay(Date.parse(iso) * 1000), Date.parse(date) / 86_400_000, `${zone} ${iso}`)
    }
  })

  it("an exchange named like an Object property (records name any exchange) uses the default zone", () => {
    const calendars = new ExchangeCalendars({ ASX: "Australia/Sydney" }, "UTC")
    for (const exchange of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      assert.strictEqual(calendars.forExchange(exchange).zone, "UTC", exchange)
    }
    assert.strictEqual(calendars.forExchange("ASX").zone, "Australia/Sydney")
  })
})
