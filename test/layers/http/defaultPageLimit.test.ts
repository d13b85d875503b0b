/**
 * A page asked for without `limit` holds the default 1000 rows, or K2_API_MAX_PAGE_ROWS when that is
 * lower: a server configured for pages of 100 answered 1000 rows to every request that left limit out,
 * while `limit=1000` was refused as out of range.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, get, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"
import { warehouseDir } from "../query/fixture.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const range = `from=${iso(T0)}&to=${iso(T0 + 10 * DAY)}`

layer(served(testOptions({ maxPageRows: 100 }), warehouseDir(), { trades: 400, quotes: 400 }), { timeout: 120_000, excludeTestServices: true })("the default page", (it) => {
  for (const path of ["/v1/trades", "/v1/quotes", "/v1/trades/with-quotes"]) {
    it.effect(`${path} without limit answers at most K2_API_MAX_PAGE_ROWS rows, and names the next page`, () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        const res = yield* get(`${base}${path}?${range}`, auth(KEYS.reader))
        const body = yield* Effect.promise(() => res.json() as Promise<{ data: ReadonlyArray<unknown>; next_cursor: string | null }>)
        assert.strictEqual(res.status, 200, JSON.stringify(body).slice(0, 300))
        assert.strictEqual(body.data.length, 100)
        assert.isNotNull(body.next_cursor)
        // The limit it defaulted to is one the route takes when given.
        assert.strictEqual((yield* get(`${base}${path}?${range}&limit=100`, auth(KEYS.reader))).status, 200)
        assert.strictEqual((yield* get(`${base}${path}?${range}&limit=101`, auth(KEYS.reader))).status, 400)
      }))
  }
})
