/**
 * A page asked for without `limit` holds the default 1000 rows, or K2_API_MAX_PAGE_ROWS when that is
 * lower: a server configured for pages of 100 answered 1000 rows to every request that left limit out,
 * while `limit=1000` was refused as out of range.
 */
import { assert, it, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { auth, baseUrl, get, KEYS, served, servedWith, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"
import { fill, warehouseDir } from "../query/fixture.ts"

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

/**
 * The length of a page asked for without `limit` is K2_API_MAX_PAGE_ROWS's when that is below 1000, a
 * setting an operator may change and restart with: the same snapshot then answers another page. Its
 * ETag names the setting, and it is not immutable, so no cache keeps the page of the old length (ADR-107).
 */
it.live("a page without limit, pinned by snapshot, read after K2_API_MAX_PAGE_ROWS changed has another ETag, and none is immutable", () =>
  Effect.gen(function*() {
    const dir = warehouseDir()
    const call = (path: string, headers: Record<string, string> = {}) =>
      Effect.gen(function*() {
        const res = yield* get(`${yield* baseUrl}${path}`, { ...auth(KEYS.reader), ...headers })
        return { status: res.status, headers: res.headers, body: yield* Effect.promise(() => res.text()) }
      })
    const paths = (ids: { trades: string; quotes: string }) => [
      `/v1/trades?${range}&snapshot_id=${ids.trades}`,
      `/v1/quotes?${range}&snapshot_id=${ids.quotes}`,
      `/v1/trades/with-quotes?${range}&snapshot_id=${ids.trades}`
    ]
    const before = yield* Effect.gen(function*() {
      const trades = /trades=(\d+)/.exec((yield* call(`/v1/trades?${range}&limit=1`)).headers.get("k2-snapshot-ids") ?? "")![1]!
      const quotes = /quotes=(\d+)/.exec((yield* call(`/v1/quotes?${range}&limit=1`)).headers.get("k2-snapshot-ids") ?? "")![1]!
      const ids = { trades, quotes }
      const pages = []
      for (const path of paths(ids)) pages.push(yield* call(path))
      // A page whose limit is given depends on no setting: immutable as before.
      const limited = yield* call(`/v1/trades?${range}&snapshot_id=${trades}&limit=100`)
      return { ids, pages, limited }
    }).pipe(Effect.provide(servedWith(testOptions({ maxPageRows: 100 }), dir, fill({ trades: 400, quotes: 400 }))))
    assert.strictEqual(before.limited.headers.get("cache-control"), "private, max-age=31536000, immutable")
    for (const page of before.pages) {
      assert.strictEqual(page.status, 200, page.body)
      assert.strictEqual(JSON.parse(page.body).data.length, 100)
      assert.strictEqual(page.headers.get("cache-control"), "private, no-cache")
    }

    // The operator raises the page size and restarts: the same snapshot, pages of 1000 rows.
    const after = yield* Effect.gen(function*() {
      const out = []
      for (const [i, path] of paths(before.ids).entries()) {
        out.push(yield* call(path, { "if-none-match": before.pages[i]!.headers.get("etag")! }))
      }
      return out
    }).pipe(Effect.provide(servedWith(testOptions({ maxPageRows: 10_000 }), dir, Layer.empty)))
    for (const [i, page] of after.entries()) {
      assert.strictEqual(page.status, 200, `${paths(before.ids)[i]}: the old ETag names the page of 100 rows, not 304`)
      assert.isAbove(JSON.parse(page.body).data.length, 100)
      assert.notStrictEqual(page.headers.get("etag"), before.pages[i]!.headers.get("etag"))
    }
  }), { timeout: 120_000 })
