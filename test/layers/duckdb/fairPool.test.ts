/**
 * The pooled DuckDB connections handed out fairly between callers (ADR-100): one caller's many
 * queued statements no longer keep another caller's one waiting behind all of them; a waiter that
 * gives up leaves the line and no connection is lost.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { CurrentConnectionOwner, DuckDb, query } from "../../../src/layers/duckdb/DuckDb.ts"
import { parseExposition } from "../telemetry/opsMetrics.ts"

/** Holds one connection as `owner` until `release`; returns once it holds it. */
const hold = (duckDb: DuckDb["Service"], owner: string, release: Deferred.Deferred<void>) =>
  Effect.gen(function*() {
    const held = yield* Deferred.make<void>()
    const fiber = yield* Effect.forkChild(
      duckDb.withConnection(() => Deferred.succeed(held, undefined).pipe(Effect.andThen(Deferred.await(release)))).pipe(
        Effect.provideService(CurrentConnectionOwner, owner)
      )
    )
    yield* Deferred.await(held)
    return fiber
  })

/** Statements waiting for a connection, from the pool's gauge. */
const waiting = Effect.map(
  PrometheusMetrics.format(),
  (text) => Number(parseExposition(text).series.find((s) => s.name === "k2_duckdb_connection_waiters")?.value)
)

const untilWaiting = (n: number) =>
  Effect.gen(function*() {
    while ((yield* waiting) !== n) yield* Effect.sleep("1 millis")
  })

const layers = <A, E, R>(effect: Effect.Effect<A, E, R>, connections: number) =>
  effect.pipe(Effect.scoped, Effect.provide(DuckDb.layerWith({ connections })), Effect.provideService(Metric.MetricRegistry, new Map()))

describe("DuckDb pool fairness between callers", () => {
  it.live("a second caller's one statement runs before the first caller's 10 queued ones", () =>
    layers(
      Effect.gen(function*() {
        const duckDb = yield* DuckDb
        const release = yield* Deferred.make<void>()
        yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
        const holder = yield* hold(duckDb, "key:alice", release)
        const order: Array<string> = []
        const ask = (owner: string, name: string) =>
          Effect.forkChild(
            duckDb.withConnection((c) => query(c, name, "SELECT 1").pipe(Effect.andThen(Effect.sync(() => void order.push(name))))).pipe(
              Effect.provideService(CurrentConnectionOwner, owner)
            )
          )
        const alices: Array<Fiber.Fiber<void, unknown>> = []
        for (let i = 1; i <= 10; i++) {
          alices.push(yield* ask("key:alice", `alice ${i}`))
          yield* untilWaiting(i)
        }
        const bob = yield* ask("key:bob", "bob")
        yield* untilWaiting(11)
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        yield* Effect.forEach([...alices, bob], Fiber.join)
        assert.deepStrictEqual(order, ["bob", ...Array.from({ length: 10 }, (_, i) => `alice ${i + 1}`)])
      }),
      1
    ))

  it.live("programs with no caller (ingest, compact, query) are served first come, first served", () =>
    layers(
      Effect.gen(function*() {
        const duckDb = yield* DuckDb
        const release = yield* Deferred.make<void>()
        yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
        const holder = yield* hold(duckDb, CurrentConnectionOwner.defaultValue(), release)
        const order: Array<number> = []
        const fibers: Array<Fiber.Fiber<void, unknown>> = []
        for (let i = 0; i < 5; i++) {
          fibers.push(yield* Effect.forkChild(duckDb.withConnection(() => Effect.sync(() => void order.push(i)))))
          yield* untilWaiting(i + 1)
        }
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        yield* Effect.forEach(fibers, Fiber.join)
        assert.deepStrictEqual(order, [0, 1, 2, 3, 4])
      }),
      1
    ))

  it.live("waiters interrupted in the line leave it; every connection is still there afterwards", () =>
    layers(
      Effect.gen(function*() {
        const duckDb = yield* DuckDb
        const release = yield* Deferred.make<void>()
        yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
        const holders = [yield* hold(duckDb, "key:alice", release), yield* hold(duckDb, "key:bob", release)]
        const ran: Array<string> = []
        const fibers: Array<{ readonly name: string; readonly fiber: Fiber.Fiber<void, unknown> }> = []
        for (let i = 0; i < 12; i++) {
          const name = `${["alice", "bob", "carol"][i % 3]} ${i}`
          const fiber = yield* Effect.forkChild(
            duckDb.withConnection((c) => query(c, name, "SELECT 1").pipe(Effect.andThen(Effect.sync(() => void ran.push(name))))).pipe(
              Effect.provideService(CurrentConnectionOwner, `key:${name.split(" ")[0]}`)
            )
          )
          fibers.push({ name, fiber })
          yield* untilWaiting(i + 1)
        }
        // Every other one gives up while queued, carol's first in line among them.
        const gaveUp = fibers.filter((_, i) => i % 2 === 0)
        yield* Effect.forEach(gaveUp, ({ fiber }) => Fiber.interrupt(fiber))
        assert.strictEqual(yield* waiting, 6)
        yield* Deferred.succeed(release, undefined)
        yield* Effect.forEach(holders, Fiber.join)
        yield* Effect.forEach(fibers.filter((_, i) => i % 2 === 1), ({ fiber }) => Fiber.join(fiber))
        assert.sameMembers(ran, fibers.filter((_, i) => i % 2 === 1).map(({ name }) => name))
        assert.strictEqual(yield* waiting, 0)
        // Both connections can still be held at once: none was lost to an interrupted waiter.
        const again = yield* Deferred.make<void>()
        const both = [yield* hold(duckDb, "key:alice", again), yield* hold(duckDb, "key:bob", again)]
        yield* Deferred.succeed(again, undefined)
        yield* Effect.forEach(both, Fiber.join)
      }),
      2
    ))

  it.live("a caller holding a connection gets a second one while another caller waits for its own", () =>
    layers(
      Effect.gen(function*() {
        const duckDb = yield* DuckDb
        const release = yield* Deferred.make<void>()
        yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
        const bobHolds = yield* hold(duckDb, "key:bob", release)
        const inner = yield* Deferred.make<void>()
        const outerHeld = yield* Deferred.make<void>()
        const alice = yield* Effect.forkChild(
          duckDb.withConnection(() =>
            Deferred.succeed(outerHeld, undefined).pipe(
              Effect.andThen(Deferred.await(inner)),
              Effect.andThen(duckDb.withConnection((c) => query(c, "nested", "SELECT 42 AS n")))
            )
          ).pipe(Effect.provideService(CurrentConnectionOwner, "key:alice"))
        )
        yield* Deferred.await(outerHeld)
        const bobAgain = yield* Effect.forkChild(
          duckDb.withConnection((c) => query(c, "bob again", "SELECT 1")).pipe(Effect.provideService(CurrentConnectionOwner, "key:bob"))
        )
        yield* untilWaiting(1)
        yield* Deferred.succeed(inner, undefined)
        yield* untilWaiting(2)
        yield* Deferred.succeed(release, undefined)
        const rows = yield* Fiber.join(alice)
        assert.strictEqual(Number(rows[0]!["n"]), 42)
        yield* Fiber.join(bobHolds)
        yield* Fiber.join(bobAgain)
      }),
      2
    ))
})
