/**
 * `If-None-Match: *` is true of a request that has a current representation (RFC 9110 §13.1.2), and
 * preconditions are ignored where the request without them would not be 2xx (§13.2.1): a request the
 * engine refuses (a column or filter it does not have, a cursor it did not give) is that refusal, not
 * a 304 saying the client's copy is fine. A named ETag still answers 304 before anything runs.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, get, KEYS, served, testOptions } from "../../integration/http-support.ts"

const server = served(testOptions(), undefined, { trades: 200, quotes: 20 })
const RANGE = "from=2024-01-02&to=2024-01-04"

layer(server, { timeout: 120_000, excludeTestServices: true })("If-None-Match: *", (it) => {
  const call = (path: string, headers: Record<string, string> = {}) =>
    Effect.gen(function*() {
      const res = yield* get(`${yield* baseUrl}${path}`, { ...auth(KEYS.reader), ...headers })
      const text = yield* Effect.promise(() => res.text())
      return { status: res.status, code: res.status >= 400 ? JSON.parse(text).code as string : undefined, etag: res.headers.get("etag") }
    })

  it.effect("a request refused without it is refused with it, on pages, exports and every other read", () =>
    Effect.gen(function*() {
      const refused = [
        `/v1/trades?${RANGE}&fields=no_such_column`,
        `/v1/trades?${RANGE}&cursor=not-a-cursor`,
        `/v1/trades?${RANGE}&format=csv&limit=100000&fields=no_such_column`,
        `/v1/trades?${RANGE}&format=parquet&fields=no_such_column`,
        `/v1/trades?${RANGE}&format=parquet&cursor=not-a-cursor`,
        `/v1/quotes?${RANGE}&filter=no_such_column:1..2`,
        `/v1/trades/with-quotes?${RANGE}&cursor=not-a-cursor`
      ]
      for (const path of refused) {
        const plain = yield* call(path)
        assert.strictEqual(plain.status, 400, path)
        const any = yield* call(path, { "if-none-match": "*" })
        assert.deepStrictEqual({ status: any.status, code: any.code }, { status: plain.status, code: plain.code }, path)
      }
    }))

  it.effect("a request that answers is 304 to *, and to its own ETag", () =>
    Effect.gen(function*() {
      for (const path of [`/v1/trades?${RANGE}`, `/v1/bars?${RANGE}&interval=1h`, `/v1/trades?${RANGE}&format=csv&limit=100000`, `/v1/trades?${RANGE}&format=parquet`]) {
        const plain = yield* call(path)
        assert.strictEqual(plain.status, 200, path)
        assert.strictEqual((yield* call(path, { "if-none-match": "*" })).status, 304, path)
        assert.strictEqual((yield* call(path, { "if-none-match": plain.etag! })).status, 304, path)
      }
    }))
})
