/** The DuckDB pool's size when not configured, and the libuv thread budget it shares with the SQL sandbox. */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Logger } from "effect"
import { DuckDb, maxConnections, query } from "../../../src/layers/duckdb/DuckDb.ts"

describe("DuckDb pool size, given in code", () => {
  it.effect("is two when not given, and at least one when given less", () =>
    Effect.gen(function*() {
      const sizeOf = (connections: number | undefined) =>
        Effect.gen(function*() {
          return (yield* DuckDb).size
        }).pipe(Effect.provide(DuckDb.layerWith({ connections })))
      assert.strictEqual(yield* sizeOf(undefined), Math.min(2, maxConnections()))
      assert.strictEqual(yield* sizeOf(0), 1)
      assert.strictEqual(yield* sizeOf(0.5), 1)
    }))

  it.effect("a size it does not use, below or above what it can, is warned of", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      for (const connections of [0, 64]) {
        yield* Effect.gen(function*() {
          return yield* DuckDb
        }).pipe(Effect.provide(DuckDb.layerWith({ connections })), Effect.provide(Logger.layer([capture])))
      }
      assert.deepStrictEqual(logged, [
        "DuckDB connections: 0 requested, using 1",
        `DuckDB connections: 64 requested, using ${maxConnections()}`
      ])
    }))
})

describe("DuckDb thread budget", () => {
  it.live("with every pooled connection busy, the sandbox still gets the threads the pool leaves", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      // The pool is one below the budget: one thread stays for withThread.
      const release = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
      const held = yield* Effect.forEach(Array.from({ length: duckDb.size }), () =>
        Effect.gen(function*() {
          const busy = yield* Deferred.make<void>()
          const fiber = yield* Effect.forkChild(duckDb.withConnection((c) =>
            query(c, "hold", "SELECT 1").pipe(Effect.andThen(Deferred.succeed(busy, undefined)), Effect.andThen(Deferred.await(release)))
          ))
          yield* Deferred.await(busy)
          return fiber
        }))
      const ran = yield* duckDb.withThread(Effect.succeed("ran")).pipe(Effect.timeoutOption("2 seconds"))
      assert.strictEqual(ran._tag, "Some", "withThread waited for a pooled statement to end")
      yield* Deferred.succeed(release, undefined)
      yield* Effect.forEach(held, Fiber.join)
    }).pipe(Effect.scoped, Effect.provide(DuckDb.layerWith({ connections: Math.max(1, maxConnections() - 1) }))))
})

describe("DuckDb thread budget, shared", () => {
  it.live("the sandbox's calls never take more threads than the budget, however many ask", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      let active = 0
      let peak = 0
      yield* Effect.forEach(Array.from({ length: maxConnections() + 3 }), () =>
        duckDb.withThread(Effect.gen(function*() {
          peak = Math.max(peak, ++active)
          yield* Effect.sleep("30 millis")
          active--
        })), { concurrency: "unbounded" })
      assert.strictEqual(peak, maxConnections())
    }).pipe(Effect.provide(DuckDb.layerWith({ connections: 1 }))))
})
