/**
 * Streams that hold rows in the server's memory while the client reads (replays: two windows,
 * ~20 MB each; CSV exports: a page) take a slot for their life: a client that stops reading and
 * stays connected holds one. Past K2_API_MAX_STREAMS (or K2_API_MAX_STREAMS_PER_KEY for one key)
 * the next is refused 503 streams_busy with Retry-After, instead of every stalled client adding
 * its windows to the heap until the server runs out of memory. A stream that ends, or whose
 * client leaves, gives its slot back.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { sha256Hex } from "../../../src/layers/http/config.ts"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const range = `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}`
/** A range of no row: its replay ends at once. */
const empty = `from=${iso(T0 - 2 * DAY)}&to=${iso(T0 - DAY)}`
const OTHER = "other-secret-key-4"

/** Waits (a safety net of ~10 s, not a limit asserted) until `cond` holds. */
const until = (cond: () => Promise<boolean>) =>
  Effect.promise(async () => {
    for (let i = 0; i < 500 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 20))
  })

interface Opened {
  readonly status: number
  readonly code: string | undefined
  readonly retryAfter: string | null
  /** Leaves (the connection closed), for a stream that was answered 200 and is held unread. */
  readonly leave: () => Promise<void>
}

/** Opens `route`; a 200 is read for its first chunk and then no more (the client stays connected). */
const open = (route: string, key = KEYS.full) =>
  Effect.promise(async (): Promise<Opened> => {
    const controller = new AbortController()
    const res = await fetch(route, { headers: auth(key), signal: controller.signal })
    if (res.status !== 200) {
      const body = await res.text()
      const code = (JSON.parse(body) as { code?: string }).code
      return { status: res.status, code, retryAfter: res.headers.get("retry-after"), leave: async () => {} }
    }
    const reader = res.body!.getReader()
    await reader.read()
    return {
      status: 200,
      code: undefined,
      retryAfter: null,
      leave: async () => {
        controller.abort()
        await reader.cancel().catch(() => {})
      }
    }
  })

// Far more NDJSON than the socket buffers hold, so an unread replay really waits on its reader.
const options = testOptions({
  maxStreams: 2,
  maxStreamsPerKey: 10,
  keys: [...testOptions().keys, { name: "other", sha256: sha256Hex(OTHER), scopes: new Set(["read", "replay"]) }]
})

layer(served(options, undefined, { trades: 50_000, quotes: 50_000 }), { timeout: 120_000, excludeTestServices: true })(
  "streams past K2_API_MAX_STREAMS",
  (it) => {
    it.effect("the one past the slots is refused 503 streams_busy with Retry-After; one ending or left frees its slot", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        const replay = (r = range, format = "ndjson") => `${base}/v1/replay?${r}&format=${format}`
        const a = yield* open(replay())
        const b = yield* open(replay(range, "sse"))
        assert.deepStrictEqual([a.status, b.status], [200, 200])
        const metrics = yield* Effect.promise(() => fetch(`${base}/metrics`).then((r) => r.text()))
        assert.match(metrics, /^k2_http_streams_open 2$/m)
        const refused = yield* open(replay())
        assert.strictEqual(refused.status, 503)
        assert.strictEqual(refused.code, "streams_busy")
        assert.strictEqual(refused.retryAfter, "5")
        // A CSV export holds a page while it is read: it takes the same slots.
        const csv = yield* open(`${base}/v1/trades?${range}&format=csv`)
        assert.deepStrictEqual([csv.status, csv.code], [503, "streams_busy"])
        // Reads of a page are not streams: still answered.
        const page = yield* Effect.promise(() => fetch(`${base}/v1/trades?${range}&limit=10`, { headers: auth(KEYS.full) }).then((r) => r.status))
        assert.strictEqual(page, 200)

        // A client leaving gives its slot back: the next replay is answered.
        yield* Effect.promise(() => a.leave())
        let c: Opened | undefined
        yield* until(async () => {
          c = await Effect.runPromise(open(replay()))
          return c.status === 200
        })
        assert.strictEqual(c!.status, 200)
        assert.strictEqual((yield* open(replay())).status, 503)

        // A stream that ends gives its slot back: with one slot free (b left, c held), replays
        // read to their end one after the other are each answered.
        yield* Effect.promise(() => b.leave())
        for (let i = 0; i < 4; i++) {
          let whole = { status: 0, body: "" }
          yield* until(async () => {
            whole = await fetch(replay(empty, i % 2 === 0 ? "ndjson" : "sse"), { headers: auth(KEYS.full) }).then(async (r) => ({ status: r.status, body: await r.text() }))
            return whole.status === 200
          })
          assert.strictEqual(whole.status, 200, whole.body)
        }
        // And the one slot it left is the only one: a second unread replay beside c is refused.
        const d = yield* open(replay())
        assert.strictEqual(d.status, 200)
        assert.strictEqual((yield* open(replay())).status, 503)
        for (const s of [c!, d]) yield* Effect.promise(() => s.leave())
      }))
  }
)

layer(served({ ...options, maxStreams: 3, maxStreamsPerKey: 2 }, undefined, { trades: 50_000, quotes: 50_000 }), { timeout: 120_000, excludeTestServices: true })(
  "streams past K2_API_MAX_STREAMS_PER_KEY",
  (it) => {
    it.effect("one key cannot take every slot: its next is refused, another key's is answered", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        const replay = `${base}/v1/replay?${range}`
        const held = [yield* open(replay), yield* open(replay)]
        assert.deepStrictEqual(held.map((h) => h.status), [200, 200])
        const third = yield* open(replay)
        assert.deepStrictEqual([third.status, third.code, third.retryAfter], [503, "streams_busy", "5"])
        const other = yield* open(replay, OTHER)
        assert.strictEqual(other.status, 200)
        for (const h of [...held, other]) yield* Effect.promise(() => h.leave())
      }))
  }
)
