/**
 * The OpenAPI document says what the server does: a query parameter whose absence the server
 * refuses (400 naming it) is `required: true` there, so that a client generated from the document
 * does not offer a call the server always refuses; and an error is declared with the media type it
 * is sent as (application/problem+json), so that such a client reads the problem it gets.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, get, KEYS, served, testOptions } from "../../integration/http-support.ts"

/** Each route, a request it answers (200), and the parameters that request cannot lose. */
const ROUTES: ReadonlyArray<readonly [string, string, ReadonlyArray<string>]> = [
  ["/v1/trades", "from=2024-01-02&to=2024-01-03&limit=1", ["from", "to"]],
  ["/v1/quotes", "from=2024-01-02&to=2024-01-03&limit=1", ["from", "to"]],
  ["/v1/bars", "from=2024-01-02&to=2024-01-03", ["from", "to"]],
  ["/v1/quotes/bars", "from=2024-01-02&to=2024-01-03", ["from", "to"]],
  ["/v1/trades/with-quotes", "from=2024-01-02&to=2024-01-03&limit=1", ["from", "to"]],
  ["/v1/replay", "from=2024-01-02&to=2024-01-02T00:00:01Z", ["from", "to"]],
  ["/v1/summary", "from_day=2024-01-02", ["from_day"]]
]

layer(served(testOptions(), undefined, { trades: 5, quotes: 5 }), { timeout: 120_000, excludeTestServices: true })("OpenAPI: what the document says of requests and errors", (it) => {
  it.effect("a parameter the server refuses to go without is required in the document; the others are not", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const spec = yield* Effect.promise(() => fetch(`${base}/openapi.json`).then((r) => r.json() as Promise<any>))
      for (const [route, query, needed] of ROUTES) {
        const ok = yield* get(`${base}${route}?${query}`, auth(KEYS.full))
        const text = yield* Effect.promise(() => ok.text())
        assert.strictEqual(ok.status, 200, `${route}?${query}: ${text}`)
        const params: ReadonlyArray<{ name: string; required?: boolean }> = spec.paths[route].get.parameters
        for (const name of needed) {
          const without = new URLSearchParams(query)
          without.delete(name)
          const res = yield* get(`${base}${route}?${without}`, auth(KEYS.full))
          const body = yield* Effect.promise(() => res.json() as Promise<{ code: string; detail: string }>)
          assert.strictEqual(res.status, 400, `${route} without ${name}`)
          assert.include(body.detail, name, `${route} without ${name}`)
          assert.strictEqual(params.find((p) => p.name === name)?.required, true, `${route}: ${name} is required by the server, not in the OpenAPI document`)
        }
        // Nothing else is: every other parameter may be left out.
        const others = params.filter((p) => !needed.includes(p.name)).filter((p) => p.required === true).map((p) => p.name)
        assert.deepStrictEqual(others, [], `${route}: required in the document, optional to the server`)
      }
    }))

  it.effect("an error is declared as the media type it is sent as, application/problem+json", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const spec = yield* Effect.promise(() => fetch(`${base}/openapi.json`).then((r) => r.json() as Promise<any>))
      // What the server sends: a 400, a 404 and a 406.
      for (const [path, status] of [["/v1/trades?from=2024-01-02", 400], ["/v1/stats/trades?snapshot_id=1", 404], ["/v1/stats/trades?format=csv&format=json", 400]] as const) {
        const res = yield* get(`${base}${path}`, auth(KEYS.full))
        assert.strictEqual(res.status, status, path)
        assert.strictEqual(res.headers.get("content-type"), "application/problem+json", path)
      }
      const res = yield* get(`${base}/v1/stats/trades`, { ...auth(KEYS.full), accept: "text/html" })
      assert.strictEqual(res.status, 406)
      assert.strictEqual(res.headers.get("content-type"), "application/problem+json")
      // What the document says of every error response of every route.
      const wrong: Array<string> = []
      for (const [path, item] of Object.entries<any>(spec.paths)) {
        for (const [method, op] of Object.entries<any>(item)) {
          for (const [status, response] of Object.entries<any>(op.responses ?? {})) {
            if (Number(status) < 400) continue
            const types = Object.keys(response.content ?? {})
            if (types.length !== 1 || types[0] !== "application/problem+json") wrong.push(`${method.toUpperCase()} ${path} ${status}: ${types.join(", ")}`)
          }
        }
      }
      assert.deepStrictEqual(wrong, [])
    }))

  it.effect("bars say what a bucket is: aligned to the Unix epoch, so 1d is a UTC day, not an exchange's trading day", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const doc = yield* Effect.promise(() => fetch(`${base}/openapi.json`).then((r) => r.json() as Promise<any>))
      for (const route of ["/v1/bars", "/v1/quotes/bars"]) {
        const interval = (doc.paths[route].get.parameters as ReadonlyArray<any>).find((p) => p.name === "interval")
        const text = JSON.stringify(interval)
        // An ASX session (10:00-16:00 Sydney, 23:00-05:00 UTC) falls in two 1d bars: a client must be told.
        assert.include(text, "UTC", route)
        assert.include(text, "/v1/summary", route)
      }
    }))

  it.effect("a quote bar's mid and spread fields may be null (a bucket of one-sided quotes only, ADR-40)", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const doc = yield* Effect.promise(() => fetch(`${base}/openapi.json`).then((r) => r.json() as Promise<any>))
      const properties = doc.components.schemas.QuoteBar.properties
      const nullable = (schema: any): boolean => JSON.stringify(schema).includes("\"null\"")
      for (const field of ["midOpen", "midHigh", "midLow", "midClose", "spreadMin", "spreadMax", "spreadMean", "spreadClose"]) {
        assert.isTrue(nullable(properties[field]), field)
      }
      assert.isFalse(nullable(properties.quoteCount), "quoteCount")
    }))
})
