/**
 * A read whose client goes away while DuckDB runs it is stopped, and its pooled connection given
 * back: it ran on (a fiber of its own, shared by identical requests) until it ended or met the query
 * time limit, so two abandoned heavy reads held both connections and every other read waited.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { DuckDb, query } from "../../../src/layers/duckdb/DuckDb.ts"
import * as Server from "../../../src/layers/http/server.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { auth, baseUrl, KEYS, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"
import { fill, lakehouse, warehouseDir } from "../query/fixture.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()

/** A statement DuckDB takes minutes over, stopped only by an interrupt. */
const HEAVY = "SELECT count(*) FROM range(100000000000) a"

/** Connections borrowed now; while `heavy`, every borrower first runs HEAVY (a read of a large range). */
class Pool extends Context.Service<Pool, { now: number; heavy: boolean }>()("test/AbandonedPool") {}

const heavyReads = Layer.unwrap(Effect.sync(() => {
  const state = { now: 0, heavy: false }
  const duckDb = Layer.effect(DuckDb)(Effect.gen(function*() {
    const real = yield* DuckDb
    return DuckDb.of({
      size: real.size,
      withConnection: (use) =>
        real.withConnection((c) =>
          Effect.acquireUseRelease(
            Effect.sync(() => void state.now++),
            () => state.heavy ? query(c, "heavy", HEAVY).pipe(Effect.andThen(use(c))) : use(c),
            () => Effect.sync(() => void state.now--)
          )
        )
    })
  }))
  return Layer.merge(duckDb, Layer.succeed(Pool, state))
}))

const serving = Layer.unwrap(Effect.sync(() => {
  const dir = warehouseDir()
  // No time limit stops these reads within the test: only their clients leaving can.
  return Server.layer({ ...testOptions({ queryTimeoutMs: 600_000 }), warehouse: dir }).pipe(
    Layer.provideMerge(
      Layer.mergeAll(fill({ trades: 2_000, quotes: 200 }), QueryLayer.layer(), ReplayLayer.layer).pipe(
        Layer.provideMerge(heavyReads),
        Layer.provideMerge(lakehouse(dir))
      )
    ),
    Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1" }))
  )
}))

/** Waits (a safety net of ~20 s, not a limit asserted) until `cond` holds. */
const until = (cond: () => boolean) =>
  Effect.promise(async () => {
    for (let i = 0; i < 1_000 && !cond(); i++) await new Promise((r) => setTimeout(r, 20))
  })

const range = `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}`

layer(serving, { timeout: 180_000, excludeTestServices: true })("reads abandoned while DuckDB runs them", (it) => {
  it.effect("are stopped and give their connections back: the next read answers", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const pool = yield* Pool
      const duckDb = yield* DuckDb
      pool.heavy = true
      const controllers = Array.from({ length: duckDb.size }, () => new AbortController())
      const gone = controllers.map((c, i) =>
        fetch(`${base}/v1/${i % 2 === 0 ? "bars" : "trades"}?${range}`, { headers: auth(KEYS.full), signal: c.signal }).catch(() => undefined)
      )
      yield* until(() => pool.now === duckDb.size)
      assert.strictEqual(pool.now, duckDb.size)
      pool.heavy = false
      controllers.forEach((c) => c.abort())
      yield* Effect.promise(() => Promise.all(gone))
      yield* until(() => pool.now === 0)
      assert.strictEqual(pool.now, 0)
      const res = yield* Effect.promise(() => fetch(`${base}/v1/trades?${range}&limit=5`, { headers: auth(KEYS.full) }))
      yield* Effect.promise(() => res.text())
      assert.strictEqual(res.status, 200)
    }))
})
