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

// --- problems ------------------------------------------------------------------------------

/** RFC 9457 problem details, plus a stable `code` and the request's correlation id. */
export const ProblemBody = Schema.Struct({
  type: Schema.String,
  title: Schema.String,
  status: Schema.Number,
  code: Schema.String,
  detail: Schema.String,
  correlation_id: Schema.String
}).annotate({ identifier: "Problem" })

// Declared as the media type every problem is sent as (respond.ts, server.ts), not plain JSON.
const problem = (status: number, description: string) =>
  ProblemBody.pipe(HttpApiSchema.status(status), HttpApiSchema.asJson({ contentType: "application/problem+json" })).annotate({ description })

export const Problems = [
  problem(400, "Bad request: a parameter is unknown to the route, missing, malformed or out of range"),
  problem(401, "No API key, or an unknown one"),
  problem(403, "The key has no access to this route"),
  problem(404, "No such snapshot or route"),
  problem(406, "The requested format is not available for this route"),
  problem(413, "Body too large"),
  problem(429, "Rate limit exceeded (see Retry-After)"),
  problem(500, "Internal error (no details are ever returned)"),
  problem(501, "The table uses an Iceberg format version or feature K2 does not read (unsupported_table)"),
  problem(503, "Not ready, the catalog unavailable, the query took longer than the server allows, or the SQL sandbox busy (see Retry-After)")
]

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

export const readParams = {
  snapshot_id: text(24, "Read this snapshot of every table involved (time travel)"),
  as_of: instant("Read the tables as they were at this instant")
}

// K2_API_MAX_SYMBOLS' default (1000) of the longest symbols (32 characters) and their commas: 4,000
// characters refused 1000 symbols of 4.
const symbolsParam = { symbols: text(33_000, "Comma-separated symbols (default: all)") }
const rangeParams = { from: instant("Start, inclusive"), to: instant("End, exclusive") }

export const RowsQuery = {
  ...symbolsParam,
  ...rangeParams,
  // Longer than any limit may be, so that a limit past its range is limit_out_of_range (params.ts), not a length error.
  limit: text(32, "Rows per page (JSON: 1..10000, default 1000). CSV/Parquet without limit export the whole range (past K2_API_MAX_EXPORT_ROWS: 400 too_many_rows); CSV past 10000 and Parquet export at most limit rows"),
  cursor: text(4_096, "next_cursor of the previous page (pins its snapshot)"),
  fields: text(1_000, "Comma-separated columns (default all)"),
  filter: text(1_000, "Decimal bounds, inclusive: column:min[:max], comma-separated"),
  ...readParams,
  format: formatOf(["json", "csv", "parquet"])
}

export const BarsQuery = {
  ...symbolsParam,
  ...rangeParams,
  interval: Schema.optional(Schema.Literals(["1s", "5s", "1m", "5m", "15m", "30m", "1h", "1d"]).annotate({
    description: "Bucket width, default 1m. Buckets are aligned to the Unix epoch (UTC), not to an exchange's zone: a 1d bar is a UTC day, which splits a session such as the ASX's (10:00-16:00 Sydney is 23:00-05:00 UTC in summer); exchange-local trading days are /v1/summary. Edge buckets hold only the rows in [from, to). An answer past K2_API_MAX_BARS bars (100000) is refused: 400 too_many_rows"
  })),
  ...readParams,
  format: formatOf(["json", "csv", "parquet"])
}

export const SummaryQuery = {
  ...symbolsParam,
  from_day: text(10, "First trading day (exchange-local yyyy-mm-dd); at most 366 days through to_day"),
  to_day: text(10, "Last trading day, inclusive (default from_day)"),
  ...readParams,
  format: formatOf(["json", "csv", "parquet"])
}

export const TradeQuotesQuery = {
  ...symbolsParam,
  ...rangeParams,
  limit: text(32, "Trades per page, 1..10000, default 1000"),
  cursor: text(4_096, "next_cursor of the previous page (pins its snapshots of trades and quotes)"),
  lookback_us: text(16, "How far before `from` to look for the prevailing quote, microseconds (default one day)"),
  ...readParams,
  format: formatOf(["json", "csv", "parquet"])
}

export const ListQuery = { ...symbolsParam, ...readParams, format: formatOf(["json", "csv", "parquet"]) }

export const TableParam = { table: Schema.Literals(["trades", "quotes", "sequence_events", "instruments"]) }

export const ReplayQuery = {
  ...symbolsParam,
  ...rangeParams,
  tables: text(20, "trades, quotes or both (default both)"),
  speed: text(16, "Multiple of real time (1 = real time); absent: as fast as the client reads"),
  ...readParams,
  format: Schema.optional(Schema.Literals(["ndjson", "sse"]).annotate({ description: "NDJSON (default) or Server-Sent Events; or by Accept" }))
}

export const SqlRequest = Schema.Struct({
  sql: Schema.String.check(Schema.isMaxLength(20_000)).annotate({ description: "One SELECT over the views trades, quotes, instruments" }),
  snapshot_id: Schema.optional(Schema.String.check(Schema.isMaxLength(24))),
  as_of: Schema.optional(Schema.String.check(Schema.isMaxLength(64))),
  // At most K2_API_SQL_MAX_ROWS (sqlRoute.ts cuts the answer there and says so): a fixed 100000 here refused
  // larger limits a server configured for more allows.
  limit: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).annotate({ description: "Rows at most; default and cap K2_API_SQL_MAX_ROWS (100000)" })),
  format: Schema.optional(Schema.Literals(["json", "csv", "parquet"]))
}).annotate({ identifier: "SqlRequest" })

// --- responses -----------------------------------------------------------------------------

export const ScannedTable = Schema.Struct({
  table: Schema.String,
  snapshot_id: Schema.NullOr(Schema.String),
  files_planned: Schema.Number,
  files_total: Schema.Number,
  bytes_planned: Schema.Number,
  bytes_total: Schema.Number,
  /** Of elapsed_ms, planning this table's read: catalog lookup, manifests, pruning. */
  planning_ms: Schema.Number
})

export const Meta = Schema.Struct({
  correlation_id: Schema.String,
  snapshot_ids: Schema.Record(Schema.String, Schema.NullOr(Schema.String)),
  scanned: Schema.Array(ScannedTable),
  files_scanned: Schema.Number,
  bytes_scanned: Schema.Number,
  rows: Schema.Number,
  elapsed_ms: Schema.Number
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

export const BarRow = Schema.Struct({
  symbol: Schema.String, exchange: Schema.String, bucket: T, open: D, high: D, low: D, close: D, volume: D, tradeCount: Schema.Number, vwap: D
}).annotate({ identifier: "Bar" })
export const SummaryRow = Schema.Struct({
  symbol: Schema.String, exchange: Schema.String, tradingDay: Schema.String, open: D, high: D, low: D, close: D, volume: D,
  tradeCount: Schema.Number, vwap: D, firstTrade: T, lastTrade: T
}).annotate({ identifier: "DailySummary" })
export const QuoteBarRow = Schema.Struct({
  symbol: Schema.String, exchange: Schema.String, bucket: T, quoteCount: Schema.Number, midOpen: D, midHigh: D, midLow: D, midClose: D,
  spreadMin: D, spreadMax: D, spreadMean: D, spreadClose: D
}).annotate({ identifier: "QuoteBar" })

/**
 * The document marks these query parameters required: the handler refuses a request without them
 * (400 naming the parameter, params.ts `required`), though the schema admits their absence so that
 * the refusal is that clear problem. Left optional in the document, a client made from it offered
 * calls the server always refuses.
 */
const requires = (...names: ReadonlyArray<string>) =>
  OpenApi.annotations({
    transform: (op) => ({
      ...op,
      parameters: (op["parameters"] as ReadonlyArray<Record<string, unknown>>).map((p) =>
        p["in"] === "query" && names.includes(p["name"] as string) ? { ...p, required: true } : p
      )
    })
  })

const system = HttpApiGroup.make("system", { topLevel: true })
  .add(HttpApiEndpoint.get("health", "/health", { success: Schema.Struct({ status: Schema.Literal("ok") }) }))
  .add(HttpApiEndpoint.get("ready", "/ready", {
    success: Schema.Struct({ status: Schema.String, checks: Schema.Record(Schema.String, Schema.String) }),
    error: Problems
  }))
  .add(
    HttpApiEndpoint.get("metrics", "/metrics", { success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/plain; version=0.0.4" })) })
      .middleware(MetricsAccess)
  )
  .annotateMerge(OpenApi.annotations({ title: "System", description: "Liveness, readiness and Prometheus metrics (no key needed)" }))

const market = HttpApiGroup.make("market")
  .add(HttpApiEndpoint.get("trades", "/trades", { query: RowsQuery, success: [envelope("TradesPage", Row), Csv, Parquet], error: Problems }).annotateMerge(requires("from", "to")))
  .add(HttpApiEndpoint.get("quotes", "/quotes", { query: RowsQuery, success: [envelope("QuotesPage", Row), Csv, Parquet], error: Problems }).annotateMerge(requires("from", "to")))
  .add(HttpApiEndpoint.get("bars", "/bars", { query: BarsQuery, success: [envelope("Bars", BarRow), Csv, Parquet], error: Problems }).annotateMerge(requires("from", "to")))
  .add(HttpApiEndpoint.get("summary", "/summary", { query: SummaryQuery, success: [envelope("DailySummaries", SummaryRow), Csv, Parquet], error: Problems }).annotateMerge(requires("from_day")))
  .add(HttpApiEndpoint.get("quoteBars", "/quotes/bars", { query: BarsQuery, success: [envelope("QuoteBars", QuoteBarRow), Csv, Parquet], error: Problems }).annotateMerge(requires("from", "to")))
  .add(HttpApiEndpoint.get("tradesWithQuotes", "/trades/with-quotes", { query: TradeQuotesQuery, success: [envelope("TradesWithQuotes", Row), Csv, Parquet], error: Problems }).annotateMerge(requires("from", "to")))
  .middleware(ReadAccess)
  .prefix("/v1")
  .annotateMerge(OpenApi.annotations({ title: "Market data", description: "Trades, quotes, bars and quote analytics; every read takes snapshot_id or as_of" }))

const reference = HttpApiGroup.make("reference")
  .add(HttpApiEndpoint.get("symbols", "/symbols", { query: ListQuery, success: [envelope("Symbols", Row), Csv, Parquet], error: Problems }))
  .add(HttpApiEndpoint.get("instruments", "/instruments", { query: ListQuery, success: [envelope("Instruments", Row), Csv, Parquet], error: Problems }))
  .add(HttpApiEndpoint.get("snapshots", "/snapshots/:table", { params: TableParam, query: { format: formatOf(["json", "csv", "parquet"]) }, success: [envelope("Snapshots", Row), Csv, Parquet], error: Problems }))
  .add(HttpApiEndpoint.get("stats", "/stats/:table", { params: TableParam, query: { ...readParams, format: formatOf(["json", "csv", "parquet"]) }, success: [envelope("TableStats", Row), Csv, Parquet], error: Problems }))
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
  }).annotateMerge(requires("from", "to")))
  .middleware(ReplayAccess)
  .prefix("/v1")
  .annotateMerge(OpenApi.annotations({ title: "Replay", description: "Trades and quotes in exchange-time order, streamed, optionally paced" }))

const sql = HttpApiGroup.make("sql")
  .add(
    HttpApiEndpoint.post("sql", "/sql", { payload: SqlRequest, success: [SqlResult, Csv, Parquet], error: Problems })
      // A field the body does not declare is refused, not stripped: a misspelt one (snapshotId) read the latest state.
      .annotate(HttpApi.PayloadParseOptions, { onExcessProperty: "error" })
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
    version: "0.1.0",
    description: "Trades and quotes from the K2 lakehouse (Apache Iceberg), with time travel. Errors are application/problem+json."
  })) {}
