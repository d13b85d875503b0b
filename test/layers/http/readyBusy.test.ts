/**
 * /ready under load: every pooled DuckDB connection busy is a server at work, not one that cannot
 * serve. It answered 503 `not_ready` once the 2 s check waited out a busy pool, so a load balancer
 * took a server out of rotation for being busy (and every replica at once under a burst).
 */
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { DuckDb } from "../../../src/layers/duckdb/DuckDb.ts"
import { baseUrl, served, testOptions } from "../../integration/http-support.ts"

layer(served(testOptions()), { timeout: 120_000, excludeTestServices: true })("GET /ready", (it) => {
  it.effect("with every DuckDB connection in use is ready, its DuckDB check 'busy'", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const duckDb = yield* DuckDb
      const holders = []
      for (let i = 0; i < duckDb.size; i++) {
        const holding = yield* Deferred.make<void>()
        holders.push(yield* Effect.forkChild(duckDb.withConnection(() => Deferred.succeed(holding, undefined).pipe(Effect.andThen(Effect.never)))))
        yield* Deferred.await(holding)
      }
      const res = yield* Effect.promise(() => fetch(`${base}/ready`))
      const body = (yield* Effect.promise(() => res.json())) as Record<string, any>
      yield* Effect.forEach(holders, Fiber.interrupt)
      assert.strictEqual(res.status, 200, JSON.stringify(body))
      assert.strictEqual(body["checks"]["duckdb"], "busy")
      // Free again: DuckDB answers.
      const again = (yield* Effect.promise(() => fetch(`${base}/ready`).then((r) => r.json()))) as Record<string, any>
      assert.strictEqual(again["checks"]["duckdb"], "ok")
    }))
})
