/**
 * The DuckDB pool on /metrics: how many connections it has, how many run a statement, and how
 * many statements wait for one (a busy pool is why a query waits, then times out, before it runs);
 * and the time one request's statements waited, kept apart from the time they ran.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Metric } from "effect"
import { TestClock } from "effect/testing"
import { PrometheusMetrics } from "effect/observability"
import { ConnectionWaits, CurrentConnectionWaits, DuckDb, query } from "../../../src/layers/duckdb/DuckDb.ts"
import { monotonicMillisOf } from "../../../src/layers/elapsed.ts"
import { makeSteppedClock } from "../../support/steppedClock.ts"
import { parseExposition } from "../telemetry/opsMetrics.ts"

const gauges = Effect.map(PrometheusMetrics.format(), (text) => {
  const value = (name: string) => parseExposition(text).series.find((s) => s.name === name)?.value
  return { size: value("k2_duckdb_connections"), inUse: value("k2_duckdb_connections_in_use"), waiting: value("k2_duckdb_connection_waiters") }
})

describe("DuckDb pool metrics", () => {
  it.live("count the connections in use and the statements waiting, back to 0 once they end or are interrupted", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      assert.deepStrictEqual(yield* gauges, { size: "2", inUse: "0", waiting: "0" })
      // Released however the test ends: a connection still held would hold up closing DuckDB.
      const release = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
      const holding = yield* Effect.forEach([1, 2], () =>
        Effect.gen(function*() {
          const held = yield* Deferred.make<void>()
          const fiber = yield* Effect.forkChild(duckDb.withConnection((c) =>
            query(c, "hold", "SELECT 1").pipe(Effect.andThen(Deferred.succeed(held, undefined)), Effect.andThen(Deferred.await(release)))
          ))
          yield* Deferred.await(held)
          return fiber
        }))
      const waiter = yield* Effect.forkChild(duckDb.withConnection((c) => query(c, "waits", "SELECT 1")))
      const interrupted = yield* Effect.forkChild(duckDb.withConnection((c) => query(c, "gives up", "SELECT 1")))
      yield* Effect.sleep("50 millis")
      assert.deepStrictEqual(yield* gauges, { size: "2", inUse: "2", waiting: "2" })
      yield* Fiber.interrupt(interrupted)
      assert.deepStrictEqual(yield* gauges, { size: "2", inUse: "2", waiting: "1" })
      yield* Deferred.succeed(release, undefined)
      yield* Effect.forEach(holding, Fiber.join)
      yield* Fiber.join(waiter)
      assert.deepStrictEqual(yield* gauges, { size: "2", inUse: "0", waiting: "0" })
    }).pipe(
      Effect.scoped,
      Effect.provide(DuckDb.layerWith({ connections: 2 })),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ))

  /** Both pooled connections held until `release`: the next statement waits. */
  const holdBoth = (duckDb: DuckDb["Service"], release: Deferred.Deferred<void>) =>
    Effect.forEach([1, 2], () =>
      Effect.gen(function*() {
        const held = yield* Deferred.make<void>()
        const fiber = yield* Effect.forkChild(duckDb.withConnection(() => Deferred.succeed(held, undefined).pipe(Effect.andThen(Deferred.await(release)))))
        yield* Deferred.await(held)
        return fiber
      }))

  it.effect("a request's waits are timed once however many of its statements wait together, and not while they run", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      const release = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
      const holding = yield* holdBoth(duckDb, release)
      const waits = new ConnectionWaits()
      const mine = (sql: string) => duckDb.withConnection((c) => query(c, "mine", sql)).pipe(Effect.provideService(CurrentConnectionWaits, waits))
      const waiting = yield* Effect.forEach(["SELECT 1", "SELECT 2"], (sql) => Effect.forkChild(mine(sql)))
      while ((yield* gauges).waiting !== "2") yield* Effect.yieldNow
      yield* TestClock.adjust("1 second")
      assert.strictEqual(waits.waitedMs(monotonicMillisOf(yield* Clock.Clock)), 1_000)
      yield* Deferred.succeed(release, undefined)
      yield* Effect.forEach(holding, Fiber.join)
      yield* Effect.forEach(waiting, Fiber.join)
      // Running, or done, is not waiting; nor is a statement that finds a connection free.
      yield* mine("SELECT 3")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(waits.waitedMs(monotonicMillisOf(yield* Clock.Clock)), 1_000)
    }).pipe(
      Effect.scoped,
      Effect.provide(DuckDb.layerWith({ connections: 2 })),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ))

  it.effect("a request's waits are the time waited when the wall clock is set back or forward meanwhile", () =>
    Effect.gen(function*() {
      const stepped = yield* makeSteppedClock
      const duckDb = yield* DuckDb
      const release = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
      const holding = yield* holdBoth(duckDb, release)
      const waits = new ConnectionWaits()
      const waiting = yield* Effect.forkChild(
        duckDb.withConnection((c) => query(c, "mine", "SELECT 1")).pipe(
          Effect.provideService(CurrentConnectionWaits, waits),
          Effect.provideService(Clock.Clock, stepped.clock)
        )
      )
      while ((yield* gauges).waiting !== "1") yield* Effect.yieldNow
      yield* TestClock.adjust("1 second")
      yield* stepped.step(-3_600_000)
      // As the reads' time limit reads it (reads.ts), under the same clock.
      const waited = Effect.provideService(Effect.map(Clock.clockWith(Effect.succeed), (clock) => waits.waitedMs(monotonicMillisOf(clock))), Clock.Clock, stepped.clock)
      assert.strictEqual(yield* waited, 1_000)
      yield* stepped.step(7_200_000)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* waited, 2_000)
      yield* Deferred.succeed(release, undefined)
      yield* Effect.forEach(holding, Fiber.join)
      yield* Fiber.join(waiting)
    }).pipe(
      Effect.scoped,
      Effect.provide(DuckDb.layerWith({ connections: 2 })),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ))
})
