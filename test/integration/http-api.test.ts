/**
 * The K2 API over real HTTP, against a warehouse the test builds: two trade snapshots, then one
 * of quotes, instruments, and a sequence_events table with no snapshot yet.
 */
import * as http from "node:http"
import * as zlib from "node:zlib"
import {
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBListValue,
  DuckDBMapValue,
  DuckDBStructValue,
  DuckDBTimestampTZValue
} from "@duckdb/node-api"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { tables } from "../../src/domain/tables.ts"
import { flatten } from "../../src/layers/http/respond.ts"
import * as Server from "../../src/layers/http/server.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../src/services/QueryEngine.ts"
import * as Ref from "../domain/query/reference.ts"
import { DAY, T0 } from "../layers/query/data.ts"
import { Fixture, fill, warehouseDir } from "../layers/query/fixture.ts"
import { auth, baseUrl, engines, get, KEYS, served, testOptions } from "./http-support.ts"
import { readParquet } from "../support/parquet.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const json = (res: Response) => Effect.promise(() => res.json() as Promise<any>)
const text = (res: Response) => Effect.promise(() => res.text())
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  Effect.promise(() => fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) }))

/**
 * A request sent as written: `fetch` resolves dot segments and always sets a length, this does
 * neither (a body without `content-length` goes chunked). The answer as a fetch Response.
 */
const rawRequest = (url: string, options: { method?: string; path: string; headers?: Record<string, string>; body?: string }) =>
  Effect.promise(() =>
    new Promise<Response>((resolve, reject) => {
      const req = http.request(url, { method: options.method ?? "GET", path: options.path, headers: options.headers }, (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () => {
          const headers = new Headers()
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v)
          resolve(new Response(res.statusCode === 204 || res.statusCode === 304 ? null : Buffer.concat(chunks), { status: res.statusCode!, headers }))
        })
      })
      req.on("error", reject)
      if (options.body !== undefined) req.write(options.body)
      req.end()
    })
  )

/** Reference data (the fixture has none) and a sequence_events table created but never written. */
const reference = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  const instruments = tables.instruments
  yield* sink.ensureTable(instruments)
  yield* sink.append({ namespace: instruments.namespace, name: instruments.name }, {
    rowCount: 3,
    columns: {
      symbol: ["BHP", "CBA", "IBM"],
      exchange: ["ASX", "ASX", "NYSE"],
      company_id: ["c-bhp", null, "c-ibm"],
      name: ["BHP Group", "Commonwealth Bank, \"CBA\"", "IBM"],
      isin: ["AU000000BHP4", "AU000000CBA7", null],
      currency: ["AUD", "AUD", "USD"],
      asset_class: ["equities", "equities", "equities"],
      listing_date: [-1, 19_724, null],
      delisting_date: [null, null, 20_000]
    }
  })
  yield* sink.ensureTable(tables.sequenceEvents)
}))

/** `a,"b ""c""",` → ["a", "b \"c\"", ""]: RFC 4180, as the server writes it. */
const parseCsv = (body: string): Array<Array<string>> => {
  const rows: Array<Array<string>> = []
  let row: Array<string> = []
  let cell = ""
  let quoted = false
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!
    if (quoted) {
      if (c === "\"" && body[i + 1] === "\"") (cell += "\"", i++)
      else if (c === "\"") quoted = false
      else cell += c
    } else if (c === "\"") quoted = true
    else if (c === ",") (row.push(cell), cell = "")
    else if (c === "\n") (row.push(cell), rows.push(row), row = [], cell = "")
    else cell += c
  }
  return rows
}

const ISO = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z$/
const DECIMAL_TEXT = /^-?\d+\.\d{8}$/

/**
 * One comparable form of a value as JSON or Parquet carries it: scalars as text, instants as
 * epoch microseconds (JSON's ISO-8601, Parquet's TIMESTAMPTZ), records and maps as objects. In
 * Parquet an instant or a decimal must be typed: as text it is marked, and differs from JSON's.
 */
const canon = (v: unknown, parquet: boolean): unknown => {
  const inner = (x: unknown) => canon(x, parquet)
  if (v === null || v === undefined) return null
  if (v instanceof DuckDBTimestampTZValue) return String(v.micros)
  if (v instanceof DuckDBDecimalValue || v instanceof DuckDBDateValue) return v.toString()
  if (v instanceof DuckDBStructValue) return inner(v.entries)
  if (v instanceof DuckDBMapValue) return inner(Object.fromEntries(v.entries.map((e) => [String(e.key), e.value])))
  if (v instanceof DuckDBListValue) return v.items.map(inner)
  if (Array.isArray(v)) return v.map(inner)
  if (typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, inner(x)]))
  if (typeof v !== "string") return String(v)
  if (parquet) return ISO.test(v) || DECIMAL_TEXT.test(v) ? `untyped ${v}` : v
  const m = ISO.exec(v)
  return m === null ? v : String(BigInt(Date.parse(`${m[1]}Z`)) * 1000n + BigInt((m[2] ?? "").padEnd(6, "0")))
}

/** The same answer in JSON, CSV and Parquet: the same columns and rows, every value equal. */
const assertSameInEveryFormat = (
  what: string,
  fetchAs: (format: "json" | "csv" | "parquet") => Effect.Effect<Response>,
  csvFlatten = false
) =>
  Effect.gen(function*() {
    const j = yield* fetchAs("json")
    const body = yield* json(j)
    assert.strictEqual(j.status, 200, `${what}: ${JSON.stringify(body)}`)
    const data = body.data as Array<Record<string, unknown>>
    assert.isAbove(data.length, 0, `${what}: no rows to compare`)

    const c = yield* fetchAs("csv")
    assert.strictEqual(c.status, 200, what)
    assert.match(c.headers.get("content-type") ?? "", /text\/csv/, what)
    const [header, ...cells] = parseCsv(yield* text(c))
    const flat = csvFlatten ? data.map(flatten) : data
    assert.deepStrictEqual(header, Object.keys(flat[0]!), `${what}: CSV columns`)
    assert.deepStrictEqual(
      cells,
      flat.map((r) => header!.map((k) => (r[k] === null || r[k] === undefined ? "" : typeof r[k] === "object" ? JSON.stringify(r[k]) : String(r[k])))),
      `${what}: CSV rows`
    )

    const p = yield* fetchAs("parquet")
    assert.strictEqual(p.status, 200, what)
    assert.strictEqual(p.headers.get("content-type"), "application/vnd.apache.parquet", what)
    const parquet = yield* readParquet(new Uint8Array(yield* Effect.promise(() => p.arrayBuffer())))
    assert.deepStrictEqual(parquet.columns, Object.keys(data[0]!), `${what}: Parquet columns`)
    assert.deepStrictEqual(parquet.rows.map((r) => canon(r, true)), data.map((r) => canon(r, false)), `${what}: Parquet rows`)
  })

const isProblem = (res: Response, body: any, status: number) => {
  assert.strictEqual(res.status, status, JSON.stringify(body))
  assert.match(res.headers.get("content-type") ?? "", /application\/problem\+json/)
  assert.strictEqual(body.status, status)
  assert.isString(body.code)
  assert.isString(body.detail)
  assert.strictEqual(body.correlation_id, res.headers.get("x-correlation-id"))
  assert.notInclude(JSON.stringify(body), "    at ")
}

layer(reference.pipe(Layer.provideMerge(served(testOptions()))), { timeout: 180_000, excludeTestServices: true })("HTTP API", (it) => {
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
      // However the path is written, the route's scope is asked for (the router ignores case,
      // merges slashes and decodes escapes; these reached SQL with no key before).
      for (const path of ["//v1/sql", "/V1/sql", "/v1/%73ql", "/v1//sql"]) {
        const anonymous = yield* post(`${base}${path}`, { sql: "SELECT 1" })
        isProblem(anonymous, yield* json(anonymous), 401)
        const reader = yield* post(`${base}${path}`, { sql: "SELECT 1" }, auth(KEYS.reader))
        isProblem(reader, yield* json(reader), 403)
      }
      const doubled = yield* get(`${base}//v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}&limit=1`)
      isProblem(doubled, yield* json(doubled), 401)
      // The router ends a path at `;` (as at `?`) and resolves no dot segments: `/v1/sql;/../../health`
      // was /v1/sql to it and /health to the scope check, and ran SQL with no key. No route has `;`: 404.
      const sqlBody = JSON.stringify({ sql: "SELECT 1" })
      for (const path of ["/v1/sql;/../../health", "/v1/sql;x/../../../openapi.json", "/V1//SQL;/../../docs", "/v1/%73ql;/../../ready", "/v1/sql#/../../health"]) {
        const headers = { "content-type": "application/json" }
        const anonymous = yield* rawRequest(base, { method: "POST", path, headers, body: sqlBody })
        isProblem(anonymous, yield* json(anonymous), 404)
        const reader = yield* rawRequest(base, { method: "POST", path, headers: { ...headers, ...auth(KEYS.reader) }, body: sqlBody })
        isProblem(reader, yield* json(reader), 404)
      }
      // A backslash is a slash to a URL parser, not to the router: this reached the snapshots
      // handler (400 for its table) with no key.
      for (const path of ["/v1/snapshots/x\\..\\..\\..\\health", "/v1/stats/x%5C..%5C..%5C..%5Cready", "/v1/snapshots/%2e%2e"]) {
        const anonymous = yield* rawRequest(base, { path })
        isProblem(anonymous, yield* json(anonymous), 401)
      }
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
        assert.isAtLeast(body.meta.scanned[0].planning_ms, 0)
        assert.isAtMost(body.meta.scanned[0].planning_ms, body.meta.elapsed_ms)
        cursor = body.next_cursor
        pages++
      } while (cursor !== null)
      assert.strictEqual(got.length, want.length)
      assert.deepStrictEqual(got, want.map((r) => r.message_id))
      assert.strictEqual(new Set(got).size, got.length)
      assert.isAbove(pages, 10)
    }))

  it.effect("a page after a cursor names the snapshots the cursor pinned, and is immutable", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      const range = `from=${iso(T0)}&to=${iso(T0 + DAY)}&limit=50`
      const first = yield* json(yield* get(`${base}/v1/trades?${range}&snapshot_id=${f.firstTradeSnapshot}`, auth(KEYS.reader)))
      assert.isString(first.next_cursor)
      // The next page carries only the cursor: newer snapshots exist, but it reads the first one.
      const res = yield* get(`${base}/v1/trades?${range}&cursor=${first.next_cursor}`, auth(KEYS.reader))
      const body = yield* json(res)
      assert.strictEqual(res.status, 200, JSON.stringify(body))
      assert.notStrictEqual(f.firstTradeSnapshot, f.lastTradeSnapshot)
      assert.strictEqual(body.meta.snapshot_ids.trades, f.firstTradeSnapshot.toString())
      assert.strictEqual(res.headers.get("k2-snapshot-ids"), `trades=${f.firstTradeSnapshot}`)
      assert.include(res.headers.get("cache-control") ?? "", "immutable")
      const joined = yield* json(yield* get(`${base}/v1/trades/with-quotes?${range}&snapshot_id=${f.firstTradeSnapshot}`, auth(KEYS.reader)))
      const next = yield* get(`${base}/v1/trades/with-quotes?${range}&cursor=${joined.next_cursor}`, auth(KEYS.reader))
      assert.deepStrictEqual((yield* json(next)).meta.snapshot_ids, joined.meta.snapshot_ids)
      assert.include(next.headers.get("cache-control") ?? "", "immutable")
    }))

  it.effect("trades with quotes page like trades: a small limit walks every trade once, in order, each with its quote", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const route = `${base}/v1/trades/with-quotes?from=${iso(T0)}&to=${iso(T0 + DAY)}&lookback_us=${2 * 3_600_000_000}`
      const whole = yield* json(yield* get(`${route}&limit=10000`, auth(KEYS.reader)))
      assert.isNull(whole.next_cursor)
      assert.isAbove(whole.data.length, 37 * 10)
      const got: Array<unknown> = []
      let cursor: string | null = null
      let pages = 0
      do {
        const res: Response = yield* get(`${route}&limit=37${cursor === null ? "" : `&cursor=${cursor}`}`, auth(KEYS.reader))
        const body = yield* json(res)
        assert.strictEqual(res.status, 200, JSON.stringify(body))
        assert.isAtMost(body.data.length, 37)
        got.push(...body.data)
        cursor = body.next_cursor
        pages++
      } while (cursor !== null)
      assert.deepStrictEqual(got, whole.data)
      assert.strictEqual(pages, Math.ceil(whole.data.length / 37))
      // A cursor of /v1/trades does not page this route.
      const tradesCursor = (yield* json(yield* get(`${base}/v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}&limit=5`, auth(KEYS.reader)))).next_cursor
      const wrong = yield* get(`${route}&limit=5&cursor=${tradesCursor}`, auth(KEYS.reader))
      const wb = yield* json(wrong)
      isProblem(wrong, wb, 400)
      assert.strictEqual(wb.code, "invalid_cursor")
    }))

  it.effect("a CSV page names the next in K2-Next-Cursor and Link; following them reads every row once", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      const want = Ref.selectRows(f.trades, { from: T0, to: T0 + DAY, symbols: ["BHP", "CBA"] }).map((r) => r.message_id)
      const got: Array<string> = []
      let url = `${base}/v1/trades?symbols=BHP,CBA&from=${iso(T0)}&to=${iso(T0 + DAY)}&limit=150&fields=message_id,price`
      let pages = 0
      for (;;) {
        const res = yield* get(url, { ...auth(KEYS.reader), accept: "text/csv" })
        assert.strictEqual(res.status, 200)
        assert.match(res.headers.get("content-type") ?? "", /text\/csv/)
        const [header, ...rows] = parseCsv(yield* text(res))
        assert.deepStrictEqual(header, ["message_id", "price"])
        got.push(...rows.map((r) => r[0]!))
        pages++
        const next = res.headers.get("k2-next-cursor")
        const link = res.headers.get("link")
        if (next === null) {
          assert.isNull(link)
          break
        }
        const target = /^<([^>]+)>; rel="next"$/.exec(link ?? "")
        assert.isNotNull(target, link ?? "no Link")
        const following = new URL(target![1]!, url)
        assert.strictEqual(following.searchParams.get("cursor"), next)
        // The same page again comes from the cache, with its cursor.
        assert.strictEqual((yield* get(url, { ...auth(KEYS.reader), accept: "text/csv" })).headers.get("k2-next-cursor"), next)
        url = following.toString()
      }
      assert.deepStrictEqual(got, want)
      assert.isAbove(pages, 2)
      // JSON pages carry the same header as their next_cursor; the last page none.
      const page = `${base}/v1/trades?symbols=BHP&from=${iso(T0)}&to=${iso(T0 + DAY)}&fields=message_id`
      const first = yield* get(`${page}&limit=10`, auth(KEYS.reader))
      assert.strictEqual(first.headers.get("k2-next-cursor"), (yield* json(first)).next_cursor)
      const last = yield* get(`${page}&limit=10000`, auth(KEYS.reader))
      assert.isNull((yield* json(last)).next_cursor)
      assert.isNull(last.headers.get("k2-next-cursor"))
      // Trades with quotes as CSV: the Link keeps format=csv and reads on from the first page.
      const wq = `${base}/v1/trades/with-quotes?from=${iso(T0)}&to=${iso(T0 + DAY)}`
      const all = (yield* json(yield* get(`${wq}&limit=100`, auth(KEYS.reader)))).data.map((r: any) => r.messageId)
      const c1 = yield* get(`${wq}&limit=50&format=csv`, auth(KEYS.reader))
      const [h1, ...r1] = parseCsv(yield* text(c1))
      const c2 = yield* get(new URL(/^<([^>]+)>/.exec(c1.headers.get("link") ?? "<>")![1]!, wq).toString(), auth(KEYS.reader))
      assert.match(c2.headers.get("content-type") ?? "", /text\/csv/)
      const [, ...r2] = parseCsv(yield* text(c2))
      const at = h1!.indexOf("messageId")
      assert.deepStrictEqual([...r1, ...r2].map((r) => r[at]), all)
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
      assert.match(yield* text(byAccept), /^symbol,exchange,bucket,open/)
      // An empty answer still has its header.
      const none = `symbols=NOPE&from=${iso(T0)}&to=${iso(T0 + DAY)}&format=csv`
      assert.match(yield* text(yield* get(`${base}/v1/bars?${none}`, auth(KEYS.reader))), /^symbol,exchange,bucket,open,high,low,close,volume,tradeCount,vwap\n$/)
      assert.match(yield* text(yield* get(`${base}/v1/trades?${none}&limit=10`, auth(KEYS.reader))), /^message_id,/)
      // Named fields in the order rows have them (the table's), whatever order they were asked in.
      assert.match(yield* text(yield* get(`${base}/v1/trades?${none}&limit=10&fields=price,message_id`, auth(KEYS.reader))), /^message_id,price\n$/)
      assert.match(yield* text(yield* get(`${base}/v1/symbols?symbols=NOPE&format=csv`, auth(KEYS.reader))), /^symbol,trades_count,trades_first,trades_last,quotes_count/)
      const pq = yield* get(`${base}/v1/trades?symbols=CBA&from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&format=parquet`, auth(KEYS.reader))
      const bytes = new Uint8Array(yield* Effect.promise(() => pq.arrayBuffer()))
      assert.strictEqual(pq.status, 200)
      assert.strictEqual(Buffer.from(bytes.slice(0, 4)).toString(), "PAR1")
      assert.strictEqual(Buffer.from(bytes.slice(-4)).toString(), "PAR1")
      assert.deepStrictEqual((yield* readParquet(bytes)).rows.map((r) => r.message_id), want.map((r) => r.message_id))
      const bad = yield* get(`${base}/v1/bars?from=${iso(T0)}&to=${iso(T0 + DAY)}`, { ...auth(KEYS.reader), accept: "image/png" })
      isProblem(bad, yield* json(bad), 406)
    }))

  it.effect("every read route answers JSON, CSV and Parquet, the same rows in each", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      const range = `from=${iso(T0)}&to=${iso(T0 + DAY)}`
      const routes = [
        `/v1/trades?${range}&symbols=BHP,IBM&limit=300`,
        `/v1/trades?${range}&limit=40&fields=message_id,price,exchange_timestamp,conditions,vendor_data&snapshot_id=${f.firstTradeSnapshot}`,
        `/v1/quotes?${range}&limit=200`,
        `/v1/bars?${range}&interval=1h&symbols=BHP`,
        `/v1/bars?${range}&interval=15m`,
        `/v1/quotes/bars?${range}&interval=1h&symbols=BHP`,
        `/v1/summary?from_day=2024-01-02&to_day=2024-01-03`,
        `/v1/trades/with-quotes?${range}&symbols=IBM&limit=200`,
        `/v1/symbols`,
        `/v1/symbols?snapshot_id=${f.firstTradeSnapshot}`,
        `/v1/instruments`,
        `/v1/snapshots/trades`,
        `/v1/snapshots/quotes`,
        `/v1/stats/trades`,
        `/v1/stats/quotes`,
        `/v1/stats/sequence_events`
      ]
      for (const r of routes) {
        const flattened = r.startsWith("/v1/symbols") || r.startsWith("/v1/snapshots")
        yield* assertSameInEveryFormat(r, (format) => get(`${base}${r}${r.includes("?") ? "&" : "?"}format=${format}`, auth(KEYS.reader)), flattened)
      }
      // The Accept header chooses Parquet as well as the format parameter.
      const byAccept = yield* get(`${base}/v1/summary?from_day=2024-01-02`, { ...auth(KEYS.reader), accept: "application/vnd.apache.parquet" })
      assert.strictEqual(byAccept.headers.get("content-type"), "application/vnd.apache.parquet")
      const summary = yield* readParquet(new Uint8Array(yield* Effect.promise(() => byAccept.arrayBuffer())))
      assert.isAbove(summary.rows.length, 0)
      yield* assertSameInEveryFormat("POST /v1/sql", (format) =>
        post(`${base}/v1/sql`, {
          sql: "SELECT symbol, count(*) AS n, sum(price) AS notional, max(quantity) AS most FROM trades GROUP BY symbol ORDER BY symbol",
          format
        }, auth(KEYS.full)))
      const bars = yield* json(yield* get(`${base}/v1/bars?${range}&interval=1h&symbols=BHP`, auth(KEYS.reader)))
      assert.match(bars.data[0].open, /^\d+\.\d{8}$/) // exact decimal text
      assert.match(bars.data[0].bucket, /^2024-01-02T\d\d:00:00\.000000Z$/)
    }))

  it.effect("a table without a snapshot then reads as empty beside the others; pinning it alone is 404", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      const read = (route: string) => get(`${base}${route}`, auth(KEYS.reader)).pipe(Effect.flatMap((res) => json(res).pipe(Effect.map((body) => ({ res, body })))))
      // Quotes were first written after the first trades snapshot.
      for (const at of [`snapshot_id=${f.firstTradeSnapshot}`, `as_of=${new Date(f.firstTradeSnapshotMs + 1).toISOString()}`]) {
        const symbols = yield* read(`/v1/symbols?${at}`)
        assert.strictEqual(symbols.res.status, 200, JSON.stringify(symbols.body))
        assert.isTrue(symbols.body.data.every((r: any) => r.trades.count > 0 && r.quotes === null), at)
        assert.deepStrictEqual(symbols.body.meta.snapshot_ids, { trades: f.firstTradeSnapshot.toString(), quotes: null })
        assert.include(symbols.res.headers.get("k2-snapshot-ids") ?? "", "quotes=none")
        const withQuotes = yield* read(`/v1/trades/with-quotes?from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&limit=10000&${at}`)
        assert.strictEqual(withQuotes.res.status, 200, JSON.stringify(withQuotes.body))
        assert.strictEqual(withQuotes.body.data.length, f.trades1.length)
        assert.isTrue(withQuotes.body.data.every((r: any) => r.quoteTimestamp === null && r.classification === null), at)
      }
      // A table created but never written: empty now, and a pinned read of it alone is 404.
      const stats = yield* read("/v1/stats/sequence_events")
      assert.strictEqual(stats.res.status, 200, JSON.stringify(stats.body))
      assert.deepStrictEqual([stats.body.data[0].snapshotId, stats.body.data[0].records], [null, 0])
      assert.deepStrictEqual((yield* read("/v1/snapshots/sequence_events")).body.data, [])
      const pinned = yield* read(`/v1/stats/sequence_events?as_of=${new Date().toISOString()}`)
      isProblem(pinned.res, pinned.body, 404)
      assert.strictEqual(pinned.body.code, "snapshot_not_found")
      // Before every table's first snapshot, and an id no table has: 404 on every multi-table route.
      const before = `as_of=${new Date(f.firstTradeSnapshotMs - 1).toISOString()}`
      for (const route of [`/v1/symbols?${before}`, `/v1/trades/with-quotes?from=${iso(T0)}&to=${iso(T0 + DAY)}&${before}`, "/v1/symbols?snapshot_id=12345"]) {
        const nf = yield* read(route)
        isProblem(nf.res, nf.body, 404)
        assert.strictEqual(nf.body.code, "snapshot_not_found", route)
      }
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

  /** A response's meta without what differs from request to request: the correlation id and timings. */
  const untimed = (meta: { readonly scanned: ReadonlyArray<object> }) => ({
    ...meta,
    correlation_id: "",
    elapsed_ms: 0,
    scanned: meta.scanned.map((s) => ({ ...s, planning_ms: 0 }))
  })

  it.effect("gzip when asked: the same bytes decompressed, its own ETag, meta per response on cache hits", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      // node:http, not fetch: fetch asks for gzip itself and hides the encoded bytes.
      const raw = (url: string, headers: Record<string, string>) =>
        Effect.promise(() =>
          new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
            http.get(url, { headers: { ...auth(KEYS.reader), ...headers } }, (res) => {
              const chunks: Array<Buffer> = []
              res.on("data", (c: Buffer) => chunks.push(c))
              res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
            }).on("error", reject)
          })
        )
      for (const format of ["json", "csv"]) {
        const url = `${base}/v1/bars?symbols=BHP,CBA&from=${iso(T0)}&to=${iso(T0 + DAY)}&interval=1s&format=${format}&snapshot_id=${f.lastTradeSnapshot}`
        const plain = yield* raw(url, { "accept-encoding": "identity" })
        assert.isUndefined(plain.headers["content-encoding"])
        assert.include(plain.headers["vary"] ?? "", "Accept-Encoding")
        // The first gzip request compresses and caches (the identity body is cached apart), the second hits.
        for (const attempt of ["miss", "hit"]) {
          const zipped = yield* raw(url, { "accept-encoding": "br;q=1, gzip;q=0.8", "x-correlation-id": `gz-${format}-${attempt}` })
          assert.strictEqual(zipped.status, 200)
          assert.strictEqual(zipped.headers["content-encoding"], "gzip")
          assert.strictEqual(Number(zipped.headers["content-length"]), zipped.body.length)
          assert.isBelow(zipped.body.length, plain.body.length, format)
          assert.notStrictEqual(zipped.headers["etag"], plain.headers["etag"])
          const text = zlib.gunzipSync(zipped.body).toString()
          if (format === "csv") {
            assert.strictEqual(text, plain.body.toString())
          } else {
            const a = JSON.parse(text)
            const b = JSON.parse(plain.body.toString())
            assert.deepStrictEqual(a.data, b.data)
            assert.strictEqual(a.meta.correlation_id, `gz-${format}-${attempt}`)
            assert.deepStrictEqual(untimed(a.meta), untimed(b.meta))
          }
          const again = yield* raw(url, { "accept-encoding": "gzip", "if-none-match": zipped.headers["etag"]! })
          assert.strictEqual(again.status, 304)
        }
      }
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
      // What was scanned, from the manifests as every read reports it: SQL plans the table whole.
      const scanned = body.meta.scanned.find((s: any) => s.table === "trades")
      assert.isAbove(scanned.files_total, 0)
      assert.strictEqual(scanned.files_planned, scanned.files_total)
      assert.isAbove(scanned.bytes_total, 0)
      assert.strictEqual(scanned.bytes_planned, scanned.bytes_total)
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
      // A Parquet export checks its range and takes no cursor (it answered 200 with a file before).
      for (const c of [
        `/v1/trades?from=${iso(T0 + DAY)}&to=${iso(T0)}&format=parquet`,
        `/v1/quotes?from=${iso(T0)}&to=${iso(T0 + DAY)}&format=parquet&cursor=abc`
      ]) {
        const res = yield* get(`${base}${c}`, auth(KEYS.reader))
        isProblem(res, yield* json(res), 400)
      }
    }))

  it.effect("a path with `;` or `#` cannot put one query's answer in the cache under another's ETag", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      // The router ends the path at `;` and reads its query from there: `?symbols=...` became a
      // parameter named "?symbols" and the answer held every symbol, cached under the ETag of
      // symbols=BHP (computed from the text after `?`), and so served to every later BHP request.
      const query = `symbols=BHP&from=${iso(T0)}&to=${iso(T0 + DAY)}&interval=1h&snapshot_id=${f.lastTradeSnapshot}`
      const odd = []
      for (const sep of [";", "#"]) odd.push(yield* rawRequest(base, { path: `/v1/bars${sep}?${query}`, headers: auth(KEYS.reader) }))
      const res = yield* rawRequest(base, { path: `/v1/bars?${query}`, headers: auth(KEYS.reader) })
      const body = yield* json(res)
      assert.strictEqual(res.status, 200)
      assert.isAbove(body.data.length, 0)
      assert.deepStrictEqual([...new Set(body.data.map((b: any) => b.symbol))], ["BHP"])
      for (const o of odd) isProblem(o, yield* json(o), 404)
    }))

  it.effect("a body past K2_API_MAX_BODY_BYTES is 413 body_too_large, with a length or chunked", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const big = JSON.stringify({ sql: `SELECT 1 -- ${"x".repeat(100 * 1024)}` })
      const headers = { "content-type": "application/json", ...auth(KEYS.full) }
      const declared = yield* rawRequest(base, { method: "POST", path: "/v1/sql", headers: { ...headers, "content-length": String(big.length) }, body: big })
      const db = yield* json(declared)
      isProblem(declared, db, 413)
      assert.strictEqual(db.code, "body_too_large")
      // No length to check up front: the limit is met while reading (it was a 400 bad_request).
      const chunked = yield* rawRequest(base, { method: "POST", path: "/v1/sql", headers, body: big })
      const cb = yield* json(chunked)
      isProblem(chunked, cb, 413)
      assert.strictEqual(cb.code, "body_too_large")
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

  it.effect("requests without a valid key are limited per client address: keys cannot be guessed without end", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const url = `${base}/v1/symbols`
      for (let i = 0; i < 5; i++) {
        const res = yield* get(url, auth(`guess-${i}`))
        isProblem(res, yield* json(res), 401)
        assert.strictEqual(res.headers.get("ratelimit-remaining"), String(4 - i))
      }
      const over = yield* get(url, auth("guess-5"))
      isProblem(over, yield* json(over), 429)
      assert.match(over.headers.get("retry-after") ?? "", /^\d+$/)
      const none = yield* get(url)
      isProblem(none, yield* json(none), 429)
      // A valid key has its own budget, whatever its address did.
      assert.strictEqual((yield* get(url, auth(KEYS.full))).status, 200)
    }))
})


const CORS_ORIGIN = "https://research.example"

layer(served(testOptions({ maxBars: 300, corsOrigins: [CORS_ORIGIN] })), { timeout: 180_000, excludeTestServices: true })("HTTP API bars cap and CORS", (it) => {
  it.effect("bars past K2_API_MAX_BARS: 400 saying how many and how to narrow, in every format; within it every bar", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      const from = T0, to = T0 + 3 * DAY
      const counts = {
        bars: Ref.bars(f.trades, { from, to, size: 1e6 }).length,
        "quotes/bars": Ref.quoteBars(f.quotes, { from, to, size: 1e6 }).length
      }
      for (const [route, n] of Object.entries(counts)) {
        assert.isAbove(n, 300)
        for (const format of ["json", "csv", "parquet"]) {
          const res = yield* get(`${base}/v1/${route}?from=${iso(from)}&to=${iso(to)}&interval=1s&format=${format}`, auth(KEYS.reader))
          const body = yield* json(res)
          isProblem(res, body, 400)
          assert.strictEqual(body.code, "too_many_rows", route)
          assert.include(body.detail, `${n} bars`)
          assert.include(body.detail, "300")
          for (const hint of ["range", "interval", "symbols"]) assert.include(body.detail, hint)
        }
      }
      const within = yield* get(`${base}/v1/bars?symbols=BHP&from=${iso(from)}&to=${iso(to)}&interval=1h`, auth(KEYS.reader))
      const wb = yield* json(within)
      assert.strictEqual(within.status, 200, JSON.stringify(wb))
      assert.strictEqual(wb.data.length, Ref.bars(f.trades, { from, to, size: 3_600_000_000, symbols: ["BHP"] }).length)
    }))

  it.effect("CORS lets a browser read the paging headers", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const res = yield* get(`${base}/v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}&limit=10&format=csv`, { ...auth(KEYS.reader), origin: CORS_ORIGIN })
      assert.strictEqual(res.status, 200)
      assert.strictEqual(res.headers.get("access-control-allow-origin"), CORS_ORIGIN)
      const exposed = (res.headers.get("access-control-expose-headers") ?? "").split(",").map((h) => h.trim().toLowerCase())
      assert.includeMembers(exposed, ["k2-next-cursor", "link", "k2-truncated"])
      assert.isNotNull(res.headers.get("k2-next-cursor"))
    }))

  it.effect("a preflight allows Last-Event-ID, which an EventSource reconnecting to a replay sends", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const res = yield* Effect.promise(() =>
        fetch(`${base}/v1/replay`, { method: "OPTIONS", headers: { origin: CORS_ORIGIN, "access-control-request-method": "GET", "access-control-request-headers": "last-event-id" } }))
      assert.isBelow(res.status, 300)
      const allowed = (res.headers.get("access-control-allow-headers") ?? "").split(",").map((h) => h.trim().toLowerCase())
      assert.include(allowed, "last-event-id")
    }))

  it.effect("CORS keeps the answer's Vary, and names Origin whether or not the origin is allowed", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const url = `${base}/v1/snapshots/trades`
      const varied = (res: Response) => (res.headers.get("vary") ?? "").split(",").map((h) => h.trim().toLowerCase())
      for (const origin of [{ origin: CORS_ORIGIN }, { origin: "https://elsewhere.example" }, {}]) {
        const res = yield* get(url, { ...auth(KEYS.reader), ...origin })
        assert.strictEqual(res.status, 200)
        // Only Origin was left when the origin was allowed: a browser's cache then served one
        // Accept's or one key's answer to another.
        assert.includeMembers(varied(res), ["origin", "accept", "accept-encoding", "authorization", "x-api-key"], JSON.stringify(origin))
      }
    }))
})

/** Bars runs counted, each held back a while, so that identical requests overlap. */
const barsRuns = { count: 0 }
const countedBars = Layer.effect(QueryEngine)(Effect.gen(function*() {
  const engine = yield* QueryEngine
  return QueryEngine.of({
    ...engine,
    bars: (request) => Effect.suspend(() => {
      barsRuns.count++
      return Effect.delay(engine.bars(request), "300 millis")
    })
  })
}))
const coalescing = (dir = warehouseDir()) =>
  Server.layer({ ...testOptions(), warehouse: dir }).pipe(
    Layer.provide(countedBars),
    Layer.provideMerge(engines(dir, fill())),
    Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1" }))
  )

layer(coalescing(), { timeout: 180_000, excludeTestServices: true })("HTTP API concurrent misses", (it) => {
  it.effect("identical concurrent misses run one query; a client going away fails none of the others", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const url = `${base}/v1/bars?symbols=BHP&from=${iso(T0)}&to=${iso(T0 + DAY)}&interval=1m`
      const before = barsRuns.count
      const answers = yield* Effect.forEach(Array.from({ length: 8 }, (_, i) => i), (i) =>
        get(url, { ...auth(KEYS.reader), "x-correlation-id": `co-${i}` }).pipe(
          Effect.flatMap((res) => {
            assert.strictEqual(res.status, 200)
            return json(res)
          })
        ), { concurrency: "unbounded" })
      assert.strictEqual(barsRuns.count - before, 1)
      assert.isAbove(answers[0].data.length, 0)
      answers.forEach((a, i) => {
        assert.deepStrictEqual(a.data, answers[0].data)
        assert.strictEqual(a.meta.correlation_id, `co-${i}`)
      })
      // Answered from the cache now.
      assert.strictEqual((yield* get(url, auth(KEYS.reader))).status, 200)
      assert.strictEqual(barsRuns.count - before, 1)

      // The first client of another miss goes away before the answer; one waiting beside it gets it.
      const other = `${base}/v1/bars?symbols=CBA&from=${iso(T0)}&to=${iso(T0 + DAY)}&interval=1m`
      const gone = new AbortController()
      const first = Effect.promise(() => fetch(other, { headers: auth(KEYS.reader), signal: gone.signal }).then(() => "answered", () => "aborted"))
      const second = Effect.sleep("50 millis").pipe(Effect.andThen(get(other, auth(KEYS.reader))), Effect.flatMap((res) => {
        assert.strictEqual(res.status, 200)
        return json(res)
      }))
      const abort = Effect.sleep("100 millis").pipe(Effect.andThen(Effect.sync(() => gone.abort())))
      const [aborted, answer] = yield* Effect.all([first, second, abort], { concurrency: "unbounded" })
      assert.strictEqual(aborted, "aborted")
      assert.isAbove(answer.data.length, 0)
      assert.strictEqual(barsRuns.count - before, 2)
    }))
})
