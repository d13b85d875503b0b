/**
 * /v1/summary takes exchange-local dates (yyyy-mm-dd), both inclusive, as docs/api.md says: any
 * other value, and an inverted range, is refused by the route before the engine is asked.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { auth, baseUrl, get, KEYS, servedOver, testOptions } from "../../integration/http-support.ts"

/** The days the engine was asked for. */
const asked: Array<string> = []

const recording = Layer.effect(QueryEngine)(Effect.gen(function*() {
  const real = yield* QueryEngine
  return QueryEngine.of({
    ...real,
    dailySummary: (request) => {
      asked.push(`${request.fromDay}..${request.toDay}`)
      return real.dailySummary(request)
    }
  })
}))

const server = servedOver(testOptions(), recording, { trades: 20, quotes: 20 })

layer(server, { timeout: 120_000, excludeTestServices: true })("/v1/summary days", (it) => {
  const call = (query: string, route = "/v1/summary") =>
    Effect.gen(function*() {
      const res = yield* get(`${yield* baseUrl}${route}?${query}`, auth(KEYS.reader))
      return { status: res.status, body: JSON.parse(yield* Effect.promise(() => res.text())) }
    })

  it.effect("a value that is not a yyyy-mm-dd date is a bad request naming its parameter, before the engine is asked", () =>
    Effect.gen(function*() {
      asked.length = 0
      // Instants of up to 10 characters (the query schema's limit) are epoch micros to parseInstant.
      for (
        const [query, name] of [
          ["from_day=12345678", "from_day"],
          ["from_day=0", "from_day"],
          ["from_day=2024-01-01&to_day=99999999", "to_day"],
          ["from_day=2024-01-01&to_day=2024-02-30", "to_day"]
        ] as const
      ) {
        const { status, body } = yield* call(query)
        assert.strictEqual(status, 400, query)
        assert.strictEqual(body.code, "bad_request", query)
        assert.match(body.detail, new RegExp(`^${name}: .* is not a date yyyy-mm-dd`), `${query}: ${body.detail}`)
      }
      // Longer ones the schema refuses, by name.
      const instant = yield* call("from_day=2024-01-01T10:00Z")
      assert.strictEqual(instant.status, 400)
      assert.include(instant.body.detail, "from_day")
      assert.deepStrictEqual(asked, [])
      // Dates are what the engine gets, as given.
      assert.strictEqual((yield* call("from_day=2024-01-01&to_day=2024-01-03")).status, 200)
      assert.deepStrictEqual(asked, ["2024-01-01..2024-01-03"])
    }))

  it.effect("to_day before from_day is an inverted range, refused as the [from, to) routes refuse theirs", () =>
    Effect.gen(function*() {
      asked.length = 0
      const summary = yield* call("from_day=2024-01-02&to_day=2024-01-01")
      assert.strictEqual(summary.status, 400)
      assert.deepStrictEqual(asked, [])
      const trades = yield* call("from=2024-01-02&to=2024-01-01", "/v1/trades")
      assert.strictEqual(summary.body.code, "inverted_range")
      assert.strictEqual(summary.body.code, trades.body.code)
      assert.strictEqual(summary.body.detail, trades.body.detail)
      // One day (from_day = to_day) is a range.
      assert.strictEqual((yield* call("from_day=2024-01-02&to_day=2024-01-02")).status, 200)
    }))
})
