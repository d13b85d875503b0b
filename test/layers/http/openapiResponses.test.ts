/**
 * The OpenAPI document names every answer the server sends, route by route: each request of the
 * table below is sent, and its status must be declared for that operation, with the media type it
 * came as (or no content when it has no body), and every header a client reads (ETag, the K2-*
 * headers, Link, RateLimit-*, Retry-After, WWW-Authenticate, Content-Disposition...) must be
 * declared on that response. The request headers the server honours (If-None-Match, Last-Event-ID,
 * X-Correlation-ID) are parameters of the operations that honour them.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"

/** Headers of the transport, not of the API: no client reads them from the document. */
const TRANSPORT = new Set(["date", "connection", "keep-alive", "transfer-encoding", "content-length", "content-type", "content-encoding", "vary", "x-content-type-options"])

const RANGE = "from=2024-01-02&to=2024-01-03"
const SHORT = "from=2024-01-02&to=2024-01-02T00:10:00Z"
const json = { "content-type": "application/json" }

interface Case {
  readonly label: string
  /** The operation as the document names it: method and path template. */
  readonly op: readonly [string, string]
  readonly url: string
  readonly init?: { readonly method?: string; readonly headers?: Record<string, string>; readonly body?: string }
  readonly status: number
  /** Send the ETag of the same request's answer as If-None-Match. */
  readonly revalidate?: boolean
}

const get = (label: string, path: string, url: string, status = 200, headers: Record<string, string> = auth(KEYS.full)): Case =>
  ({ label, op: ["get", path], url, init: { headers }, status })
const sql = (label: string, body: string, status = 200, headers: Record<string, string> = json): Case =>
  ({ label, op: ["post", "/v1/sql"], url: "/v1/sql", init: { method: "POST", headers: { ...auth(KEYS.full), ...headers }, body }, status })

const CASES: ReadonlyArray<Case> = [
  get("health", "/health", "/health", 200, {}),
  get("health, an unknown parameter", "/health", "/health?x=1", 400, {}),
  get("ready", "/ready", "/ready", 200, {}),
  get("ready, an unknown parameter", "/ready", "/ready?x=1", 400, {}),
  get("metrics", "/metrics", "/metrics", 200, {}),
  get("metrics, an unknown parameter", "/metrics", "/metrics?x=1", 400, {}),
  get("trades page", "/v1/trades", `/v1/trades?${RANGE}&limit=2`),
  { ...get("trades revalidated", "/v1/trades", `/v1/trades?${RANGE}&limit=2`, 304), revalidate: true },
  get("trades CSV page", "/v1/trades", `/v1/trades?${RANGE}&limit=2&format=csv`),
  get("trades CSV export", "/v1/trades", `/v1/trades?${RANGE}&format=csv`),
  get("trades Parquet export, cut", "/v1/trades", `/v1/trades?${RANGE}&limit=2&format=parquet`),
  get("trades without a key", "/v1/trades", `/v1/trades?${RANGE}`, 401, {}),
  get("trades with an unknown key", "/v1/trades", `/v1/trades?${RANGE}`, 401, auth("no-such-key")),
  get("trades, limit out of range", "/v1/trades", `/v1/trades?${RANGE}&limit=0`, 400),
  get("trades, no such snapshot", "/v1/trades", `/v1/trades?${RANGE}&snapshot_id=1`, 404),
  get("quotes page", "/v1/quotes", `/v1/quotes?${RANGE}&limit=2`),
  get("bars", "/v1/bars", `/v1/bars?${RANGE}`),
  { ...get("bars revalidated", "/v1/bars", `/v1/bars?${RANGE}`, 304), revalidate: true },
  get("bars Parquet", "/v1/bars", `/v1/bars?${RANGE}&format=parquet`),
  get("bars, nothing acceptable", "/v1/bars", `/v1/bars?${RANGE}`, 406, { ...auth(KEYS.full), accept: "text/html" }),
  get("quote bars", "/v1/quotes/bars", `/v1/quotes/bars?${RANGE}`),
  get("summary", "/v1/summary", "/v1/summary?from_day=2024-01-02"),
  get("trades with quotes", "/v1/trades/with-quotes", `/v1/trades/with-quotes?${RANGE}&limit=2`),
  get("trades with quotes, Parquet", "/v1/trades/with-quotes", `/v1/trades/with-quotes?${RANGE}&limit=2&format=parquet`),
  get("symbols", "/v1/symbols", "/v1/symbols"),
  { ...get("symbols revalidated", "/v1/symbols", "/v1/symbols", 304), revalidate: true },
  get("instruments", "/v1/instruments", "/v1/instruments"),
  get("snapshots", "/v1/snapshots/{table}", "/v1/snapshots/trades"),
  get("stats", "/v1/stats/{table}", "/v1/stats/trades"),
  { ...get("stats revalidated", "/v1/stats/{table}", "/v1/stats/trades", 304), revalidate: true },
  get("replay NDJSON", "/v1/replay", `/v1/replay?${SHORT}`),
  get("replay SSE", "/v1/replay", `/v1/replay?${SHORT}&format=sse`),
  get("replay SSE resumed after its end", "/v1/replay", `/v1/replay?${SHORT}&format=sse`, 204, { ...auth(KEYS.full), "last-event-id": "end" }),
  get("replay without the replay scope", "/v1/replay", `/v1/replay?${SHORT}`, 403, auth(KEYS.reader)),
  sql("sql JSON", JSON.stringify({ sql: "SELECT 1 AS n" })),
  sql("sql JSON, cut", JSON.stringify({ sql: "SELECT * FROM range(3)", limit: 2 })),
  sql("sql CSV", JSON.stringify({ sql: "SELECT 1 AS n", format: "csv" })),
  sql("sql Parquet", JSON.stringify({ sql: "SELECT 1 AS n", format: "parquet" })),
  sql("sql refused", JSON.stringify({ sql: "SELECT * FROM read_csv('/etc/passwd')" }), 400),
  sql("sql, no such snapshot", JSON.stringify({ sql: "SELECT 1", snapshot_id: "1" }), 404),
  sql("sql, a body too large", JSON.stringify({ sql: `SELECT 1${" ".repeat(70_000)}` }), 413),
  sql("sql, a body not JSON", "SELECT 1", 415, { "content-type": "text/plain" })
]

type Spec = Record<string, any>

/** A `$ref` of the document, followed. */
const resolve = (spec: Spec, value: any): any =>
  value !== null && typeof value === "object" && typeof value.$ref === "string"
    ? resolve(spec, value.$ref.slice(2).split("/").reduce((at: any, key: string) => at?.[key], spec))
    : value

/** What the document fails to say of the answer a request got, one line per omission. */
const omissions = (spec: Spec, c: Case, res: Response, body: Uint8Array): ReadonlyArray<string> => {
  const [method, path] = c.op
  const op = spec.paths[path]?.[method]
  if (op === undefined) return [`${method.toUpperCase()} ${path} is not in the document`]
  const at = `${method.toUpperCase()} ${path} ${res.status} (${c.label})`
  const declared = resolve(spec, op.responses[String(res.status)])
  if (declared === undefined) return [`${at}: status not declared`]
  const out: Array<string> = []
  const type = res.headers.get("content-type")?.split(";")[0]!.trim()
  const content = Object.keys(declared.content ?? {}).map((t) => t.split(";")[0]!.trim())
  if (body.length === 0 ? content.length > 0 && res.status !== 200 : type === undefined || !content.includes(type)) {
    out.push(`${at}: sent ${body.length === 0 ? "no content" : type}, declared ${content.join(", ") || "no content"}`)
  }
  const headers = Object.keys(declared.headers ?? {}).map((h) => h.toLowerCase())
  for (const name of res.headers.keys()) {
    if (!TRANSPORT.has(name) && !headers.includes(name)) out.push(`${at}: header ${name} not declared`)
  }
  const params = (op.parameters ?? []).map((p: any) => resolve(spec, p)).filter((p: any) => p.in === "header").map((p: any) => p.name.toLowerCase())
  for (const name of Object.keys(c.init?.headers ?? {})) {
    if (["if-none-match", "last-event-id", "x-correlation-id"].includes(name) && !params.includes(name)) out.push(`${at}: request header ${name} not a parameter`)
  }
  return out
}

const send = (base: string, c: Case, extra: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const res = await fetch(`${base}${c.url}`, { ...c.init, headers: { ...c.init?.headers, ...extra } })
    return { res, body: new Uint8Array(await res.arrayBuffer()) }
  })

const walk = (cases: ReadonlyArray<Case>) =>
  Effect.gen(function*() {
    const base = yield* baseUrl
    const spec = yield* Effect.promise(() => fetch(`${base}/openapi.json`).then((r) => r.json() as Promise<Spec>))
    const missing: Array<string> = []
    for (const c of cases) {
      const correlation = { "x-correlation-id": "walk-1" }
      const etag = c.revalidate ? (yield* send(base, c)).res.headers.get("etag") ?? "none" : undefined
      const { res, body } = yield* send(base, c, etag === undefined ? correlation : { ...correlation, "if-none-match": etag })
      assert.strictEqual(res.status, c.status, `${c.label}: ${new TextDecoder().decode(body).slice(0, 300)}`)
      missing.push(...omissions(spec, { ...c, init: { ...c.init, headers: { ...c.init?.headers, ...correlation, ...(etag === undefined ? {} : { "if-none-match": etag }) } } }, res, body))
    }
    return missing
  })

layer(served(testOptions(), undefined, { trades: 20, quotes: 20 }), { timeout: 120_000, excludeTestServices: true })("OpenAPI: every answer the server sends is in the document", (it) => {
  it.effect("each route's statuses, media types and headers, as sent", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* walk(CASES), [])
    }))

  it.effect("a public route declares no refusal of a key it does not ask for", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const spec = yield* Effect.promise(() => fetch(`${base}/openapi.json`).then((r) => r.json() as Promise<Spec>))
      for (const path of ["/health", "/ready"]) {
        const statuses = Object.keys(spec.paths[path].get.responses)
        assert.deepStrictEqual(statuses.filter((s) => ["401", "403", "429", "404", "406", "501"].includes(s)), [], path)
      }
    }))
})

// A second server: a rate limit of two requests, and /metrics behind a key.
layer(served(testOptions({ rateLimit: 2, metricsRequireKey: true }), undefined, { trades: 5, quotes: 5 }), { timeout: 120_000, excludeTestServices: true })("OpenAPI: refusals of the rate limit and of /metrics' key", (it) => {
  it.effect("429 with Retry-After, and /metrics' 401 and 403, are in the document", () =>
    Effect.gen(function*() {
      const reader = auth(KEYS.reader)
      assert.deepStrictEqual(yield* walk([
        get("metrics without a key", "/metrics", "/metrics", 401, {}),
        get("metrics without the metrics scope", "/metrics", "/metrics", 403, reader),
        get("symbols, within the limit", "/v1/symbols", "/v1/symbols", 200, reader),
        get("symbols, past the limit", "/v1/symbols", "/v1/symbols", 429, reader)
      ]), [])
    }))
})
