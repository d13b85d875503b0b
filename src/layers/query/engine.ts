/**
 * QueryEngine over the TableScanner and DuckDB (semantics: docs/query.md): the layer plans each
 * read, runs its SQL over the planned files and times it. What each read's SQL is and how its
 * answer is shaped live beside it: marketRows.ts (trades and quotes pages), barQueries.ts,
 * barRows.ts and quoteBarRows.ts (bars and daily summaries), tradesWithQuotes.ts, tableFacts.ts,
 * with paging.ts (cursors) and answers.ts (timing) shared.
 */
import type { DuckDBConnection, DuckDBValue } from "@duckdb/node-api"
import { Effect, Layer } from "effect"
import { noSnapshotAt, snapshotAsOf } from "../../domain/iceberg/metadata.ts"
import { InvalidCursor, invalid, InvertedRange, MissingColumn, TooManyRows } from "../../domain/query/errors.ts"
import { checkDate, checkSymbols } from "../../domain/query/validate.ts"
import { defaultExchangeZones, zonesFingerprint } from "../../domain/sequence/calendar.ts"
import { exchangeZonesFromConfig } from "../exchangeZones.ts"
import { identifierOf, type TableName, tables } from "../../domain/tables.ts"
import { Catalog, showIdentifier } from "../../services/Catalog.ts"
import {
  type Bar,
  type DailySummary,
  type MarketRow,
  type MarketTable,
  type Page,
  QueryEngine,
  type QuoteBar,
  type ReadOptions,
  type RowsRequest,
  type TradeWithQuote
} from "../../services/QueryEngine.ts"
import { nothingOf, type ScanPlan, type SnapshotSelector, TableScanner } from "../../services/TableScanner.ts"
import type { ScanFilter } from "../../domain/iceberg/pruning.ts"
import { needsSpec, timeFields } from "../../domain/iceberg/fileDays.ts"
import { DuckDb, attempt, isNullColumn } from "../duckdb/DuckDb.ts"
import { blameFile, plannedPaths } from "../duckdb/readPlan.ts"
import { expiredWhileRead } from "../iceberg/planner.ts"
import { type Chunk, readChunks, readRows } from "../duckdb/results.ts"
import { doubles } from "../duckdb/vectors.ts"
import { MICROS_PER_DAY } from "../../domain/time.ts"
import { answer, num, timed } from "./answers.ts"
import { barsSql, checkBars, dailySummarySql, quoteBarsSql } from "./barQueries.ts"
import { barsOf, notionalOverflow, summariesOf } from "./barRows.ts"
import { checkRowsRequest, rowsPageReader, rowsPageSql } from "./marketRows.ts"
import { pinnedBy, readCursor } from "./paging.ts"
import { quoteBarsOf } from "./quoteBarRows.ts"
import { columnExpression, marketFilter, Params, symbolFilter } from "./sql.ts"
import { snapshotLog, tableStatsOf, timestampFieldId } from "./tableFacts.ts"
import { checkTradesWithQuotes, tradesWithQuotesPage, tradesWithQuotesSql } from "./tradesWithQuotes.ts"

export interface QueryEngineOptions {
  /** Exchange → IANA zone for trading days; defaults to calendar.ts. */
  readonly exchangeZones?: Readonly<Record<string, string>>
  /** Zone of exchanges not listed; UTC by default. */
  readonly defaultZone?: string
}

/** Versions of an instrument, newest ingestion first; rows without lineage (other writers) last. */
const LATEST_FIRST = "ingestion_timestamp DESC NULLS LAST, kafka_offset DESC NULLS LAST"

export const layer = (options: QueryEngineOptions = {}) =>
  Layer.effect(QueryEngine)(Effect.gen(function*() {
    const scanner = yield* TableScanner
    const duckDb = yield* DuckDb
    const catalog = yield* Catalog
    const zones = Object.entries(options.exchangeZones ?? defaultExchangeZones)
    const defaultZone = options.defaultZone ?? "UTC"

    const plan = (table: TableName, snapshot: SnapshotSelector | undefined, filter: ScanFilter) =>
      scanner.plan(identifierOf(table), { ...(snapshot === undefined ? {} : { snapshot }), filter })

    /**
     * The snapshot of `table` a request names, to hold against its cursor's: a snapshot id, or the
     * one current at an `as_of` instant (null: none then), with how to say it; undefined for none named.
     */
    const askedSnapshot = (table: TableName, snapshot: SnapshotSelector | undefined) =>
      Effect.gen(function*() {
        if (snapshot === undefined || snapshot._tag === "Current") return undefined
        if (snapshot._tag === "ById") return { id: snapshot.snapshotId, said: `the request asks for ${snapshot.snapshotId}` }
        const at = new Date(snapshot.timestampMs).toISOString()
        const { metadata } = yield* catalog.loadTable(identifierOf(table))
        const s = snapshotAsOf(metadata, snapshot.timestampMs)
        if (s !== undefined) return { id: s["snapshot-id"], said: `as of ${at} is snapshot ${s["snapshot-id"]}` }
        return { id: null, said: noSnapshotAt(metadata, snapshot.timestampMs) ? `as of ${at} it had none` : `its state as of ${at} has expired` }
      })

    /** A table at the snapshot a cursor pinned (null: it had none then, and still reads as empty). */
    const planAt = (table: TableName, snapshotId: bigint | null, filter: ScanFilter) =>
      snapshotId === null ? Effect.succeed(nothingOf(table)) : plan(table, { _tag: "ById", snapshotId }, filter)

    /** Trades and quotes at one state: a table with no snapshot then (e.g. a fresh one) reads as empty. */
    const planMarket = (read: ReadOptions, trades: ScanFilter, quotes: ScanFilter) => {
      const ids = read.snapshotIds
      if (ids?.["trades"] !== undefined && ids["quotes"] !== undefined) {
        return Effect.all([planAt("trades", ids["trades"], trades), planAt("quotes", ids["quotes"], quotes)], { concurrency: 2 })
      }
      return scanner.planTogether([
        { table: identifierOf("trades"), filter: trades },
        { table: identifierOf("quotes"), filter: quotes }
      ], read.snapshot).pipe(Effect.map(([t, q]) => [t!, q!] as const))
    }

    /** Runs K2's SQL over planned files; any failure naming a planned file becomes a TableFileError. */
    const onPlanned = <A>(plans: ReadonlyArray<ScanPlan>, read: (connection: DuckDBConnection) => Promise<A>) =>
      duckDb.withConnection((connection) => attempt("query", () => read(connection), () => connection.interrupt())).pipe(
        // The paths only matter on failure (each a file URL to convert).
        Effect.mapError((error) => blameFile(plans.flatMap(plannedPaths))(error)),
        Effect.catch(expiredWhileRead(catalog, plans))
      )

    const run = (plans: ReadonlyArray<ScanPlan>, sql: string, values: ReadonlyArray<DuckDBValue>) =>
      onPlanned(plans, (connection) => readRows(connection, sql, values))

    /** Like `run`, each chunk of the answer converted by `convert` into `A`s (vectors.ts readers, no row objects). */
    const collect = <A>(plans: ReadonlyArray<ScanPlan>, sql: string, values: ReadonlyArray<DuckDBValue>, convert: (chunk: Chunk, out: Array<A>) => void) =>
      Effect.suspend(() => {
        const out: Array<A> = [] // one per run of the effect
        return onPlanned(plans, (connection) => readChunks(connection, sql, values, (chunk) => convert(chunk, out))).pipe(Effect.as(out))
      })

    /**
     * A NULL the answer's reader found in a column `need` requires (barRows.ts `nonNull`: another engine
     * dropped or nulled it; a DuckDbError of reason `NullColumn`) refused as the MissingColumn it is, not a 500.
     */
    const refusingNulls = (p: ScanPlan, need: string) => <X, E, R>(read: Effect.Effect<X, E, R>) =>
      read.pipe(Effect.catchIf(isNullColumn, (e) => Effect.fail(new MissingColumn({ table: showIdentifier(p.table), column: e.column, need }))))

    // --- trades and quotes ----------------------------------------------------------------

    const rows = (table: MarketTable) =>
      Effect.fn(`QueryEngine.${table}`)(function*(request: RowsRequest) {
        const { schema, symbols, range, limit, fields, maps, filters, parts } = yield* checkRowsRequest(table, request)
        let snapshot = request.snapshot
        const after = request.cursor === undefined ? undefined : yield* readCursor(request.cursor, table, parts)
        if (after !== undefined) {
          // A page after a cursor reads the cursor's snapshot: a request naming another (by id, or
          // an instant at which the table was another) is refused, not answered from the cursor's.
          const asked = yield* askedSnapshot(table, snapshot)
          if (asked !== undefined && after.snapshotId !== null && asked.id !== after.snapshotId) {
            return yield* invalid(new InvalidCursor({ detail: `it reads snapshot ${after.snapshotId}, ${asked.said}` }))
          }
          if (after.snapshotId !== null) snapshot = { _tag: "ById", snapshotId: after.snapshotId }
        }
        const from = after === undefined ? range.from : Math.max(range.from, after.exchangeTimestamp)
        return yield* timed(Effect.gen(function*() {
          const p = yield* plan(table, snapshot, marketFilter(symbols, from, range.to))
            .pipe(pinnedBy(after?.snapshotId == null ? undefined : after))
          if (p.files.length === 0 || from >= range.to) return { rows: [] as Array<MarketRow>, next: null, plan: p }
          const params = new Params()
          const sql = rowsPageSql(params, p, schema, { from, to: range.to, symbols, filters, after, fields, limit })
          const reader = rowsPageReader(table, { fields, maps, limit, snapshotId: p.snapshot?.["snapshot-id"] ?? null, parts })
          const page = yield* collect<MarketRow>([p], sql, params.values, reader.convert)
          return { rows: page, next: reader.next(), plan: p }
        })).pipe(Effect.map(({ value, elapsedMs }): Page<MarketRow> => ({
          ...answer(value.rows, [value.plan], elapsedMs),
          nextCursor: value.next
        })))
      })

    // --- bars ------------------------------------------------------------------------------

    /**
     * The bars of `aggregate` (one row per symbol and bucket) in (symbol, bucket) order. With
     * `maxBars`, DuckDB counts them beside the first maxBars + 1: past the cap no bar reaches
     * JS, and TooManyRows says how many the request makes.
     */
    const collectBars = <A>(
      p: ScanPlan,
      params: Params,
      aggregate: string,
      maxBars: number | undefined,
      convert: (chunk: Chunk, out: Array<A>) => void
    ) =>
      Effect.gen(function*() {
        if (maxBars === undefined) return yield* collect([p], `${aggregate} ORDER BY symbol, exchange, bucket`, params.values, convert)
        let count = 0
        const sql = `SELECT *, count(*) OVER ()::DOUBLE AS bar_count FROM (${aggregate}) ORDER BY symbol, exchange, bucket LIMIT ${params.add(maxBars + 1)}`
        const rows = yield* collect<A>([p], sql, params.values, (chunk, out) => {
          count = doubles(chunk.column("bar_count"))[0]!
          if (count <= maxBars) convert(chunk, out)
        })
        if (count > maxBars) {
          return yield* invalid(new TooManyRows({
            what: "bars",
            count,
            max: maxBars,
            advice: "narrow the range (from, to), choose a coarser interval, or ask for fewer symbols"
          }))
        }
        return rows
      })

    const bars = Effect.fn("QueryEngine.bars")(function*(request: Parameters<QueryEngine["Service"]["bars"]>[0]) {
      const { symbols, range, interval } = yield* checkBars(request)
      const { value, elapsedMs } = yield* timed(Effect.gen(function*() {
        const p = yield* plan("trades", request.snapshot, marketFilter(symbols, range.from, range.to))
        if (p.files.length === 0 || range.from === range.to) return { rows: [] as Array<Bar>, p }
        const params = new Params()
        const sql = barsSql(params, p, range, symbols, interval)
        const rows = yield* collectBars(p, params, sql, request.maxBars, barsOf)
          .pipe(refusingNulls(p, "bars"), notionalOverflow("a bar", "choose a finer interval"))
        return { rows, p }
      }))
      return answer(value.rows, [value.p], elapsedMs)
    })

    const dailySummary = Effect.fn("QueryEngine.dailySummary")(function*(request: Parameters<QueryEngine["Service"]["dailySummary"]>[0]) {
      const symbols = yield* Effect.fromResult(checkSymbols(request.symbols))
      const first = yield* Effect.fromResult(checkDate("fromDay", request.fromDay))
      const last = yield* Effect.fromResult(checkDate("toDay", request.toDay))
      if (first > last) return yield* invalid(new InvertedRange({ from: request.fromDay, to: request.toDay }))
      const { value, elapsedMs } = yield* timed(Effect.gen(function*() {
        // Every zone is within a day of UTC: plan one day either side, select by local date.
        const from = (first - 1) * MICROS_PER_DAY
        const to = (last + 2) * MICROS_PER_DAY
        const p = yield* plan("trades", request.snapshot, marketFilter(symbols, from, to))
        if (p.files.length === 0) return { rows: [] as Array<DailySummary>, p }
        const params = new Params()
        const sql = dailySummarySql(params, p, from, to, symbols, { first, last, zones, defaultZone })
        const rows = yield* collect([p], sql, params.values, summariesOf)
          .pipe(refusingNulls(p, "daily summaries"), notionalOverflow("a day", "no answer holds that day's summary exactly"))
        return { rows, p }
      }))
      return answer(value.rows, [value.p], elapsedMs)
    })

    const quoteBars = Effect.fn("QueryEngine.quoteBars")(function*(request: Parameters<QueryEngine["Service"]["quoteBars"]>[0]) {
      const { symbols, range, interval } = yield* checkBars(request)
      const { value, elapsedMs } = yield* timed(Effect.gen(function*() {
        const p = yield* plan("quotes", request.snapshot, marketFilter(symbols, range.from, range.to))
        if (p.files.length === 0 || range.from === range.to) return { rows: [] as Array<QuoteBar>, p }
        const params = new Params()
        const sql = quoteBarsSql(params, p, range, symbols, interval)
        return { rows: yield* collectBars(p, params, sql, request.maxBars, quoteBarsOf).pipe(refusingNulls(p, "quote bars")), p }
      }))
      return answer(value.rows, [value.p], elapsedMs)
    })

    const tradesWithQuotes = Effect.fn("QueryEngine.tradesWithQuotes")(function*(request: Parameters<QueryEngine["Service"]["tradesWithQuotes"]>[0]) {
      const { symbols, range, limit, lookback, parts, after, quotesAt, from } = yield* checkTradesWithQuotes(request)
      const { value, elapsedMs } = yield* timed(Effect.gen(function*() {
        const tradesFilter = marketFilter(symbols, from, range.to)
        // Quotes from `from − lookback` of the request on every page: each trade joins the quote one answer would give it.
        const quotesFilter = marketFilter(symbols, range.from - lookback, range.to)
        const [tp, qp] = yield* planMarket(
          after === undefined ? request : { snapshotIds: { trades: after.snapshotId, quotes: quotesAt! } },
          tradesFilter,
          quotesFilter
        ).pipe(pinnedBy(after))
        if (tp.files.length === 0 || from >= range.to) return { rows: [] as Array<TradeWithQuote>, next: null, plans: [tp, qp] }
        const params = new Params()
        const sql = tradesWithQuotesSql(params, tp, qp, { range, from, lookback, symbols, after, limit })
        const raw = yield* run([tp, qp], sql, params.values)
        return { ...tradesWithQuotesPage(raw, limit, tp, qp, parts), plans: [tp, qp] }
      }))
      return { ...answer(value.rows, value.plans, elapsedMs), nextCursor: value.next }
    })

    // --- reference data and table facts ----------------------------------------------------

    const instruments = Effect.fn("QueryEngine.instruments")(function*(request: Parameters<QueryEngine["Service"]["instruments"]>[0] = {}) {
      const symbols = yield* Effect.fromResult(checkSymbols(request.symbols))
      const { value, elapsedMs } = yield* timed(Effect.gen(function*() {
        const p = yield* plan("instruments", request.snapshot, {})
        if (p.files.length === 0) return { rows: [] as Array<Record<string, unknown>>, p }
        const schema = tables.instruments.schema
        const params = new Params()
        // Every load appends its instruments again: each (exchange, symbol) reads as its latest
        // version by ingestion (docs/decisions.md ADR-10).
        const sql = `SELECT ${schema.fields.map((f) => columnExpression(schema, f.name)).join(", ")} FROM ${params.files(p)}
          WHERE true${symbolFilter(params, symbols)}
          QUALIFY row_number() OVER (PARTITION BY exchange, symbol ORDER BY ${LATEST_FIRST}) = 1
          ORDER BY symbol, exchange`
        return { rows: yield* run([p], sql, params.values), p }
      }))
      return answer(value.rows, [value.p], elapsedMs)
    })

    const symbolsOf = Effect.fn("QueryEngine.symbols")(function*(request: Parameters<QueryEngine["Service"]["symbols"]>[0] = {}) {
      const symbols = yield* Effect.fromResult(checkSymbols(request.symbols))
      const one = (p: ScanPlan) =>
        Effect.gen(function*() {
          if (p.files.length === 0) return { p, stats: new Map<string, { count: number; first: number; last: number }>() }
          const params = new Params()
          const sql = `SELECT symbol, count(*)::DOUBLE AS n, min(epoch_us(exchange_timestamp))::DOUBLE AS first, max(epoch_us(exchange_timestamp))::DOUBLE AS last
            FROM ${params.files(p)} WHERE true${symbolFilter(params, symbols)} GROUP BY symbol`
          const raw = yield* run([p], sql, params.values)
          return { p, stats: new Map(raw.map((r) => [r.symbol as string, { count: num(r.n), first: num(r.first), last: num(r.last) }])) }
        })
      const filter: ScanFilter = symbols.length > 0 ? { values: [{ column: "symbol", values: symbols }] } : {}
      const { value, elapsedMs } = yield* timed(
        planMarket(request, filter, filter).pipe(Effect.flatMap(([tp, qp]) => Effect.all([one(tp), one(qp)], { concurrency: 2 })))
      )
      const [t, q] = value
      const names = [...new Set([...t.stats.keys(), ...q.stats.keys()])].sort()
      return answer(
        names.map((symbol) => ({ symbol, trades: t.stats.get(symbol) ?? null, quotes: q.stats.get(symbol) ?? null })),
        [t.p, q.p],
        elapsedMs
      )
    })


    const tableStats = Effect.fn("QueryEngine.tableStats")(function*(table: TableName, readOptions: { readonly snapshot?: SnapshotSelector } = {}) {
      const p = yield* plan(table, readOptions.snapshot, {})
      // The table's partition specs only when a file's bounds do not give its days.
      const ts = timestampFieldId(p)
      const fields = ts !== undefined && p.files.some((f) => needsSpec(f, ts))
        ? timeFields((yield* catalog.loadTable(p.table)).metadata["partition-specs"], ts)
        : undefined
      return tableStatsOf(p, fields)
    })

    const snapshots = Effect.fn("QueryEngine.snapshots")(function*(table: TableName, options: { readonly upTo?: bigint } = {}) {
      const { metadata } = yield* catalog.loadTable(identifierOf(table))
      return snapshotLog(metadata, options.upTo)
    })

    return QueryEngine.of({
      trades: rows("trades"),
      quotes: rows("quotes"),
      bars,
      dailySummary,
      tradingDayZones: zonesFingerprint(Object.fromEntries(zones), defaultZone),
      quoteBars,
      tradesWithQuotes,
      instruments,
      symbols: symbolsOf,
      tableStats,
      snapshots
    })
  }))

/** `layer` with the exchanges' zones ingest's trackers use (K2_SEQUENCE_ZONES over the default table). */
export const layerConfig = Layer.unwrap(Effect.gen(function*() {
  return layer({ exchangeZones: yield* exchangeZonesFromConfig })
}))
