/** QueryEngine over the TableScanner and DuckDB (semantics: docs/query.md). */
import type { DuckDBConnection, DuckDBValue, DuckDBVector } from "@duckdb/node-api"
import { Clock, Effect, Layer, Result } from "effect"
import { decode as decodeBound } from "../../domain/iceberg/bounds.ts"
import { quoted } from "../../domain/errors.ts"
import { committedBy, noSnapshotAt, snapshotAsOf, snapshotById } from "../../domain/iceberg/metadata.ts"
import type { PrimitiveType } from "../../domain/iceberg/spec.ts"
import { decodeCursor, encodeCursor, type PageCursor, queryDiffers, queryDigest, type QueryParts, TRADES_WITH_QUOTES } from "../../domain/query/cursor.ts"
import { InvalidArgument, InvalidCursor, invalid, type InvalidQuery, InvertedRange, LimitOutOfRange, TooManyRows, ValueOverflow } from "../../domain/query/errors.ts"
import { approxDivRoundHalfEven, divide, divideText, divRoundHalfEven, type Fixed, formatFixed, OUTPUT_SCALE, parseFixed, rescale } from "../../domain/query/exact.ts"
import { BAR_INTERVALS, isBarInterval } from "../../domain/query/intervals.ts"
import {
  checkDate,
  checkDecimal,
  checkFields,
  checkLimit,
  checkRange,
  checkSymbols
} from "../../domain/query/validate.ts"
import { defaultExchangeZones, zonesFingerprint } from "../../domain/sequence/calendar.ts"
import { exchangeZonesFromConfig } from "../exchangeZones.ts"
import { definitionOf, identifierOf, type TableName, tables } from "../../domain/tables.ts"
import { Catalog } from "../../services/Catalog.ts"
import {
  type Answer,
  type Bar,
  type DailySummary,
  type MarketRow,
  type MarketTable,
  type Page,
  QueryEngine,
  type QuoteBar,
  type ReadOptions,
  type RowsRequest,
  scannedOf,
  type TradeClassification,
  type TradeWithQuote
} from "../../services/QueryEngine.ts"
import { nothingOf, pinnedSnapshotGone, type ScanPlan, type SnapshotSelector, SnapshotNotFound, TableScanner } from "../../services/TableScanner.ts"
import type { ScanFilter } from "../../domain/iceberg/pruning.ts"
import { DuckDb, DuckDbError, WrappedValue, attempt } from "../duckdb/DuckDb.ts"
import { blameFile, plannedPaths } from "../duckdb/readPlan.ts"
import { expiredWhileRead } from "../iceberg/planner.ts"
import { daysOfFile, needsSpec, timeFields } from "../../domain/iceberg/fileDays.ts"
import { cellReader, type Chunk, piecesReader, readChunks, readRows, rowBuilder } from "../duckdb/results.ts"
import {
  bigFixedText,
  decimal128ApproxAt,
  decimal128BigAt,
  decimal128FixedAt,
  decimal128SafeAt,
  decimal128TextAt,
  decimalApproxAt,
  decimalAt,
  decimals,
  decimals128,
  type Decimals128,
  doubles,
  fixedText,
  Interned,
  internedAt,
  isNull,
  textAt,
  texts,
  uniformText
} from "../duckdb/vectors.ts"
import { quoteIdent } from "../duckdb/sqlText.ts"
import { bucketExpression, columnExpression, decimalColumns, filteredFiles, localTimestamp, OHLCV, ORDER_KEY, pageColumn, Params, PIECED_COLUMNS, symbolFilter, timeFilter } from "./sql.ts"
import { dayText, MICROS_PER_DAY } from "../../domain/time.ts"

export interface QueryEngineOptions {
  /** Exchange → IANA zone for trading days; defaults to calendar.ts. */
  readonly exchangeZones?: Readonly<Record<string, string>>
  /** Zone of exchanges not listed; UTC by default. */
  readonly defaultZone?: string
}

/**
 * The price OHLCV's readers take: DECIMAL(18, 8) (int64 vectors). Read by field id it may be another
 * engine's widened decimal(20, 8) (ADR-2), cast back as replay casts it: exact for every price K2 could
 * write, DuckDB's out-of-range error past it, never a misread.
 */
const priceOf = (p: Pick<ScanPlan, "byFieldId">) => (p.byFieldId ? "price::DECIMAL(18, 8) AS price" : "price")

const num = (v: unknown): number => (typeof v === "bigint" ? Number(v) : (v as number))

/** Versions of an instrument, newest ingestion first; rows without lineage (other writers) last. */
const LATEST_FIRST = "ingestion_timestamp DESC NULLS LAST, kafka_offset DESC NULLS LAST"

/**
 * A cursor of the pages of `what` for the query of `parts`, or InvalidCursor saying why not: another
 * route's, or another query's (naming the parameters that differ). A cursor without a digest (made
 * before cursors held one) is not checked.
 */
const readCursor = (text: string, what: string, parts: QueryParts): Effect.Effect<PageCursor, InvalidQuery> => {
  const decoded = decodeCursor(text)
  if (Result.isFailure(decoded)) return Effect.fail(invalid(new InvalidCursor({ detail: decoded.failure })))
  const c = decoded.success
  if (c.table !== what) return Effect.fail(invalid(new InvalidCursor({ detail: `it pages ${c.table}, not ${what}` })))
  const differ = c.query === undefined ? [] : queryDiffers(c.query, parts)
  if (differ.length === 0) return Effect.succeed(c)
  return Effect.fail(invalid(new InvalidCursor({
    detail: `it pages another query: ${differ.join(", ")} ${differ.length === 1 ? "differs" : "differ"} from the request that gave it ` +
      "(send the cursor with that request's parameters, limit and format aside, or start again without one)"
  })))
}

/** A decimal bound as canonical text (10, 10.0 and 10.00000000 are one bound). */
const canonicalDecimal = (text: string | undefined) => (text === undefined ? "" : formatFixed(rescale(parseFixed(text))))

/** A cursor's snapshot that is gone (expired since its first page) is said to be the cursor's, with what to do. */
const pinnedBy = (after: PageCursor | undefined) => <A, E, R>(planned: Effect.Effect<A, E, R>) =>
  after === undefined ? planned : Effect.mapError(planned, (e) =>
    e instanceof SnapshotNotFound ? pinnedSnapshotGone(e, "cursor") : e)

/**
 * The order pages follow: the order key, then the row's Kafka lineage, which tells apart the rows
 * of one record ingested twice (same key): keyset pages that stop between them must not lose one.
 */
const PAGE_KEY = `${ORDER_KEY}, kafka_topic, kafka_partition, kafka_offset`

/** The lineage columns a page's last row gives its cursor. */
const LINEAGE_COLUMNS = `kafka_topic AS "__topic", kafka_partition AS "__part", kafka_offset AS "__off"`

/** A cursor's lineage from the values of LINEAGE_COLUMNS. */
const lineageOf = (topic: unknown, partition: unknown, offset: unknown) => ({
  topic: topic as string,
  partition: partition as number,
  offset: offset as bigint
})

/** ` AND` the rows strictly after a cursor's row in the page order (PAGE_KEY; ORDER_KEY for a cursor without lineage). */
const afterCursor = (params: Params, after: PageCursor | undefined) => {
  if (after === undefined) return ""
  const key = `${params.micros(after.exchangeTimestamp)}, ${params.add(after.sequence)}::BIGINT, ${params.add(after.messageId)}::VARCHAR`
  const l = after.lineage
  return l === undefined
    ? ` AND (${ORDER_KEY}) > (${key})`
    : ` AND (${PAGE_KEY}) > (${key}, ${params.add(l.topic)}::VARCHAR, ${params.add(l.partition)}::INTEGER, ${params.add(l.offset)}::BIGINT)`
}


export const layer = (options: QueryEngineOptions = {}) =>
  Layer.effect(QueryEngine)(Effect.gen(function*() {
    const scanner = yield* TableScanner
    const duckDb = yield* DuckDb
    const catalog = yield* Catalog
    const zones = Object.entries(options.exchangeZones ?? defaultExchangeZones)
    const defaultZone = options.defaultZone ?? "UTC"
    // One branch per exchange with its zone as a parameter: a constant zone per branch keeps
    // DuckDB's ICU conversion on its fast path (a per-row zone lookup was ~5x slower).
    const localDay = (params: Params) => {
      const fallback = localTimestamp(params, defaultZone)
      // No zones configured: a CASE with no WHEN is a syntax error, every day is the default zone's.
      if (zones.length === 0) return `${fallback}::DATE`
      return `CASE exchange ${
        zones.map(([exchange, zone]) => `WHEN ${params.add(exchange)} THEN ${localTimestamp(params, zone)}`).join(" ")
      } ELSE ${fallback} END::DATE`
    }

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

    /** DuckDB's overflow summing a notional (its own, or one `notionalWrapped` found), as the refusal it is: not a 500. */
    const notionalOverflow = (what: string, advice: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
      self.pipe(Effect.catchIf(
        (e: E) => e instanceof DuckDbError && e.reason === "Overflow",
        () => invalid(new ValueOverflow({ what: `the notional (sum of price x quantity) of ${what}`, advice }))
      ))

    const timed = <A, E, R>(body: Effect.Effect<A, E, R>) =>
      Effect.gen(function*() {
        // Monotonic: by the wall clock, set back during a read, it took minus an hour.
        const start = yield* Clock.monotonicTimeNanos
        const value = yield* body
        return { value, elapsedMs: Number((yield* Clock.monotonicTimeNanos) - start) / 1e6 }
      })

    const answer = <A>(rows: ReadonlyArray<A>, plans: ReadonlyArray<ScanPlan>, elapsedMs: number): Answer<A> => ({
      rows,
      scanned: plans.map(scannedOf),
      rowsReturned: rows.length,
      elapsedMs
    })

    // --- trades and quotes ----------------------------------------------------------------

    const rows = (table: MarketTable) =>
      Effect.fn(`QueryEngine.${table}`)(function*(request: RowsRequest) {
        const schema = definitionOf(table).schema
        const symbols = yield* Effect.fromResult(checkSymbols(request.symbols))
        const range = yield* Effect.fromResult(checkRange(request.from, request.to))
        const limit = yield* Effect.fromResult(checkLimit(request.limit))
        const fields = yield* Effect.fromResult(checkFields(request.fields, schema.fields.map((f) => f.name)))
        const maps = fields.map((f) => {
          const type = schema.fields.find((x) => x.name === f)?.type
          return typeof type === "object" && type.type === "map"
        })
        const allowed = decimalColumns(schema)
        const filters: Array<{ column: string; min: string | undefined; max: string | undefined }> = []
        for (const f of request.filters ?? []) {
          if (!allowed.includes(f.column)) {
            return yield* invalid(new InvalidArgument({ name: "filter column", detail: `${quoted(f.column)}; ${table} can be filtered on ${allowed.join(", ")}` }))
          }
          const min = yield* Effect.fromResult(checkDecimal(`${f.column} min`, f.min))
          const max = yield* Effect.fromResult(checkDecimal(`${f.column} max`, f.max))
          filters.push({ column: f.column, min, max })
        }
        // What defines the pages (docs/query.md): a cursor pages this query, no other.
        const parts: QueryParts = [
          ["from", String(range.from)],
          ["to", String(range.to)],
          ["symbols", symbols.join(",")],
          ["fields", fields.join(",")],
          ["filter", filters.map((f) => `${f.column}:${canonicalDecimal(f.min)}:${canonicalDecimal(f.max)}`).sort().join(",")]
        ]
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
          const p = yield* plan(table, snapshot, {
            time: { column: "exchange_timestamp", from, to: range.to },
            ...(symbols.length > 0 ? { values: [{ column: "symbol", values: symbols }] } : {})
          }).pipe(pinnedBy(after?.snapshotId == null ? undefined : after))
          if (p.files.length === 0 || from >= range.to) return { rows: [] as Array<MarketRow>, next: null, plan: p }
          const params = new Params()
          const source = params.files(p)
          let where = `${timeFilter(params, from, range.to)}${symbolFilter(params, symbols)}`
          for (const f of filters) {
            if (f.min !== undefined) where += ` AND ${quoteIdent(f.column)} >= ${params.decimal(f.min)}`
            if (f.max !== undefined) where += ` AND ${quoteIdent(f.column)} <= ${params.decimal(f.max)}`
          }
          where += afterCursor(params, after)
          // The cursor needs the order key; fields that already hold a part of it are not read twice.
          const tsKey = fields.includes("exchange_timestamp") ? "exchange_timestamp" : "__ts"
          const idKey = fields.includes("message_id") ? "message_id" : "__id"
          const select = [
            ...fields.map((f) => pageColumn(schema, f)),
            ...(tsKey === "__ts" ? ["epoch_us(exchange_timestamp)::DOUBLE AS \"__ts\""] : []),
            "coalesce(source_sequence, -1) AS \"__seq\"",
            ...(idKey === "__id" ? ["message_id AS \"__id\""] : []),
            LINEAGE_COLUMNS
          ].join(", ")
          const sql = `SELECT ${select} FROM ${source} WHERE ${where} ORDER BY ${PAGE_KEY} LIMIT ${params.add(limit + 1)}`
          const build = rowBuilder(fields)
          let lastKey: ReadonlyArray<unknown> = []
          let next: string | null = null
          const page = yield* collect<MarketRow>([p], sql, params.values, (chunk, out) => {
            const readers = fields.map((f, i) =>
              maps[i] ? mapReader(chunk.column(f)) : PIECED_COLUMNS.has(f) ? piecesReader(chunk, `__${f}`) : cellReader(chunk.column(f))
            )
            // The order key is read for one row, the page's last: its vectors only then.
            const key = () => [tsKey, "__seq", idKey, "__topic", "__part", "__off"].map((k) => cellReader(chunk.column(k)))
            for (let r = 0; r < chunk.rowCount; r++) {
              // The row past the page only says there is more: the cursor is the page's last row.
              if (out.length === limit) {
                next ??= encodeCursor({
                  table,
                  snapshotId: p.snapshot?.["snapshot-id"] ?? null,
                  exchangeTimestamp: num(lastKey[0]),
                  sequence: lastKey[1] as bigint,
                  messageId: lastKey[2] as string,
                  lineage: lineageOf(lastKey[3], lastKey[4], lastKey[5]),
                  query: queryDigest(parts)
                })
                return
              }
              out.push(build(readers, r))
              if (out.length === limit) lastKey = key().map((read) => read(r))
            }
          })
          return { rows: page, next, plan: p }
        })).pipe(Effect.map(({ value, elapsedMs }): Page<MarketRow> => ({
          ...answer(value.rows, [value.plan], elapsedMs),
          nextCursor: value.next
        })))
      })

    // --- bars ------------------------------------------------------------------------------

    const checkBars = (request: { readonly symbols?: ReadonlyArray<string>; readonly from: number; readonly to: number; readonly interval: string; readonly maxBars?: number }) =>
      Effect.gen(function*() {
        const symbols = yield* Effect.fromResult(checkSymbols(request.symbols))
        const range = yield* Effect.fromResult(checkRange(request.from, request.to))
        if (!isBarInterval(request.interval)) {
          return yield* invalid(new InvalidArgument({ name: "interval", detail: `${quoted(request.interval)}; one of ${Object.keys(BAR_INTERVALS).join(", ")}` }))
        }
        // Before any I/O: a negative or fractional cap made LIMIT nonsense (a TooManyRows of "0 bars" after the query).
        const maxBars = request.maxBars
        if (maxBars !== undefined && (!Number.isSafeInteger(maxBars) || maxBars < 0)) {
          return yield* invalid(new LimitOutOfRange({ name: "maxBars", value: maxBars, min: 0, max: Number.MAX_SAFE_INTEGER }))
        }
        return { symbols, range, interval: BAR_INTERVALS[request.interval] }
      })

    const marketFilter = (symbols: ReadonlyArray<string>, from: number, to: number): ScanFilter => ({
      time: { column: "exchange_timestamp", from, to },
      ...(symbols.length > 0 ? { values: [{ column: "symbol", values: symbols }] } : {})
    })

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
        const sql = `WITH t AS (
            SELECT symbol, exchange, epoch_us(exchange_timestamp) AS ts, coalesce(source_sequence, -1) AS seq, message_id, ${priceOf(p)}, quantity
            FROM ${filteredFiles(params, p, range.from, range.to, symbols)})
          SELECT symbol, exchange, ${bucketExpression(`${params.add(BigInt(interval))}::BIGINT`)}::DOUBLE AS bucket, ${OHLCV}
          FROM t GROUP BY ALL`
        return { rows: yield* collectBars(p, params, sql, request.maxBars, barsOf).pipe(notionalOverflow("a bar", "choose a finer interval")), p }
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
        const sql = `WITH t AS (
            SELECT symbol, exchange, epoch_us(exchange_timestamp) AS ts, coalesce(source_sequence, -1) AS seq, message_id, ${priceOf(p)}, quantity,
              ${localDay(params)} AS day
            FROM ${filteredFiles(params, p, from, to, symbols)})
          SELECT symbol, exchange, day::VARCHAR AS trading_day, ${OHLCV}, min(ts)::DOUBLE AS first_ts, max(ts)::DOUBLE AS last_ts
          FROM t WHERE day BETWEEN ${params.add(dayText(first))}::DATE AND ${params.add(dayText(last))}::DATE
          GROUP BY symbol, exchange, day ORDER BY symbol, exchange, day`
        return { rows: yield* collect([p], sql, params.values, summariesOf).pipe(notionalOverflow("a day", "no answer holds that day's summary exactly")), p }
      }))
      return answer(value.rows, [value.p], elapsedMs)
    })

    const quoteBars = Effect.fn("QueryEngine.quoteBars")(function*(request: Parameters<QueryEngine["Service"]["quoteBars"]>[0]) {
      const { symbols, range, interval } = yield* checkBars(request)
      const { value, elapsedMs } = yield* timed(Effect.gen(function*() {
        const p = yield* plan("quotes", request.snapshot, marketFilter(symbols, range.from, range.to))
        if (p.files.length === 0 || range.from === range.to) return { rows: [] as Array<QuoteBar>, p }
        const params = new Params()
        // Ties on the whole order key go by mid, then spread (as OHLCV's by price): the close's mid and spread are one quote's.
        // Mid and spread are over two-sided quotes (bid > 0 and ask > 0, ADR-40); `n` counts every quote, `n_two_sided` those.
        const key = "(ts, seq, message_id, twice_mid, spread)"
        const sql = `WITH q AS (
            SELECT symbol, exchange, epoch_us(exchange_timestamp) AS ts, coalesce(source_sequence, -1) AS seq, message_id,
              bid_price::DECIMAL(38, 8) + ask_price::DECIMAL(38, 8) AS twice_mid, ask_price::DECIMAL(38, 8) - bid_price::DECIMAL(38, 8) AS spread,
              coalesce(${TWO_SIDED("")}, false) AS two_sided
            FROM ${filteredFiles(params, p, range.from, range.to, symbols)})
          SELECT symbol, exchange, ${bucketExpression(`${params.add(BigInt(interval))}::BIGINT`)}::DOUBLE AS bucket, count(*)::DOUBLE AS n,
            count(*) FILTER (WHERE two_sided)::DOUBLE AS n_two_sided,
            arg_min(twice_mid, ${key}) FILTER (WHERE two_sided) AS mid_open, max(twice_mid) FILTER (WHERE two_sided) AS mid_high,
            min(twice_mid) FILTER (WHERE two_sided) AS mid_low, arg_max(twice_mid, ${key}) FILTER (WHERE two_sided) AS mid_close,
            min(spread) FILTER (WHERE two_sided) AS spread_min, max(spread) FILTER (WHERE two_sided) AS spread_max,
            sum(spread) FILTER (WHERE two_sided) AS spread_sum, arg_max(spread, ${key}) FILTER (WHERE two_sided) AS spread_close
          FROM q GROUP BY ALL`
        return { rows: yield* collectBars(p, params, sql, request.maxBars, quoteBarsOf), p }
      }))
      return answer(value.rows, [value.p], elapsedMs)
    })

    const tradesWithQuotes = Effect.fn("QueryEngine.tradesWithQuotes")(function*(request: Parameters<QueryEngine["Service"]["tradesWithQuotes"]>[0]) {
      const symbols = yield* Effect.fromResult(checkSymbols(request.symbols))
      const range = yield* Effect.fromResult(checkRange(request.from, request.to))
      const limit = yield* Effect.fromResult(checkLimit(request.limit))
      const lookback = request.quoteLookbackMicros ?? MICROS_PER_DAY
      if (!Number.isSafeInteger(lookback) || lookback < 0 || lookback > 31 * MICROS_PER_DAY) {
        return yield* invalid(new InvalidArgument({ name: "quoteLookbackMicros", detail: `${lookback}; 0 to 31 days in microseconds` }))
      }
      // A cursor pins both tables as the first page read them (the request's snapshot is not consulted).
      const parts: QueryParts = [["from", String(range.from)], ["to", String(range.to)], ["symbols", symbols.join(",")], ["lookback_us", String(lookback)]]
      const after = request.cursor === undefined ? undefined : yield* readCursor(request.cursor, TRADES_WITH_QUOTES, parts)
      const quotesAt = after?.joined?.["quotes"]
      if (after !== undefined && quotesAt === undefined) return yield* invalid(new InvalidCursor({ detail: "damaged cursor" }))
      const from = after === undefined ? range.from : Math.max(range.from, after.exchangeTimestamp)
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
        const trades = `SELECT symbol, exchange, exchange_timestamp, source_sequence, coalesce(source_sequence, -1) AS seq, message_id, price, quantity, side,
            kafka_topic, kafka_partition, kafka_offset
          FROM ${filteredFiles(params, tp, from, range.to, symbols)}${afterCursor(params, after)}`
        // The prevailing quote at an instant is the last one by (time, sequence, message_id): keep one per (symbol, exchange, time).
        // It is shown whatever it holds; one with a zero side (pre-open) has no mid, spread or side (ADR-40).
        // Quotes tied on that whole key (an id a source reused) go by bid, then ask, then sizes: the same one on every run.
        // Joined by instrument, (exchange, symbol): a symbol listed twice (BHP on the ASX and the NYSE) is two.
        const quotes = qp.files.length === 0
          ? `SELECT NULL::VARCHAR AS symbol, NULL::VARCHAR AS exchange, NULL::TIMESTAMPTZ AS quote_ts, NULL::DECIMAL(18, 8) AS bid_price, NULL::DECIMAL(18, 8) AS bid_size,
              NULL::DECIMAL(18, 8) AS ask_price, NULL::DECIMAL(18, 8) AS ask_size LIMIT 0`
          : `SELECT symbol, exchange, exchange_timestamp AS quote_ts, bid_price, bid_size, ask_price, ask_size
              FROM ${filteredFiles(params, qp, range.from - lookback, range.to, symbols)}
              QUALIFY row_number() OVER (PARTITION BY symbol, exchange, exchange_timestamp ORDER BY coalesce(source_sequence, -1) DESC, message_id DESC, bid_price DESC, ask_price DESC, bid_size DESC, ask_size DESC) = 1`
        const sql = `WITH t AS (${trades}), q AS (${quotes})
          SELECT t.symbol, t.exchange, epoch_us(t.exchange_timestamp)::DOUBLE AS ts, t.source_sequence, t.message_id, t.price::VARCHAR AS price,
            t.kafka_topic AS __topic, t.kafka_partition AS __part, t.kafka_offset AS __off,
            t.quantity::VARCHAR AS quantity, t.side, epoch_us(q.quote_ts)::DOUBLE AS quote_ts,
            q.bid_price::VARCHAR AS bid_price, q.bid_size::VARCHAR AS bid_size, q.ask_price::VARCHAR AS ask_price, q.ask_size::VARCHAR AS ask_size,
            CASE WHEN ${TWO_SIDED("q.")} THEN (q.bid_price::DECIMAL(38, 8) + q.ask_price::DECIMAL(38, 8))::VARCHAR END AS twice_mid,
            CASE WHEN ${TWO_SIDED("q.")} THEN abs(t.price::DECIMAL(38, 8) * 2 - q.bid_price::DECIMAL(38, 8) - q.ask_price::DECIMAL(38, 8))::VARCHAR END AS effective_spread,
            CASE WHEN (${TWO_SIDED("q.")}) IS NOT TRUE THEN NULL
              WHEN t.price::DECIMAL(38, 8) * 2 > q.bid_price::DECIMAL(38, 8) + q.ask_price::DECIMAL(38, 8) THEN 'BUY'
              WHEN t.price::DECIMAL(38, 8) * 2 < q.bid_price::DECIMAL(38, 8) + q.ask_price::DECIMAL(38, 8) THEN 'SELL'
              ELSE 'MID' END AS classification
          FROM t ASOF LEFT JOIN q ON t.symbol = q.symbol AND t.exchange = q.exchange AND t.exchange_timestamp >= q.quote_ts
          ORDER BY t.exchange_timestamp, t.seq, t.message_id, t.kafka_topic, t.kafka_partition, t.kafka_offset LIMIT ${params.add(limit + 1)}`
        const raw = yield* run([tp, qp], sql, params.values)
        // The row past the page only says there is more: the cursor is the page's last row.
        const last = raw.length > limit ? raw[limit - 1]! : undefined
        const next = last === undefined ? null : encodeCursor({
          table: TRADES_WITH_QUOTES,
          snapshotId: tp.snapshot?.["snapshot-id"] ?? null,
          exchangeTimestamp: num(last.ts),
          sequence: (last.source_sequence as bigint | null) ?? -1n,
          messageId: last.message_id as string,
          joined: { quotes: qp.snapshot?.["snapshot-id"] ?? null },
          lineage: lineageOf(last.__topic, last.__part, last.__off),
          query: queryDigest(parts)
        })
        const fixed = (v: unknown) => (v === null ? null : formatFixed(rescale(parseFixed(v as string))))
        return {
          next,
          rows: raw.slice(0, limit).map((r): TradeWithQuote => ({
            symbol: r.symbol as string,
            exchange: r.exchange as string,
            exchangeTimestamp: num(r.ts),
            sourceSequence: (r.source_sequence as bigint | null) ?? null,
            messageId: r.message_id as string,
            price: r.price as string,
            quantity: r.quantity as string,
            side: r.side as string,
            kafkaTopic: (r.__topic as string | null) ?? null,
            kafkaPartition: (r.__part as number | null) ?? null,
            kafkaOffset: (r.__off as bigint | null) ?? null,
            quoteTimestamp: r.quote_ts === null ? null : num(r.quote_ts),
            bidPrice: (r.bid_price as string | null) ?? null,
            bidSize: (r.bid_size as string | null) ?? null,
            askPrice: (r.ask_price as string | null) ?? null,
            askSize: (r.ask_size as string | null) ?? null,
            mid: r.twice_mid === null ? null : divideText(r.twice_mid as string, "2"),
            effectiveSpread: fixed(r.effective_spread),
            classification: (r.classification as TradeClassification | null) ?? null
          })),
          plans: [tp, qp]
        }
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
      const column = p.schema.fields.find((f) => f.name === "exchange_timestamp")
      let first: number | null = null
      let last: number | null = null
      const days = new Set<unknown>()
      // Days from each file's bounds of exchange_timestamp, else its time partition (as replay
      // places files): another engine's spec (by hour, or fields beside the day) made the partition
      // values hours, or mixed, and counting them all as days said 38 days of 4.
      const ts = column?.type === "timestamptz" || column?.type === "timestamp" ? column.id : undefined
      const fields = ts !== undefined && p.files.some((f) => needsSpec(f, ts))
        ? timeFields((yield* catalog.loadTable(p.table)).metadata["partition-specs"], ts)
        : undefined
      for (const file of p.files) {
        const span = ts === undefined ? null : daysOfFile(file, ts, fields)
        if (span !== null) for (let d = span[0]; d <= span[1]; d++) days.add(d)
        else if (ts !== undefined) days.add(JSON.stringify(file.partition))
        else for (const v of Object.values(file.partition)) days.add(v)
        if (column === undefined) continue
        const lo = file.lowerBounds.get(column.id)
        const hi = file.upperBounds.get(column.id)
        if (lo !== undefined) {
          const v = Number(decodeBound(column.type as PrimitiveType, lo) as bigint)
          first = first === null ? v : Math.min(first, v)
        }
        if (hi !== undefined) {
          const v = Number(decodeBound(column.type as PrimitiveType, hi) as bigint)
          last = last === null ? v : Math.max(last, v)
        }
      }
      return {
        table: `${p.table.namespace}.${p.table.name}`,
        snapshotId: p.snapshot?.["snapshot-id"] ?? null,
        snapshotTimestampMs: p.snapshot?.["timestamp-ms"] ?? null,
        records: p.files.reduce((n, f) => n + f.recordCount, 0),
        dataFiles: p.files.length,
        bytes: p.stats.bytesPlanned,
        manifests: p.stats.manifestsTotal,
        firstTimestamp: first,
        lastTimestamp: last,
        days: days.size
      }
    })

    const snapshots = Effect.fn("QueryEngine.snapshots")(function*(table: TableName, options: { readonly upTo?: bigint } = {}) {
      const { metadata } = yield* catalog.loadTable(identifierOf(table))
      // A commit that landed since the pin is left out (the answer's ETag names the pinned one);
      // a pinned snapshot expired meanwhile leaves the log as it is now.
      const upTo = options.upTo === undefined ? undefined : snapshotById(metadata, options.upTo)
      const current = upTo?.["snapshot-id"] ?? metadata["current-snapshot-id"] ?? null
      const bound = upTo === undefined ? undefined : committedBy(metadata, upTo)
      const listed = bound === undefined ? metadata.snapshots : metadata.snapshots.filter((s) => s["sequence-number"] <= bound)
      return listed.map((s) => ({
        snapshotId: s["snapshot-id"],
        parentId: s["parent-snapshot-id"] ?? null,
        timestampMs: s["timestamp-ms"],
        operation: s.summary.operation ?? "",
        summary: s.summary,
        current: current !== null && s["snapshot-id"] === current
      })).sort((a, b) => a.timestampMs - b.timestampMs)
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

const TWO: Fixed = { unscaled: 2n, scale: 0 }

/** int128's largest value at the notional's scale (16): ~1.7e22. */
const INT128_MAX = 2 ** 127 / 1e16
/** What a sum wrapped past int128 is off by at that scale: ~3.4e22. */
const WRAP = 2 ** 128 / 1e16

/**
 * DuckDB checks each row's addition to a sum, but merging its threads' partial sums wraps past
 * int128 unchecked: a bar read by several threads was answered with a wrapped, negative VWAP.
 * Every product is positive, so the true notional lies between low x volume and high x volume:
 * below int128 at the high end nothing can have wrapped. Past it, a notional outside those bounds
 * has wrapped, and one with room for another 2^128 above it cannot be told from a wrapped one:
 * both are an overflow, as DuckDB's own would have been. Doubles: the margins are ~1e22, their
 * error ~1e7. (A sum of the products in doubles beside the exact one would tell it too, for a
 * quarter more DuckDB time on a day's bars in a measurement.)
 */
const notionalWrapped = (c: OhlcvColumns, r: number): void => {
  const volume = decimal128ApproxAt(c.volume, r) / 10 ** c.volume.scale
  const most = (decimalApproxAt(c.high, r) / 1e8) * volume
  if (!(most >= INT128_MAX * 0.999)) return
  const notional = decimal128ApproxAt(c.notional, r) / 10 ** c.notional.scale // NaN when negative: wrapped
  const least = (decimalApproxAt(c.low, r) / 1e8) * volume
  if (!(notional >= least * 0.999 && notional <= most * 1.001 && most - notional < WRAP * 0.999)) {
    throw new WrappedValue("a notional wrapped past int128 merging the partial sums of its threads")
  }
}

/** Aggregates of non-empty groups over required columns are never NULL: a NULL is a bug, not a value. */
const nonNull = <C extends { readonly valid: Uint8Array | null }>(c: C, rows: number, name: string): C => {
  if (c.valid !== null) for (let r = 0; r < rows; r++) if (isNull(c.valid, r)) throw new Error(`query: NULL ${name}`)
  return c
}

/** The symbol and OHLCV columns of a bars or summary answer (sql.ts): every group has a trade. */
const ohlcvColumns = (chunk: Chunk) => {
  const rows = chunk.rowCount
  const column = <C extends { readonly valid: Uint8Array | null }>(read: (vector: DuckDBVector) => C, name: string) =>
    nonNull(read(chunk.column(name)), rows, name)
  return {
    symbol: column(texts, "symbol"),
    open: column(decimals, "open"),
    high: column(decimals, "high"),
    low: column(decimals, "low"),
    close: column(decimals, "close"),
    volume: column(decimals128, "volume"),
    tradeCount: doubles(chunk.column("trade_count")),
    notional: column(decimals128, "notional")
  }
}

type OhlcvColumns = ReturnType<typeof ohlcvColumns>

/** (bid + ask) / 2 half-even at 8 places; through numbers when the sum fits them (exact: halving is). */
const halfAt = (d: Decimals128, r: number): string => {
  const twice = d.scale === OUTPUT_SCALE ? decimal128SafeAt(d, r) : Number.NaN
  if (twice !== twice) return bigFixedText(divide(decimal128FixedAt(d, r), TWO))
  const floor = Math.floor(twice / 2)
  // An odd sum is a tie: to the even neighbour.
  return fixedText(twice - 2 * floor === 1 && floor % 2 !== 0 ? floor + 1 : floor)
}

/** A quote has a mid and a spread when both its sides are priced (docs/decisions.md ADR-40); NULL when a side is. */
const TWO_SIDED = (alias: string) => `${alias}bid_price > 0 AND ${alias}ask_price > 0`

const quoteBarsOf = (chunk: Chunk, out: Array<QuoteBar>) => {
  const rows = chunk.rowCount
  const symbols = nonNull(texts(chunk.column("symbol")), rows, "symbol")
  const symbol = uniformText(symbols, rows)
  const exchanges = nonNull(texts(chunk.column("exchange")), rows, "exchange")
  const exchange = uniformText(exchanges, rows)
  const bucket = doubles(chunk.column("bucket"))
  const n = doubles(chunk.column("n"))
  const twoSided = doubles(chunk.column("n_two_sided"))
  // NULL exactly in the buckets without a two-sided quote.
  const decimal = (name: string) => {
    const c = decimals128(chunk.column(name))
    for (let r = 0; r < rows; r++) if (isNull(c.valid, r) !== (twoSided[r] === 0)) throw new Error(`query: ${name} disagrees with the two-sided count`)
    return c
  }
  const midOpen = decimal("mid_open"), midHigh = decimal("mid_high"), midLow = decimal("mid_low"), midClose = decimal("mid_close")
  const spreadMin = decimal("spread_min"), spreadMax = decimal("spread_max"), spreadSum = decimal("spread_sum"), spreadClose = decimal("spread_close")
  for (let r = 0; r < rows; r++) {
    const base = { symbol: symbol ?? textAt(symbols, r), exchange: exchange ?? textAt(exchanges, r), bucket: bucket[r]!, quoteCount: n[r]! }
    const m = twoSided[r]!
    out.push(m === 0 ? { ...base, ...NO_MID_OR_SPREAD } : {
      ...base,
      midOpen: halfAt(midOpen, r),
      midHigh: halfAt(midHigh, r),
      midLow: halfAt(midLow, r),
      midClose: halfAt(midClose, r),
      spreadMin: decimal128TextAt(spreadMin, r),
      spreadMax: decimal128TextAt(spreadMax, r),
      spreadMean: bigFixedText(divide(decimal128FixedAt(spreadSum, r), { unscaled: BigInt(m), scale: 0 })),
      spreadClose: decimal128TextAt(spreadClose, r)
    })
  }
}

/** A bucket of one-sided quotes only. */
const NO_MID_OR_SPREAD = {
  midOpen: null, midHigh: null, midLow: null, midClose: null, spreadMin: null, spreadMax: null, spreadMean: null, spreadClose: null
} as const

/**
 * Exact: the notional (scale 16) over the volume (scale 8), half-even at 8 places. Scales 16 and
 * 8 (sql.ts OHLCV) give the quotient at 8 places as it is; doubles decide it unless it is too
 * close to a half to call (bigint division was a third of converting a bar).
 */
const vwapAt = (c: OhlcvColumns, r: number): string => {
  notionalWrapped(c, r)
  const volume = decimal128SafeAt(c.volume, r)
  if (volume === 0) return "0.00000000"
  const atScale = c.notional.scale - c.volume.scale === OUTPUT_SCALE
  if (atScale && volume > 0) {
    const q = approxDivRoundHalfEven(decimal128ApproxAt(c.notional, r), volume)
    if (q === q) return fixedText(q)
  }
  // Too close to call, or beyond doubles (a volume past 2^53 is not zero).
  const notional = decimal128BigAt(c.notional, r)
  const exact = decimal128BigAt(c.volume, r)
  return bigFixedText(
    atScale
      ? divRoundHalfEven(notional, exact)
      : divide({ unscaled: notional, scale: c.notional.scale }, { unscaled: exact, scale: c.volume.scale })
  )
}

const barsOf = (chunk: Chunk, out: Array<Bar>) => {
  const c = ohlcvColumns(chunk)
  const bucket = doubles(chunk.column("bucket"))
  const symbol = uniformText(c.symbol, chunk.rowCount)
  const exchanges = nonNull(texts(chunk.column("exchange")), chunk.rowCount, "exchange")
  const exchange = uniformText(exchanges, chunk.rowCount)
  for (let r = 0; r < chunk.rowCount; r++) {
    out.push({
      symbol: symbol ?? textAt(c.symbol, r),
      exchange: exchange ?? textAt(exchanges, r),
      bucket: bucket[r]!,
      open: decimalAt(c.open, r),
      high: decimalAt(c.high, r),
      low: decimalAt(c.low, r),
      close: decimalAt(c.close, r),
      volume: decimal128TextAt(c.volume, r),
      tradeCount: c.tradeCount[r]!,
      vwap: vwapAt(c, r)
    })
  }
}

const summariesOf = (chunk: Chunk, out: Array<DailySummary>) => {
  const c = ohlcvColumns(chunk)
  const names = new Interned()
  const exchange = texts(chunk.column("exchange"))
  const tradingDay = texts(chunk.column("trading_day"))
  const firstTs = doubles(chunk.column("first_ts"))
  const lastTs = doubles(chunk.column("last_ts"))
  for (let r = 0; r < chunk.rowCount; r++) {
    out.push({
      symbol: internedAt(c.symbol, r, names),
      exchange: internedAt(exchange, r, names),
      tradingDay: internedAt(tradingDay, r, names),
      open: decimalAt(c.open, r),
      high: decimalAt(c.high, r),
      low: decimalAt(c.low, r),
      close: decimalAt(c.close, r),
      volume: decimal128TextAt(c.volume, r),
      tradeCount: c.tradeCount[r]!,
      vwap: vwapAt(c, r),
      firstTrade: firstTs[r]!,
      lastTrade: lastTs[r]!
    })
  }
}

/** One empty map for every row without one (frozen: shared by rows). */
const EMPTY_MAP: Readonly<Record<string, string>> = Object.freeze({})

/** A MAP column as the API gives it: an object (DuckDB's conversion gives key/value entries). */
const mapReader = (vector: DuckDBVector): (row: number) => unknown => {
  const read = cellReader(vector)
  return (row) => {
    const v = read(row) as ReadonlyArray<{ key: string; value: string }> | null
    return v === null ? null : v.length === 0 ? EMPTY_MAP : Object.fromEntries(v.map((e) => [e.key, e.value]))
  }
}

/** `layer` with the exchanges' zones ingest's trackers use (K2_SEQUENCE_ZONES over the default table). */
export const layerConfig = Layer.unwrap(Effect.gen(function*() {
  return layer({ exchangeZones: yield* exchangeZonesFromConfig })
}))
