/**
 * The K2 HTTP API as one `HttpApi` definition: the routes, the query schemas the server
 * decodes requests with, the response schemas and the problem bodies. The OpenAPI 3.1
 * document (`/openapi.json`) and the docs page (`/docs`) are generated from it.
 *
 * Query values stay text here (bounded in length and shape by the schemas); their meaning
 * (instants, symbol lists, snapshot selectors) is checked by `params.ts`, so every request
 * is refused with the same problem body whatever rule it broke. Semantics: docs/api.md.
 */
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, HttpApiSecurity, OpenApi } from "effect/http-api"
import { MAX_SYMBOLS } from "../query/validate.ts"
import { K2_VERSION } from "../version.ts"

// --- problems ------------------------------------------------------------------------------

/** RFC 9457 problem details, plus a stable `code` and the request's correlation id. */
const ProblemBody = Schema.Struct({
  type: Schema.String,
  title: Schema.String,
  status: Schema.Int,
  code: Schema.String,
  detail: Schema.String,
  correlation_id: Schema.String
}).annotate({ identifier: "Problem" })

// Declared as the media type every problem is sent as (respond.ts, server.ts), not plain JSON.
const problem = (status: number, description: string) =>
  ProblemBody.pipe(HttpApiSchema.status(status), HttpApiSchema.asJson({ contentType: "application/problem+json" })).annotate({ description })

const problemOf = {
  400: problem(400, "Bad request: a parameter is unknown to the route, missing, malformed or out of range"),
  401: problem(401, "No API key, or an unknown one"),
  403: problem(403, "The key has no access to this route"),
  404: problem(404, "No such snapshot or route"),
  406: problem(406, "The requested format is not available for this route"),
  413: problem(413, "Body too large"),
  415: problem(415, "The body is not JSON (Content-Type: application/json)"),
  429: problem(429, "Rate limit exceeded (see Retry-After)"),
  500: problem(500, "Internal error (no details are ever returned)"),
  501: problem(501, "The table uses an Iceberg format version or feature K2 does not read, or another engine dropped or nulled a column the answer needs (unsupported_table)"),
  503: problem(503, "Not ready, the catalog unavailable (catalog_unavailable, with Retry-After), the query took longer than the server allows (query_timeout: a narrower read may answer), or spent most of that time waiting for a DuckDB connection (server_busy, with Retry-After), the SQL sandbox busy (sql_busy, with Retry-After) or unable to start (sql_unavailable), or every streaming slot taken by replays, CSV exports, Parquet and SQL answers (streams_busy, with Retry-After), or a read past DuckDB's memory limit (out_of_memory, with Retry-After)")
}

/** The problems a route can answer: a public one is refused no key (401, 403) and is not rate limited (429). */
const problems = (...statuses: ReadonlyArray<keyof typeof problemOf>) => statuses.map((status) => problemOf[status])

const Problems = problems(400, 401, 403, 404, 406, 413, 429, 500, 501, 503)

// --- access: each route declares the scope its key needs ---------------------------------
// The server authenticates the key once per request; these middlewares, one per scope, are
// where the matched route authorizes it, so no spelling of a path reaches a route without its scope.

const keySecurity = {
  apiKey: HttpApiSecurity.apiKey({ in: "header", key: "X-API-Key" }),
  bearer: HttpApiSecurity.bearer
}

/** A key with the read scope: the market and reference routes. */
export class ReadAccess extends HttpApiMiddleware.Service<ReadAccess>()("k2/api/ReadAccess", { security: keySecurity }) {}
/** A key with the replay scope. */
export class ReplayAccess extends HttpApiMiddleware.Service<ReplayAccess>()("k2/api/ReplayAccess", { security: keySecurity }) {}
/** A key with the sql scope. */
export class SqlAccess extends HttpApiMiddleware.Service<SqlAccess>()("k2/api/SqlAccess", { security: keySecurity }) {}
/**
 * /metrics: a key with the metrics scope when the server is configured so (K2_API_METRICS_REQUIRE_KEY),
 * else anyone; not a security scheme, as the document describes the default.
 */
export class MetricsAccess extends HttpApiMiddleware.Service<MetricsAccess>()("k2/api/MetricsAccess") {}

// --- query parameters ----------------------------------------------------------------------

const text = (max: number, description: string) =>
  Schema.optional(Schema.String.check(Schema.isMaxLength(max)).annotate({ description }))

const instant = (description: string) =>
  text(64, `${description}: ISO-8601 with an offset (send + as %2B), a date (midnight UTC) or epoch microseconds`)

const formatOf = <const L extends ReadonlyArray<string>>(formats: L) =>
  Schema.optional(Schema.Literals(formats).annotate({ description: "Response format; otherwise chosen by the Accept header (default JSON)" }))

const readParams = {
  snapshot_id: text(24, "Read this snapshot of every table involved (time travel)"),
  as_of: instant("Read the tables as they were at this instant")
}

/**
 * The request line and headers a server reads (server.ts): room for `maxSymbols` (K2_API_MAX_SYMBOLS)
 * symbols of the longest kind, 32 characters and an encoded comma (%2C) each, beside 16 KiB for the
 * rest; at least 64 KiB. Node's 16 KiB did not hold a query naming 1000 symbols, and a fixed 64 KiB
 * refused (431) past ~1,900 of them the 10,000 the setting allows.
 */
export const requestHeadBytes = (maxSymbols: number): number => Math.max(64 * 1024, 16 * 1024 + maxSymbols * 35)

// As long as any server's request head may be: a list of more symbols than K2_API_MAX_SYMBOLS allows
// is refused by count, naming the limit (params.ts), not by its length.
const symbolsParam = { symbols: text(requestHeadBytes(MAX_SYMBOLS), "Comma-separated symbols (default: all)") }
const rangeParams = { from: instant("Start, inclusive"), to: instant("End, exclusive") }

const RowsQuery = {
  ...symbolsParam,
  ...rangeParams,
  // Longer than any limit may be, so that a limit past its range is limit_out_of_range (params.ts), not a length error.
  limit: text(32, "Rows per page (JSON: 1..K2_API_MAX_PAGE_ROWS, 10000 by default; default 1000, or K2_API_MAX_PAGE_ROWS when lower). CSV/Parquet without limit export the whole range (past K2_API_MAX_EXPORT_ROWS: 400 too_many_rows); CSV past K2_API_MAX_PAGE_ROWS and Parquet export at most limit rows"),
  cursor: text(4_096, "next_cursor of the previous page (pins its snapshot); send it with the same from, to, symbols, fields and filter, or 400 invalid_cursor"),
  fields: text(1_000, "Comma-separated columns (default all)"),
  filter: text(1_000, "Decimal bounds, inclusive: column:min[:max], comma-separated"),
  ...readParams,
  format: formatOf(["json", "csv", "parquet"])
}

const BarsQuery = {
  ...symbolsParam,
  ...rangeParams,
  interval: Schema.optional(Schema.Literals(["1s", "5s", "1m", "5m", "15m", "30m", "1h", "1d"]).annotate({
    description: "Bucket width, default 1m. Buckets are aligned to the Unix epoch (UTC), not to an exchange's zone: a 1d bar is a UTC day, which splits a session such as the ASX's (10:00-16:00 Sydney is 23:00-05:00 UTC in summer); exchange-local trading days are /v1/summary. Edge buckets hold only the rows in [from, to). An answer past K2_API_MAX_BARS bars (100000 by default) is refused: 400 too_many_rows"
  })),
  ...readParams,
  format: formatOf(["json", "csv", "parquet"])
}

const SummaryQuery = {
  ...symbolsParam,
  from_day: text(10, "First trading day (exchange-local yyyy-mm-dd); at most K2_API_MAX_RANGE_DAYS days (366 by default) through to_day"),
  to_day: text(10, "Last trading day, inclusive (default from_day)"),
  ...readParams,
  format: formatOf(["json", "csv", "parquet"])
}

const TradeQuotesQuery = {
  ...symbolsParam,
  ...rangeParams,
  limit: text(32, "Trades per page, 1..K2_API_MAX_PAGE_ROWS (10000 by default), default 1000 (or K2_API_MAX_PAGE_ROWS when lower)"),
  cursor: text(4_096, "next_cursor of the previous page (pins its snapshots of trades and quotes); send it with the same from, to, symbols and lookback_us, or 400 invalid_cursor"),
  lookback_us: text(16, "How far before `from` to look for the prevailing quote, microseconds (default one day)"),
  ...readParams,
  format: formatOf(["json", "csv", "parquet"])
}

const ListQuery = { ...symbolsParam, ...readParams, format: formatOf(["json", "csv", "parquet"]) }

const TableParam = { table: Schema.Literals(["trades", "quotes", "sequence_events", "instruments"]) }

const ReplayQuery = {
  ...symbolsParam,
  ...rangeParams,
  tables: text(20, "trades, quotes or trades,quotes (comma-separated; default both)"),
  // As long as parsePositiveNumber reads (9 digits, a point, 30 places): cut at 16, a slower speed it
  // takes was refused, and one past the maximum was told its length instead of its range.
  speed: text(40, "Multiple of real time (1 = real time), a plain decimal above 0, at most 1000000; absent: as fast as the client reads"),
  ...readParams,
  format: Schema.optional(Schema.Literals(["ndjson", "sse"]).annotate({ description: "NDJSON (default) or Server-Sent Events; or by Accept" }))
}

export const SqlRequest = Schema.Struct({
  sql: Schema.String.check(Schema.isMaxLength(20_000)).annotate({ description: "One SELECT over the views trades, quotes, instruments, sequence_events" }),
  snapshot_id: Schema.optional(Schema.String.check(Schema.isMaxLength(24))),
  as_of: Schema.optional(Schema.String.check(Schema.isMaxLength(64))),
  // At most K2_API_SQL_MAX_ROWS (sqlRoute.ts cuts the answer there and says so): a fixed 100000 here refused
  // larger limits a server configured for more allows. Any whole number: Schema.Int, held to the safe
  // integers, refused 1e16 as "not an integer" where any other limit above the cap is cut to it.
  // Finite, not Number: Number's JSON form also takes "Infinity", "-Infinity" and "NaN" (strings), so the
  // document declared those and a "5" was refused as not one of them (test/domain/api/numbers.test.ts).
  limit: Schema.optional(
    Schema.Finite.check(
      Schema.makeFilter((n: number) => Number.isInteger(n), { expected: "a whole number", toJsonSchema: () => ({ type: "integer" }) }),
      Schema.isGreaterThanOrEqualTo(1)
    ).annotate({ description: "Rows at most; default and cap K2_API_SQL_MAX_ROWS (100000 by default)" })
  ),
  format: Schema.optional(Schema.Literals(["json", "csv", "parquet"]))
}).annotate({ identifier: "SqlRequest" })

// --- responses -----------------------------------------------------------------------------

const ScannedTable = Schema.Struct({
  table: Schema.String,
  snapshot_id: Schema.NullOr(Schema.String),
  files_planned: Schema.Int,
  files_total: Schema.Int,
  bytes_planned: Schema.Int,
  bytes_total: Schema.Int,
  /** Of elapsed_ms, planning this table's read: catalog lookup, manifests, pruning. */
  planning_ms: Schema.Finite
})

const Meta = Schema.Struct({
  correlation_id: Schema.String,
  snapshot_ids: Schema.Record(Schema.String, Schema.NullOr(Schema.String)),
  scanned: Schema.Array(ScannedTable),
  files_scanned: Schema.Int,
  bytes_scanned: Schema.Int,
  rows: Schema.Int,
  elapsed_ms: Schema.Finite
}).annotate({ identifier: "Meta" })

/** Every JSON answer: rows (decimals as exact text, instants as ISO-8601 with microseconds, longs as text). */
const envelope = (name: string, row: Schema.Top) =>
  Schema.Struct({ data: Schema.Array(row), next_cursor: Schema.NullOr(Schema.String), meta: Meta }).annotate({ identifier: name })

const Row = Schema.Record(Schema.String, Schema.Unknown)

/**
 * POST /v1/sql's JSON answer: the envelope, its columns with DuckDB's type names, and whether a
 * limit cut it (which one: the row limit or the byte budget). A struct admits no other property
 * in the document, so every field the handler sends (sqlRoute.ts) is declared here.
 */
const SqlResult = Schema.Struct({
  data: Schema.Array(Row),
  next_cursor: Schema.NullOr(Schema.String),
  columns: Schema.Array(Schema.Struct({ name: Schema.String, type: Schema.String })),
  truncated: Schema.Boolean,
  truncated_by: Schema.NullOr(Schema.Literals(["rows", "bytes"])),
  meta: Meta
}).annotate({ identifier: "SqlResult" })

const Csv = Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/csv" }))
const Parquet = Schema.Uint8Array.pipe(HttpApiSchema.asUint8Array({ contentType: "application/vnd.apache.parquet" }))

const D = Schema.String // exact decimal text
const T = Schema.String // ISO-8601 instant, microseconds

const BarRow = Schema.Struct({
  symbol: Schema.String, exchange: Schema.String, bucket: T, open: D, high: D, low: D, close: D, volume: D, tradeCount: Schema.Int, vwap: D
}).annotate({ identifier: "Bar" })
const SummaryRow = Schema.Struct({
  symbol: Schema.String, exchange: Schema.String, tradingDay: Schema.String, open: D, high: D, low: D, close: D, volume: D,
  tradeCount: Schema.Int, vwap: D, firstTrade: T, lastTrade: T
}).annotate({ identifier: "DailySummary" })
/** Mid and spread fields over the bucket's two-sided quotes (bid and ask > 0): null when it has none (ADR-40). */
const MaybeD = Schema.NullOr(D)
const QuoteBarRow = Schema.Struct({
  symbol: Schema.String, exchange: Schema.String, bucket: T, quoteCount: Schema.Int, midOpen: MaybeD, midHigh: MaybeD, midLow: MaybeD,
  midClose: MaybeD, spreadMin: MaybeD, spreadMax: MaybeD, spreadMean: MaybeD, spreadClose: MaybeD
}).annotate({ identifier: "QuoteBar" })

// --- what the document says besides the schemas: headers, 304 and 204 -------------------------
// The handlers build their responses themselves (respond.ts, readHeaders.ts): the headers they and
// the pipeline (server.ts) send, and the answers without a body, are declared here, so that a client
// made from the document reads ETag, the next page's cursor or Retry-After, and expects a 304.

type Operation = Record<string, any>
type Step = (op: Operation) => Operation

const headerOf = (description: string, schema: Record<string, unknown> = { type: "string" }) => ({ description, schema })

/** Every response header the API sends, as `components.headers`. */
const HEADERS = {
  "X-Correlation-ID": headerOf("The request's correlation id: the X-Correlation-ID sent when it matches [A-Za-z0-9._:-]{1,128}, else a generated UUID"),
  "Cache-Control": headerOf("no-store on problems, replay and SQL; on reads private, no-cache at latest, private, max-age=31536000, immutable at a fixed snapshot (a summary: no-cache always, its days depend on the zones; so is a page without limit when K2_API_MAX_PAGE_ROWS is below 1000)"),
  ETag: headerOf("Strong validator of this answer: route, query, format, snapshot ids, content coding, and settings it depends on (a summary's trading-day zones, a page's length without limit); send it as If-None-Match"),
  "K2-Snapshot-Ids": headerOf("The snapshot read of each table: table=id, comma-separated (none: the table had no snapshot)"),
  "K2-Next-Cursor": headerOf("The cursor of the next page (absent on the last page)"),
  Link: headerOf("<?query with cursor>; rel=\"next\": the next page, a query-only reference to resolve against the URL called (absent on the last page)"),
  "K2-Truncated": headerOf("The answer was cut at a limit: rows (the row limit) or bytes (the SQL byte budget)", { type: "string", enum: ["rows", "bytes"] }),
  "Content-Disposition": headerOf("attachment; filename=\"result.parquet\" (Parquet answers)"),
  "RateLimit-Limit": headerOf("Requests allowed per window", { type: "integer" }),
  "RateLimit-Remaining": headerOf("Requests left in this window", { type: "integer" }),
  "RateLimit-Reset": headerOf("Seconds until the window ends", { type: "integer" }),
  "RateLimit-Policy": headerOf("<limit>;w=<window seconds>"),
  "Retry-After": headerOf("Seconds to wait before retrying (429; 503 server_busy, sql_busy, streams_busy, out_of_memory, catalog_unavailable and draining)", { type: "integer" }),
  "WWW-Authenticate": headerOf("The schemes a key may be sent by (401)")
}
type Header = keyof typeof HEADERS

const PARAMETERS = {
  "X-Correlation-ID": { name: "X-Correlation-ID", in: "header", required: false, description: "Correlation id to echo, [A-Za-z0-9._:-]{1,128}; otherwise one is generated", schema: { type: "string", pattern: "^[A-Za-z0-9._:-]{1,128}$" } },
  "If-None-Match": { name: "If-None-Match", in: "header", required: false, description: "An ETag of this request's answer: 304 while it still names the answer", schema: { type: "string" } },
  "Last-Event-ID": { name: "Last-Event-ID", in: "header", required: false, description: "SSE: the id of the last event received, to resume after it at the same snapshots (EventSource sends it when it reconnects); end: 204", schema: { type: "string" } }
}

const headerRefs = (names: ReadonlyArray<Header>) => Object.fromEntries(names.map((name) => [name, { $ref: `#/components/headers/${name}` }]))

/** These headers on the response of `status` (which the schemas declared, or a step added). */
const sends = (status: string, ...names: ReadonlyArray<Header>): Step => (op) => ({
  ...op,
  responses: { ...op["responses"], [status]: { ...op["responses"][status], headers: { ...op["responses"][status]?.headers, ...headerRefs(names) } } }
})

const takes = (name: keyof typeof PARAMETERS): Step => (op) => ({ ...op, parameters: [...op["parameters"], { $ref: `#/components/parameters/${name}` }] })

const answers = (status: string, description: string): Step => (op) => ({ ...op, responses: { ...op["responses"], [status]: { description } } })

/**
 * The document marks these query parameters required: the handler refuses a request without them
 * (400 naming the parameter, params.ts `required`), though the schema admits their absence so that
 * the refusal is that clear problem. Left optional in the document, a client made from it offered
 * calls the server always refuses.
 */
const requires = (...names: ReadonlyArray<string>): Step => (op) => ({
  ...op,
  parameters: (op["parameters"] as ReadonlyArray<Record<string, unknown>>).map((p) =>
    p["in"] === "query" && names.includes(p["name"] as string) ? { ...p, required: true } : p
  )
})

/** A read answered through its ETag: If-None-Match, 304 (no body) while nothing was committed. */
const cached: ReadonlyArray<Step> = [
  takes("If-None-Match"),
  sends("200", "ETag", "K2-Snapshot-Ids"),
  answers("304", "Not Modified: If-None-Match names this answer's ETag"),
  sends("304", "ETag", "K2-Snapshot-Ids")
]
/** A paged read: the next page named in headers, whatever the format. */
const paged = sends("200", "K2-Next-Cursor", "Link")
const parquetFile = sends("200", "Content-Disposition")

const operation = (...steps: ReadonlyArray<Step | ReadonlyArray<Step>>) =>
  OpenApi.annotations({ transform: (op) => steps.flat().reduce((o, step) => step(o), op) })

/** Every route's X-Correlation-ID; a keyed route's RateLimit-* headers, 401's WWW-Authenticate, 429's and 503's Retry-After. */
const everyOperation = (spec: Record<string, any>) => {
  const paths: Record<string, Record<string, Operation>> = spec["paths"]
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      let out = takes("X-Correlation-ID")(op)
      for (const status of Object.keys(out["responses"])) {
        const keyed = path !== "/health" && path !== "/ready"
        out = sends(
          status,
          "X-Correlation-ID",
          ...(path === "/health" && status === "200" ? [] : ["Cache-Control"] as const),
          ...(keyed ? ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"] as const : []),
          ...(status === "401" ? ["WWW-Authenticate"] as const : []),
          ...(status === "429" || status === "503" ? ["Retry-After"] as const : [])
        )(out)
      }
      item[method] = out
    }
  }
  return { ...spec, components: { ...spec["components"], headers: HEADERS, parameters: PARAMETERS } }
}

const system = HttpApiGroup.make("system", { topLevel: true })
  .add(HttpApiEndpoint.get("health", "/health", { success: Schema.Struct({ status: Schema.Literal("ok") }), error: problems(400, 413, 500) }))
  .add(HttpApiEndpoint.get("ready", "/ready", {
    success: Schema.Struct({ status: Schema.String, checks: Schema.Record(Schema.String, Schema.String) }),
    error: problems(400, 413, 500, 503)
  }))
  .add(
    HttpApiEndpoint.get("metrics", "/metrics", {
      success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/plain; version=0.0.4" })),
      // 401, 403 and 429 only when K2_API_METRICS_REQUIRE_KEY=true.
      error: problems(400, 401, 403, 413, 429, 500)
    })
      .middleware(MetricsAccess)
  )
  .annotateMerge(OpenApi.annotations({
    title: "System",
    description: "Liveness, readiness and Prometheus metrics (no key needed; /metrics takes one with the metrics scope when K2_API_METRICS_REQUIRE_KEY=true)"
  }))

const market = HttpApiGroup.make("market")
  .add(HttpApiEndpoint.get("trades", "/trades", { query: RowsQuery, success: [envelope("TradesPage", Row), Csv, Parquet], error: Problems })
    .annotateMerge(operation(requires("from", "to"), cached, paged, sends("200", "K2-Truncated"), parquetFile)))
  .add(HttpApiEndpoint.get("quotes", "/quotes", { query: RowsQuery, success: [envelope("QuotesPage", Row), Csv, Parquet], error: Problems })
    .annotateMerge(operation(requires("from", "to"), cached, paged, sends("200", "K2-Truncated"), parquetFile)))
  .add(HttpApiEndpoint.get("bars", "/bars", { query: BarsQuery, success: [envelope("Bars", BarRow), Csv, Parquet], error: Problems })
    .annotateMerge(operation(requires("from", "to"), cached, parquetFile)))
  .add(HttpApiEndpoint.get("summary", "/summary", { query: SummaryQuery, success: [envelope("DailySummaries", SummaryRow), Csv, Parquet], error: Problems })
    .annotateMerge(operation(requires("from_day"), cached, parquetFile)))
  .add(HttpApiEndpoint.get("quoteBars", "/quotes/bars", { query: BarsQuery, success: [envelope("QuoteBars", QuoteBarRow), Csv, Parquet], error: Problems })
    .annotateMerge(operation(requires("from", "to"), cached, parquetFile)))
  .add(HttpApiEndpoint.get("tradesWithQuotes", "/trades/with-quotes", { query: TradeQuotesQuery, success: [envelope("TradesWithQuotes", Row), Csv, Parquet], error: Problems })
    .annotateMerge(operation(requires("from", "to"), cached, paged, parquetFile)))
  .middleware(ReadAccess)
  .prefix("/v1")
  .annotateMerge(OpenApi.annotations({ title: "Market data", description: "Trades, quotes, bars and quote analytics; every read takes snapshot_id or as_of" }))

const reference = HttpApiGroup.make("reference")
  .add(HttpApiEndpoint.get("symbols", "/symbols", { query: ListQuery, success: [envelope("Symbols", Row), Csv, Parquet], error: Problems })
    .annotateMerge(operation(cached, parquetFile)))
  .add(HttpApiEndpoint.get("instruments", "/instruments", { query: ListQuery, success: [envelope("Instruments", Row), Csv, Parquet], error: Problems })
    .annotateMerge(operation(cached, parquetFile)))
  .add(HttpApiEndpoint.get("snapshots", "/snapshots/:table", { params: TableParam, query: { limit: text(32, "The newest this many snapshots (1..10000, default 1000), in commit order; older ones are the next page's"), cursor: text(4_096, "next_cursor of the previous page: the snapshots before it, at the state the first page listed"), format: formatOf(["json", "csv", "parquet"]) }, success: [envelope("Snapshots", Row), Csv, Parquet], error: Problems })
    .annotateMerge(operation(cached, paged, parquetFile)))
  .add(HttpApiEndpoint.get("stats", "/stats/:table", { params: TableParam, query: { ...readParams, format: formatOf(["json", "csv", "parquet"]) }, success: [envelope("TableStats", Row), Csv, Parquet], error: Problems })
    .annotateMerge(operation(cached, parquetFile)))
  .middleware(ReadAccess)
  .prefix("/v1")
  .annotateMerge(OpenApi.annotations({ title: "Reference", description: "Symbols, instruments, snapshot history and table statistics" }))

const replay = HttpApiGroup.make("replay")
  .add(HttpApiEndpoint.get("replay", "/replay", {
    query: ReplayQuery,
    success: [
      Schema.String.pipe(HttpApiSchema.asText({ contentType: "application/x-ndjson" })),
      Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/event-stream" }))
    ],
    error: Problems
  }).annotateMerge(operation(
    requires("from", "to"),
    sends("200", "K2-Snapshot-Ids"),
    takes("Last-Event-ID"),
    answers("204", "No Content: Last-Event-ID is end, the replay was read to its end (EventSource stops reconnecting)")
  )))
  .middleware(ReplayAccess)
  .prefix("/v1")
  .annotateMerge(OpenApi.annotations({ title: "Replay", description: "Trades and quotes in exchange-time order, streamed, optionally paced" }))

const sql = HttpApiGroup.make("sql")
  .add(
    HttpApiEndpoint.post("sql", "/sql", { payload: SqlRequest, success: [SqlResult, Csv, Parquet], error: [...Problems, ...problems(415)] })
      // A field the body does not declare is refused, not stripped: a misspelt one (snapshotId) read the latest state.
      .annotate(HttpApi.PayloadParseOptions, { onExcessProperty: "error" })
      .annotateMerge(operation(sends("200", "K2-Snapshot-Ids", "K2-Truncated"), parquetFile))
  )
  .middleware(SqlAccess)
  .prefix("/v1")
  .annotateMerge(OpenApi.annotations({
    title: "SQL",
    description: "One read-only SELECT over the views trades, quotes and instruments pinned to a snapshot; row and time limits"
  }))

export class Api extends HttpApi.make("k2")
  .add(system)
  .add(market)
  .add(reference)
  .add(replay)
  .add(sql)
  .annotateMerge(OpenApi.annotations({
    title: "K2 market data API",
    version: K2_VERSION,
    description: "Trades and quotes from the K2 lakehouse (Apache Iceberg), with time travel. Errors are application/problem+json.",
    transform: everyOperation
  })) {}
