/**
 * `GET /v1/replay` plans before its 200, under the query time limit: a plan past it is the 503
 * `query_timeout` any other read answers, and a client that goes away while it plans stops it.
 */
import { assert, layer } from "@effect/vitest"
import { Cause, Context, Deferred, Effect, Layer, Logger } from "effect"
import * as Server from "../../../src/layers/http/server.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { auth, baseUrl, engines, KEYS, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"
import { fill, warehouseDir } from "../query/fixture.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const replayUrl = (base: string) => `${base}/v1/replay?from=${iso(T0)}&to=${iso(T0 + DAY)}&tables=trades`

/** A plan that never ends, saying when it starts and when it is interrupted. */
const stuck = Effect.gen(function*() {
  const started = yield* Deferred.make<void>()
  const interrupted = yield* Deferred.make<void>()
  const engine = Layer.effect(ReplayEngine)(Effect.gen(function*() {
    const real = yield* ReplayEngine
    return ReplayEngine.of({
      ...real,
      plan: () => Effect.andThen(Deferred.succeed(started, undefined), Effect.never).pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
    })
  })).pipe(Layer.provide(ReplayLayer.layer))
  return { started, interrupted, engine }
})

const logged: Array<string> = []
const capture = Logger.make(({ cause, message }) =>
  void logged.push([...(Array.isArray(message) ? message : [message]).map(String), Cause.pretty(cause)].join(" ")))

class Stuck extends Context.Service<Stuck, Effect.Success<typeof stuck>>()("test/Stuck") {}

/** The API over a small warehouse, its replay planning stuck. */
const serving = (queryTimeoutMs: number) =>
  Layer.unwrap(Effect.gen(function*() {
    const s = yield* stuck
    const dir = warehouseDir()
    return Server.layer({ ...testOptions({ queryTimeoutMs }), warehouse: dir }).pipe(
      Layer.provideMerge(s.engine),
      Layer.provideMerge(engines(dir, fill({ trades: 200, quotes: 200 }))),
      Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1" })),
      Layer.provideMerge(Layer.succeed(Stuck, s)),
      Layer.provide(Logger.layer([capture]))
    )
  }))

layer(serving(300), { timeout: 120_000, excludeTestServices: true })("GET /v1/replay, a plan past the query time limit", (it) => {
  it.effect("is 503 query_timeout, before any 200, and the plan is stopped", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const { interrupted } = yield* Stuck
      const res = yield* Effect.promise(() => fetch(replayUrl(base), { headers: { ...auth(KEYS.full), "x-correlation-id": "slow-plan" } }))
      const body = yield* Effect.promise(() => res.text())
      assert.strictEqual(res.status, 503, body)
      assert.strictEqual(res.headers.get("content-type"), "application/problem+json")
      assert.deepInclude(JSON.parse(body), { code: "query_timeout", correlation_id: "slow-plan" })
      yield* Deferred.await(interrupted)
      // The one line an operator gets about it says what it was.
      assert.isTrue(logged.some((l) => l.includes("request failed QueryTimeout")), JSON.stringify(logged))
    }))
})

layer(serving(600_000), { timeout: 120_000, excludeTestServices: true })("GET /v1/replay, a client gone while it plans", (it) => {
  it.effect("interrupts the plan", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const { started, interrupted } = yield* Stuck
      const client = new AbortController()
      const answered = fetch(replayUrl(base), { headers: auth(KEYS.full), signal: client.signal }).then(() => "answered", () => "aborted")
      yield* Deferred.await(started)
      client.abort()
      assert.strictEqual(yield* Effect.promise(() => answered), "aborted")
      // Without the interruption this waits for ever (the test's timeout fails it).
      yield* Deferred.await(interrupted)
    }))
})
