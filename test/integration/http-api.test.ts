/** The K2 API over real HTTP, against a warehouse the test builds (two trade snapshots, one of quotes). */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Ref from "../domain/query/reference.ts"
import { DAY, T0 } from "../layers/query/data.ts"
import { Fixture } from "../layers/query/fixture.ts"
import { auth, baseUrl, get, KEYS, served, testOptions } from "./http-support.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const json = (res: Response) => Effect.promise(() => res.json() as Promise<any>)
const text = (res: Response) => Effect.promise(() => res.text())
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  Effect.promise(() => fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) }))

const isProblem = (res: Response, body: any, status: number) => {
  assert.strictEqual(res.status, status, JSON.stringify(body))
  assert.match(res.headers.get("content-type") ?? "", /application\/problem\+json/)
  assert.strictEqual(body.status, status)
  assert.isString(body.code)
  assert.isString(body.detail)
  assert.strictEqual(body.correlation_id, res.headers.get("x-correlation-id"))
  assert.notInclude(JSON.stringify(body), "    at ")
}

layer(served(testOptions()), { timeout: 180_000, excludeTestServices: true })("HTTP API", (it) => {
  it.effect("health, ready, openapi, docs (bundled) and metrics need no key", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      assert.strictEqual((yield* get(`${base}/health`)).status, 200)
      const r = yield* get(`${base}/ready`)
      const rb = yield* json(r)
      assert.strictEqual(r.status, 200, JSON.stringify(rb))
      assert.deepStrictEqual(rb.checks, { catalog: "ok", warehouse: "ok", duckdb: "ok" })
      const spec = yield* json(yield* get(`${base}/openapi.json`))
      assert.match(spec.openapi, /^3\.1/)
      for (const p of ["/v1/trades", "/v1/quotes", "/v1/bars", "/v1/summary", "/v1/quotes/bars", "/v1/trades/with-quotes", "/v1/symbols", "/v1/instruments", "/v1/snapshots/{table}", "/v1/stats/{table}", "/v1/replay", "/v1/sql"]) {
        assert.ok(spec.paths[p], p)
      }
      assert.ok(spec.components.securitySchemes)
      const d = yield* get(`${base}/docs`)
      const html = yield* text(d)
      assert.strictEqual(d.status, 200)
      assert.notMatch(html, /<script[^>]+src=["']https?:/)
      assert.isAbove(html.length, 1_000_000) // the Scalar bundle is inline
      const m = yield* text(yield* get(`${base}/metrics`))
      assert.include(m, "k2_http_requests_total")
      assert.include(m, "k2_http_request_duration_seconds")
    }))

  it.effect("correlation id is echoed when valid, generated otherwise", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const a = yield* get(`${base}/health`, { "x-correlation-id": "abc-123" })
      assert.strictEqual(a.headers.get("x-correlation-id"), "abc-123")
      const b = yield* get(`${base}/health`, { "x-correlation-id": "bad id with spaces" })
      assert.match(b.headers.get("x-correlation-id") ?? "", /^[0-9a-f-]{36}$/)
      const c = yield* get(`${base}/health`, { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" })
      assert.strictEqual(c.status, 200)
    }))

  it.effect("auth: 401 without or with an unknown key, 403 without the scope; keys as header or Bearer", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const url = `${base}/v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}&limit=1`
      const none = yield* get(url)
      isProblem(none, yield* json(none), 401)
      assert.ok(none.headers.get("www-authenticate"))
      const wrong = yield* get(url, auth("nope"))
      isProblem(wrong, yield* json(wrong), 401)
      const scope = yield* get(url, auth(KEYS.metricsOnly))
      isProblem(scope, yield* json(scope), 403)
      assert.strictEqual((yield* get(url, { authorization: `Bearer ${KEYS.reader}` })).status, 200)
      const sql = yield* post(`${base}/v1/sql`, { sql: "SELECT 1" }, auth(KEYS.reader))
      isProblem(sql, yield* json(sql), 403)
      const rep = yield* get(`${base}/v1/replay?from=${iso(T0)}&to=${iso(T0 + 1000)}`, auth(KEYS.reader))
      isProblem(rep, yield* json(rep), 403)
    }))

  it.effect("pagination over a large range: every row once, in order, pinned to the first snapshot", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      const want = Ref.selectRows(f.trades, { from: T0, to: T0 + 3 * DAY })
      const got: Array<string> = []
      let cursor: string | null = null
      let pages = 0
      do {
        const q: string = cursor === null ? `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&limit=333&fields=message_id,price` : `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&limit=333&fields=message_id,price&cursor=${cursor}`
        const res = yield* get(`${base}/v1/trades?${q}`, auth(KEYS.reader))
        const body = yield* json(res)
        assert.strictEqual(res.status, 200, JSON.stringify(body))
        got.push(...body.data.map((r: any) => r.message_id))
        assert.strictEqual(body.meta.snapshot_ids.trades, f.lastTradeSnapshot.toString())
        cursor = body.next_cursor
        pages++
      } while (cursor !== null)
      assert.strictEqual(got.length, want.length)
      assert.deepStrictEqual(got, want.map((r) => r.message_id))
      assert.strictEqual(new Set(got).size, got.length)
      assert.isAbove(pages, 10)
    }))

  it.effect("CSV export streams the whole range; Parquet export is a Parquet file; Accept negotiates", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      const want = Ref.selectRows(f.trades, { from: T0, to: T0 + 3 * DAY, symbols: ["CBA"] })
      const res = yield* get(`${base}/v1/trades?symbols=CBA&from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&format=csv`, auth(KEYS.reader))
      const csv = yield* text(res)
      assert.strictEqual(res.status, 200)
      assert.match(res.headers.get("content-type") ?? "", /text\/csv/)
      const lines = csv.trimEnd().split("\n")
      assert.strictEqual(lines.length, want.length + 1)
      assert.include(lines[0]!, "message_id")
      const byAccept = yield* get(`${base}/v1/bars?symbols=CBA&from=${iso(T0)}&to=${iso(T0 + DAY)}`, { ...auth(KEYS.reader), accept: "text/csv" })
      assert.match(byAccept.headers.get("content-type") ?? "", /text\/csv/)
      assert.match(yield* text(byAccept), /^symbol,bucket,open/)
      const pq = yield* get(`${base}/v1/trades?symbols=CBA&from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&format=parquet`, auth(KEYS.reader))
      const bytes = new Uint8Array(yield* Effect.promise(() => pq.arrayBuffer()))
      assert.strictEqual(pq.status, 200)
      assert.strictEqual(Buffer.from(bytes.slice(0, 4)).toString(), "PAR1")
      assert.strictEqual(Buffer.from(bytes.slice(-4)).toString(), "PAR1")
      const bad = yield* get(`${base}/v1/bars?from=${iso(T0)}&to=${iso(T0 + DAY)}`, { ...auth(KEYS.reader), accept: "image/png" })
      isProblem(bad, yield* json(bad), 406)
    }))

  it.effect("every read route answers JSON and CSV", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const range = `from=${iso(T0)}&to=${iso(T0 + DAY)}`
      const routes = [
        `/v1/quotes?${range}&limit=10`,
        `/v1/bars?${range}&interval=1h&symbols=BHP`,
        `/v1/quotes/bars?${range}&interval=1h&symbols=BHP`,
        `/v1/summary?from_day=2024-01-02&to_day=2024-01-03`,
        `/v1/trades/with-quotes?${range}&symbols=IBM&limit=20`,
        `/v1/symbols`,
        `/v1/instruments`,
        `/v1/snapshots/trades`,
        `/v1/stats/trades`
      ]
      for (const r of routes) {
        const res = yield* get(`${base}${r}`, auth(KEYS.reader))
        const body = yield* json(res)
        assert.strictEqual(res.status, 200, `${r}: ${JSON.stringify(body)}`)
        assert.isArray(body.data, r)
        assert.isString(body.meta.correlation_id)
        if (!r.includes("instruments")) assert.isAbove(body.data.length, 0, r)
        const csv = yield* get(`${base}${r}${r.includes("?") ? "&" : "?"}format=csv`, auth(KEYS.reader))
        assert.strictEqual(csv.status, 200, r)
        assert.match(csv.headers.get("content-type") ?? "", /text\/csv/, r)
      }
      const bars = yield* json(yield* get(`${base}/v1/bars?${range}&interval=1h&symbols=BHP`, auth(KEYS.reader)))
      assert.match(bars.data[0].open, /^\d+\.\d{8}$/) // exact decimal text
      assert.match(bars.data[0].bucket, /^2024-01-02T\d\d:00:00\.000000Z$/)
    }))

  it.effect("ETag: strong, 304 on If-None-Match, long cache at a fixed snapshot, no-cache at latest", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      const url = `${base}/v1/bars?symbols=BHP&from=${iso(T0)}&to=${iso(T0 + DAY)}&snapshot_id=${f.firstTradeSnapshot}`
      const a = yield* get(url, auth(KEYS.reader))
      const etag = a.headers.get("etag")!
      assert.match(etag, /^"[A-Za-z0-9_-]+"$/)
      assert.include(a.headers.get("cache-control") ?? "", "immutable")
      const ab = yield* json(a)
      const b = yield* get(url, { ...auth(KEYS.reader), "if-none-match": etag })
      assert.strictEqual(b.status, 304)
      const c = yield* json(yield* get(url, auth(KEYS.reader)))
      assert.deepStrictEqual(c.data, ab.data)
      const latest = yield* get(`${base}/v1/bars?symbols=BHP&from=${iso(T0)}&to=${iso(T0 + DAY)}`, auth(KEYS.reader))
      assert.include(latest.headers.get("cache-control") ?? "", "no-cache")
      assert.include(latest.headers.get("k2-snapshot-ids") ?? "", `trades=${f.lastTradeSnapshot}`)
      assert.notStrictEqual(latest.headers.get("etag"), etag)
    }))

  it.effect("time travel: snapshot_id and as_of read the first snapshot; unknown id is 404", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      const records = (q: string) =>
        get(`${base}/v1/stats/trades?${q}`, auth(KEYS.reader)).pipe(Effect.flatMap(json), Effect.map((b) => {
          if (!b.data) throw new Error(JSON.stringify(b))
          return b.data[0].records
        }))
      assert.strictEqual(yield* records(`snapshot_id=${f.firstTradeSnapshot}`), f.trades1.length)
      assert.strictEqual(yield* records(`as_of=${new Date(f.firstTradeSnapshotMs + 1).toISOString()}`), f.trades1.length)
      assert.strictEqual(yield* records(""), f.trades.length)
      // Pages at the first snapshot hold only its rows.
      const page = yield* json(yield* get(`${base}/v1/trades?from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&limit=10000&fields=message_id&snapshot_id=${f.firstTradeSnapshot}`, auth(KEYS.reader)))
      assert.strictEqual(page.data.length, f.trades1.length)
      const nf = yield* get(`${base}/v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}&snapshot_id=12345`, auth(KEYS.reader))
      isProblem(nf, yield* json(nf), 404)
    }))

  it.effect("replay streams NDJSON and SSE in order", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      const from = T0, to = T0 + 6 * 3_600_000_000
      const res = yield* get(`${base}/v1/replay?symbols=BHP&from=${iso(from)}&to=${iso(to)}&tables=trades`, auth(KEYS.full))
      const lines = (yield* text(res)).trimEnd().split("\n").map((l) => JSON.parse(l))
      assert.strictEqual(res.status, 200)
      assert.deepStrictEqual(lines.map((l) => l.message_id), Ref.selectRows(f.trades, { from, to, symbols: ["BHP"] }).map((r) => r.message_id))
      const sse = yield* get(`${base}/v1/replay?symbols=BHP&from=${iso(from)}&to=${iso(from + 3_600_000_000)}&speed=1000000`, { ...auth(KEYS.full), accept: "text/event-stream" })
      const body = yield* text(sse)
      assert.match(sse.headers.get("content-type") ?? "", /text\/event-stream/)
      assert.include(body, "event: end")
    }))

  it.effect("SQL: one SELECT over the views, pinned; escapes are refused", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      const ok = yield* post(`${base}/v1/sql`, { sql: "SELECT symbol, count(*) AS n, sum(price) AS s FROM trades GROUP BY symbol ORDER BY symbol" }, auth(KEYS.full))
      const body = yield* json(ok)
      assert.strictEqual(ok.status, 200, JSON.stringify(body))
      assert.strictEqual(body.data.reduce((n: number, r: any) => n + Number(r.n), 0), f.trades.length)
      const old = yield* json(yield* post(`${base}/v1/sql`, { sql: "SELECT count(*) AS n FROM trades", snapshot_id: String(f.firstTradeSnapshot) }, auth(KEYS.full)))
      assert.strictEqual(Number(old.data[0].n), f.trades1.length)
      const limited = yield* json(yield* post(`${base}/v1/sql`, { sql: "SELECT * FROM trades", limit: 10 }, auth(KEYS.full)))
      assert.strictEqual(limited.data.length, 10)
      assert.isTrue(limited.truncated)
      const hostile = [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM glob('/*')",
        "SELECT * FROM read_parquet('https://example.com/x.parquet')",
        "COPY trades TO '/tmp/k2-leak.csv'",
        "ATTACH '/tmp/k2-x.db' AS x",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA version",
        "SET enable_external_access = true",
        "SELECT 1; SELECT 2",
        "SELECT 1; COPY (SELECT 1) TO '/tmp/k2-leak2.csv'",
        "CREATE TABLE x AS SELECT 1",
        "DROP VIEW trades",
        "SELECT 1) TO '/tmp/k2-leak3.csv' (FORMAT csv); --",
        ""
      ]
      for (const sql of hostile) {
        const res = yield* post(`${base}/v1/sql`, { sql }, auth(KEYS.full))
        const b = yield* json(res)
        assert.oneOf(res.status, [400, 503], `${sql}: ${JSON.stringify(b)}`)
        assert.notInclude(JSON.stringify(b), "root:")
      }
      const fs = yield* Effect.promise(() => import("node:fs"))
      for (const p of ["/tmp/k2-leak.csv", "/tmp/k2-leak2.csv", "/tmp/k2-leak3.csv", "/tmp/k2-x.db"]) assert.isFalse(fs.existsSync(p), p)
    }))

  it.effect("bad input: problem+json with a code, never a 5xx", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const cases = [
        "/v1/trades",
        `/v1/trades?from=yesterday&to=${iso(T0)}`,
        `/v1/trades?from=${iso(T0 + DAY)}&to=${iso(T0)}`,
        `/v1/trades?from=${iso(T0)}&to=${iso(T0 + 400 * DAY)}`,
        `/v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}&limit=0`,
        `/v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}&limit=99999999`,
        `/v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}&cursor=garbage!`,
        `/v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}&fields=nope`,
        `/v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}&symbols=bhp'--`,
        `/v1/bars?from=${iso(T0)}&to=${iso(T0 + DAY)}&interval=7m`,
        `/v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}&format=xml`,
        `/v1/snapshots/secrets`,
        `/v1/nothing-here`
      ]
      for (const c of cases) {
        const res = yield* get(`${base}${c}`, auth(KEYS.reader))
        const body = yield* json(res)
        assert.isBelow(res.status, 500, c)
        isProblem(res, body, res.status)
      }
    }))
})

layer(served(testOptions({ rateLimit: 5, rateWindowSeconds: 60 })), { timeout: 180_000, excludeTestServices: true })("HTTP API rate limit", (it) => {
  it.effect("RateLimit headers count down; past the limit 429 with Retry-After; per key", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const url = `${base}/v1/snapshots/trades`
      const remaining: Array<string | null> = []
      for (let i = 0; i < 5; i++) {
        const res = yield* get(url, auth(KEYS.reader))
        assert.strictEqual(res.status, 200)
        assert.strictEqual(res.headers.get("ratelimit-limit"), "5")
        remaining.push(res.headers.get("ratelimit-remaining"))
      }
      assert.deepStrictEqual(remaining, ["4", "3", "2", "1", "0"])
      const over = yield* get(url, auth(KEYS.reader))
      isProblem(over, yield* json(over), 429)
      assert.match(over.headers.get("retry-after") ?? "", /^\d+$/)
      assert.strictEqual((yield* get(url, auth(KEYS.full))).status, 200) // another key, another budget
      assert.strictEqual((yield* get(`${base}/health`)).status, 200) // health is not limited
    }))
})

