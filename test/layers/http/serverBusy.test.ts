/**
 * A read past the query time limit says whether the server was busy or the read too heavy. Both were
 * 503 `query_timeout` without Retry-After: a read that spent its time waiting for one of the pooled
 * DuckDB connections (every one running other reads) told its client to narrow a read that would
 * have answered on a quieter server. A read that spent most of its time waiting is 503 `server_busy`
 * with Retry-After; one that ran out of time running stays `query_timeout`, saying narrowing helps.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer } from "effect"
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

/** The reads' time limit: short, so a test takes seconds; long enough that a free connection is had within its first half. */
const TIMEOUT_MS = 2_000

/** Borrowers waiting for a connection now; while `heavy`, every borrower first runs HEAVY (a read of a large range), counted in `ran`. */
class Pool extends Context.Service<Pool, { asking: number; heavy: boolean; ran: number }>()("test/BusyPool") {}

const watchedPool = Layer.unwrap(Effect.sync(() => {
  const state = { asking: 0, heavy: false, ran: 0 }
  const duckDb = Layer.effect(DuckDb)(Effect.gen(function*() {
    const real = yield* DuckDb
    return DuckDb.of({
      size: real.size,
      withConnection: (use) =>
        Effect.suspend(() => {
          let asking = true
          const borrowed = () => void (asking && (asking = false, state.asking--))
          state.asking++
          return real.withConnection((c) => {
            borrowed()
            return state.heavy ? (state.ran++, query(c, "heavy", HEAVY).pipe(Effect.andThen(use(c)))) : use(c)
          }).pipe(Effect.ensuring(Effect.sync(borrowed)))
        })
    })
  }))
  return Layer.merge(duckDb, Layer.succeed(Pool, state))
}))

const serving = Layer.unwrap(Effect.sync(() => {
  const dir = warehouseDir()
  return Server.layer({ ...testOptions({ queryTimeoutMs: TIMEOUT_MS }), warehouse: dir }).pipe(
    Layer.provideMerge(
      Layer.mergeAll(fill({ trades: 2_000, quotes: 200 }), QueryLayer.layer(), ReplayLayer.layer).pipe(
        Layer.provideMerge(watchedPool),
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

/** Every pooled connection borrowed until the fibers returned are interrupted. */
const holdEveryConnection = Effect.gen(function*() {
  const duckDb = yield* DuckDb
  const holders: Array<Fiber.Fiber<unknown, unknown>> = []
  for (let i = 0; i < duckDb.size; i++) {
    const holding = yield* Deferred.make<void>()
    holders.push(yield* Effect.forkChild(duckDb.withConnection(() => Deferred.succeed(holding, undefined).pipe(Effect.andThen(Effect.never)))))
    yield* Deferred.await(holding)
  }
  return holders
})

const range = `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}`

interface Answer {
  readonly status: number
  readonly contentType: string | null
  readonly retryAfter: string | null
  readonly body: { code?: string; detail?: string }
}

const get = (url: string) =>
  fetch(url, { headers: auth(KEYS.full) }).then(async (r): Promise<Answer> => ({
    status: r.status,
    contentType: r.headers.get("content-type"),
    retryAfter: r.headers.get("retry-after"),
    body: JSON.parse(await r.text())
  }))

layer(serving, { timeout: 120_000, excludeTestServices: true })("a read past the query time limit", (it) => {
  it.effect("that waited all of it for a connection is 503 server_busy with Retry-After 5; the pool free again, it answers", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const holders = yield* holdEveryConnection
      const answers = yield* Effect.promise(() => Promise.all([get(`${base}/v1/trades?${range}&limit=5`), get(`${base}/v1/bars?${range}`)]))
      yield* Effect.forEach(holders, Fiber.interrupt)
      for (const a of answers) {
        assert.deepInclude(a, { status: 503, contentType: "application/problem+json", retryAfter: "5" }, JSON.stringify(a))
        assert.strictEqual(a.body.code, "server_busy", JSON.stringify(a))
        assert.include(a.body.detail, "retry later")
      }
      const again = yield* Effect.promise(() => get(`${base}/v1/trades?${range}&limit=5`))
      assert.strictEqual(again.status, 200, JSON.stringify(again))
    }))

  it.effect("that ran out of it running is 503 query_timeout without Retry-After, saying a narrower read may answer", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const pool = yield* Pool
      pool.heavy = true
      const a = yield* Effect.promise(() => get(`${base}/v1/bars?${range}`)).pipe(Effect.ensuring(Effect.sync(() => void (pool.heavy = false))))
      assert.deepInclude(a, { status: 503, contentType: "application/problem+json", retryAfter: null }, JSON.stringify(a))
      assert.strictEqual(a.body.code, "query_timeout", JSON.stringify(a))
      assert.include(a.body.detail, "a shorter range or fewer symbols")
    }))

  it.effect("that got a connection only after waiting most of it is 503 server_busy: its time went to waiting", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const pool = yield* Pool
      const holders = yield* holdEveryConnection
      const answer = get(`${base}/v1/bars?${range}`)
      yield* until(() => pool.asking > 0)
      // The read waits more than half its time (a floor, not a limit asserted), then runs until the limit.
      yield* Effect.sleep(TIMEOUT_MS * 0.6)
      pool.heavy = true
      const ranBefore = pool.ran
      yield* Effect.forEach(holders, Fiber.interrupt)
      const a = yield* Effect.promise(() => answer).pipe(Effect.ensuring(Effect.sync(() => void (pool.heavy = false))))
      assert.isAbove(pool.ran, ranBefore, "the read got a connection and ran")
      assert.deepInclude(a, { status: 503, retryAfter: "5" }, JSON.stringify(a))
      assert.strictEqual(a.body.code, "server_busy", JSON.stringify(a))
    }))
})
