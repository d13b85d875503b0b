/**
 * GET /v1/trades and /v1/quotes: JSON (and CSV of at most a page's `limit`) pages through
 * `answerRead`; CSV and Parquet exports of the whole range (or `limit` rows), page by page,
 * never all in memory.
 */
import { Effect, Option, Result, Stream } from "effect"
import { type HttpServerRequest, HttpServerResponse } from "effect/http"
import {
  BadParam,
  negotiate,
  parseFields,
  parseFilters,
  parseIntParam,
  parseSnapshot,
  parseSymbols
} from "../../domain/api/params.ts"
import { InvalidArgument, invalid, TooManyRows } from "../../domain/query/errors.ts"
import { quoted } from "../../domain/errors.ts"
import { checkDecimal, checkFields } from "../../domain/query/validate.ts"
import { definitionOf, identifierOf } from "../../domain/tables.ts"
import { QueryEngine } from "../../services/QueryEngine.ts"
import { type SnapshotSelector, TableScanner } from "../../services/TableScanner.ts"
import { PAGE_KEY } from "../query/paging.ts"
import { decimalColumns } from "../query/sql.ts"
import { CurrentConnectionOwner } from "../duckdb/DuckDb.ts"
import { CurrentRequest, defaultPageRows, defaultPageSettings, type HandlerOptions } from "./handlerContext.ts"
import { orBad } from "./problems.ts"
import { cacheHeaders, etagOf } from "./readHeaders.ts"
import { againIfLatestExpired, type Reads } from "./reads.ts"
import { csvHeader, csvRows, etagMatches, matchesAny, parquetResponse, presentRow } from "./respond.ts"
import { EXPORT_THREADS, sandboxTableOf, truncationHeaders } from "./sql.ts"

type RowsQuery = {
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

/** The handler of each table's route, by table. */
export const makeRows = Effect.fnUntraced(function*(options: HandlerOptions, reads: Reads) {
  const engine = yield* QueryEngine
  const scanner = yield* TableScanner

  /** What an export reads: its range, symbols, fields and filters at one snapshot, up to `cap` rows. */
  interface ExportRequest {
    readonly from: number
    readonly to: number
    readonly symbols: ReadonlyArray<string>
    readonly fields: ReadonlyArray<string>
    readonly filters: ReadonlyArray<{ column: string; min?: string; max?: string }>
    readonly selector: SnapshotSelector | undefined
    readonly cap: number
  }

  /** An export's rows as SQL over the table's planned files, for the locked-down sandbox. */
  const exportQuery = Effect.fnUntraced(function*(table: "trades" | "quotes", r: ExportRequest) {
    const schema = definitionOf(table).schema
    // Checked as the engine checks a page's, so a mistake is the same problem in every format.
    const fields = yield* Effect.fromResult(checkFields(r.fields, schema.fields.map((f) => f.name)))
    const decimals = decimalColumns(schema)
    let where = `exchange_timestamp >= make_timestamptz(${r.from}::BIGINT) AND exchange_timestamp < make_timestamptz(${r.to}::BIGINT)`
    // Symbols match CODE_PATTERN (no quote can appear) and decimals DECIMAL_ARGUMENT (checkDecimal): safe as literals.
    if (r.symbols.length > 0) where += ` AND symbol IN (${r.symbols.map((s) => `'${s}'`).join(", ")})`
    for (const f of r.filters) {
      if (!decimals.includes(f.column)) {
        return yield* invalid(new InvalidArgument({ name: "filter column", detail: `${quoted(f.column)}; ${table} can be filtered on ${decimals.join(", ")}` }))
      }
      for (const [bound, op, name] of [[f.min, ">=", "min"], [f.max, "<=", "max"]] as const) {
        if (bound === undefined) continue
        yield* Effect.fromResult(checkDecimal(`${f.column} ${name}`, bound))
        where += ` AND "${f.column}" ${op} ${bound}::DECIMAL(18, 8)`
      }
    }
    // Planned before the 200 and under the query time limit, as every read is.
    const plan = yield* reads.withTimeout(scanner.plan(identifierOf(table), {
      ...(r.selector === undefined ? {} : { snapshot: r.selector }),
      filter: { time: { column: "exchange_timestamp", from: r.from, to: r.to }, ...(r.symbols.length > 0 ? { values: [{ column: "symbol", values: r.symbols }] } : {}) }
    }))
    return {
      select: (columns: string) => `SELECT ${columns} FROM ${table} WHERE ${where}`,
      columns: fields.map((n) => `"${n}"`).join(", "),
      tables: [sandboxTableOf(table, plan)],
      plans: [plan]
    }
  })

  /** An export of the whole range that holds more than one export may: refused before any row is sent. */
  const tooManyRows = (cap: number) =>
    invalid(new TooManyRows({
      what: "rows",
      max: cap,
      advice: "narrow the range (from, to) or ask for fewer symbols; or page it (format=json or csv with a limit and the next cursor); or pass a limit to take the first rows"
    }))

  /** Fails with `tooManyRows` when the export's rows are more than its cap (DuckDB counts at most one more). */
  const refuseOverCap = Effect.fnUntraced(function*(table: "trades" | "quotes", r: ExportRequest) {
    const query = yield* exportQuery(table, r)
    const counted = yield* reads.sandboxedOver(query.plans, {
      sql: `SELECT count(*)::VARCHAR AS n FROM (${query.select("1")} LIMIT ${r.cap + 1})`,
      tables: query.tables,
      maxRows: 1,
      timeoutMs: options.queryTimeoutMs
    })
    if (Number(counted.rows[0]?.["n"] ?? 0) > r.cap) return yield* tooManyRows(r.cap)
  })

  /**
   * Parquet via DuckDB COPY in the locked-down sandbox, streamed from a temp file, then deleted.
   * `whole`: the request asked for the whole range, so rows past the cap refuse it; else (a
   * `limit`) the cut file says so in `k2-truncated`.
   */
  const parquetExport = Effect.fnUntraced(function*(table: "trades" | "quotes", r: ExportRequest, whole: boolean, headers: Record<string, string>) {
    const query = yield* exportQuery(table, r)
    return yield* parquetResponse((out) =>
      reads.sandboxedOver(query.plans, {
        // The pages' order, lineage included: rows tied on the key (a record ingested twice) in one order, and a limit keeps the CSV's.
        sql: `${query.select(query.columns)} ORDER BY ${PAGE_KEY}`,
        countSql: query.select("1"),
        // The whole range past the cap is refused: counted before a row is sorted or written (ADR-107).
        countFirst: whole,
        tables: query.tables,
        maxRows: r.cap,
        timeoutMs: options.queryTimeoutMs,
        parquetOut: out,
        threads: EXPORT_THREADS
      }).pipe(Effect.flatMap((result) => whole && result.truncatedBy !== null ? tooManyRows(r.cap) : Effect.succeed(truncationHeaders(result)))), headers)
  })

  return (table: "trades" | "quotes") =>
    Effect.fnUntraced(function*({ query: q, request }: { readonly query: RowsQuery; readonly request: HttpServerRequest.HttpServerRequest }) {
      const format = yield* orBad(negotiate(q.format, request.headers["accept"], ["json", "csv", "parquet"]))
      const snapshot = yield* orBad(parseSnapshot(q.snapshot_id, q.as_of))
      const symbols = yield* orBad(parseSymbols(q.symbols, options.maxSymbols))
      const { from, to } = yield* reads.range(q)
      const fields = yield* orBad(parseFields(q.fields))
      /** The columns an answer with no rows names (its CSV header), in the order rows have them. */
      const columnsAsked = Result.getOrElse(checkFields(fields, definitionOf(table).schema.fields.map((f) => f.name)), () => fields)
      const filters = yield* orBad(parseFilters(q.filter))
      const exportAll = format !== "json" && (q.limit === undefined || q.limit === "")
      const limit = yield* orBad(parseIntParam("limit", q.limit, {
        min: 1,
        max: format === "json" ? options.maxPageRows : options.maxExportRows,
        fallback: defaultPageRows(options)
      }))
      const base = {
        from,
        to,
        symbols,
        fields,
        filters,
        ...(q.cursor === undefined || q.cursor === "" ? {} : { cursor: q.cursor })
      }
      // A page after a cursor reads the cursor's snapshot; a snapshot_id naming another, or an as_of
      // at which the table was another, is refused by the engine (invalid_cursor), not answered
      // from the cursor's under a 200.
      const named: SnapshotSelector | undefined = snapshot._tag === "Latest" ? undefined : snapshot
      const read = (selector: SnapshotSelector | undefined, pageLimit: number, cursor?: string) =>
        (table === "trades" ? engine.trades : engine.quotes)({
          ...base,
          limit: pageLimit,
          ...(cursor === undefined ? {} : { cursor }),
          ...(cursor !== undefined || base.cursor !== undefined
            ? (named === undefined ? {} : { snapshot: named })
            : selector === undefined ? {} : { snapshot: selector })
        })
      // A CSV limit of one JSON page or less is a page (with the next one's headers); past it, an
      // export cut at `limit`: the engine reads at most one page per query.
      if (format === "json" || (format === "csv" && !exportAll && limit! <= options.maxPageRows)) {
        return yield* reads.answerRead({
          route: table,
          request,
          format,
          involved: [table],
          snapshot,
          cursor: q.cursor,
          csvColumns: columnsAsked,
          settings: defaultPageSettings(options, q.limit),
          run: (selector) => read(selector, limit!)
        })
      }
      // Exports: the whole range (or `limit` rows), page by page, never all in memory. One of the
      // latest state whose snapshot maintenance expired (its files removed) before the 200 runs once
      // more over the state latest then, as every read of it does.
      const latest = snapshot._tag === "Latest" && base.cursor === undefined
      // Made anew on each run, the retry's included: its headers name the state it reads.
      const exportOnce = Effect.gen(function*() {
        const { correlationId, caller } = yield* CurrentRequest
        // A cursor pins the snapshot its rows are read at (as answerRead does): the headers name that one.
        const pinned = (yield* reads.pinPage([table], base.cursor)) ?? (yield* reads.pin([table], snapshot))
        const etag = etagOf(table, request.url, format, pinned)
        const headers = cacheHeaders(etag, pinned)
        const ifNoneMatch = request.headers["if-none-match"]
        if (etagMatches(ifNoneMatch, etag)) return HttpServerResponse.empty({ status: 304, headers })
        const cap = exportAll ? options.maxExportRows : limit!
        if (format === "parquet" && base.cursor !== undefined) {
          return yield* new BadParam({ name: "cursor", detail: "a Parquet export takes the whole range (or limit); page with format=json or csv" })
        }
        // `*`: 304 once the export is known to answer (matchesAny): what it would refuse before its 200, checked.
        if (matchesAny(ifNoneMatch)) {
          if (exportAll && base.cursor === undefined) yield* refuseOverCap(table, { from, to, symbols, fields, filters, selector: pinned.selector, cap })
          yield* reads.withTimeout(read(pinned.selector, 1))
          return HttpServerResponse.empty({ status: 304, headers })
        }
        if (format === "parquet") {
          // Held until the body is written or the client is gone: the file (up to 2 GiB) stays on disk until read.
          yield* reads.streamSlot(request)
          return yield* parquetExport(table, { from, to, symbols, fields, filters, selector: pinned.selector, cap }, exportAll, headers)
        }
        // Held until the body is written or the client is gone: a stalled reader keeps a page in memory.
        yield* reads.streamSlot(request)
        // The whole range, from its start: refused before the 200 if it holds more than one export may.
        if (exportAll && base.cursor === undefined) yield* refuseOverCap(table, { from, to, symbols, fields, filters, selector: pinned.selector, cap })
        // Validate the request (fields, filters, cursor) before the 200 is sent.
        const first = yield* reads.withTimeout(read(pinned.selector, Math.min(10_000, cap)))
        let sent = 0
        let header = true
        const columns = first.rows.length > 0 ? Object.keys(first.rows[0]!) : columnsAsked
        const body = Stream.paginate(
          { page: first as typeof first | undefined, cursor: first.nextCursor, over: false },
          (state) =>
            Effect.gen(function*() {
              // Only an export resumed from a cursor gets here (one from the range's start was
              // counted): a whole-range export must not end as if complete, so the body is cut.
              if (state.over) return yield* Effect.fail(`the range after the cursor holds more than the ${cap} rows one export may`)
              // Each page holds a pooled DuckDB connection while it runs: the same limit as the first.
              const page = state.page ?? (yield* reads.withTimeout(read(undefined, Math.min(10_000, cap - sent), state.cursor ?? undefined)))
              const taken = page.rows.slice(0, cap - sent)
              sent += taken.length
              let text = header ? csvHeader(columns) : ""
              header = false
              text += csvRows(taken.map((r) => presentRow(r)), columns)
              const more = page.nextCursor !== null && (sent < cap || exportAll)
              return [[text], more ? Option.some({ page: undefined, cursor: page.nextCursor, over: sent >= cap }) : Option.none()] as const
            })
        ).pipe(
          Stream.encodeText,
          // The client gets only a cut body once the headers are out: the cause must reach the log,
          // with the request's correlation id (the body streams after its log annotations are gone).
          Stream.catchCause((cause) =>
            Stream.fromEffect(Effect.logWarning("export stream failed", cause).pipe(Effect.annotateLogs({ correlation_id: correlationId }))).pipe(
              Stream.flatMap(() => Stream.fail("export failed after the response started"))
            )
          ),
          // The pages after the first wait for a DuckDB connection in the caller's line (ADR-100).
          Stream.provideService(CurrentConnectionOwner, caller)
        )
        return HttpServerResponse.stream(body, { contentType: "text/csv; charset=utf-8", headers })
      })
      return yield* againIfLatestExpired(latest, exportOnce)
    })
})
