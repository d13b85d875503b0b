/**
 * Answers that stay held while their client reads take a streaming slot for their life, as replays
 * and CSV exports do: a Parquet answer's temp file (up to 2 GiB, `ulimit -f`), kept on disk until
 * read, and a SQL answer's body (up to K2_API_SQL_MAX_BYTES, 32 MiB, in memory: 8 clients that
 * stopped reading held 252 MB). The sandbox's two slots bound their runs, not what clients that
 * stop reading hold once written; the rate limit counts requests. Past K2_API_MAX_STREAMS: 503
 * streams_busy, before any run.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { HttpServerRequest } from "effect/http"
import { makeStreamSlots, StreamsBusy } from "../../../src/layers/http/streamSlots.ts"
import { CurrentPrincipal } from "../../../src/layers/http/principal.ts"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const range = `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}`

/** Opens `url`; a 200 is read for its first chunk and then no more (the client stays connected). */
const open = (url: string, init: RequestInit = {}) =>
  Effect.promise(async () => {
    const controller = new AbortController()
    const res = await fetch(url, { ...init, headers: { ...auth(KEYS.full), ...init.headers }, signal: controller.signal })
    if (res.status !== 200) {
      const body = await res.text()
      return { status: res.status, code: (JSON.parse(body) as { code?: string }).code, leave: async () => {} }
    }
    const reader = res.body!.getReader()
    await reader.read()
    return {
      status: 200,
      code: undefined,
      leave: async () => {
        controller.abort()
        await reader.cancel().catch(() => {})
      }
    }
  })

const sqlAs = (format: "json" | "csv" | "parquet", sql: string) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ sql, format })
})
/** Far more than the socket buffers hold, so that an unread answer really waits on its reader. */
const LARGE = "SELECT md5(i::VARCHAR) || md5((i + 7)::VARCHAR) AS a FROM range(1000000) t(i)"

/** Waits (a safety net of ~10 s, not a limit asserted) until `cond` holds. */
const until = (cond: () => Promise<boolean>) =>
  Effect.promise(async () => {
    for (let i = 0; i < 500 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 20))
  })

layer(served(testOptions({ maxStreams: 1, maxStreamsPerKey: 10 }), undefined, { trades: 50_000, quotes: 50_000 }), { timeout: 120_000, excludeTestServices: true })(
  "Parquet and SQL answers and the streaming slots",
  (it) => {
    it.effect("every Parquet and SQL answer takes a slot: with none free it is refused streams_busy", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        // A CSV export held unread takes the one slot.
        const csv = yield* open(`${base}/v1/trades?${range}&format=csv`)
        assert.strictEqual(csv.status, 200)
        for (
          const [what, url, init] of [
            ["trades export", `${base}/v1/trades?${range}&format=parquet`, {}],
            ["bars", `${base}/v1/bars?${range}&interval=1h&format=parquet`, {}],
            ["sql parquet", `${base}/v1/sql`, sqlAs("parquet", "SELECT 1 AS a")],
            ["sql json", `${base}/v1/sql`, sqlAs("json", "SELECT 1 AS a")],
            ["sql csv", `${base}/v1/sql`, sqlAs("csv", "SELECT 1 AS a")]
          ] as const
        ) {
          const refused = yield* open(url, init)
          assert.deepStrictEqual([refused.status, refused.code], [503, "streams_busy"], what)
        }
        yield* Effect.promise(() => csv.leave())

        // An answer held unread holds the slot (a Parquet file on disk, a SQL body in memory): a CSV export is refused.
        for (const format of ["parquet", "json"] as const) {
          let held = { status: 0, code: undefined as string | undefined, leave: async () => {} }
          yield* until(async () => {
            held = await Effect.runPromise(open(`${base}/v1/sql`, sqlAs(format, LARGE)))
            return held.status === 200
          })
          assert.strictEqual(held.status, 200, format)
          const next = yield* open(`${base}/v1/trades?${range}&format=csv`)
          assert.deepStrictEqual([next.status, next.code], [503, "streams_busy"], format)
          yield* Effect.promise(() => held.leave())
        }

        // One read to its end gives its slot back: the next is answered.
        for (let i = 0; i < 2; i++) {
          let whole = { status: 0, bytes: 0 }
          yield* until(async () => {
            whole = await fetch(`${base}/v1/trades?${range}&format=parquet&limit=10`, { headers: auth(KEYS.full) })
              .then(async (r) => ({ status: r.status, bytes: (await r.arrayBuffer()).byteLength }))
            return whole.status === 200
          })
          assert.strictEqual(whole.status, 200)
          assert.isAbove(whole.bytes, 0)
        }
      }))
  }
)

describe("makeStreamSlots", () => {
  it.effect("a request takes one slot however often it asks (a read run again asks again)", () =>
    Effect.gen(function*() {
      const slots = yield* makeStreamSlots({ maxStreams: 2, maxStreamsPerKey: 2 })
      const first = HttpServerRequest.fromWeb(new Request("http://k2/v1/sql"))
      const second = HttpServerRequest.fromWeb(new Request("http://k2/v1/sql"))
      const scope = yield* Scope.make()
      yield* Effect.provideService(slots.take(first), Scope.Scope, scope)
      yield* Effect.provideService(slots.take(first), Scope.Scope, scope)
      // The same caller's second request still finds its second slot.
      yield* Effect.provideService(slots.take(second), Scope.Scope, scope)
      const third = HttpServerRequest.fromWeb(new Request("http://k2/v1/sql"))
      const refused = yield* Effect.flip(Effect.provideService(slots.take(third), Scope.Scope, scope))
      assert.instanceOf(refused, StreamsBusy)
      yield* Scope.close(scope, Exit.void)
      // All given back.
      const again = yield* Scope.make()
      yield* Effect.provideService(slots.take(third), Scope.Scope, again)
      yield* Effect.provideService(slots.take(first), Scope.Scope, again)
      yield* Scope.close(again, Exit.void)
    }).pipe(Effect.provideService(CurrentPrincipal, { _tag: "Key", name: "k", scopes: new Set(["sql"] as const) }), Effect.scoped))
})
