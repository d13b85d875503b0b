import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Layer, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { type FeedEvent, InjectedAnomalies } from "../../../src/domain/feeds/events.ts"
import { layerSimulator, type SimulatorConfig } from "../../../src/layers/feeds/simulator.ts"
import { SequenceTrackerState } from "../../../src/domain/sequence/tracker.ts"
import { MarketFeed } from "../../../src/services/MarketFeed.ts"
import { makeSteppedClock } from "../../support/steppedClock.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sim-"))
const marketEvents = (es: ReadonlyArray<FeedEvent>) => es.filter((e) => e._tag === "Trade" || e._tag === "Quote")
const timestamp = (e: FeedEvent) => (e._tag === "Trade" ? e.trade.exchange_timestamp : e._tag === "Quote" ? e.quote.exchange_timestamp : 0)

/** Runs the feed in the background, counting market events as they come. */
const start = Effect.gen(function*() {
  const feed = yield* MarketFeed
  const seen: Array<FeedEvent> = []
  const fiber = yield* Effect.forkChild(
    feed.events().pipe(Stream.runForEachArray((chunk) => Effect.sync(() => void seen.push(...marketEvents(chunk)))))
  )
  yield* Effect.yieldNow
  return { seen, fiber }
})

describe("layerSimulator", () => {
  const small: SimulatorConfig = { eventsPerSymbolPerDay: 100, symbols: ["AAA", "BBB", "CCC"] }

  it.effect("runs unpaced to the end of the calendar and summarises", () =>
    Effect.gen(function*() {
      const feed = yield* MarketFeed
      const events = yield* Stream.runCollect(feed.events())
      const summary = yield* feed.summary
      assert.strictEqual(feed.name, "simulator")
      assert.strictEqual(summary.complete, true)
      assert.strictEqual(summary.instruments, 3)
      assert.strictEqual(summary.trades + summary.quotes, marketEvents(events).length)
      assert.deepStrictEqual(Object.keys(summary.bySymbol), ["AAA", "BBB", "CCC"])
      assert.deepStrictEqual(yield* feed.manifest, [])
    }).pipe(Effect.provide(layerSimulator(small))))

  it.effect("paces at a target rate (TestClock)", () =>
    Effect.gen(function*() {
      const { seen, fiber } = yield* start
      assert.isTrue(seen.length <= 10, `before time moves: ${seen.length}`)
      yield* TestClock.adjust(1000)
      assert.isTrue(seen.length >= 95 && seen.length <= 110, `after 1 s: ${seen.length}`)
      yield* TestClock.adjust(1000)
      assert.isTrue(seen.length >= 195 && seen.length <= 210, `after 2 s: ${seen.length}`)
      yield* TestClock.adjust(10_000)
      yield* Fiber.join(fiber)
      assert.strictEqual(seen.length, 300)
    }).pipe(Effect.provide(layerSimulator({ ...small, maxEvents: 300, pacing: { _tag: "Rate", eventsPerSecond: 100 } }))))

  it.effect("paced, it keeps its rate when the wall clock is set back an hour (it waited that hour), or forward", () =>
    Effect.gen(function*() {
      const stepped = yield* makeSteppedClock
      const { seen, fiber } = yield* Effect.provideService(start, Clock.Clock, stepped.clock)
      yield* TestClock.adjust(1000)
      assert.isTrue(seen.length >= 95 && seen.length <= 110, `after 1 s: ${seen.length}`)
      yield* stepped.step(-3_600_000)
      yield* TestClock.adjust(1000)
      assert.isTrue(seen.length >= 195 && seen.length <= 210, `1 s after the clock was set back: ${seen.length}`)
      yield* stepped.step(3_600_000)
      yield* TestClock.adjust(1000)
      assert.isTrue(seen.length >= 295 && seen.length <= 310, `1 s after the clock was set forward: ${seen.length}`)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(layerSimulator({ ...small, eventsPerSymbolPerDay: 10_000, pacing: { _tag: "Rate", eventsPerSecond: 100 } }))))

  it.effect("paced by rate and stopped while it waits, it has counted only what it gave", () =>
    Effect.gen(function*() {
      const feed = yield* MarketFeed
      const { seen, fiber } = yield* start
      yield* TestClock.adjust(1500)
      yield* Fiber.interrupt(fiber)
      const summary = yield* feed.summary
      // A batch made before its wait, and lost with it, was in the summary (and the manifest).
      assert.strictEqual(summary.trades + summary.quotes, seen.length)
    }).pipe(Effect.provide(layerSimulator({ ...small, maxEvents: 300, pacing: { _tag: "Rate", eventsPerSecond: 100 } }))))

  it.effect("paced, it does not send a stalled consumer's backlog at once: a pause shifts the schedule (TestClock)", () =>
    Effect.gen(function*() {
      const feed = yield* MarketFeed
      const resume = yield* Deferred.make<void>()
      let n = 0
      const fiber = yield* Effect.forkChild(feed.events().pipe(Stream.runForEach((e) =>
        e._tag === "Instrument" ? Effect.void : ++n === 100 ? Deferred.await(resume) : Effect.void
      )))
      yield* TestClock.adjust(1000)
      assert.strictEqual(n, 100)
      yield* TestClock.adjust(5000) // the consumer stalls for 5 s (a slow broker, the process stopped)
      yield* Deferred.succeed(resume, undefined)
      yield* TestClock.adjust(10)
      assert.isAtMost(n, 100 + 100 + 2, `at most a second's events at once after the pause: ${n}`)
      const after = n
      yield* TestClock.adjust(2000)
      assert.isTrue(n - after >= 195 && n - after <= 205, `then 100/s again: ${n - after} in 2 s`)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(layerSimulator({ ...small, eventsPerSymbolPerDay: 10_000, pacing: { _tag: "Rate", eventsPerSecond: 100 } }))))

  it.effect("paced by speed, a pause shifts the schedule too (TestClock)", () =>
    Effect.gen(function*() {
      const feed = yield* MarketFeed
      const resume = yield* Deferred.make<void>()
      let n = 0
      const fiber = yield* Effect.forkChild(feed.events().pipe(Stream.runForEach((e) =>
        e._tag === "Instrument" ? Effect.void : ++n === 50 ? Deferred.await(resume) : Effect.void
      )))
      yield* TestClock.adjust(60_000)
      assert.strictEqual(n, 50)
      yield* Deferred.succeed(resume, undefined)
      yield* TestClock.adjust(10)
      // About 1.7 events a second in the session at 3 symbols: far fewer than the minute's ~100.
      assert.isAtMost(n, 50 + 10, `no minute of events at once after the pause: ${n}`)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(layerSimulator({ ...small, eventsPerSymbolPerDay: 10_000, pacing: { _tag: "Speed", multiple: 1 } }))))

  it.effect("paces at a multiple of real time in exchange time (TestClock)", () =>
    Effect.gen(function*() {
      const { seen, fiber } = yield* start
      yield* TestClock.adjust(1000) // = 1 hour of session at 3600x
      const first = timestamp(seen[0]!)
      const spanHours = (timestamp(seen[seen.length - 1]!) - first) / 3.6e9
      assert.isTrue(spanHours > 0.8 && spanHours <= 1.03, `span ${spanHours} h after 1 s`)
      const after1s = seen.length
      yield* TestClock.adjust(6000)
      yield* Fiber.join(fiber)
      assert.isTrue(after1s < seen.length / 2, `${after1s} of ${seen.length} in the first hour`)
    }).pipe(Effect.provide(layerSimulator({ ...small, pacing: { _tag: "Speed", multiple: 3600 } }))))

  it.effect("gives the same events whatever the pacing", () =>
    Effect.gen(function*() {
      const ids = (es: ReadonlyArray<FeedEvent>) => marketEvents(es).map((e) => (e._tag === "Trade" ? e.trade.message_id : e._tag === "Quote" ? e.quote.message_id : ""))
      const unpaced = yield* MarketFeed.use((feed) => Stream.runCollect(feed.events())).pipe(
        Effect.provide(layerSimulator({ ...small, maxEvents: 50 }))
      )
      const { seen, fiber } = yield* start.pipe(Effect.provide(layerSimulator({ ...small, maxEvents: 50, pacing: { _tag: "Rate", eventsPerSecond: 10 } })))
      yield* TestClock.adjust(10_000)
      yield* Fiber.join(fiber)
      assert.strictEqual(seen.length, 50)
      assert.deepStrictEqual(ids(seen), ids(unpaced))
    }))

  it.effect("writes the manifest of injected anomalies when the run completes", () =>
    Effect.gen(function*() {
      const manifestFile = path.join(tmp, "manifest.json")
      const feed = yield* MarketFeed
      yield* Stream.runDrain(feed.events())
      const written = Schema.decodeUnknownSync(InjectedAnomalies)(JSON.parse(fs.readFileSync(manifestFile, "utf-8")))
      assert.deepStrictEqual(written, yield* feed.manifest)
      assert.isTrue(written.length > 0)
      const poison = (yield* feed.summary).poison
      assert.strictEqual(poison, written.filter((a) => a.kind === "POISON").length)
    }).pipe(Effect.provide(layerSimulator({
      ...small,
      tradingDays: 2,
      faults: { gap: 0.02, duplicate: 0.02, outOfOrder: 0.02, reset: 0.5, poison: 0.02 },
      manifestFile: path.join(tmp, "manifest.json")
    }))))

  it.effect("stopped mid-run, its manifest lists every anomaly a consumer of what it gave sees: an event still held back is a gap", () =>
    Effect.gen(function*() {
      const feed = yield* MarketFeed
      for (const chunks of [3, 7, 12, 20]) {
        // Stopped after whole chunks (as the publisher stops it: nothing made is dropped).
        const given = (yield* Stream.runCollect(feed.events().pipe(Stream.chunks, Stream.take(chunks)))).flat()
        const trackers = { Trade: new SequenceTrackerState(), Quote: new SequenceTrackerState() }
        const reported: Array<string> = []
        for (const e of given) {
          if (e._tag !== "Trade" && e._tag !== "Quote") continue
          const row = e._tag === "Trade" ? e.trade : e.quote
          const dataType = e._tag === "Trade" ? "trades" : "quotes"
          for (const v of trackers[e._tag].observe([row], 0).events) reported.push(`${v.kind} ${v.symbol}/${dataType} ${v.received}`)
        }
        const expected = (yield* feed.manifest).flatMap((a) => {
          const key = `${a.symbol}/${a.data_type}`
          return a.kind === "OUT_OF_ORDER" ? [`GAP ${key} ${a.received! + 1}`, `GAP_FILLED ${key} ${a.received}`] : [`${a.kind} ${key} ${a.received}`]
        })
        assert.deepStrictEqual(reported.sort(), expected.sort(), `stopped after ${chunks} chunks`)
      }
    }).pipe(Effect.provide(layerSimulator({ ...small, chunkSize: 16, faults: { outOfOrder: 0.3 } }))))

  it.effect("fails to build on a bad configuration", () =>
    Effect.gen(function*() {
      const error = yield* Layer.build(layerSimulator({ symbols: [] })).pipe(Effect.scoped, Effect.flip)
      assert.strictEqual(error._tag, "FeedError")
      assert.strictEqual(error.reason._tag, "FeedMisconfigured")
      for (const pacing of [{ _tag: "Rate", eventsPerSecond: 0 }, { _tag: "Speed", multiple: 0 }, { _tag: "Speed", multiple: Number.NaN }] as const) {
        const refused = yield* Layer.build(layerSimulator({ ...small, pacing })).pipe(Effect.scoped, Effect.flip)
        assert.match(refused.message, /must be positive/, JSON.stringify(pacing))
      }
    }))

  it.effect("each run of the feed counts from zero, and writes its manifest into a directory it makes", () =>
    Effect.gen(function*() {
      const feed = yield* MarketFeed
      yield* Stream.runDrain(feed.events())
      const first = yield* feed.summary
      yield* Stream.runDrain(feed.events())
      assert.deepStrictEqual(yield* feed.summary, first)
      assert.isTrue(fs.existsSync(path.join(tmp, "new", "dir", "manifest.json")))
    }).pipe(Effect.provide(layerSimulator({ ...small, faults: { gap: 0.05 }, manifestFile: path.join(tmp, "new", "dir", "manifest.json") }))))
})
