import * as fs from "node:fs"
import { assert, describe, it, layer } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer, Queue, Stream } from "effect"
import { TestClock } from "effect/testing"
import { encodeOffsets } from "../../../src/domain/ingest/marker.ts"
import { type QuoteRow, tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { paced } from "../../../src/layers/replay/pace.ts"
import { cutWindows } from "../../../src/layers/replay/windows.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { type ReplayEvent, ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import * as Ref from "../../domain/query/reference.ts"
import { DAY, genTrades, HOUR, T0 } from "../query/data.ts"
import { Fixture, fill, lakehouse, TRADES } from "../query/fixture.ts"

type Tagged = { kind: "Q" | "T"; row: TradeRow | QuoteRow }

/** The replay order, computed independently: (time, sequence NULL first, message_id, Quote before Trade). */
const expected = (trades: ReadonlyArray<TradeRow>, quotes: ReadonlyArray<QuoteRow>, q: { from: number; to: number; symbols?: ReadonlyArray<string> }) => {
  const all: Array<Tagged> = [
    ...trades.filter((r) => Ref.inRange(r, q.from, q.to, q.symbols ?? [])).map((row) => ({ kind: "T" as const, row })),
    ...quotes.filter((r) => Ref.inRange(r, q.from, q.to, q.symbols ?? [])).map((row) => ({ kind: "Q" as const, row }))
  ]
  return all.sort((a, b) => Ref.compareRows(a.row, b.row) || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0))
    .map((t) => `${t.kind}:${t.row.message_id}`)
}

const keys = (events: ReadonlyArray<ReplayEvent>) => events.map((e) => `${e._tag === "Trade" ? "T" : "Q"}:${e.message_id}`)

describe("cutWindows", () => {
  it("cuts at second boundaries, never splitting a second, covering the whole range", () => {
    const w = cutWindows([[1_000_000, 600], [2_000_000, 600], [3_000_000, 2_000], [9_000_000, 1]], 1_000, 0, 10_000_000)
    assert.deepStrictEqual(w, [
      { from: 0, to: 2_000_000, rows: 600 },
      { from: 2_000_000, to: 3_000_000, rows: 600 },
      { from: 3_000_000, to: 9_000_000, rows: 2_000 },
      { from: 9_000_000, to: 10_000_000, rows: 1 }
    ])
    assert.deepStrictEqual(cutWindows([], 10, 5, 6), [{ from: 5, to: 6, rows: 0 }])
  })

  it("fills a window up to windowRows exactly: it cuts before the second that would pass it, not the one that reaches it", () => {
    assert.deepStrictEqual(cutWindows([[0, 3], [1_000_000, 3], [2_000_000, 4], [3_000_000, 2]], 6, 0, 5_000_000), [
      { from: 0, to: 2_000_000, rows: 6 },
      { from: 2_000_000, to: 5_000_000, rows: 6 }
    ])
  })
})

describe("paced", () => {
  it.effect("plays each event when the clock reaches its exchange-time offset / speed", () =>
    Effect.gen(function*() {
      const events = [0, 0, 1_000_000, 2_500_000, 10_000_000].map((t, i) => ({ exchange_timestamp: T0 + t, i }))
      const seen: Array<number> = []
      const fiber = yield* Stream.fromArray(events).pipe(
        paced(2),
        Stream.runForEach((e) => Effect.sync(() => seen.push(e.i))),
        Effect.forkChild
      )
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(seen, [0, 1])
      yield* TestClock.adjust("499 millis") // 0.5 s = 1 s of exchange time at 2x
      assert.deepStrictEqual(seen, [0, 1, 2])
      yield* TestClock.adjust("749 millis")
      assert.deepStrictEqual(seen, [0, 1, 2])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(seen, [0, 1, 2, 3])
      yield* TestClock.adjust("3750 millis")
      assert.deepStrictEqual(seen, [0, 1, 2, 3, 4])
      yield* Fiber.join(fiber)
    }))

  it.effect("any speed above 0 paces: a tiny one plays ties at once and waits (does not die) for the next instant", () =>
    Effect.gen(function*() {
      const events = [0, 0, 1].map((t, i) => ({ exchange_timestamp: T0 + t, i }))
      const seen: Array<number> = []
      const fiber = yield* Stream.fromArray(events).pipe(
        paced(1e-306),
        Stream.runForEach((e) => Effect.sync(() => seen.push(e.i))),
        Effect.forkChild
      )
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(seen, [0, 1])
      yield* TestClock.adjust("3650 days")
      assert.deepStrictEqual(seen, [0, 1])
      assert.isUndefined(fiber.pollUnsafe())
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("plays the events already due together, one chunk, and each later one on its own when it is due", () =>
    Effect.gen(function*() {
      // Ties, and events a slow consumer made late: one send or write each was one broker round trip
      // per event (a republish at --speed 1000000 ran 20x slower than unpaced, late by seconds).
      const events = [0, 0, 0, 1_000_000, 2_000_000, 3_000_000, 20_000_000].map((t, i) => ({ exchange_timestamp: T0 + t, i }))
      const chunks: Array<Array<number>> = []
      const fiber = yield* Stream.fromArray(events).pipe(
        paced(1),
        Stream.runForEachArray((es) =>
          Effect.suspend(() => {
            chunks.push(es.map((e) => e.i))
            // The consumer takes 2.5 s over the first chunk: events 3 and 4 are late, 5 not yet due.
            return chunks.length === 1 ? Effect.sleep("2500 millis") : Effect.void
          })
        ),
        Effect.forkChild
      )
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(chunks, [[0, 1, 2]])
      yield* TestClock.adjust("2499 millis")
      assert.deepStrictEqual(chunks, [[0, 1, 2], [3, 4]])
      yield* TestClock.adjust("499 millis")
      assert.deepStrictEqual(chunks, [[0, 1, 2], [3, 4]], "not early")
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(chunks, [[0, 1, 2], [3, 4], [5]])
      yield* TestClock.adjust("17 seconds")
      assert.deepStrictEqual(chunks, [[0, 1, 2], [3, 4], [5], [6]])
      yield* Fiber.join(fiber)
    }))

  it.effect("paces by elapsed time: the wall clock stepped back does not stall the replay", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("3 hours")
      const queue = yield* Queue.unbounded<{ readonly exchange_timestamp: number; readonly i: number }>()
      const seen: Array<number> = []
      yield* Stream.fromQueue(queue).pipe(paced(1), Stream.runForEach((e) => Effect.sync(() => seen.push(e.i))), Effect.forkChild)
      yield* Queue.offer(queue, { exchange_timestamp: T0, i: 0 })
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(seen, [0])
      // The system clock is stepped back two hours (NTP, a resumed VM); elapsed time is not.
      yield* TestClock.setTime((yield* Clock.currentTimeMillis) - 7_200_000)
      yield* Queue.offer(queue, { exchange_timestamp: T0 + 10_000_000, i: 1 })
      yield* TestClock.adjust("9998 millis")
      assert.deepStrictEqual(seen, [0], "not early")
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(seen, [0, 1], "10 s of exchange time after the first, not two hours more")
    }))
})

const replayWarehouse = Layer.mergeAll(fill(), ReplayLayer.layer).pipe(Layer.provideMerge(lakehouse()))

layer(replayWarehouse, { timeout: 120_000, excludeTestServices: true })("ReplayEngine", (it) => {
  it.effect("merges trades and quotes across symbols in exchange-time order, ties included", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const f = yield* Fixture
      const q = { from: T0 + 3 * HOUR, to: T0 + 2 * DAY + HOUR }
      const events = yield* Stream.runCollect(replay.stream(q))
      assert.deepStrictEqual(keys(events), expected(f.trades, f.quotes, q))
      // Every value of every event is its row's, exact.
      const rows = new Map<string, ReplayEvent>([
        ...f.trades.map((t) => [`T:${t.message_id}`, { ...t, _tag: "Trade", price: Ref.text8(t.price), quantity: Ref.text8(t.quantity) }] as const),
        ...f.quotes.map((q) => [`Q:${q.message_id}`, {
          ...q,
          _tag: "Quote",
          bid_price: Ref.text8(q.bid_price),
          bid_size: Ref.text8(q.bid_size),
          ask_price: Ref.text8(q.ask_price),
          ask_size: Ref.text8(q.ask_size)
        }] as const)
      ])
      for (const e of events) assert.deepStrictEqual({ ...e }, rows.get(keys([e])[0]!))
    }))

  it.effect("small windows give the same order (memory bound by the window, not the range)", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const f = yield* Fixture
      const q = { from: T0, to: T0 + 3 * DAY, symbols: ["BHP", "IBM"] }
      const events = yield* Stream.runCollect(replay.stream({ ...q, windowRows: 1_000 }))
      assert.deepStrictEqual(keys(events), expected(f.trades, f.quotes, q))
      const tradesOnly = yield* Stream.runCollect(replay.stream({ ...q, tables: ["trades"], windowRows: 1_000 }))
      assert.deepStrictEqual(keys(tradesOnly), expected(f.trades, [], q))
    }))

  it.effect("a consumer that stops early leaves the engine whole: the next replay is complete", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const f = yield* Fixture
      const q = { from: T0, to: T0 + 3 * DAY, windowRows: 1_000 }
      for (const n of [1, 2_500, 5_000]) {
        assert.strictEqual((yield* Stream.runCollect(replay.stream(q).pipe(Stream.take(n)))).length, n)
      }
      assert.deepStrictEqual(keys(yield* Stream.runCollect(replay.stream(q))), expected(f.trades, f.quotes, q))
    }))

  it.effect("replays a past snapshot without later commits; empty for unknown symbols or ranges", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const f = yield* Fixture
      const q = { from: T0, to: T0 + 3 * DAY }
      const old = yield* Stream.runCollect(replay.stream({ ...q, tables: ["trades"], snapshot: { _tag: "AsOf", timestampMs: f.firstTradeSnapshotMs } }))
      assert.deepStrictEqual(keys(old), expected(f.trades1, [], q))
      // Both tables at a state where quotes had no snapshot yet: quotes replay as empty.
      for (const snapshot of [
        { _tag: "AsOf", timestampMs: f.firstTradeSnapshotMs } as const,
        { _tag: "ById", snapshotId: f.firstTradeSnapshot } as const
      ]) {
        assert.deepStrictEqual(keys(yield* Stream.runCollect(replay.stream({ ...q, snapshot }))), expected(f.trades1, [], q))
      }
      assert.strictEqual((yield* Stream.runCollect(replay.stream({ ...q, symbols: ["NOPE"] }))).length, 0)
      assert.strictEqual((yield* Stream.runCollect(replay.stream({ from: T0, to: T0 }))).length, 0)
      const inverted = yield* Effect.flip(Stream.runCollect(replay.stream({ from: T0 + 1, to: T0 })))
      assert.strictEqual(inverted._tag === "InvalidQuery" && inverted.reason._tag, "InvertedRange")
      const missing = yield* Effect.flip(Stream.runCollect(replay.stream({ ...q, snapshot: { _tag: "ById", snapshotId: 7n } })))
      assert.strictEqual(missing._tag, "SnapshotNotFound")
      // The plan fails as such, before any stream exists (what /v1/replay answers before its 200).
      const unplanned = yield* Effect.flip(replay.plan({ ...q, snapshot: { _tag: "ById", snapshotId: 7n } }))
      assert.strictEqual(unplanned._tag, "SnapshotNotFound")
      const speed = yield* Effect.flip(Stream.runCollect(replay.stream({ ...q, pace: { _tag: "Paced", speed: 0 } })))
      assert.include(speed.message, "speed")
    }))

  it.effect("paced replay plays at the requested multiple of real time", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const f = yield* Fixture
      const q = { from: T0 + 6 * HOUR, to: T0 + 6 * HOUR + 300_000_000, tables: ["trades" as const] }
      const want = expected(f.trades, [], q)
      const start = Date.now()
      const events = yield* Stream.runCollect(replay.stream({ ...q, pace: { _tag: "Paced", speed: 600 } }))
      const elapsed = Date.now() - start
      assert.deepStrictEqual(keys(events), want)
      const span = (events[events.length - 1]!.exchange_timestamp - events[0]!.exchange_timestamp) / 1000 / 600
      // Never ahead of the pace (lateness on a busy machine is not the engine's; `paced` above is
      // timed exactly on the TestClock).
      assert.isAtLeast(elapsed, span - 5)
    }))

  it.effect("ids of any length and script come back whole, ties on time and sequence in id order (ids travel in 12-character pieces)", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const sink = yield* IcebergSink
      const q = { from: T0 + 7 * DAY, to: T0 + 8 * DAY, tables: ["trades" as const] }
      // Ties on (time, sequence) where only the id orders, around the 12- and 24-character cuts.
      const a = "a".repeat(12), e = "é".repeat(12)
      const tied = [a, `${a}b`, `${a}é`, a.slice(1), `${a}${a}`, `${a}${a}b`, `${a}${a}éz`, e.slice(1), e, `${e}a`, `${e}${e}`, "b", `${a}${a}${a}${a}`]
      const tiedRows = genTrades(tied.length, { seed: 6, start: q.from, days: 1 }).map((row, i) => ({
        ...row,
        message_id: tied[i]!,
        exchange_timestamp: q.from + 5,
        source_sequence: i % 3 === 0 ? null : 1n
      }))
      const rows = [
        ...genTrades(40, { seed: 7, idPrefix: "asx:trades-2024-01-02.csv:line", start: q.from, days: 1 }),
        ...genTrades(40, { seed: 8, idPrefix: "bourse:é-ü-日本-naïve", start: q.from, days: 1 }),
        ...tiedRows
      ]
      yield* sink.append(TRADES, tradeColumns(rows))
      const events = yield* Stream.runCollect(replay.stream(q))
      assert.deepStrictEqual(keys(events), expected(rows, [], q))
      const byId = new Map(rows.map((t) => [t.message_id, t]))
      for (const e of events) assert.strictEqual(e._tag === "Trade" && e.trade_id, byId.get(e.message_id)!.trade_id)
    }))

  it.effect("the catch-up point is the newest snapshot carrying the group's marker", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const sink = yield* IcebergSink
      assert.strictEqual(yield* replay.catchUpPoint("trades", "g1"), undefined)
      const rows = genTrades(50, { seed: 99, idPrefix: "m", start: T0 + 5 * DAY, days: 1 })
      const offsets = new Map([["market.equities.trades.test", new Map([[0, 17n], [1, 18n], [2, 16n]])]])
      const committed = yield* sink.append(TRADES, tradeColumns(rows), { properties: { "k2.kafka.offsets.g1": encodeOffsets(offsets) } })
      const point = yield* replay.catchUpPoint("trades", "g1")
      assert.strictEqual(point?.snapshotId, committed.snapshot["snapshot-id"])
      assert.deepStrictEqual(point?.offsets, offsets)
      const tail = yield* Stream.runCollect(replay.stream({ from: T0 + 5 * DAY, to: T0 + 6 * DAY, tables: ["trades"], snapshot: { _tag: "ById", snapshotId: point!.snapshotId } }))
      assert.deepStrictEqual(keys(tail), expected(rows, [], { from: T0 + 5 * DAY, to: T0 + 6 * DAY }))
    }))

  it.effect("a newest marker that does not decode is refused, not passed over for an older one (a follow would replay rows twice)", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const sink = yield* IcebergSink
      const good = encodeOffsets(new Map([["market.equities.trades.test", new Map([[0, 5n]])]]))
      yield* sink.append(TRADES, tradeColumns(genTrades(5, { seed: 3, idPrefix: "g9a", start: T0 + 7 * DAY, days: 1 })), { properties: { "k2.kafka.offsets.g9": good } })
      const garbled = yield* sink.append(TRADES, tradeColumns(genTrades(5, { seed: 4, idPrefix: "g9b", start: T0 + 7 * DAY, days: 1 })), {
        properties: { "k2.kafka.offsets.g9": "{\"market.equities.trades.test\":{\"0\":\"ten\"}}" }
      })
      const error = yield* Effect.flip(replay.catchUpPoint("trades", "g9"))
      assert.strictEqual(error._tag, "MarkerUnreadable")
      assert.include(error.message, String(garbled.snapshot["snapshot-id"]))
    }))
})

layer(Layer.mergeAll(fill(), ReplayLayer.layer).pipe(Layer.provideMerge(lakehouse())), { timeout: 120_000, excludeTestServices: true })(
  "ReplayEngine, a file lost under a replay",
  (it) => {
    it.effect("fails with TableFileError naming it, after the windows before it played in order", () =>
      Effect.gen(function*() {
        const replay = yield* ReplayEngine
        const f = yield* Fixture
        const plan = yield* (yield* TableScanner).plan(TRADES)
        const lastDay = plan.files.reduce((m, file) => Math.max(m, file.partition["exchange_timestamp_day"] as number), 0)
        const lost = plan.files.filter((file) => file.partition["exchange_timestamp_day"] === lastDay).map((file) => localPath(file.filePath))
        for (const path of lost) fs.rmSync(path)
        const seen: Array<ReplayEvent> = []
        const q = { from: T0, to: T0 + 3 * DAY }
        const error = yield* Effect.flip(Stream.runForEach(replay.stream({ ...q, windowRows: 1_000 }), (e) => Effect.sync(() => void seen.push(e))))
        assert.strictEqual(error._tag, "TableFileError")
        assert.include(lost, error._tag === "TableFileError" ? error.reason._tag === "MissingFile" && error.reason.path : "")
        const before = { from: T0, to: lastDay * DAY }
        assert.deepStrictEqual(keys(seen).slice(0, expected(f.trades, f.quotes, before).length), expected(f.trades, f.quotes, before))
      }))
  }
)
