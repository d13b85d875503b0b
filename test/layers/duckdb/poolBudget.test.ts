/** The DuckDB pool's size: two when not configured, always within the libuv thread budget. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { DuckDb, maxConnections } from "../../../src/layers/duckdb/DuckDb.ts"

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
        "DuckDB connections: 0 requested, using 1: at least 1",
        `DuckDB connections: 64 requested, using ${maxConnections()}: at most the libuv pool's threads less one (UV_THREADPOOL_SIZE=${
          process.env["UV_THREADPOOL_SIZE"] || 4
        }; set it higher for more)`
      ])
    }))
})
