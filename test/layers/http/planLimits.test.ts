/**
 * `POST /v1/sql` and the Parquet exports of trades and quotes plan their scan before the 200,
 * under the query time limit: a plan past it is the 503 `query_timeout` any other read answers,
 * and the plan is stopped (it would hold the request, and a sandbox slot, for as long as it ran).
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Queue } from "effect"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { auth, baseUrl, KEYS, servedOver, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()

/** The routes' scanner, its `plan` never ending; each interrupted plan is put on `interrupted`. */
class Stuck extends Context.Service<Stuck, { readonly interrupted: Queue.Queue<void> }>()("test/StuckPlans") {}

const stuckScanner = Layer.unwrap(Effect.gen(function*() {
  const interrupted = yield* Queue.unbounded<void>()
  const scanner = Layer.effect(TableScanner)(Effect.gen(function*() {
    const real = yield* TableScanner
    return TableScanner.of({ ...real, plan: () => Effect.never.pipe(Effect.onInterrupt(() => Queue.offer(interrupted, undefined))) })
  }))
  return Layer.merge(scanner, Layer.succeed(Stuck, { interrupted }))
}))

// The query engine underneath keeps the real scanner: only what the routes plan themselves is stuck.
const serving = servedOver(testOptions({ queryTimeoutMs: 300 }), stuckScanner, { trades: 200, quotes: 200 })

/** The answer is the 503 problem, and the plan behind it was interrupted. */
const timedOut = (request: (base: string) => Promise<Response>, correlationId: string) =>
  Effect.gen(function*() {
    const base = yield* baseUrl
    const { interrupted } = yield* Stuck
    const res = yield* Effect.promise(() => request(base))
    const body = yield* Effect.promise(() => res.text())
    assert.strictEqual(res.status, 503, body)
    assert.strictEqual(res.headers.get("content-type"), "application/problem+json")
    assert.deepInclude(JSON.parse(body), { code: "query_timeout", correlation_id: correlationId })
    yield* Queue.take(interrupted)
  })

const sql = (format: string, correlationId: string) => (base: string) =>
  fetch(`${base}/v1/sql`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-correlation-id": correlationId, ...auth(KEYS.full) },
    body: JSON.stringify({ sql: "SELECT count(*) FROM trades", format })
  })

const parquetExport = (table: string, correlationId: string) => (base: string) =>
  fetch(`${base}/v1/${table}?from=${iso(T0)}&to=${iso(T0 + DAY)}&format=parquet`, {
    headers: { "x-correlation-id": correlationId, ...auth(KEYS.full) }
  })

layer(serving, { timeout: 60_000, excludeTestServices: true })("a scan plan past the query time limit", (it) => {
  it.effect("POST /v1/sql is 503 query_timeout, in JSON and in Parquet", () =>
    Effect.gen(function*() {
      yield* timedOut(sql("json", "sql-json"), "sql-json")
      yield* timedOut(sql("parquet", "sql-parquet"), "sql-parquet")
    }), 30_000)

  it.effect("the Parquet export of trades and of quotes is 503 query_timeout", () =>
    Effect.gen(function*() {
      yield* timedOut(parquetExport("trades", "trades-parquet"), "trades-parquet")
      yield* timedOut(parquetExport("quotes", "quotes-parquet"), "quotes-parquet")
    }), 30_000)
})
