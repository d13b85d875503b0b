/**
 * The route handlers of `Api`: parse and check the query, pin the snapshot(s), answer 304
 * when the client holds the same representation, run the read with a time limit, and
 * encode JSON, CSV or Parquet (streaming what can be large). Every failure becomes a
 * problem+json response here; nothing below leaks a path, a stack or a key.
 */
import * as fs from "node:fs"
import { Clock, Context, Deferred, Duration, Effect, Layer, Option, Semaphore, Stream } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { Api } from "../../domain/api/Api.ts"
import {
  BadParam,
  type Format,
  negotiate,
  parseFilters,
  parseInstant,
  parseIntParam,
  parsePositiveNumber,
  parseSnapshot,
  parseSymbols,
  required,
  type SnapshotParam,
  splitList
} from "../../domain/api/params.ts"
import { TableFileError } from "../../domain/iceberg/errors.ts"
import { InvalidQuery } from "../../domain/query/errors.ts"
import { checkRange as ordered } from "../../domain/query/validate.ts"
import { DECIMAL_ARGUMENT } from "../../domain/query/exact.ts"
import { definitionOf, identifierOf, type TableName, tables } from "../../domain/tables.ts"
import { Catalog, CatalogError } from "../../services/Catalog.ts"
import {
  type Answer,
  type Bar,
  type DailySummary,
  QueryEngine,
  type QuoteBar,
  type Scanned,
  type SnapshotInfo,
  type SymbolInfo,
  type SymbolTableStats,
  type TableStats,
  type TradeWithQuote
} from "../../services/QueryEngine.ts"
import { ReplayEngine, type ReplayEvent } from "../../services/ReplayEngine.ts"
import { type SnapshotSelector, SnapshotNotFound, TableScanner } from "../../services/TableScanner.ts"
import { DuckDb, query } from "../duckdb/DuckDb.ts"
import { plannedPaths } from "../duckdb/readPlan.ts"
import type { ServerOptions } from "./config.ts"
import { type Pinned, pinCursor, pinSnapshots } from "./pinning.ts"
import {
  acceptsGzip,
  BodyCache,
  columnsOf,
  csvHeader,
  csvRows,
  etagMatches,
  flatten,
  type GzipSums,
  gzipEnd,
  gzipStart,
  nextPageHeaders,
  PARQUET_DECIMAL,
  type ParquetColumns,
  parquetResponse,
  parquetStruct,
  presentRow,
  problem,
  strongEtag,
  twoParts,
  writeRowsParquet
} from "./respond.ts"
import { duckType, runSandboxed, SqlFailed, SqlRefused, SqlTimeout } from "./sql.ts"
import { MICROS_PER_DAY } from "../../domain/time.ts"

/** What the request pipeline learned about the request: set per request, read by handlers. */
export interface RequestInfo {
  readonly correlationId: string
  readonly principal: string | null
}
export const CurrentRequest = Context.Reference<RequestInfo>("k2/http/CurrentRequest", {
  defaultValue: () => ({ correlationId: "", principal: null })
})

export interface HandlerOptions extends ServerOptions {
  /** The warehouse directory, checked by /ready. */
  readonly warehouse: string
}


// Parquet column types of each answer, every field in order (respond.ts writeRowsParquet):
// decimal text to exact DECIMAL, ISO instants to TIMESTAMPTZ (µs), longs (text or number) to BIGINT.
const DECIMAL = PARQUET_DECIMAL
const INSTANT = "TIMESTAMPTZ"
const barColumns: ParquetColumns<Bar> = {
  symbol: "VARCHAR", bucket: INSTANT, open: DECIMAL, high: DECIMAL, low: DECIMAL, close: DECIMAL, volume: DECIMAL,
  tradeCount: "BIGINT", vwap: DECIMAL
}
const quoteBarColumns: ParquetColumns<QuoteBar> = {
  symbol: "VARCHAR", bucket: INSTANT, quoteCount: "BIGINT", midOpen: DECIMAL, midHigh: DECIMAL, midLow: DECIMAL,
  midClose: DECIMAL, spreadMin: DECIMAL, spreadMax: DECIMAL, spreadMean: DECIMAL, spreadClose: DECIMAL
}
const summaryColumns: ParquetColumns<DailySummary> = {
  symbol: "VARCHAR", exchange: "VARCHAR", tradingDay: "DATE", open: DECIMAL, high: DECIMAL, low: DECIMAL, close: DECIMAL,
  volume: DECIMAL, tradeCount: "BIGINT", vwap: DECIMAL, firstTrade: INSTANT, lastTrade: INSTANT
}
const tradeWithQuoteColumns: ParquetColumns<TradeWithQuote> = {
  symbol: "VARCHAR", exchangeTimestamp: INSTANT, sourceSequence: "BIGINT", messageId: "VARCHAR", price: DECIMAL,
  quantity: DECIMAL, side: "VARCHAR", quoteTimestamp: INSTANT, bidPrice: DECIMAL, bidSize: DECIMAL, askPrice: DECIMAL,
  askSize: DECIMAL, mid: DECIMAL, effectiveSpread: DECIMAL, classification: "VARCHAR"
}
const symbolTableStats = parquetStruct({ count: "BIGINT", first: INSTANT, last: INSTANT } satisfies ParquetColumns<SymbolTableStats>)
const symbolColumns: ParquetColumns<SymbolInfo> = { symbol: "VARCHAR", trades: symbolTableStats, quotes: symbolTableStats }
const instrumentColumns = Object.fromEntries(tables.instruments.schema.fields.map((f) => [f.name, duckType(f.type)]))
const snapshotColumns: ParquetColumns<SnapshotInfo & { readonly time: string }> = {
  snapshotId: "BIGINT", parentId: "BIGINT", timestampMs: "BIGINT", operation: "VARCHAR", summary: "MAP(VARCHAR, VARCHAR)",
  current: "BOOLEAN", time: INSTANT
}
const statsColumns: ParquetColumns<TableStats> = {
  table: "VARCHAR", snapshotId: "BIGINT", snapshotTimestampMs: "BIGINT", records: "BIGINT", dataFiles: "BIGINT", bytes: "BIGINT",
  manifests: "BIGINT", firstTimestamp: INSTANT, lastTimestamp: INSTANT, days: "BIGINT"
}

class QueryTimeout {
  readonly _tag = "QueryTimeout"
}

/** Typed failures as problems; anything else is a 500 with no detail (and logged). */
const toProblem = (error: unknown, correlationId: string) => {
  if (error instanceof BadParam) {
    return error.name === "Accept"
      ? problem(406, "not_acceptable", error.message, correlationId)
      : problem(400, "bad_request", error.message, correlationId)
  }
  if (error instanceof InvalidQuery) {
    const code = error.reason._tag.replace(/[A-Z]/g, (c, i) => `${i === 0 ? "" : "_"}${c.toLowerCase()}`)
    return problem(400, code, error.message, correlationId)
  }
  if (error instanceof SnapshotNotFound) return problem(404, "snapshot_not_found", error.message, correlationId)
  if (error instanceof CatalogError && error.reason._tag === "NoSuchTable") return problem(404, "table_not_found", error.message, correlationId)
  if (error instanceof CatalogError && error.reason._tag === "CatalogUnavailable") return problem(503, "catalog_unavailable", "the catalog is unavailable", correlationId)
  if (error instanceof SqlRefused) return problem(400, "sql_refused", error.message, correlationId)
  if (error instanceof SqlFailed) return problem(400, "sql_error", error.message, correlationId)
  if (error instanceof SqlTimeout) return problem(503, "query_timeout", error.message, correlationId)
  if (error instanceof QueryTimeout) return problem(503, "query_timeout", "the query took longer than the server allows", correlationId)
  if (error instanceof TableFileError) return problem(500, "data_file_error", "a data file of the table could not be read", correlationId)
  return problem(500, "internal", "internal error", correlationId)
}

const logFailure = (error: unknown) =>
  error instanceof BadParam || error instanceof InvalidQuery || error instanceof SnapshotNotFound || error instanceof SqlRefused ||
    error instanceof SqlFailed
    ? Effect.void
    : Effect.logWarning("request failed", error instanceof Error ? `${error.name}: ${error.message}` : String(error))

const orBad = <A>(value: A | BadParam): Effect.Effect<A, BadParam> => value instanceof BadParam ? Effect.fail(value) : Effect.succeed(value)

interface Meta {
  readonly correlation_id: string
  readonly snapshot_ids: Record<string, string | null>
  readonly scanned: ReadonlyArray<Record<string, string | number | null>>
  readonly files_scanned: number
  readonly bytes_scanned: number
  readonly rows: number
  readonly elapsed_ms: number
}

/** What the body cache keeps beside the bytes (identity, or the start of a gzip member). */
interface CachedAnswer {
  readonly meta: Meta
  /** For the next-page headers (nextPageHeaders), which every format carries. */
  readonly nextCursor: string | null
  readonly gzip?: GzipSums
}

/** An answer's data as cached: the bytes and what goes beside them. */
interface Encoded {
  readonly body: Uint8Array
  readonly entry: CachedAnswer
}

const EMPTY = new Uint8Array(0)

export const make = (options: HandlerOptions) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    const engine = yield* QueryEngine
    const replayEngine = yield* ReplayEngine
    const scanner = yield* TableScanner
    const duckDb = yield* DuckDb
    const cache = new BodyCache<CachedAnswer>(options.cacheBytes)
    /** Answers being computed, by ETag (see answerRead). */
    const inFlight = new Map<string, Deferred.Deferred<Encoded, unknown>>()
    const scope = yield* Effect.scope
    const sqlPermits = yield* Semaphore.make(2)

    /** Pins the snapshot of each table a read involves, so the ETag names exactly what is read. */
    const pin = Effect.fnUntraced(function*(involved: ReadonlyArray<TableName>, param: SnapshotParam) {
      const loaded = yield* Effect.forEach(involved, (t) =>
        catalog.loadTable(identifierOf(t)).pipe(
          Effect.map((l) => [t, l.metadata] as const),
          // A table not created yet reads as empty.
          Effect.catchIf((e) => e.reason._tag === "NoSuchTable", () => Effect.succeed([t, undefined] as const))
        ))
      return yield* Effect.fromResult(pinSnapshots(loaded, param, yield* Clock.currentTimeMillis))
    })

    const withTimeout = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      effect.pipe(
        Effect.timeoutOrElse({ duration: Duration.millis(options.queryTimeoutMs), orElse: () => Effect.fail(new QueryTimeout()) })
      )

    const checkRange = (from: number, to: number) =>
      to - from > options.maxRangeDays * MICROS_PER_DAY
        ? Effect.fail(new BadParam({ name: "to", detail: `the range is longer than ${options.maxRangeDays} days` }))
        : Effect.void

    const cacheHeaders = (etag: string, pinned: Pinned) => ({
      etag,
      "cache-control": pinned.immutable ? "private, max-age=31536000, immutable" : "private, no-cache",
      "k2-snapshot-ids": Object.entries(pinned.ids).map(([t, id]) => `${t}=${id ?? "none"}`).join(", "),
      vary: "Accept, Accept-Encoding, Authorization, X-API-Key"
    })

    const meta = (answer: Pick<Answer<unknown>, "scanned" | "elapsedMs" | "rowsReturned">, pinned: Pinned, correlationId: string): Meta => {
      const scanned = answer.scanned.map((s: Scanned) => ({
        table: s.table,
        snapshot_id: s.snapshotId === null ? null : s.snapshotId.toString(),
        files_planned: s.filesPlanned,
        files_total: s.filesTotal,
        bytes_planned: s.bytesPlanned,
        bytes_total: s.bytesTotal,
        planning_ms: Number(s.planningMs.toFixed(3))
      }))
      return {
        correlation_id: correlationId,
        snapshot_ids: pinned.ids,
        scanned,
        files_scanned: scanned.reduce((n, s) => n + s.files_planned, 0),
        bytes_scanned: scanned.reduce((n, s) => n + s.bytes_planned, 0),
        rows: answer.rowsReturned,
        elapsed_ms: Number(answer.elapsedMs.toFixed(3))
      }
    }

    /** The snapshot ids a read pinned (as K2-Snapshot-Ids names them), for the engines to plan by. */
    const idsOf = (pinned: Pinned): Readonly<Record<string, bigint | null>> =>
      Object.fromEntries(Object.entries(pinned.ids).map(([table, id]) => [table, id === null ? null : BigInt(id)]))

    /**
     * The common shape of a read: pin, 304 or cached body, else run and encode (JSON, CSV or
     * Parquet with the route's column types). The cached part is the JSON or CSV data (and
     * cursor), gzipped once when the client takes gzip; meta is rebuilt per response.
     */
    const answerRead = Effect.fnUntraced(function*(spec: {
      readonly route: string
      readonly request: HttpServerRequest.HttpServerRequest
      readonly format: Format
      readonly involved: ReadonlyArray<TableName>
      readonly snapshot: SnapshotParam
      /** The page's cursor, which pins what it reads instead of `snapshot`. */
      readonly cursor?: string | undefined
      /** `ids`: what the answer names (K2-Snapshot-Ids), for a read of several tables to plan each by. */
      readonly run: (
        selector: SnapshotSelector | undefined,
        ids: Readonly<Record<string, bigint | null>>
      ) => Effect.Effect<Answer<unknown> & { readonly nextCursor?: string | null }, unknown>
      readonly csvFlatten?: boolean
      /** Every route whose rows answer Parquet (all but trades and quotes, which export from the files). */
      readonly parquet?: ParquetColumns<Record<string, unknown>>
    }) {
      const { correlationId } = yield* CurrentRequest
      const pinned = (spec.cursor === undefined || spec.cursor === "" ? undefined : pinCursor(spec.involved, spec.cursor)) ??
        (yield* pin(spec.involved, spec.snapshot))
      // An answer at a snapshot is cached; one of a table with no snapshot yet (empty) is not.
      const cacheable = pinned.immutable || pinned.selector !== undefined
      const gzip = cacheable && spec.format !== "parquet" && acceptsGzip(spec.request.headers["accept-encoding"])
      const etag = strongEtag([spec.route, canonicalQuery(spec.request.url), spec.format, JSON.stringify(pinned.ids), pinned.revision, ...(gzip ? ["gzip"] : [])])
      const headers = cacheHeaders(etag, pinned)
      if (etagMatches(spec.request.headers["if-none-match"], etag)) {
        return HttpServerResponse.empty({ status: 304, headers })
      }
      const send = (body: Uint8Array, entry: CachedAnswer, m: Meta) => {
        const contentType = spec.format === "csv" ? "text/csv; charset=utf-8" : "application/json"
        const tail = spec.format === "csv" ? EMPTY : Buffer.from(`,"meta":${JSON.stringify(m)}}`)
        const paged = { ...headers, ...nextPageHeaders(spec.request.url, entry.nextCursor) }
        return entry.gzip === undefined
          ? twoParts(body, tail, { contentType, headers: paged })
          : twoParts(body, gzipEnd(entry.gzip, tail), { contentType, headers: { ...paged, "content-encoding": "gzip" } })
      }
      const cached = spec.format === "parquet" ? undefined : cache.get(etag)
      if (cached !== undefined) {
        return send(cached.body, cached.extra, { ...cached.extra.meta, correlation_id: correlationId, elapsed_ms: 0 })
      }
      if (spec.format === "parquet") {
        const answer = yield* withTimeout(spec.run(pinned.selector, idsOf(pinned)))
        return yield* parquetResponse(
          writeRowsParquet(answer.rows.map((r) => presentRow(r as Record<string, unknown>)), spec.parquet!),
          { ...headers, ...nextPageHeaders(spec.request.url, answer.nextCursor) }
        )
      }
      /** The JSON or CSV data, encoded (and gzipped) as the cache keeps it. */
      const encode = Effect.gen(function*() {
        const answer = yield* withTimeout(spec.run(pinned.selector, idsOf(pinned)))
        const rows = answer.rows.map((r) => presentRow(r as Record<string, unknown>))
        let text: string
        if (spec.format === "csv") {
          const flat = spec.csvFlatten ? rows.map(flatten) : rows
          const columns = columnsOf(flat)
          text = csvHeader(columns) + csvRows(flat, columns)
        } else text = `{"data":${JSON.stringify(rows)},"next_cursor":${JSON.stringify(answer.nextCursor ?? null)}`
        const bytes = Buffer.from(text)
        const compressed = gzip ? yield* gzipStart(bytes) : undefined
        const body = compressed?.bytes ?? bytes
        const m = meta(answer, pinned, correlationId)
        const nextCursor = answer.nextCursor ?? null
        const entry: CachedAnswer = compressed === undefined ? { meta: m, nextCursor } : { meta: m, nextCursor, gzip: compressed.sums }
        if (cacheable) cache.set(etag, body, entry)
        return { body, entry } satisfies Encoded
      })
      if (!cacheable) {
        const { body, entry } = yield* encode
        return send(body, entry, entry.meta)
      }
      // Identical concurrent misses share one run: the first starts it on a fiber of its own (so
      // that its client going away fails none of the others), the rest wait for the same answer.
      let flight = inFlight.get(etag)
      if (flight === undefined) {
        const started = Deferred.makeUnsafe<Encoded, unknown>()
        flight = started
        inFlight.set(etag, started)
        yield* encode.pipe(
          Effect.exit,
          Effect.flatMap((exit) => {
            inFlight.delete(etag)
            return Deferred.done(started, exit)
          }),
          Effect.forkIn(scope)
        )
      }
      const { body, entry } = yield* Deferred.await(flight)
      return send(body, entry, { ...entry.meta, correlation_id: correlationId })
    })

    /** Runs a handler body, turning every failure into its problem response. */
    const guard = <E, R>(body: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
      body.pipe(
        Effect.catch((error: unknown) =>
          Effect.gen(function*() {
            const { correlationId } = yield* CurrentRequest
            yield* logFailure(error)
            return toProblem(error, correlationId)
          })
        )
      )

    const range = (q: { readonly from?: string | undefined; readonly to?: string | undefined }) =>
      Effect.gen(function*() {
        const from = yield* orBad(parseInstant("from", yield* orBad(required("from", q.from))))
        const to = yield* orBad(parseInstant("to", yield* orBad(required("to", q.to))))
        // Every route, exports included, refuses an inverted range before it plans anything.
        yield* Effect.fromResult(ordered(from, to))
        yield* checkRange(from, to)
        return { from, to }
      })

    // --- trades and quotes: JSON pages, CSV / Parquet exports ---------------------------------

    const rows = (table: "trades" | "quotes") =>
      Effect.fnUntraced(function*({ query: q, request }: { readonly query: RowsQueryType; readonly request: HttpServerRequest.HttpServerRequest }) {
        const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
        const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
        const symbols = yield* orBad(parseSymbols(q.symbols, options.maxSymbols))
        const { from, to } = yield* range(q)
        const fields = splitList(q.fields)
        const filters = yield* orBad(parseFilters(q.filter))
        const exportAll = format !== "json" && (q.limit === undefined || q.limit === "")
        const limit = yield* orBad(parseIntParam("limit", q.limit, {
          min: 1,
          max: format === "json" ? options.maxPageRows : options.maxExportRows,
          fallback: 1_000
        }))
        const base = {
          from,
          to,
          symbols,
          fields,
          filters,
          ...(q.cursor === undefined || q.cursor === "" ? {} : { cursor: q.cursor })
        }
        const read = (selector: SnapshotSelector | undefined, pageLimit: number, cursor?: string) =>
          (table === "trades" ? engine.trades : engine.quotes)({
            ...base,
            limit: pageLimit,
            ...(cursor === undefined ? {} : { cursor }),
            ...(selector === undefined || cursor !== undefined || base.cursor !== undefined ? {} : { snapshot: selector })
          })
        if (format === "json" || (format === "csv" && !exportAll)) {
          return yield* answerRead({
            route: table,
            request,
            format,
            involved: [table],
            snapshot,
            cursor: q.cursor,
            run: (selector) => read(selector, limit!)
          })
        }
        // Exports: the whole range (or `limit` rows), page by page, never all in memory.
        const { correlationId } = yield* CurrentRequest
        const pinned = yield* pin([table], snapshot)
        const etag = strongEtag([table, canonicalQuery(request.url), format, JSON.stringify(pinned.ids), pinned.revision])
        const headers = cacheHeaders(etag, pinned)
        if (etagMatches(request.headers["if-none-match"], etag)) return HttpServerResponse.empty({ status: 304, headers })
        const cap = exportAll ? options.maxExportRows : limit!
        if (format === "parquet") {
          if (base.cursor !== undefined) {
            return yield* new BadParam({ name: "cursor", detail: "a Parquet export takes the whole range (or limit); page with format=json or csv" })
          }
          return yield* parquetExport(table, { from, to, symbols, fields, filters, selector: pinned.selector, cap }, headers)
        }
        // Validate the request (fields, filters, cursor) before the 200 is sent.
        const first = yield* withTimeout(read(pinned.selector, Math.min(10_000, cap)))
        let sent = 0
        let header = true
        const columns = first.rows.length > 0 ? Object.keys(first.rows[0]!) : fields.length > 0 ? [...fields] : definitionOf(table).schema.fields.map((f) => f.name)
        const body = Stream.paginate(
          { page: first as typeof first | undefined, cursor: first.nextCursor },
          (state) =>
            Effect.gen(function*() {
              const page = state.page ?? (yield* read(undefined, Math.min(10_000, cap - sent), state.cursor ?? undefined))
              const taken = page.rows.slice(0, cap - sent)
              sent += taken.length
              let text = header ? csvHeader(columns) : ""
              header = false
              text += csvRows(taken.map((r) => presentRow(r)), columns)
              const more = page.nextCursor !== null && sent < cap
              return [[text], more ? Option.some({ page: undefined, cursor: page.nextCursor }) : Option.none()] as const
            })
        ).pipe(
          Stream.encodeText,
          Stream.catchCause(() =>
            Stream.fromEffect(Effect.logWarning("export stream failed", correlationId)).pipe(
              Stream.flatMap(() => Stream.fail("export failed after the response started"))
            )
          )
        )
        return HttpServerResponse.stream(body, { contentType: "text/csv; charset=utf-8", headers })
      })

    type RowsQueryType = {
      readonly symbols?: string | undefined
      readonly from?: string | undefined
      readonly to?: string | undefined
      readonly limit?: string | undefined
      readonly cursor?: string | undefined
      readonly fields?: string | undefined
      readonly filter?: string | undefined
      readonly snapshot_id?: string | undefined
      readonly as_of?: string | undefined
      readonly format?: "json" | "csv" | "parquet" | undefined
    }

    /** Parquet via DuckDB COPY in the locked-down sandbox, streamed from a temp file, then deleted. */
    const parquetExport = Effect.fnUntraced(function*(
      table: "trades" | "quotes",
      r: {
        readonly from: number
        readonly to: number
        readonly symbols: ReadonlyArray<string>
        readonly fields: ReadonlyArray<string>
        readonly filters: ReadonlyArray<{ column: string; min?: string; max?: string }>
        readonly selector: SnapshotSelector | undefined
        readonly cap: number
      },
      headers: Record<string, string>
    ) {
      const schema = definitionOf(table).schema
      const names = schema.fields.map((f) => f.name)
      const unknown = r.fields.filter((f) => !names.includes(f))
      if (unknown.length > 0) return yield* new BadParam({ name: "fields", detail: `unknown ${unknown.join(", ")}` })
      const decimals = schema.fields.filter((f) => typeof f.type === "string" && f.type.startsWith("decimal")).map((f) => f.name)
      let where = `exchange_timestamp >= make_timestamptz(${r.from}::BIGINT) AND exchange_timestamp < make_timestamptz(${r.to}::BIGINT)`
      // Symbols match CODE_PATTERN (no quote can appear) and decimals DECIMAL_ARGUMENT: safe as literals.
      if (r.symbols.length > 0) where += ` AND symbol IN (${r.symbols.map((s) => `'${s}'`).join(", ")})`
      for (const f of r.filters) {
        if (!decimals.includes(f.column)) return yield* new BadParam({ name: "filter", detail: `${table} can be filtered on ${decimals.join(", ")}` })
        for (const [bound, op] of [[f.min, ">="], [f.max, "<="]] as const) {
          if (bound === undefined) continue
          if (!DECIMAL_ARGUMENT.test(bound)) return yield* new BadParam({ name: "filter", detail: `${JSON.stringify(bound)} is not a decimal` })
          where += ` AND "${f.column}" ${op} ${bound}::DECIMAL(18, 8)`
        }
      }
      const columns = (r.fields.length > 0 ? names.filter((n) => r.fields.includes(n)) : names).map((n) => `"${n}"`).join(", ")
      const plan = yield* scanner.plan(identifierOf(table), {
        ...(r.selector === undefined ? {} : { snapshot: r.selector }),
        filter: { time: { column: "exchange_timestamp", from: r.from, to: r.to }, ...(r.symbols.length > 0 ? { values: [{ column: "symbol", values: r.symbols }] } : {}) }
      })
      return yield* parquetResponse((out) =>
        sqlPermits.withPermits(1)(runSandboxed({
          sql: `SELECT ${columns} FROM ${table} WHERE ${where} ORDER BY exchange_timestamp, coalesce(source_sequence, -1), message_id`,
          tables: [{ name: table, schema, files: plannedPaths(plan) }],
          maxRows: r.cap,
          timeoutMs: options.queryTimeoutMs,
          parquetOut: out
        })), headers)
    })

    // --- other reads ---------------------------------------------------------------------------

    const bars = (quotes: boolean) =>
      Effect.fnUntraced(function*({ query: q, request }: {
        readonly query: { readonly symbols?: string | undefined; readonly from?: string | undefined; readonly to?: string | undefined; readonly interval?: "1s" | "5s" | "1m" | "5m" | "15m" | "30m" | "1h" | "1d" | undefined; readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly format?: "json" | "csv" | "parquet" | undefined }
        readonly request: HttpServerRequest.HttpServerRequest
      }) {
        const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
        const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
        const symbols = yield* orBad(parseSymbols(q.symbols, options.maxSymbols))
        const { from, to } = yield* range(q)
        const interval = q.interval ?? "1m"
        return yield* answerRead({
          route: quotes ? "quoteBars" : "bars",
          parquet: quotes ? quoteBarColumns : barColumns,
          request,
          format,
          involved: [quotes ? "quotes" : "trades"],
          snapshot,
          run: (selector) => {
            // Bars are built whole (one aggregation, then encoded): past the cap the request is refused, not cut.
            const req = { from, to, symbols, interval, maxBars: options.maxBars, ...(selector === undefined ? {} : { snapshot: selector }) }
            return (quotes ? engine.quoteBars(req) : engine.bars(req)) as Effect.Effect<Answer<unknown>, unknown>
          }
        })
      })

    const summary = Effect.fnUntraced(function*({ query: q, request }: {
      readonly query: { readonly symbols?: string | undefined; readonly from_day?: string | undefined; readonly to_day?: string | undefined; readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly format?: "json" | "csv" | "parquet" | undefined }
      readonly request: HttpServerRequest.HttpServerRequest
    }) {
      const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
      const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
      const symbols = yield* orBad(parseSymbols(q.symbols, options.maxSymbols))
      const fromDay = yield* orBad(required("from_day", q.from_day))
      const toDay = q.to_day === undefined || q.to_day === "" ? fromDay : q.to_day
      const a = yield* orBad(parseInstant("from_day", fromDay))
      const b = yield* orBad(parseInstant("to_day", toDay))
      yield* checkRange(a, b)
      return yield* answerRead({
        route: "summary",
        parquet: summaryColumns,
        request,
        format,
        involved: ["trades"],
        snapshot,
        run: (selector) => engine.dailySummary({ fromDay, toDay, symbols, ...(selector === undefined ? {} : { snapshot: selector }) })
      })
    })

    const tradesWithQuotes = Effect.fnUntraced(function*({ query: q, request }: {
      readonly query: { readonly symbols?: string | undefined; readonly from?: string | undefined; readonly to?: string | undefined; readonly limit?: string | undefined; readonly cursor?: string | undefined; readonly lookback_us?: string | undefined; readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly format?: "json" | "csv" | "parquet" | undefined }
      readonly request: HttpServerRequest.HttpServerRequest
    }) {
      const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
      const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
      const symbols = yield* orBad(parseSymbols(q.symbols, options.maxSymbols))
      const { from, to } = yield* range(q)
      const limit = yield* orBad(parseIntParam("limit", q.limit, { min: 1, max: options.maxPageRows, fallback: 1_000 }))
      const lookback = yield* orBad(parseIntParam("lookback_us", q.lookback_us, { min: 0, max: 31 * MICROS_PER_DAY }))
      return yield* answerRead({
        route: "tradesWithQuotes",
        parquet: tradeWithQuoteColumns,
        request,
        format,
        involved: ["trades", "quotes"],
        snapshot,
        cursor: q.cursor,
        run: (_, snapshotIds) =>
          engine.tradesWithQuotes({
            from,
            to,
            symbols,
            limit: limit!,
            ...(lookback === undefined ? {} : { quoteLookbackMicros: lookback }),
            // A cursor pins both tables as its first page read them; else each by the id the answer names.
            ...(q.cursor !== undefined && q.cursor !== "" ? { cursor: q.cursor } : { snapshotIds })
          })
      })
    })

    type ListQuery = { readonly symbols?: string | undefined; readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly format?: "json" | "csv" | "parquet" | undefined }

    const symbolsRoute = Effect.fnUntraced(function*({ query: q, request }: { readonly query: ListQuery; readonly request: HttpServerRequest.HttpServerRequest }) {
      const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
      const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
      const symbols = yield* orBad(parseSymbols(q.symbols, options.maxSymbols))
      return yield* answerRead({
        route: "symbols",
        parquet: symbolColumns,
        request,
        format,
        involved: ["trades", "quotes"],
        snapshot,
        csvFlatten: true,
        // Each table by the id the answer names: planned later, as of an instant or as current, a
        // commit landing in between could be read.
        run: (_, snapshotIds) => engine.symbols({ symbols, snapshotIds })
      })
    })

    const instrumentsRoute = Effect.fnUntraced(function*({ query: q, request }: { readonly query: ListQuery; readonly request: HttpServerRequest.HttpServerRequest }) {
      const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
      const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
      const symbols = yield* orBad(parseSymbols(q.symbols, options.maxSymbols))
      return yield* answerRead({
        route: "instruments",
        parquet: instrumentColumns,
        request,
        format,
        involved: ["instruments"],
        snapshot,
        run: (selector) =>
          engine.instruments({ symbols, ...(selector === undefined ? {} : { snapshot: selector })}).pipe(
            Effect.catchIf((e) => e instanceof CatalogError && e.reason._tag === "NoSuchTable", () =>
              Effect.succeed({ rows: [], scanned: [], rowsReturned: 0, elapsedMs: 0 }))
          )
      })
    })

    const snapshotsRoute = Effect.fnUntraced(function*({ params, query: q, request }: {
      readonly params: { readonly table: TableName }
      readonly query: { readonly format?: "json" | "csv" | "parquet" | undefined }
      readonly request: HttpServerRequest.HttpServerRequest
    }) {
      const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
      return yield* answerRead({
        route: `snapshots/${params.table}`,
        parquet: snapshotColumns,
        request,
        format,
        involved: [params.table],
        snapshot: { _tag: "Latest" },
        csvFlatten: true,
        run: () =>
          engine.snapshots(params.table).pipe(Effect.map((list) => ({
            rows: list.map((s) => ({ ...s, time: new Date(s.timestampMs).toISOString() })),
            scanned: [],
            rowsReturned: list.length,
            elapsedMs: 0
          })))
      })
    })

    const statsRoute = Effect.fnUntraced(function*({ params, query: q, request }: {
      readonly params: { readonly table: TableName }
      readonly query: { readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly format?: "json" | "csv" | "parquet" | undefined }
      readonly request: HttpServerRequest.HttpServerRequest
    }) {
      const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
      const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
      return yield* answerRead({
        route: `stats/${params.table}`,
        parquet: statsColumns,
        request,
        format,
        involved: [params.table],
        snapshot,
        run: (selector) =>
          engine.tableStats(params.table, selector === undefined ? {} : { snapshot: selector }).pipe(Effect.map((s) => ({
            rows: [s],
            scanned: [],
            rowsReturned: 1,
            elapsedMs: 0
          })))
      })
    })

    // --- replay --------------------------------------------------------------------------------

    const replay = Effect.fnUntraced(function*({ query: q, request }: {
      readonly query: { readonly symbols?: string | undefined; readonly from?: string | undefined; readonly to?: string | undefined; readonly tables?: string | undefined; readonly speed?: string | undefined; readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly format?: "ndjson" | "sse" | undefined }
      readonly request: HttpServerRequest.HttpServerRequest
    }) {
      const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["ndjson", "sse"]))
      const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
      const symbols = yield* orBad(parseSymbols(q.symbols, options.maxSymbols))
      const { from, to } = yield* range(q)
      const tablesList = q.tables === undefined || q.tables === "" ? ["trades", "quotes"] : splitList(q.tables)
      if (tablesList.length === 0 || tablesList.some((t) => t !== "trades" && t !== "quotes")) {
        return yield* new BadParam({ name: "tables", detail: "trades, quotes or both" })
      }
      const speed = q.speed === undefined || q.speed === "" ? undefined : yield* orBad(parsePositiveNumber("speed", q.speed, 1_000_000))
      const involved = tablesList as Array<"trades" | "quotes">
      const pinned = yield* pin(involved, snapshot)
      const { correlationId } = yield* CurrentRequest
      // Exactly the snapshots K2-Snapshot-Ids names, by id (a table named none reads as empty): the
      // stream plans after the headers are sent, and as current or as of an instant it would read
      // commits landing in between.
      const ids = idsOf(pinned)
      const read = involved.filter((t) => ids[t] != null)
      const events = read.length === 0 ? Stream.empty : replayEngine.stream({
        from,
        to,
        symbols,
        tables: read,
        snapshots: Object.fromEntries(read.map((t) => [t, { _tag: "ById", snapshotId: ids[t]! }])),
        ...(speed === undefined ? {} : { pace: { _tag: "Paced", speed } })
      })
      const line = (e: ReplayEvent) => JSON.stringify(presentRow(e as unknown as Record<string, unknown>))
      // The client gets only the correlation id once the headers are out: the cause must reach the log.
      const failed = (cause: unknown, text: string) => Stream.fromEffect(Effect.as(Effect.logWarning("replay stream failed", correlationId, cause), text))
      const text = format === "sse"
        ? events.pipe(
          Stream.mapArray((es) => [es.map((e) => `event: ${e._tag.toLowerCase()}\ndata: ${line(e)}\n\n`).join("")]),
          Stream.concat(Stream.succeed("event: end\ndata: {}\n\n")),
          Stream.catchCause((cause) => failed(cause, `event: error\ndata: ${JSON.stringify({ code: "replay_failed", correlation_id: correlationId })}\n\n`))
        )
        : events.pipe(
          Stream.mapArray((es) => [es.map((e) => `${line(e)}\n`).join("")]),
          Stream.catchCause((cause) => failed(cause, `${JSON.stringify({ error: "replay_failed", correlation_id: correlationId })}\n`))
        )
      return HttpServerResponse.stream(Stream.encodeText(text), {
        contentType: format === "sse" ? "text/event-stream" : "application/x-ndjson",
        headers: {
          "cache-control": "no-store",
          "k2-snapshot-ids": Object.entries(pinned.ids).map(([t, id]) => `${t}=${id ?? "none"}`).join(", ")
        }
      })
    })

    // --- SQL -----------------------------------------------------------------------------------

    const sql = Effect.fnUntraced(function*({ payload, request }: {
      readonly payload: { readonly sql: string; readonly snapshot_id?: string | undefined; readonly as_of?: string | undefined; readonly limit?: number | undefined; readonly format?: "json" | "csv" | "parquet" | undefined }
      readonly request: HttpServerRequest.HttpServerRequest
    }) {
      const { correlationId } = yield* CurrentRequest
      const format = yield* orBad(negotiate(payload.format, request.headers["accept"], ["json", "csv", "parquet"]))
      const snapshot = yield* orBad(parseSnapshot(payload.snapshot_id, payload.as_of))
      const involved: Array<TableName> = ["trades", "quotes", "instruments"]
      const pinned = yield* pin(involved, snapshot)
      const maxRows = Math.min(payload.limit ?? options.sqlMaxRows, options.sqlMaxRows)
      const ids = idsOf(pinned)
      const sandboxTables = yield* Effect.forEach(involved, (t) =>
        ids[t] == null
          ? Effect.succeed({ name: t, schema: definitionOf(t).schema, files: [] as ReadonlyArray<string>, planningMs: 0 })
          : scanner.plan(identifierOf(t), { snapshot: { _tag: "ById", snapshotId: ids[t] } }).pipe(
            Effect.map((p) => ({ name: t, schema: definitionOf(t).schema, files: plannedPaths(p), planningMs: p.stats.planningMs }))
          ))
      const headers = {
        "cache-control": "no-store",
        "k2-snapshot-ids": Object.entries(pinned.ids).map(([t, id]) => `${t}=${id ?? "none"}`).join(", ")
      }
      const started = Date.now()
      if (format === "parquet") {
        return yield* parquetResponse((out) =>
          sqlPermits.withPermits(1)(runSandboxed({ sql: payload.sql, tables: sandboxTables, maxRows, timeoutMs: options.sqlTimeoutMs, parquetOut: out })), headers)
      }
      const result = yield* sqlPermits.withPermits(1)(runSandboxed({ sql: payload.sql, tables: sandboxTables, maxRows, maxBytes: options.sqlMaxBytes, timeoutMs: options.sqlTimeoutMs }))
      // A cut answer says which limit cut it: in the JSON body, and as a header (CSV has no other place).
      const cut = result.truncatedBy === null ? headers : { ...headers, "k2-truncated": result.truncatedBy }
      if (format === "csv") {
        const columns = result.columns.map((c) => c.name)
        return HttpServerResponse.text(csvHeader(columns) + csvRows(result.rows, columns), { contentType: "text/csv; charset=utf-8", headers: cut })
      }
      const scanned = sandboxTables.map((t) => ({
        table: t.name,
        snapshot_id: pinned.ids[t.name] ?? null,
        files_planned: t.files.length,
        files_total: t.files.length,
        bytes_planned: t.files.reduce((n, f) => n + (fs.existsSync(f) ? fs.statSync(f).size : 0), 0),
        bytes_total: 0,
        planning_ms: Number(t.planningMs.toFixed(3))
      }))
      return HttpServerResponse.text(JSON.stringify({
        data: result.rows,
        next_cursor: null,
        columns: result.columns,
        truncated: result.truncatedBy !== null,
        truncated_by: result.truncatedBy,
        meta: {
          correlation_id: correlationId,
          snapshot_ids: pinned.ids,
          scanned,
          files_scanned: scanned.reduce((n, s) => n + s.files_planned, 0),
          bytes_scanned: scanned.reduce((n, s) => n + s.bytes_planned, 0),
          rows: result.rows.length,
          elapsed_ms: Date.now() - started
        }
      }), { contentType: "application/json", headers: cut })
    })

    // --- system --------------------------------------------------------------------------------

    const ready = Effect.gen(function*() {
      const { correlationId } = yield* CurrentRequest
      const checks: Record<string, string> = {}
      checks.catalog = yield* catalog.listNamespaces().pipe(Effect.as("ok"), Effect.catch(() => Effect.succeed("unreachable")), Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.succeed("timeout") }))
      checks.warehouse = yield* Effect.sync(() => {
        try {
          fs.accessSync(options.warehouse, fs.constants.R_OK)
          return "ok"
        } catch {
          return "unreadable"
        }
      })
      checks.duckdb = yield* duckDb.withConnection((c) => query(c, "ready", "SELECT 1")).pipe(
        Effect.as("ok"),
        Effect.catch(() => Effect.succeed("failing")),
        Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.succeed("timeout") })
      )
      const ok = Object.values(checks).every((v) => v === "ok")
      return ok
        ? HttpServerResponse.jsonUnsafe({ status: "ready", checks }, { headers: { "cache-control": "no-store" } })
        : problem(503, "not_ready", `not ready: ${JSON.stringify(checks)}`, correlationId)
    })

    const metrics = PrometheusMetrics.format().pipe(
      Effect.map((text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8", headers: { "cache-control": "no-store" } }))
    )

    return { rows, bars, summary, tradesWithQuotes, symbolsRoute, instrumentsRoute, snapshotsRoute, statsRoute, replay, sql, ready, metrics, guard }
  })

/** The canonical form of a request's query: parameters sorted, so equivalent URLs share an ETag. */
export const canonicalQuery = (url: string) => {
  const i = url.indexOf("?")
  if (i < 0) return ""
  const params = new URLSearchParams(url.slice(i + 1))
  params.sort()
  return params.toString()
}

export const groupsLayer = (options: HandlerOptions) =>
  Layer.unwrap(Effect.gen(function*() {
    const h = yield* make(options)
    const g = h.guard
    return Layer.mergeAll(
      HttpApiBuilder.group(Api, "system", (handlers) =>
        handlers
          .handle("health", () => Effect.succeed({ status: "ok" as const }))
          .handle("ready", () => h.ready)
          .handle("metrics", () => h.metrics)),
      HttpApiBuilder.group(Api, "market", (handlers) =>
        handlers
          .handle("trades", (r) => g(h.rows("trades")(r)))
          .handle("quotes", (r) => g(h.rows("quotes")(r)))
          .handle("bars", (r) => g(h.bars(false)(r)))
          .handle("quoteBars", (r) => g(h.bars(true)(r)))
          .handle("summary", (r) => g(h.summary(r)))
          .handle("tradesWithQuotes", (r) => g(h.tradesWithQuotes(r)))),
      HttpApiBuilder.group(Api, "reference", (handlers) =>
        handlers
          .handle("symbols", (r) => g(h.symbolsRoute(r)))
          .handle("instruments", (r) => g(h.instrumentsRoute(r)))
          .handle("snapshots", (r) => g(h.snapshotsRoute(r)))
          .handle("stats", (r) => g(h.statsRoute(r)))),
      HttpApiBuilder.group(Api, "replay", (handlers) => handlers.handle("replay", (r) => g(h.replay(r)))),
      HttpApiBuilder.group(Api, "sql", (handlers) => handlers.handle("sql", (r) => g(h.sql(r))))
    )
  }))
