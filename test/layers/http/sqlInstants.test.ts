/** POST /v1/sql answers instants as every other route does: ISO-8601 UTC with microseconds, in JSON and CSV. */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()

layer(served(testOptions(), undefined, { trades: 50, quotes: 50 }), { timeout: 120_000, excludeTestServices: true })("POST /v1/sql instants", (it) => {
  it.effect("are the text /v1/trades answers, in JSON and in CSV", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const trades = yield* Effect.promise(() =>
        fetch(`${base}/v1/trades?from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&limit=5&fields=exchange_timestamp`, { headers: auth(KEYS.full) }))
      const expected = ((yield* Effect.promise(() => trades.json())) as { data: Array<{ exchange_timestamp: string }> }).data
        .map((r) => r.exchange_timestamp)
      assert.strictEqual(expected.length, 5)
      const sql = (format: string) =>
        Effect.promise(() =>
          fetch(`${base}/v1/sql`, {
            method: "POST",
            headers: { ...auth(KEYS.full), "content-type": "application/json" },
            body: JSON.stringify({
              sql: "SELECT exchange_timestamp FROM trades ORDER BY exchange_timestamp, coalesce(source_sequence, -1), message_id LIMIT 5",
              format
            })
          }).then((r) => r.text()))
      const json = JSON.parse(yield* sql("json")) as { data: Array<{ exchange_timestamp: string }> }
      assert.deepStrictEqual(json.data.map((r) => r.exchange_timestamp), expected)
      assert.strictEqual(yield* sql("csv"), `exchange_timestamp\n${expected.join("\n")}\n`)
    }))
})
