/**
 * An unpaced `GET /v1/replay` whose client stops reading but stays connected (a pager, a busy
 * consumer) must not hold the server's pooled DuckDB connections: with a window streaming from
 * each of them, every other read of the server waited for the pool and answered 503.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const range = `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}`

// Far more NDJSON than the socket buffers hold, so the replay really waits on its reader.
const app = served(testOptions({ queryTimeoutMs: 5_000 }), undefined, { trades: 50_000, quotes: 50_000 })

layer(app, { timeout: 120_000, excludeTestServices: true })("GET /v1/replay, a reader that stalls", (it) => {
  it.effect("leaves the other reads answered: no pooled connection waits on it", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const res = yield* Effect.promise(() => fetch(`${base}/v1/replay?${range}`, { headers: auth(KEYS.full) }))
      assert.strictEqual(res.status, 200)
      const reader = res.body!.getReader()
      yield* Effect.promise(() => reader.read())
      // The client reads no more, but stays connected; the replay fills the buffers and waits.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1_500)))
      const other = yield* Effect.promise(async () => {
        const r = await fetch(`${base}/v1/trades?${range}&limit=10`, { headers: auth(KEYS.full) })
        return { status: r.status, body: await r.text() }
      })
      yield* Effect.promise(() => reader.cancel())
      assert.strictEqual(other.status, 200, other.body)
    }))
})
