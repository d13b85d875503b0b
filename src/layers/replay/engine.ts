/**
 * ReplayEngine over the TableScanner and DuckDB.
 *
 * Per UTC day (partitions never overlap in time), the day's range is cut into windows of
 * at most `windowRows` rows (windows.ts). One statement per window reads the planned files
 * of both tables (UNION ALL), already filtered by time and symbol, and DuckDB sorts it in
 * the replay order; its result is streamed chunk by chunk (2048 rows) into a bounded queue.
 * Memory: one window inside DuckDB plus the queue. Connections: one pooled connection per
 * window; a paced window is read whole first so no connection waits on the pace.
 */
import { DuckDBDoubleVector, type DuckDBDataChunk, type DuckDBValue } from "@duckdb/node-api"
import { Cause, Effect, Layer, Queue, Result, Stream } from "effect"
import type { Offsets } from "../../domain/ingest/marker.ts"
import { markerIn } from "../../domain/ingest/marker.ts"
import { InvalidArgument, invalid, LimitOutOfRange, type InvalidQuery } from "../../domain/query/errors.ts"
import { checkRange, checkSymbols } from "../../domain/query/validate.ts"
import { tables } from "../../domain/tables.ts"
import { Catalog } from "../../services/Catalog.ts"
import type { MarketTable } from "../../services/QueryEngine.ts"
import { type QuoteEvent, ReplayEngine, type ReplayError, type ReplayEvent, type ReplayRequest, type TradeEvent } from "../../services/ReplayEngine.ts"
import { type ScanPlan, TableScanner } from "../../services/TableScanner.ts"
import { attempt, DuckDb } from "../duckdb/DuckDb.ts"
import { blameFile, plannedPaths } from "../duckdb/readPlan.ts"
import { Params, symbolFilter, timeFilter } from "../query/sql.ts"
import { paced } from "./pace.ts"
import { cutWindows } from "./windows.ts"

const DAY = 86_400_000_000
const SEP = "\u001f"
const QUEUE_EVENTS = 16_384

const identifierOf = (table: MarketTable) => {
  const d = table === "trades" ? tables.trades : tables.quotes
  return { namespace: d.namespace, name: d.name }
}

const fromResult = <A>(r: Result.Result<A, InvalidQuery>): Effect.Effect<A, InvalidQuery> =>
  Result.isSuccess(r) ? Effect.succeed(r.success) : Effect.fail(r.failure)

/** The UTC day of a file, from its day(exchange_timestamp) partition value; null when unpartitioned. */
const dayOf = (partition: Readonly<Record<string, unknown>>): number | null => {
  const v = partition["exchange_timestamp_day"]
  return typeof v === "number" ? v : null
}

const COMMON = (idColumn: string) => `message_id, ${idColumn} AS id, symbol, exchange, asset_class,
  epoch_us(exchange_timestamp)::DOUBLE AS ts, source_sequence AS seq`
const LINEAGE = `currency, array_to_string(conditions, chr(31)) AS conditions, epoch_us(ingestion_timestamp)::DOUBLE AS its,
  kafka_topic, kafka_partition, kafka_offset, to_json(vendor_data)::VARCHAR AS vendor, coalesce(source_sequence, -1) AS oseq`
const SELECT_TRADES = `SELECT 'T' AS kind, ${COMMON("trade_id")}, price::VARCHAR AS a, quantity::VARCHAR AS b, side AS c, NULL::VARCHAR AS d, ${LINEAGE}`
const SELECT_QUOTES = `SELECT 'Q' AS kind, ${COMMON("quote_id")}, bid_price::VARCHAR AS a, bid_size::VARCHAR AS b, ask_price::VARCHAR AS c, ask_size::VARCHAR AS d, ${LINEAGE}`

const EMPTY_RECORD: Readonly<Record<string, string>> = Object.freeze({})
const EMPTY_LIST: ReadonlyArray<string> = Object.freeze([])

/** One DuckDB chunk to events: column by column, numbers straight from the vectors' typed arrays. */
export const chunkToEvents = (chunk: DuckDBDataChunk): Array<ReplayEvent> => {
  const n = chunk.rowCount
  const col = (i: number) => chunk.getColumnVector(i)
  const [kind, mid, id, sym, ex, ac] = [0, 1, 2, 3, 4, 5].map(col)
  const tsVector = col(6)
  const ts = tsVector instanceof DuckDBDoubleVector ? (tsVector as unknown as { readonly items: Float64Array }).items : null
  const [seq, a, b, c, d, cur, cond] = [7, 8, 9, 10, 11, 12, 13].map(col)
  const itsVector = col(14)
  const its = itsVector instanceof DuckDBDoubleVector ? (itsVector as unknown as { readonly items: Float64Array }).items : null
  const [topic, part, off, vendor] = [15, 16, 17, 18].map(col)
  const out = new Array<ReplayEvent>(n)
  for (let r = 0; r < n; r++) {
    const conditions = cond!.getItem(r) as string | null
    const vendorText = vendor!.getItem(r) as string | null
    const message_id = mid!.getItem(r) as string
    const symbol = sym!.getItem(r) as string
    const exchange = ex!.getItem(r) as string
    const asset_class = ac!.getItem(r) as string
    const exchange_timestamp = ts === null ? (tsVector.getItem(r) as number) : ts[r]!
    const currency = cur!.getItem(r) as string
    const conditionList = conditions === null || conditions === "" ? EMPTY_LIST : conditions.split(SEP)
    const source_sequence = seq!.getItem(r) as bigint | null
    const ingestion_timestamp = its === null ? (itsVector.getItem(r) as number) : its[r]!
    const kafka_topic = topic!.getItem(r) as string
    const kafka_partition = part!.getItem(r) as number
    const kafka_offset = off!.getItem(r) as bigint
    const vendor_data = vendorText === null || vendorText === "{}" ? EMPTY_RECORD : (JSON.parse(vendorText) as Record<string, string>)
    // Object literals of one shape per kind (no spreads): the hot path of replay.
    out[r] = kind!.getItem(r) === "T"
      ? {
        _tag: "Trade", message_id, symbol, exchange, asset_class, exchange_timestamp, currency, conditions: conditionList, source_sequence,
        ingestion_timestamp, kafka_topic, kafka_partition, kafka_offset, vendor_data,
        trade_id: id!.getItem(r) as string, price: a!.getItem(r) as string, quantity: b!.getItem(r) as string, side: c!.getItem(r) as string
      } satisfies TradeEvent
      : {
        _tag: "Quote", message_id, symbol, exchange, asset_class, exchange_timestamp, currency, conditions: conditionList, source_sequence,
        ingestion_timestamp, kafka_topic, kafka_partition, kafka_offset, vendor_data,
        quote_id: id!.getItem(r) as string, bid_price: a!.getItem(r) as string, bid_size: b!.getItem(r) as string,
        ask_price: c!.getItem(r) as string, ask_size: d!.getItem(r) as string
      } satisfies QuoteEvent
  }
  return out
}

export const layer = Layer.effect(ReplayEngine)(Effect.gen(function*() {
  const scanner = yield* TableScanner
  const duckDb = yield* DuckDb
  const catalog = yield* Catalog

  const check = Effect.fnUntraced(function*(request: ReplayRequest) {
    const symbols = yield* fromResult(checkSymbols(request.symbols))
    const range = yield* fromResult(checkRange(request.from, request.to))
    const which = [...new Set(request.tables ?? ["trades", "quotes"])]
    if (which.length === 0 || which.some((t) => t !== "trades" && t !== "quotes")) {
      return yield* invalid(new InvalidArgument({ name: "tables", detail: `${JSON.stringify(request.tables)}; trades and/or quotes` }))
    }
    const pace = request.pace ?? { _tag: "Unpaced" as const }
    if (pace._tag === "Paced" && !(Number.isFinite(pace.speed) && pace.speed > 0 && pace.speed <= 1_000_000)) {
      return yield* invalid(new InvalidArgument({ name: "speed", detail: `${pace.speed}; a multiple of real time above 0, at most 1000000` }))
    }
    const windowRows = request.windowRows ?? (pace._tag === "Paced" ? 50_000 : 1_000_000)
    if (!Number.isSafeInteger(windowRows) || windowRows < 1_000 || windowRows > 10_000_000) {
      return yield* invalid(new LimitOutOfRange({ name: "windowRows", value: windowRows, min: 1_000, max: 10_000_000 }))
    }
    return { symbols, range, which: which as Array<MarketTable>, pace, windowRows }
  })

  const planAll = (request: ReplayRequest, c: Effect.Success<ReturnType<typeof check>>) =>
    Effect.forEach(c.which, (table) => {
      const snapshot = request.snapshots?.[table] ?? request.snapshot
      return scanner.plan(identifierOf(table), {
        ...(snapshot === undefined ? {} : { snapshot }),
        filter: {
          time: { column: "exchange_timestamp", from: c.range.from, to: c.range.to },
          ...(c.symbols.length > 0 ? { values: [{ column: "symbol", values: c.symbols }] } : {})
        }
      }).pipe(Effect.map((plan) => ({ table, plan })))
    }, { concurrency: 2 })

  /** Files of `plan` that may hold rows of UTC day `day`. */
  const filesOfDay = (plan: ScanPlan, day: number): ScanPlan => ({
    ...plan,
    files: plan.files.filter((f) => {
      const d = dayOf(f.partition)
      return d === null || d === day
    })
  })

  const produce = (
    queue: Queue.Queue<ReplayEvent, ReplayError | Cause.Done>,
    plans: ReadonlyArray<{ table: MarketTable; plan: ScanPlan }>,
    c: Effect.Success<ReturnType<typeof check>>
  ) =>
    Effect.gen(function*() {
      if (c.range.from >= c.range.to) return yield* Queue.end(queue)
      const days = new Set<number>()
      let unpartitioned = false
      for (const { plan } of plans) {
        for (const f of plan.files) {
          const d = dayOf(f.partition)
          if (d === null) unpartitioned = true
          else days.add(d)
        }
      }
      if (unpartitioned) {
        for (let d = Math.floor(c.range.from / DAY); d <= Math.floor((c.range.to - 1) / DAY); d++) days.add(d)
      }
      for (const day of [...days].sort((x, y) => x - y)) {
        const from = Math.max(c.range.from, day * DAY)
        const to = Math.min(c.range.to, (day + 1) * DAY)
        if (from >= to) continue
        const dayPlans = plans.map(({ table, plan }) => ({ table, plan: filesOfDay(plan, day) })).filter((p) => p.plan.files.length > 0)
        if (dayPlans.length === 0) continue
        const paths = dayPlans.flatMap((p) => plannedPaths(p.plan))
        const upperBound = dayPlans.reduce((n, p) => n + p.plan.files.reduce((m, f) => m + f.recordCount, 0), 0)
        const windows = upperBound <= c.windowRows
          ? [{ from, to, rows: upperBound }]
          : cutWindows(yield* histogram(dayPlans, c.symbols, from, to, paths), c.windowRows, from, to)
        for (const w of windows) {
          if (w.rows === 0) continue
          const params = new Params()
          const parts = dayPlans.map(({ table, plan }) =>
            `${table === "trades" ? SELECT_TRADES : SELECT_QUOTES} FROM ${params.files(plannedPaths(plan))}
             WHERE ${timeFilter(params, w.from, w.to)}${symbolFilter(params, c.symbols)}`
          )
          const sql = `${parts.join(" UNION ALL ")} ORDER BY ts, oseq, message_id, kind`
          if (c.pace._tag === "Paced") {
            const events = yield* duckDb.withConnection((connection) => readAll(connection, sql, params.values)).pipe(Effect.mapError(blameFile(paths)))
            yield* Queue.offerAll(queue, events)
          } else {
            yield* duckDb.withConnection((connection) => streamInto(connection, sql, params.values, queue)).pipe(Effect.mapError(blameFile(paths)))
          }
        }
      }
      yield* Queue.end(queue)
    })

  const histogram = (
    dayPlans: ReadonlyArray<{ table: MarketTable; plan: ScanPlan }>,
    symbols: ReadonlyArray<string>,
    from: number,
    to: number,
    paths: ReadonlyArray<string>
  ) => {
    const params = new Params()
    const parts = dayPlans.map(({ plan }) =>
      `SELECT epoch_us(exchange_timestamp) // 1000000 AS s FROM ${params.files(plannedPaths(plan))}
       WHERE ${timeFilter(params, from, to)}${symbolFilter(params, symbols)}`
    )
    const sql = `SELECT (s * 1000000)::DOUBLE AS s, count(*)::DOUBLE AS n FROM (${parts.join(" UNION ALL ")}) GROUP BY s ORDER BY s`
    return duckDb.withConnection((connection) =>
      attempt("replay histogram", async () => {
        const result = await connection.runAndReadAll(sql, [...params.values])
        const [s, n] = result.getColumnsJS() as [Array<number>, Array<number>]
        return s.map((second, i) => [second, n[i]!] as const)
      })
    ).pipe(Effect.mapError(blameFile(paths)))
  }

  const stream = (request: ReplayRequest): Stream.Stream<ReplayEvent, ReplayError> =>
    Stream.unwrap(Effect.gen(function*() {
      const c = yield* check(request)
      const plans = yield* planAll(request, c)
      const events = Stream.callback<ReplayEvent, ReplayError>((queue) => produce(queue, plans, c), { bufferSize: QUEUE_EVENTS })
      return c.pace._tag === "Paced" ? events.pipe(paced(c.pace.speed)) : events
    }))

  const catchUpPoint = Effect.fn("ReplayEngine.catchUpPoint")(function*(table: MarketTable, group: string) {
    const { metadata } = yield* catalog.loadTable(identifierOf(table))
    const found = markerIn(metadata, group)
    return found === undefined
      ? undefined
      : { table, snapshotId: found.snapshot["snapshot-id"], offsets: found.offsets satisfies Offsets }
  })

  return ReplayEngine.of({ stream, catchUpPoint })
}))

const readAll = (connection: import("@duckdb/node-api").DuckDBConnection, sql: string, values: ReadonlyArray<DuckDBValue>) =>
  attempt("replay window", async () => {
    const result = await connection.stream(sql, [...values])
    const out: Array<ReplayEvent> = []
    for (;;) {
      const chunk = await result.fetchChunk()
      if (chunk === null || chunk.rowCount === 0) return out
      for (const e of chunkToEvents(chunk)) out.push(e)
    }
  })

const streamInto = (
  connection: import("@duckdb/node-api").DuckDBConnection,
  sql: string,
  values: ReadonlyArray<DuckDBValue>,
  queue: Queue.Queue<ReplayEvent, ReplayError | Cause.Done>
) =>
  Effect.gen(function*() {
    const result = yield* attempt("replay window", () => connection.stream(sql, [...values]))
    for (;;) {
      const chunk = yield* attempt("replay window", () => result.fetchChunk())
      if (chunk === null || chunk.rowCount === 0) return
      yield* Queue.offerAll(queue, chunkToEvents(chunk))
    }
  })
