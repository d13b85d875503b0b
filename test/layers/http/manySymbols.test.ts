/**
 * A server configured for the most symbols the query engine takes (K2_API_MAX_SYMBOLS=10000)
 * receives that many, each as long as a symbol may be: the request head Node reads, and the
 * text the API's schema holds the list to, were fixed at 64 KiB, so past ~1,900 symbols of 32
 * characters (or ~9,000 of 6) a setting the server accepted answered 431 or a bare 400.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { MAX_SYMBOLS } from "../../../src/domain/query/validate.ts"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"

/** `count` distinct symbols of `width` characters. */
// Zero-padded base 36: each distinct (padded with X, XX... and X padded were the same symbol).
const symbols = (count: number, width: number) => Array.from({ length: count }, (_, i) => i.toString(36).toUpperCase().padStart(width, "0"))

const call = (url: string) =>
  Effect.promise(async () => {
    const res = await fetch(url, { headers: auth(KEYS.full) })
    return { status: res.status, body: await res.text() }
  })

layer(served(testOptions({ maxSymbols: MAX_SYMBOLS }), undefined, { trades: 40, quotes: 40 }), { timeout: 120_000, excludeTestServices: true })(
  "the HTTP API at K2_API_MAX_SYMBOLS=10000",
  (it) => {
    it.effect("answers 10,000 symbols of 32 characters, commas sent as they are or as %2C", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        const list = symbols(MAX_SYMBOLS, 32)
        for (const joined of [list.join(","), list.join("%2C")]) {
          for (const route of ["/v1/trades", "/v1/bars", "/v1/replay"]) {
            const a = yield* call(`${base}${route}?from=2024-01-02&to=2024-01-03&symbols=${joined}${route === "/v1/replay" ? "&format=ndjson" : ""}`)
            assert.strictEqual(a.status, 200, `${route}: ${a.body.slice(0, 300)}`)
          }
        }
      }))

    it.effect("refuses one more by its count, naming the limit", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        const a = yield* call(`${base}/v1/trades?from=2024-01-02&to=2024-01-03&symbols=${symbols(MAX_SYMBOLS + 1, 32).join(",")}`)
        assert.strictEqual(a.status, 400, a.body.slice(0, 300))
        const problem = JSON.parse(a.body)
        assert.strictEqual(problem.code, "limit_out_of_range")
        assert.strictEqual(problem.detail, "symbols: at most 10000 symbols, got 10001")
      }))
  }
)
