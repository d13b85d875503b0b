/**
 * The API as docs/api.md and its OpenAPI document describe it, where it differed: the headers of
 * an answer without a body, the words refusing a value, and the text of a value the SQL route converts.
 */
import { assert, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { runInThisProcess } from "../../../src/layers/http/sandboxRun.ts"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"

const RANGE = "from=2024-01-02&to=2024-01-03"

layer(served(testOptions(), undefined, { trades: 20, quotes: 20 }), { timeout: 120_000, excludeTestServices: true })("the API as documented", (it) => {
  it.effect("replay's 204 (Last-Event-ID: end) is Cache-Control: no-store, as every replay answer and the document say", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const res = yield* Effect.promise(() =>
        fetch(`${base}/v1/replay?${RANGE}&format=sse`, { headers: { ...auth(KEYS.full), "last-event-id": "end" } }))
      assert.strictEqual(res.status, 204)
      assert.strictEqual(res.headers.get("cache-control"), "no-store")
    }))

  it.effect("a tables value replay does not take is refused naming it and the values it takes (\"both\" was told \"trades, quotes or both\")", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const res = yield* Effect.promise(() => fetch(`${base}/v1/replay?${RANGE}&tables=both`, { headers: auth(KEYS.full) }))
      assert.strictEqual(res.status, 400)
      const { code, detail } = (yield* Effect.promise(() => res.json())) as { code: string; detail: string }
      assert.strictEqual(code, "bad_request")
      assert.include(detail, "\"both\"")
      assert.include(detail, "trades,quotes")
    }))
})

it.effect("POST /v1/sql answers a DATE infinity as DuckDB's text, as it does a TIMESTAMP's (it was 5881580-07-11)", () =>
  Effect.gen(function*() {
    const result = yield* runInThisProcess({
      sql: "SELECT 'infinity'::DATE AS up, '-infinity'::DATE AS down, DATE '2024-01-02' AS day, 'infinity'::TIMESTAMP AS ts",
      tables: [],
      maxRows: 10,
      timeoutMs: 10_000
    })
    assert.deepStrictEqual(result.rows, [{ up: "infinity", down: "-infinity", day: "2024-01-02", ts: "infinity" }])
  }))
