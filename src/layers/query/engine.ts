/** QueryEngine over the TableScanner and DuckDB (semantics: docs/query.md). */
import type { DuckDBValue } from "@duckdb/node-api"
import { Effect, Layer, Result } from "effect"
import { decode as decodeBound } from "../../domain/iceberg/bounds.ts"
import type { PrimitiveType, Schema as TableSchema } from "../../domain/iceberg/spec.ts"
import { decodeCursor, encodeCursor } from "../../domain/query/cursor.ts"
import { InvalidArgument, InvalidCursor, invalid, type InvalidQuery } from "../../domain/query/errors.ts"
import { divide, divideText, type Fixed, formatFixed, parseFixed, rescale } from "../../domain/query/exact.ts"
import { BAR_INTERVALS, isBarInterval } from "../../domain/query/intervals.ts"
import {
  checkDate,
  checkDecimal,
  checkFields,
  checkLimit,
  checkRange,
  checkSymbols,
  dayText
} from "../../domain/query/validate.ts"
import { defaultExchangeZones } from "../../domain/sequence/calendar.ts"
import { tables } from "../../domain/tables.ts"
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
  type RowsRequest,
  type Scanned,
  type TradeClassification,
  type TradeWithQuote
} from "../../services/QueryEngine.ts"
import { type ScanPlan, type SnapshotSelector, TableScanner } from "../../services/TableScanner.ts"
import type { ScanFilter } from "../../domain/iceberg/pruning.ts"
import { DuckDb, attempt } from "../duckdb/DuckDb.ts"
import { blameFile, plannedPaths } from "../duckdb/readPlan.ts"
import { readRows } from "../duckdb/results.ts"
import { bucketExpression, columnExpression, decimalColumns, OHLCV, ORDER_KEY, Params, quoteIdent, symbolFilter, timeFilter } from "./sql.ts"

export interface QueryEngineOptions {
  /** Exchange → IANA zone for trading days; defaults to calendar.ts. */
  readonly exchangeZones?: Readonly<Record<string, string>>
  /** Zone of exchanges not listed; UTC by default. */
  readonly defaultZone?: string
}

type AnyTable = MarketTable | "sequence_events" | "instruments"

const definitionOf = (table: AnyTable) =>
  table === "trades" ? tables.trades : table === "quotes" ? tables.quotes : table === "sequence_events" ? tables.sequenceEvents : tables.instruments

const identifierOf = (table: AnyTable) => {
  const d = definitionOf(table)
  return { namespace: d.namespace, name: d.name }
}

const fromResult = <A>(r: Result.Result<A, InvalidQuery>): Effect.Effect<A, InvalidQuery> =>
  Result.isSuccess(r) ? Effect.succeed(r.success) : Effect.fail(r.failure)

export const scannedOf = (plan: ScanPlan): Scanned => ({
  table: `${plan.table.namespace}.${plan.table.name}`,
  snapshotId: plan.snapshot?.["snapshot-id"] ?? null,
  snapshotTimestampMs: plan.snapshot?.["timestamp-ms"] ?? null,
  manifestsRead: plan.stats.manifestsRead,
  manifestsTotal: plan.stats.manifestsTotal,
  filesPlanned: plan.stats.filesPlanned,
  filesTotal: plan.stats.filesTotal,
  bytesPlanned: plan.stats.bytesPlanned,
  bytesTotal: plan.stats.bytesTotal
})

const num = (v: unknown): number => (typeof v === "bigint" ? Number(v) : (v as number))

/** Versions of an instrument, newest ingestion first; rows without lineage (other writers) last. */
const LATEST_FIRST = "ingestion_timestamp DESC NULLS LAST, kafka_offset DESC NULLS LAST"

const DAY = 86_400_000_000

export const layer = (options: QueryEngineOptions = {}) =>
  Layer.effect(QueryEngine)(Effect.gen(function*() {
    const scanner = yield* TableScanner
    const duckDb = yield* DuckDb
    const catalog = yield* Catalog
    const zones = Object.entries(options.exchangeZones ?? defaultExchangeZones)
    const defaultZone = options.defaultZone ?? "UTC"
    // One branch per exchange with its zone as a parameter: a constant zone per branch keeps
    // DuckDB's ICU conversion on its fast path (a per-row zone lookup was ~5x slower).
    const localDay = (params: Params) =>
      `CASE exchange ${
        zones.map(([exchange, zone]) => `WHEN ${params.add(exchange)} THEN timezone(${params.add(zone)}::VARCHAR, exchange_timestamp)`).join(" ")
      } ELSE timezone(${params.add(defaultZone)}::VARCHAR, exchange_timestamp) END::DATE`

    const plan = (table: AnyTable, snapshot: SnapshotSelector | undefined, filter: ScanFilter) =>
      scanner.plan(identifierOf(table), { ...(snapshot === undefined ? {} : { snapshot }), filter })

    /** Trades and quotes at one state: a table with no snapshot then (e.g. a fresh one) reads as empty. */
    const planMarket = (snapshot: SnapshotSelector | undefined, trades: ScanFilter, quotes: ScanFilter) =>
      scanner.planTogether([
        { table: identifierOf("trades"), filter: trades },
        { table: identifierOf("quotes"), filter: quotes }
      ], snapshot).pipe(Effect.map(([t, q]) => [t!, q!] as const))

    /** Runs K2's SQL over planned files; any failure naming a planned file becomes a TableFileError. */
    const run = (plans: ReadonlyArray<ScanPlan>, sql: string, values: ReadonlyArray<DuckDBValue>) => {
      const paths = plans.flatMap(plannedPaths)
      return duckDb.withConnection((connection) =>
        attempt("query", () => readRows(connection, sql, values), () => connection.interrupt())
      ).pipe(Effect.mapError(blameFile(paths)))
    }

    const timed = <A, E, R>(body: Effect.Effect<A, E, R>) =>
      Effect.gen(function*() {
        const start = yield* Effect.clockWith((c) => Effect.succeed(c.currentTimeNanosUnsafe()))
        const value = yield* body
        const end = yield* Effect.clockWith((c) => Effect.succeed(c.currentTimeNanosUnsafe()))
        return { value, elapsedMs: Number(end - start) / 1e6 }
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
        const symbols = yield* fromResult(checkSymbols(request.symbols))
        const range = yield* fromResult(checkRange(request.from, request.to))
        const limit = yield* fromResult(checkLimit(request.limit))
        const fields = yield* fromResult(checkFields(request.fields, schema.fields.map((f) => f.name)))
        const allowed = decimalColumns(schema)
        const filters: Array<{ column: string; min: string | undefined; max: string | undefined }> = []
        for (const f of request.filters ?? []) {
          if (!allowed.includes(f.column)) {
            return yield* invalid(new InvalidArgument({ name: "filter column", detail: `${JSON.stringify(f.column)}; ${table} can be filtered on ${allowed.join(", ")}` }))
          }
          const min = yield* fromResult(checkDecimal(`${f.column} min`, f.min))
          const max = yield* fromResult(checkDecimal(`${f.column} max`, f.max))
          filters.push({ column: f.column, min, max })
        }
        let snapshot = request.snapshot
        let after: ReturnType<typeof decodeCursor> extends Result.Result<infer C, unknown> ? C | undefined : never = undefined
        if (request.cursor !== undefined) {
          const decoded = decodeCursor(request.cursor)
          if (Result.isFailure(decoded)) return yield* invalid(new InvalidCursor({ detail: decoded.failure }))
          after = decoded.success
          if (after.table !== table) return yield* invalid(new InvalidCursor({ detail: `it pages ${after.table}, not ${table}` }))
          if (snapshot?._tag === "ById" && after.snapshotId !== null && snapshot.snapshotId !== after.snapshotId) {
            return yield* invalid(new InvalidCursor({ detail: `it reads snapshot ${after.snapshotId}, the request asks for ${snapshot.snapshotId}` }))
          }
          if (after.snapshotId !== null) snapshot = { _tag: "ById", snapshotId: after.snapshotId }
        }
        const from = after === undefined ? range.from : Math.max(range.from, after.exchangeTimestamp)
        return yield* timed(Effect.gen(function*() {
          const p = yield* plan(table, snapshot, {
            time: { column: "exchange_timestamp", from, to: range.to },
            ...(symbols.length > 0 ? { values: [{ column: "symbol", values: symbols }] } : {})
          })
          if (p.files.length === 0 || from >= range.to) return { rows: [] as Array<MarketRow>, next: null, plan: p }
          const params = new Params()
          const source = params.files(plannedPaths(p))
          let where = `${timeFilter(params, from, range.to)}${symbolFilter(params, symbols)}`
          for (const f of filters) {
            if (f.min !== undefined) where += ` AND ${quoteIdent(f.column)} >= ${params.decimal(f.min)}`
            if (f.max !== undefined) where += ` AND ${quoteIdent(f.column)} <= ${params.decimal(f.max)}`
          }
          if (after !== undefined) {
            where += ` AND (exchange_timestamp, coalesce(source_sequence, -1), message_id) > (${params.micros(after.exchangeTimestamp)}, ${params.add(after.sequence)}::BIGINT, ${params.add(after.messageId)}::VARCHAR)`
          }
          // The cursor needs the order key; fields that already hold a part of it are not read twice.
          const tsKey = fields.includes("exchange_timestamp") ? "exchange_timestamp" : "__ts"
          const idKey = fields.includes("message_id") ? "message_id" : "__id"
          const select = [
            ...fields.map((f) => columnExpression(schema, f)),
            ...(tsKey === "__ts" ? ["epoch_us(exchange_timestamp)::DOUBLE AS \"__ts\""] : []),
            "coalesce(source_sequence, -1) AS \"__seq\"",
            ...(idKey === "__id" ? ["message_id AS \"__id\""] : [])
          ].join(", ")
          const sql = `SELECT ${select} FROM ${source} WHERE ${where} ORDER BY ${ORDER_KEY} LIMIT ${params.add(limit + 1)}`
          const raw = yield* run([p], sql, params.values)
          const more = raw.length > limit
          const page = more ? raw.slice(0, limit) : raw
          const out = page.map((r) => toMarketRow(r, fields, schema))
          const last = page[page.length - 1]
          const next = more && last !== undefined
            ? encodeCursor({
              table,
              snapshotId: p.snapshot?.["snapshot-id"] ?? null,
              exchangeTimestamp: num(last[tsKey]),
              sequence: last["__seq"] as bigint,
              messageId: last[idKey] as string
            })
            : null
          return { rows: out, next, plan: p }
        })).pipe(Effect.map(({ value, elapsedMs }): Page<MarketRow> => ({
          ...answer(value.rows, [value.plan], elapsedMs),
          nextCursor: value.next
        })))
      })

    // --- bars ------------------------------------------------------------------------------

    const checkBars = (request: { readonly symbols?: ReadonlyArray<string>; readonly from: number; readonly to: number; readonly interval: string }) =>
      Effect.gen(function*() {
        const symbols = yield* fromResult(checkSymbols(request.symbols))
        const range = yield* fromResult(checkRange(request.from, request.to))
        if (!isBarInterval(request.interval)) {
          return yield* invalid(new InvalidArgument({ name: "interval", detail: `${JSON.stringify(request.interval)}; one of ${Object.keys(BAR_INTERVALS).join(", ")}` }))
        }
        return { symbols, range, interval: BAR_INTERVALS[request.interval] }
      })

    const marketFilter = (symbols: ReadonlyArray<string>, from: number, to: number): ScanFilter => ({
      time: { column: "exchange_timestamp", from, to },
      ...(symbols.length > 0 ? { values: [{ column: "symbol", values: symbols }] } : {})
    })

    const bars = Effect.fn("QueryEngine.bars")(function*(request: Parameters<QueryEngine["Service"]["bars"]>[0]) {
      const { symbols, range, interval } = yield* checkBars(request)
      const { value, elapsedMs } = yield* timed(Effect.gen(function*() {
        const p = yield* plan("trades", request.snapshot, marketFilter(symbols, range.from, range.to))
        if (p.files.length === 0 || range.from === range.to) return { rows: [] as Array<Bar>, p }
        const params = new Params()
        const sql = `WITH t AS (
            SELECT symbol, epoch_us(exchange_timestamp) AS ts, coalesce(source_sequence, -1) AS seq, message_id, price, quantity
            FROM ${params.files(plannedPaths(p))}
            WHERE ${timeFilter(params, range.from, range.to)}${symbolFilter(params, symbols)})
          SELECT symbol, ${bucketExpression(`${params.add(BigInt(interval))}::BIGINT`)}::DOUBLE AS bucket, ${OHLCV}
          FROM t GROUP BY ALL ORDER BY symbol, bucket`
        const raw = yield* run([p], sql, params.values)
        return { rows: raw.map(toBar), p }
      }))
      return answer(value.rows, [value.p], elapsedMs)
    })

    const dailySummary = Effect.fn("QueryEngine.dailySummary")(function*(request: Parameters<QueryEngine["Service"]["dailySummary"]>[0]) {
      const symbols = yield* fromResult(checkSymbols(request.symbols))
      const first = yield* fromResult(checkDate("fromDay", request.fromDay))
      const last = yield* fromResult(checkDate("toDay", request.toDay))
      if (first > last) return yield* fromResult(checkRange(first * DAY, last * DAY)).pipe(Effect.as(undefined as never))
      const { value, elapsedMs } = yield* timed(Effect.gen(function*() {
        // Every zone is within a day of UTC: plan one day either side, select by local date.
        const from = (first - 1) * DAY
        const to = (last + 2) * DAY
        const p = yield* plan("trades", request.snapshot, marketFilter(symbols, from, to))
        if (p.files.length === 0) return { rows: [] as Array<DailySummary>, p }
        const params = new Params()
        const sql = `WITH t AS (
            SELECT symbol, exchange, epoch_us(exchange_timestamp) AS ts, coalesce(source_sequence, -1) AS seq, message_id, price, quantity,
              ${localDay(params)} AS day
            FROM ${params.files(plannedPaths(p))}
            WHERE ${timeFilter(params, from, to)}${symbolFilter(params, symbols)})
          SELECT symbol, exchange, day::VARCHAR AS trading_day, ${OHLCV}, min(ts)::DOUBLE AS first_ts, max(ts)::DOUBLE AS last_ts
          FROM t WHERE day BETWEEN ${params.add(dayText(first))}::DATE AND ${params.add(dayText(last))}::DATE
          GROUP BY symbol, exchange, day ORDER BY symbol, exchange, day`
        const raw = yield* run([p], sql, params.values)
        return {
          rows: raw.map((r): DailySummary => {
            const bar = toBar(r)
            return {
              symbol: bar.symbol,
              exchange: r.exchange as string,
              tradingDay: r.trading_day as string,
              open: bar.open,
              high: bar.high,
              low: bar.low,
              close: bar.close,
              volume: bar.volume,
              tradeCount: bar.tradeCount,
              vwap: bar.vwap,
              firstTrade: num(r.first_ts),
              lastTrade: num(r.last_ts)
            }
          }),
          p
        }
      }))
      return answer(value.rows, [value.p], elapsedMs)
    })

    const quoteBars = Effect.fn("QueryEngine.quoteBars")(function*(request: Parameters<QueryEngine["Service"]["quoteBars"]>[0]) {
      const { symbols, range, interval } = yield* checkBars(request)
      const { value, elapsedMs } = yield* timed(Effect.gen(function*() {
        const p = yield* plan("quotes", request.snapshot, marketFilter(symbols, range.from, range.to))
        if (p.files.length === 0 || range.from === range.to) return { rows: [] as Array<QuoteBar>, p }
        const params = new Params()
        const sql = `WITH q AS (
            SELECT symbol, epoch_us(exchange_timestamp) AS ts, coalesce(source_sequence, -1) AS seq, message_id,
              bid_price::DECIMAL(38, 8) + ask_price::DECIMAL(38, 8) AS twice_mid, ask_price::DECIMAL(38, 8) - bid_price::DECIMAL(38, 8) AS spread
            FROM ${params.files(plannedPaths(p))}
            WHERE ${timeFilter(params, range.from, range.to)}${symbolFilter(params, symbols)})
          SELECT symbol, ${bucketExpression(`${params.add(BigInt(interval))}::BIGINT`)}::DOUBLE AS bucket, count(*)::DOUBLE AS n,
            arg_min(twice_mid, (ts, seq, message_id)) AS mid_open, max(twice_mid) AS mid_high,
            min(twice_mid) AS mid_low, arg_max(twice_mid, (ts, seq, message_id)) AS mid_close,
            min(spread) AS spread_min, max(spread) AS spread_max, sum(spread) AS spread_sum,
            arg_max(spread, (ts, seq, message_id)) AS spread_close
          FROM q GROUP BY ALL ORDER BY symbol, bucket`
        const raw = yield* run([p], sql, params.values)
        const half = (twice: unknown) => formatFixed(divide(twice as Fixed, TWO))
        return {
          rows: raw.map((r): QuoteBar => ({
            symbol: r.symbol as string,
            bucket: num(r.bucket),
            quoteCount: num(r.n),
            midOpen: half(r.mid_open),
            midHigh: half(r.mid_high),
            midLow: half(r.mid_low),
            midClose: half(r.mid_close),
            spreadMin: text(r.spread_min),
            spreadMax: text(r.spread_max),
            spreadMean: formatFixed(divide(r.spread_sum as Fixed, { unscaled: BigInt(num(r.n)), scale: 0 })),
            spreadClose: text(r.spread_close)
          })),
          p
        }
      }))
      return answer(value.rows, [value.p], elapsedMs)
    })

    const tradesWithQuotes = Effect.fn("QueryEngine.tradesWithQuotes")(function*(request: Parameters<QueryEngine["Service"]["tradesWithQuotes"]>[0]) {
      const symbols = yield* fromResult(checkSymbols(request.symbols))
      const range = yield* fromResult(checkRange(request.from, request.to))
      const limit = yield* fromResult(checkLimit(request.limit))
      const lookback = request.quoteLookbackMicros ?? DAY
      if (!Number.isSafeInteger(lookback) || lookback < 0 || lookback > 31 * DAY) {
        return yield* invalid(new InvalidArgument({ name: "quoteLookbackMicros", detail: `${lookback}; 0 to 31 days in microseconds` }))
      }
      const { value, elapsedMs } = yield* timed(Effect.gen(function*() {
        const [tp, qp] = yield* planMarket(
          request.snapshot,
          marketFilter(symbols, range.from, range.to),
          marketFilter(symbols, range.from - lookback, range.to)
        )
        if (tp.files.length === 0 || range.from === range.to) return { rows: [] as Array<TradeWithQuote>, plans: [tp, qp] }
        const params = new Params()
        const trades = `SELECT symbol, exchange_timestamp, source_sequence, coalesce(source_sequence, -1) AS seq, message_id, price, quantity, side
          FROM ${params.files(plannedPaths(tp))} WHERE ${timeFilter(params, range.from, range.to)}${symbolFilter(params, symbols)}`
        // The prevailing quote at an instant is the last one by (time, sequence, message_id): keep one per (symbol, time).
        const quotes = qp.files.length === 0
          ? `SELECT NULL::VARCHAR AS symbol, NULL::TIMESTAMPTZ AS quote_ts, NULL::DECIMAL(18, 8) AS bid_price, NULL::DECIMAL(18, 8) AS bid_size,
              NULL::DECIMAL(18, 8) AS ask_price, NULL::DECIMAL(18, 8) AS ask_size LIMIT 0`
          : `SELECT symbol, exchange_timestamp AS quote_ts, bid_price, bid_size, ask_price, ask_size
              FROM ${params.files(plannedPaths(qp))}
              WHERE ${timeFilter(params, range.from - lookback, range.to)}${symbolFilter(params, symbols)}
              QUALIFY row_number() OVER (PARTITION BY symbol, exchange_timestamp ORDER BY coalesce(source_sequence, -1) DESC, message_id DESC) = 1`
        const sql = `WITH t AS (${trades}), q AS (${quotes})
          SELECT t.symbol, epoch_us(t.exchange_timestamp)::DOUBLE AS ts, t.source_sequence, t.message_id, t.price::VARCHAR AS price,
            t.quantity::VARCHAR AS quantity, t.side, epoch_us(q.quote_ts)::DOUBLE AS quote_ts,
            q.bid_price::VARCHAR AS bid_price, q.bid_size::VARCHAR AS bid_size, q.ask_price::VARCHAR AS ask_price, q.ask_size::VARCHAR AS ask_size,
            (q.bid_price::DECIMAL(38, 8) + q.ask_price::DECIMAL(38, 8))::VARCHAR AS twice_mid,
            abs(t.price::DECIMAL(38, 8) * 2 - q.bid_price::DECIMAL(38, 8) - q.ask_price::DECIMAL(38, 8))::VARCHAR AS effective_spread,
            CASE WHEN q.quote_ts IS NULL THEN NULL
              WHEN t.price::DECIMAL(38, 8) * 2 > q.bid_price::DECIMAL(38, 8) + q.ask_price::DECIMAL(38, 8) THEN 'BUY'
              WHEN t.price::DECIMAL(38, 8) * 2 < q.bid_price::DECIMAL(38, 8) + q.ask_price::DECIMAL(38, 8) THEN 'SELL'
              ELSE 'MID' END AS classification
          FROM t ASOF LEFT JOIN q ON t.symbol = q.symbol AND t.exchange_timestamp >= q.quote_ts
          ORDER BY t.exchange_timestamp, t.seq, t.message_id LIMIT ${params.add(limit)}`
        const raw = yield* run([tp, qp], sql, params.values)
        const fixed = (v: unknown) => (v === null ? null : formatFixed(rescale(parseFixed(v as string))))
        return {
          rows: raw.map((r): TradeWithQuote => ({
            symbol: r.symbol as string,
            exchangeTimestamp: num(r.ts),
            sourceSequence: (r.source_sequence as bigint | null) ?? null,
            messageId: r.message_id as string,
            price: r.price as string,
            quantity: r.quantity as string,
            side: r.side as string,
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
      return answer(value.rows, value.plans, elapsedMs)
    })

    // --- reference data and table facts ----------------------------------------------------

    const instruments = Effect.fn("QueryEngine.instruments")(function*(request: Parameters<QueryEngine["Service"]["instruments"]>[0] = {}) {
      const symbols = yield* fromResult(checkSymbols(request.symbols))
      const { value, elapsedMs } = yield* timed(Effect.gen(function*() {
        const p = yield* plan("instruments", request.snapshot, {})
        if (p.files.length === 0) return { rows: [] as Array<Record<string, unknown>>, p }
        const schema = tables.instruments.schema
        const params = new Params()
        // Every load appends its instruments again: each (exchange, symbol) reads as its latest
        // version by ingestion (docs/decisions.md ADR-10).
        const sql = `SELECT ${schema.fields.map((f) => columnExpression(schema, f.name)).join(", ")} FROM ${params.files(plannedPaths(p))}
          WHERE true${symbolFilter(params, symbols)}
          QUALIFY row_number() OVER (PARTITION BY exchange, symbol ORDER BY ${LATEST_FIRST}) = 1
          ORDER BY symbol, exchange`
        return { rows: yield* run([p], sql, params.values), p }
      }))
      return answer(value.rows, [value.p], elapsedMs)
    })

    const symbolsOf = Effect.fn("QueryEngine.symbols")(function*(request: Parameters<QueryEngine["Service"]["symbols"]>[0] = {}) {
      const symbols = yield* fromResult(checkSymbols(request.symbols))
      const one = (p: ScanPlan) =>
        Effect.gen(function*() {
          if (p.files.length === 0) return { p, stats: new Map<string, { count: number; first: number; last: number }>() }
          const params = new Params()
          const sql = `SELECT symbol, count(*)::DOUBLE AS n, min(epoch_us(exchange_timestamp))::DOUBLE AS first, max(epoch_us(exchange_timestamp))::DOUBLE AS last
            FROM ${params.files(plannedPaths(p))} WHERE true${symbolFilter(params, symbols)} GROUP BY symbol`
          const raw = yield* run([p], sql, params.values)
          return { p, stats: new Map(raw.map((r) => [r.symbol as string, { count: num(r.n), first: num(r.first), last: num(r.last) }])) }
        })
      const filter: ScanFilter = symbols.length > 0 ? { values: [{ column: "symbol", values: symbols }] } : {}
      const { value, elapsedMs } = yield* timed(
        planMarket(request.snapshot, filter, filter).pipe(Effect.flatMap(([tp, qp]) => Effect.all([one(tp), one(qp)], { concurrency: 2 })))
      )
      const [t, q] = value
      const names = [...new Set([...t.stats.keys(), ...q.stats.keys()])].sort()
      return answer(
        names.map((symbol) => ({ symbol, trades: t.stats.get(symbol) ?? null, quotes: q.stats.get(symbol) ?? null })),
        [t.p, q.p],
        elapsedMs
      )
    })

    const tableStats = Effect.fn("QueryEngine.tableStats")(function*(table: AnyTable, readOptions: { readonly snapshot?: SnapshotSelector } = {}) {
      const p = yield* plan(table, readOptions.snapshot, {})
      const column = p.schema.fields.find((f) => f.name === "exchange_timestamp")
      let first: number | null = null
      let last: number | null = null
      const days = new Set<unknown>()
      for (const file of p.files) {
        for (const v of Object.values(file.partition)) days.add(v)
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

    const snapshots = Effect.fn("QueryEngine.snapshots")(function*(table: AnyTable) {
      const { metadata } = yield* catalog.loadTable(identifierOf(table))
      const current = metadata["current-snapshot-id"] ?? null
      return metadata.snapshots.map((s) => ({
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
      quoteBars,
      tradesWithQuotes,
      instruments,
      symbols: symbolsOf,
      tableStats,
      snapshots
    })
  }))

const TWO: Fixed = { unscaled: 2n, scale: 0 }

/** Exact decimal text at the columns' 8 places. */
const text = (v: unknown) => formatFixed(rescale(v as Fixed))

const toBar = (r: Record<string, unknown>): Bar => {
  const volume = r.volume as Fixed
  return {
    symbol: r.symbol as string,
    bucket: num(r.bucket),
    open: text(r.open),
    high: text(r.high),
    low: text(r.low),
    close: text(r.close),
    volume: text(volume),
    tradeCount: num(r.trade_count),
    vwap: volume.unscaled === 0n ? "0.00000000" : formatFixed(divide(r.notional as Fixed, volume))
  }
}

const toMarketRow = (r: Record<string, unknown>, fields: ReadonlyArray<string>, schema: TableSchema): MarketRow => {
  const out: Record<string, unknown> = {}
  for (const f of fields) {
    const v = r[f]
    const type = schema.fields.find((x) => x.name === f)?.type
    out[f] = v !== null && typeof type === "object" && type.type === "map"
      ? Object.fromEntries((v as ReadonlyArray<{ key: string; value: string }>).map((e) => [e.key, e.value]))
      : v
  }
  return out
}
