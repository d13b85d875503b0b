/**
 * GET /v1/replay held to an oracle over seeded random requests (in-process server, a small
 * generated warehouse whose rows crowd onto few instants: ties within and across tables, NULL and
 * repeated sequences, one record ingested twice, ids longer than one 12-character piece):
 * - NDJSON and SSE give exactly the documented order (docs/query.md: time, sequence with NULL as
 *   -1, message_id, Quote before Trade, then the Kafka lineage);
 * - an SSE stream cut after any event and resumed with that event's id as `Last-Event-ID` goes on
 *   exactly after it, at the snapshots it was read at (commits since then do not appear); after
 *   `end`, 204;
 * - the engine cut into windows of its smallest size (1,000 rows), streamed or read whole, the same;
 * - a paced replay (engine, TestClock) plays each event at its exchange-time offset / speed.
 */
import { assert, layer } from "@effect/vitest"
import { BigDecimal, Effect, Fiber, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"
import { quoteColumns, type QuoteRow, tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { auth, baseUrl, KEYS, servedWith, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"
import { QUOTES, TRADES, warehouseDir } from "../query/fixture.ts"

const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const SYMBOLS = ["BHP", "CBA", "IBM"]
const MS = 1_000

/** Few instants, so that many rows share one: whole milliseconds (range ends fall on them) and a few µs past, across two UTC days. */
const instants = (r: () => number) =>
  Array.from({ length: 30 }, () => T0 + DAY - 20_000 * MS + Math.floor(r() * 40_000) * MS + (r() < 0.2 ? 1 + Math.floor(r() * 999) : 0))

/**
 * The paced test's rows: whole seconds of a later day, which at 1000x are whole milliseconds of the
 * clock (TestClock keeps its time in float milliseconds: fractions of one could wake a sleep late).
 */
const PACED = { from: T0 + 2 * DAY, to: T0 + 2 * DAY + 60_000 * MS }
const seconds = (r: () => number) => Array.from({ length: 20 }, () => PACED.from + Math.floor(r() * 60) * 1_000 * MS)

/** Every row of a table has its own offset: rows tied on the whole key still have one order. */
let nextOffset = 0n

/** Rows for windows of the engine's smallest size (1,000 rows): 10 seconds of a later day, 40 instants. */
const BUSY = { from: T0 + 3 * DAY, to: T0 + 3 * DAY + 10_000 * MS }
const busy = (r: () => number) => Array.from({ length: 40 }, () => BUSY.from + Math.floor(r() * 10_000_000))

/** Rows at `times` (default: instants of their own). */
const gen = (seed: number, trades: number, quotes: number, times: (r: () => number) => ReadonlyArray<number> = instants) => {
  const r = random(seed)
  const at = times(r)
  const pick = <A>(xs: ReadonlyArray<A>) => xs[Math.floor(r() * xs.length)]!
  const id = () => `${pick(["m", "m-longer-than-twelve-", "m-"])}${Math.floor(r() * 50)}`
  const common = () => {
    const symbol = pick(SYMBOLS)
    const nullSeq = r() < 0.2
    return {
      message_id: id(),
      symbol,
      exchange: symbol === "IBM" ? "NYSE" : "ASX",
      asset_class: "equities" as const,
      exchange_timestamp: pick(at),
      currency: symbol === "IBM" ? "USD" : "AUD",
      conditions: [],
      source_sequence: nullSeq ? null : BigInt(Math.floor(r() * 3)),
      vendor_data: {},
      ingestion_timestamp: T0 + 10 * DAY,
      kafka_partition: Math.floor(r() * 2),
      kafka_offset: nextOffset++
    }
  }
  const price = () => BigDecimal.make(BigInt(1_000_000_000 + Math.floor(r() * 1_000_000)), 8)
  const ts: Array<TradeRow> = Array.from({ length: trades }, (_, i) => ({
    ...common(),
    trade_id: `T${i}`,
    price: price(),
    quantity: BigDecimal.make(BigInt(1 + i), 2),
    side: r() < 0.5 ? "BUY" : "SELL",
    kafka_topic: "market.equities.trades.test"
  }))
  const qs: Array<QuoteRow> = Array.from({ length: quotes }, (_, i) => ({
    ...common(),
    quote_id: `Q${i}`,
    bid_price: price(),
    bid_size: BigDecimal.make(1n, 0),
    ask_price: price(),
    ask_size: BigDecimal.make(2n, 0),
    kafka_topic: "market.equities.quotes.test"
  }))
  // One record ingested twice: the same key, another offset.
  for (const rows of [ts, qs] as Array<Array<TradeRow | QuoteRow>>) {
    for (let i = 0; i < 5; i++) rows.push({ ...pick(rows), kafka_offset: nextOffset++ } as never)
  }
  // A trade and a quote tied on the whole key: the table breaks the tie (Quote first).
  for (let i = 0; i < 5; i++) {
    const q = pick(qs)
    ts.push({ ...pick(ts), message_id: q.message_id, exchange_timestamp: q.exchange_timestamp, source_sequence: q.source_sequence, kafka_offset: nextOffset++ })
  }
  return { trades: ts, quotes: qs }
}

/** What the warehouse holds (the oracle's rows), grown by the appends the tests commit. */
const held = { trades: [] as Array<TradeRow>, quotes: [] as Array<QuoteRow> }

const append = (rows: { trades: Array<TradeRow>; quotes: Array<QuoteRow> }) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.append(TRADES, tradeColumns(rows.trades))
    yield* sink.append(QUOTES, quoteColumns(rows.quotes))
    held.trades.push(...rows.trades)
    held.quotes.push(...rows.quotes)
  })

const data = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.ensureTable(tables.quotes)
  // Several commits (files per table); the paced and windowed tests' rows on days of their own.
  yield* append(gen(1, 120, 150))
  yield* append(gen(2, 80, 60))
  yield* append(gen(3, 60, 60, seconds))
  yield* append(gen(4, 1_500, 1_500, busy))
}))

interface Query {
  readonly from: number
  readonly to: number
  readonly symbols: ReadonlyArray<string>
  readonly tables: ReadonlyArray<"trades" | "quotes">
}

const seq = (s: bigint | null) => s ?? -1n
const cmp = <A>(a: A, b: A) => (a < b ? -1 : a > b ? 1 : 0)

/** The oracle: docs/query.md's order, events named `Trade:offset` / `Quote:offset`. */
const expected = (q: Query): Array<string> => {
  const rows = [
    ...(q.tables.includes("trades") ? held.trades.map((row) => ({ tag: "Trade", kind: 1, row })) : []),
    ...(q.tables.includes("quotes") ? held.quotes.map((row) => ({ tag: "Quote", kind: 0, row })) : [])
  ].filter(({ row }) => row.exchange_timestamp >= q.from && row.exchange_timestamp < q.to && (q.symbols.length === 0 || q.symbols.includes(row.symbol)))
  return rows.sort((a, b) =>
    a.row.exchange_timestamp - b.row.exchange_timestamp ||
    cmp(seq(a.row.source_sequence), seq(b.row.source_sequence)) ||
    cmp(a.row.message_id, b.row.message_id) ||
    a.kind - b.kind ||
    cmp(a.row.kafka_topic, b.row.kafka_topic) ||
    a.row.kafka_partition - b.row.kafka_partition ||
    cmp(a.row.kafka_offset, b.row.kafka_offset)
  ).map(({ row, tag }) => `${tag}:${row.kafka_offset}`)
}

const nameOf = (e: { readonly _tag: string; readonly kafka_offset: string | number | bigint | null }) => `${e._tag}:${e.kafka_offset}`

/** A range whose ends are, as often as not, instants rows are at (`[from, to)`: the first in, the last out). */
const randomQuery = (r: () => number): Query => {
  const rows = [...held.trades, ...held.quotes]
  const at = () =>
    r() < 0.5
      ? rows[Math.floor(r() * rows.length)]!.exchange_timestamp
      : T0 + DAY - 30_000 * MS + Math.floor(r() * 60_000) * MS
  const [a, b] = [at(), at()]
  const tables = [["trades"], ["quotes"], ["trades", "quotes"]][Math.floor(r() * 3)] as Query["tables"]
  const symbols = r() < 0.5 ? [] : SYMBOLS.filter(() => r() < 0.5)
  return { from: Math.min(a, b), to: Math.max(a, b) + (r() < 0.5 ? 0 : MS), symbols, tables }
}

const url = (base: string, q: Query, format: "ndjson" | "sse") =>
  `${base}/v1/replay?from=${q.from}&to=${q.to}&tables=${q.tables.join(",")}&format=${format}` +
  (q.symbols.length > 0 ? `&symbols=${q.symbols.join(",")}` : "")

const text = (u: string, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const res = await fetch(u, { headers: { ...auth(KEYS.full), ...headers } })
    return { status: res.status, body: await res.text() }
  })

interface SseEvent {
  readonly id: string | undefined
  readonly event: string
  readonly name: string
}

const sseEvents = (body: string): Array<SseEvent> =>
  body.split("\n\n").filter((b) => b.trim() !== "" && !b.startsWith(":")).map((block) => {
    const f = Object.fromEntries(block.split("\n").map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)]))
    const data = JSON.parse(f["data"]!)
    return { id: f["id"], event: f["event"]!, name: f["event"] === "end" ? "end" : nameOf(data) }
  })

const dir = warehouseDir()
const served = servedWith(testOptions(), dir, data)

layer(served, { timeout: 60_000, excludeTestServices: true })("GET /v1/replay against an oracle", (it) => {
  it.effect("NDJSON and SSE give the documented order over random ranges, symbols and tables", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const r = random(7)
      let ties = 0
      for (let i = 0; i < 12; i++) {
        const q = randomQuery(r)
        const want = expected(q)
        const nd = yield* text(url(base, q, "ndjson"))
        assert.strictEqual(nd.status, 200, nd.body)
        const lines = nd.body.split("\n").filter((l) => l !== "").map((l) => nameOf(JSON.parse(l)))
        assert.deepStrictEqual(lines, want, `ndjson ${JSON.stringify(q)}`)
        const sse = yield* text(url(base, q, "sse"))
        const events = sseEvents(sse.body)
        assert.deepStrictEqual(events.map((e) => e.name), [...want, "end"], `sse ${JSON.stringify(q)}`)
        ties += want.length - new Set(events.map((e) => e.id?.split(".")[0])).size
      }
      assert.isAbove(ties, 50, "the requests met instants shared by several events")
    }))

  it.effect("an SSE stream cut after any event and resumed with its id is the uncut stream; commits since do not appear", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const r = random(8)
      let newer = 0
      for (let i = 0; i < 6; i++) {
        const q = randomQuery(r)
        const whole = sseEvents((yield* text(url(base, q, "sse"))).body)
        const n = whole.length - 1 // the events before `end`
        if (n === 0) continue
        const instant = (k: number) => whole[k]!.id!.split(".")[0]
        // Random cuts, one inside a run of events at one instant, the last event before `end`.
        const inRun = whole.findIndex((_, k) => k > 0 && k + 1 < n && instant(k) === instant(k - 1) && instant(k) === instant(k + 1))
        const cuts = [...new Set([Math.floor(r() * n), Math.floor(r() * n), ...(inRun >= 0 ? [inRun] : []), n - 1])]
        // Rows at the very instants the cuts fall on (some would sort before the cut events), committed after the first read.
        const cutAt = cuts.map((k) => Number(instant(k)))
        yield* append(gen(100 + i, 20, 20, () => cutAt))
        for (const cut of cuts) {
          const rest = yield* text(url(base, q, "sse"), { "last-event-id": whole[cut]!.id! })
          assert.strictEqual(rest.status, 200, rest.body)
          const resumed = sseEvents(rest.body)
          assert.deepStrictEqual(
            [...whole.slice(0, cut + 1), ...resumed].map((e) => `${e.id} ${e.name}`),
            whole.map((e) => `${e.id} ${e.name}`),
            `cut after ${cut} of ${n} in ${JSON.stringify(q)}`
          )
        }
        const after = yield* text(url(base, q, "sse"), { "last-event-id": whole[n]!.id! })
        assert.strictEqual(after.status, 204)
        // A fresh replay reads the commits.
        const fresh = sseEvents((yield* text(url(base, q, "sse"))).body).map((e) => e.name)
        assert.deepStrictEqual(fresh, [...expected(q), "end"])
        newer += fresh.length - whole.length
      }
      assert.isAbove(newer, 20, "the commits landed in the resumed ranges")
    }))

  it.effect("the engine cut into windows of 1,000 rows, streamed or read whole, gives the same order", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const r = random(9)
      for (let i = 0; i < 6; i++) {
        const [a, b] = [BUSY.from + Math.floor(r() * 10_000_000), BUSY.from + Math.floor(r() * 10_000_000)]
        const q: Query = { from: i === 0 ? BUSY.from : Math.min(a, b), to: i === 0 ? BUSY.to : Math.max(a, b) + 1, symbols: r() < 0.5 ? [] : ["BHP", "IBM"], tables: ["trades", "quotes"] }
        for (const wholeWindows of [false, true]) {
          const events = yield* Stream.runCollect(replay.stream({ ...q, windowRows: 1_000, wholeWindows }))
          assert.deepStrictEqual(events.map(nameOf), expected(q), `${JSON.stringify(q)} whole: ${wholeWindows}`)
        }
      }
    }))

  it.effect("a paced replay plays every event no earlier (and, the clock stepped to each due time, no later) than its exchange-time offset / speed", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const speed = 1000
      const q: Query = { ...PACED, symbols: [], tables: ["trades", "quotes"] }
      const want = expected(q)
      const times = [...held.trades, ...held.quotes].map((row) => row.exchange_timestamp).filter((t) => t >= q.from && t < q.to)
      const seen: Array<{ name: string; ts: number; at: bigint }> = []
      const fiber = yield* replay.stream({ ...q, pace: { _tag: "Paced", speed } }).pipe(
        Stream.runForEach((e) =>
          Effect.clockWith((clock) => Effect.sync(() => seen.push({ name: nameOf(e), ts: e.exchange_timestamp, at: clock.monotonicTimeNanosUnsafe() })))
        ),
        Effect.forkChild
      )
      // The window is read by DuckDB, off the test clock: waited for in real time (up to 30 s, a loaded machine).
      const played = (count: number) =>
        Effect.promise(async () => {
          for (let k = 0; k < 6_000 && seen.length < count; k++) await new Promise((resolve) => setTimeout(resolve, 5))
        })
      const instants = [...new Set(times)].sort((a, b) => a - b)
      yield* played(times.filter((t) => t === instants[0]).length)
      const [t0, ns0] = [seen[0]!.ts, seen[0]!.at]
      let now = ns0
      for (const t of instants.slice(1)) {
        const due = ns0 + BigInt(Math.round((t - t0) * 1000 / speed))
        // Before the clock reaches an instant's due time, nothing of it has played.
        yield* TestClock.adjust(`${Number(due - now) - 1_000_000} nanos`)
        yield* Effect.yieldNow
        assert.isFalse(seen.some((s) => s.ts >= t), `an event of ${t} played early`)
        yield* TestClock.adjust("1 millis")
        now = due
        yield* played(times.filter((x) => x <= t).length)
      }
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(seen.map((s) => s.name), want)
      for (const s of seen) assert.strictEqual(s.at - ns0, BigInt(Math.round((s.ts - t0) * 1000 / speed)), `${s.name} at ${s.ts}`)
    }).pipe(Effect.provide(TestClock.layer())))
})
