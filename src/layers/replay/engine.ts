/**
 * ReplayEngine over the TableScanner and DuckDB.
 *
 * Per UTC day (the days of a file: domain/iceberg/fileDays.ts; a file over several days is read in each, filtered by time), the day's range is cut into windows of at
 * most `windowRows` rows (windows.ts). One statement per window reads the planned files of both
 * tables (UNION ALL), already filtered by time and symbol, and DuckDB sorts it in the replay
 * order; its result is streamed chunk by chunk (2048 rows) into a bounded queue, the next chunk
 * fetched while one becomes events. Unpaced, the next window's statement runs while the current
 * one streams out. Memory: at most two windows inside DuckDB plus the queue. Connections: one
 * pooled connection per window in flight; a paced window (or any, with `wholeWindows`) is read
 * whole first so no connection waits on the pace or on a consumer that stalls.
 *
 * `follow` replays each table at its catch-up point, then the live topics (live.ts).
 */
import type { DuckDBDataChunk, DuckDBValue } from "@duckdb/node-api"
import { Cause, Deferred, Effect, Exit, Layer, Queue, Result, Stream } from "effect"
import { makeWireCodec } from "../../domain/avro/codec.ts"
import { quoted } from "../../domain/errors.ts"
import { markerOf, mergeOffsets, type Offsets } from "../../domain/ingest/marker.ts"
import { InvalidArgument, invalid, LimitOutOfRange, type InvalidQuery } from "../../domain/query/errors.ts"
import { checkRange, checkSymbols } from "../../domain/query/validate.ts"
import { identifierOf } from "../../domain/tables.ts"
import { parseTopicName } from "../../domain/wire.ts"
import { Catalog } from "../../services/Catalog.ts"
import type { MarketTable } from "../../services/QueryEngine.ts"
import {
  type CatchUpPoint,
  type FollowRequest,
  type QuoteEvent,
  ReplayEngine,
  type ReplayError,
  type ReplayEvent,
  type ReplayRequest,
  type TradeEvent
} from "../../services/ReplayEngine.ts"
import { type ScanPlan, TableScanner } from "../../services/TableScanner.ts"
import { attempt, DuckDb, endStream, executeOne } from "../duckdb/DuckDb.ts"
import { blameFile, plannedPaths } from "../duckdb/readPlan.ts"
import { expiredWhileRead } from "../iceberg/planner.ts"
import { filteredFiles, idPieces, Params } from "../query/sql.ts"
import {
  bigintAt,
  bigints,
  DecimalCache,
  decimalAt,
  decimals,
  doubles,
  isNull,
  joinedAt,
  type Texts,
  textAt,
  texts,
  ubytes
} from "../duckdb/vectors.ts"
import { openLive } from "./live.ts"
import { paced } from "./pace.ts"
import { cutWindows } from "./windows.ts"
import { type Days, daysOfFile, needsSpec, timeFields } from "../../domain/iceberg/fileDays.ts"
import { MICROS_PER_DAY } from "../../domain/time.ts"

/** The end of the table part of a follow: the last instant the domain accepts (2200-01-01). */
const END_OF_TIME = Date.UTC(2200, 0, 1) * 1000
const QUEUE_EVENTS = 4_096


const fromResult = <A>(r: Result.Result<A, InvalidQuery>): Effect.Effect<A, InvalidQuery> =>
  Result.isSuccess(r) ? Effect.succeed(r.success) : Effect.fail(r.failure)

/** A table's plan and the UTC days each of its files may hold (fileDays.ts), null where unknown. */
interface PlannedTable {
  readonly table: MarketTable
  readonly plan: ScanPlan
  readonly days: ReadonlyArray<Days | null>
}

// The conversion to events is the replay's hot path (duckdb/vectors.ts). DuckDB shapes the columns for
// JS before it sorts them (in parallel, where after the sort each chunk's projection would run on
// the one thread fetching it): the ids as 12-character pieces (query/sql.ts), which DuckDB keeps
// inside the vector where JS reads them without a native call each; decimals as their unscaled
// int64; conditions and vendor_data as one JSON column, NULL when both are empty (nearly always).
// The columns whose values repeat (symbol, exchange, ...: a row's `Profile`) travel as one number,
// a hash of them, looked up in the day's few profiles (`profilesOf`): every column costs DuckDB's
// sort and fetch and JS a native call per chunk (eight string columns were half the fetch time).
// A statement has only the columns of the tables it replays; `kind` (0 Quote, 1 Trade) only when it replays both.

/** The values a row shares with many others: one per symbol and side, nearly. */
export interface Profile {
  readonly symbol: string
  readonly exchange: string
  readonly asset_class: string
  readonly currency: string
  /** A trade's side; null for a quote. */
  readonly side: string | null
  readonly kafka_topic: string
  readonly kafka_partition: number
}

const PROFILE: ReadonlyArray<keyof Profile> = ["symbol", "exchange", "asset_class", "currency", "side", "kafka_topic", "kafka_partition"]

/** A table's profile values, in `PROFILE`'s order: `side` NULL for quotes. */
const profileValues = (table: MarketTable) => PROFILE.map((name) => (name === "side" && table === "quotes" ? "NULL::VARCHAR" : name))

/** A profile's key: 53 bits of DuckDB's hash of its values and `salt`, exact as a double. */
const profileKey = (table: MarketTable, salt: string) => `(hash(${profileValues(table).join(", ")}, ${salt}::UBIGINT) >> 11)::DOUBLE`

/**
 * One table's rows of a window, `from` its filtered files, as the replay statement's columns.
 * `byFieldId`: the plan's (ADR-2); its decimals may have been widened by another engine.
 */
const windowPart = (table: MarketTable, both: boolean, from: string, salt: string, byFieldId: boolean) => {
  const trades = table === "trades"
  const columns = [
    ...(both ? [`${trades ? 1 : 0}::UTINYINT AS kind`] : []),
    idPieces("message_id", "mid"),
    idPieces(trades ? "trade_id" : "quote_id", "id"),
    `${profileKey(table, salt)} AS profile, epoch_us(exchange_timestamp)::DOUBLE AS ts, source_sequence AS seq`,
    // Events carry decimal(18, 8), read as int64 vectors: a column another engine widened is cast back
    // (exact, or DuckDB's out-of-range error, never a misread). K2's own columns are read as they are.
    ...(trades ? ["price", "quantity"] : ["bid_price", "bid_size", "ask_price", "ask_size"])
      .map((c, i) => `${byFieldId ? `${c}::DECIMAL(18, 8)` : c} AS ${"abcd"[i]}`),
    ...(trades && both ? ["NULL::DECIMAL(18, 8) AS c, NULL::DECIMAL(18, 8) AS d"] : []),
    `epoch_us(ingestion_timestamp)::DOUBLE AS its, kafka_offset,
    CASE WHEN len(conditions) > 0 OR cardinality(vendor_data) > 0 THEN to_json({c: conditions, v: vendor_data})::VARCHAR END AS extra,
    coalesce(source_sequence, -1) AS oseq, kafka_topic AS otopic, kafka_partition AS opart`
  ]
  return `SELECT ${columns.join(", ")} FROM ${from}`
}

/** The distinct profiles of one table's rows `from` its filtered files, with their keys. */
const profilesPart = (table: MarketTable, from: string, salt: string) =>
  `SELECT ${profileKey(table, salt)} AS key, ${profileValues(table).map((v, i) => `${v} AS ${PROFILE[i]}`).join(", ")} FROM ${from}`

/**
 * The replay statement over the `windowPart`s of a window, in replay order. The message_id pieces
 * order as the whole id (split at characters, a missing piece first), so the sort carries no copy.
 * The Kafka lineage breaks the ties of one record ingested twice, as pages do: without it their
 * order was whatever DuckDB's sort left, so two replays of one snapshot could differ.
 */
const windowSql = (parts: ReadonlyArray<string>) =>
  `SELECT * EXCLUDE (oseq, otopic, opart) FROM (${parts.join(" UNION ALL ")})
   ORDER BY ts, oseq, mid_0, mid_1 NULLS FIRST, mid_2 NULLS FIRST${parts.length > 1 ? ", kind" : ""}, otopic, opart, kafka_offset`

/** A day's reads: its tables' plans (the day's files), the symbols asked for, every planned path (to blame a failure on). */
interface DayRead {
  readonly plans: ReadonlyArray<{ readonly table: MarketTable; readonly plan: ScanPlan }>
  readonly symbols: ReadonlyArray<string>
  readonly paths: ReadonlyArray<string>
}

const EMPTY_RECORD: Readonly<Record<string, string>> = Object.freeze({})
const EMPTY_LIST: ReadonlyArray<string> = Object.freeze([])

/** Per statement: its column positions, the profiles of its day and the caches of its decimals with few values. */
export interface ChunkReader {
  readonly column: (name: string) => number
  /** The kind of every row when the statement has no `kind` column. */
  readonly only: 0 | 1 | undefined
  readonly profiles: ReadonlyMap<number, Profile>
  readonly decimals: readonly [DecimalCache, DecimalCache, DecimalCache, DecimalCache]
}

const chunkReader = (names: ReadonlyArray<string>, only: 0 | 1 | undefined, profiles: ReadonlyMap<number, Profile>): ChunkReader => ({
  column: (name) => names.indexOf(name),
  only,
  profiles,
  decimals: [new DecimalCache(), new DecimalCache(), new DecimalCache(), new DecimalCache()]
})

interface Extra {
  readonly c: ReadonlyArray<string> | null
  readonly v: Readonly<Record<string, string>> | null
}

/** One DuckDB chunk of a replay statement (`windowSql`) to events. */
const chunkToEvents = (chunk: DuckDBDataChunk, reader: ChunkReader): Array<ReplayEvent> => {
  const n = chunk.rowCount
  const at = (name: string) => chunk.getColumnVector(reader.column(name))
  const [mid0, mid1, mid2, id0, id1, id2, extra] = ["mid_0", "mid_1", "mid_2", "id_0", "id_1", "id_2", "extra"]
    .map((name) => texts(at(name))) as [Texts, Texts, Texts, Texts, Texts, Texts, Texts]
  const quotes = reader.only !== 1
  const [a, b] = [decimals(at("a")), decimals(at("b"))]
  const [c, d] = quotes ? [decimals(at("c")), decimals(at("d"))] : [undefined, undefined]
  const kind = reader.only === undefined ? ubytes(at("kind")) : undefined
  const profile = doubles(at("profile"))
  const ts = doubles(at("ts"))
  const its = doubles(at("its"))
  const seq = bigints(at("seq"))
  const off = bigints(at("kafka_offset"))
  const [da, db, dc, dd] = reader.decimals
  const profiles = reader.profiles
  const out = new Array<ReplayEvent>(n)
  // Required columns are never NULL. Object literals of one shape per kind (no spreads).
  for (let r = 0; r < n; r++) {
    const p = profiles.get(profile[r]!)
    if (p === undefined) throw new Error(`replay: a row of profile ${profile[r]} is not among its day's profiles`)
    const message_id = joinedAt(mid0, mid1, mid2, r)
    const { symbol, exchange, asset_class, currency, kafka_topic, kafka_partition } = p
    const exchange_timestamp = ts[r]!
    const more = isNull(extra.valid, r) ? undefined : (JSON.parse(textAt(extra, r)) as Extra)
    const conditions = more?.c ?? EMPTY_LIST
    const vendor_data = more?.v ?? EMPTY_RECORD
    const source_sequence = bigintAt(seq, r)
    const ingestion_timestamp = its[r]!
    const kafka_offset = off.items[r]!
    out[r] = (kind === undefined ? reader.only : kind[r]) === 1
      ? {
        _tag: "Trade", message_id, symbol, exchange, asset_class, exchange_timestamp, currency, conditions, source_sequence,
        ingestion_timestamp, kafka_topic, kafka_partition, kafka_offset, vendor_data,
        trade_id: joinedAt(id0, id1, id2, r), price: decimalAt(a, r, da), quantity: decimalAt(b, r, db), side: p.side!
      } satisfies TradeEvent
      : {
        _tag: "Quote", message_id, symbol, exchange, asset_class, exchange_timestamp, currency, conditions, source_sequence,
        ingestion_timestamp, kafka_topic, kafka_partition, kafka_offset, vendor_data,
        quote_id: joinedAt(id0, id1, id2, r), bid_price: decimalAt(a, r, da), bid_size: decimalAt(b, r, db),
        ask_price: decimalAt(c!, r, dc), ask_size: decimalAt(d!, r, dd)
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
    const whole = pace._tag === "Paced" || request.wholeWindows === true
    const windowRows = request.windowRows ?? (whole ? 50_000 : 1_000_000)
    if (!Number.isSafeInteger(windowRows) || windowRows < 1_000 || windowRows > 10_000_000) {
      return yield* invalid(new LimitOutOfRange({ name: "windowRows", value: windowRows, min: 1_000, max: 10_000_000 }))
    }
    return { symbols, range, which: which as Array<MarketTable>, pace, windowRows, whole }
  })

  /**
   * One snapshot per table when the request names them; otherwise the tables are read together
   * at one state, so a table without a snapshot at that point replays as empty.
   */
  const planAll = (request: ReplayRequest, c: Effect.Success<ReturnType<typeof check>>) => {
    const filter = {
      time: { column: "exchange_timestamp", from: c.range.from, to: c.range.to },
      ...(c.symbols.length > 0 ? { values: [{ column: "symbol", values: c.symbols }] } : {})
    }
    const planned = request.snapshots === undefined
      ? scanner.planTogether(c.which.map((table) => ({ table: identifierOf(table), filter })), request.snapshot).pipe(
        Effect.map((plans) => plans.map((plan, i) => ({ table: c.which[i]!, plan })))
      )
      : Effect.forEach(c.which, (table) => {
        const snapshot = request.snapshots?.[table] ?? request.snapshot
        return scanner.plan(identifierOf(table), { ...(snapshot === undefined ? {} : { snapshot }), filter })
          .pipe(Effect.map((plan) => ({ table, plan })))
      }, { concurrency: 2 })
    return Effect.flatMap(planned, (plans) => Effect.forEach(plans, withDays))
  }

  /** Each file's days; the table's partition specs are read only for files without bounds of exchange_timestamp. */
  const withDays = ({ table, plan }: { readonly table: MarketTable; readonly plan: ScanPlan }) =>
    Effect.gen(function*() {
      const column = plan.schema.fields.find((f) => f.name === "exchange_timestamp")
      // Bounds and transforms read as microseconds: another type's (nanoseconds) would place rows on wrong days.
      const ts = column?.type === "timestamptz" || column?.type === "timestamp" ? column.id : undefined
      if (ts === undefined) return { table, plan, days: plan.files.map(() => null) } satisfies PlannedTable
      const fields = plan.files.some((f) => needsSpec(f, ts))
        ? timeFields((yield* catalog.loadTable(plan.table)).metadata["partition-specs"], ts)
        : undefined
      return { table, plan, days: plan.files.map((f) => daysOfFile(f, ts, fields)) } satisfies PlannedTable
    })

  /** Files of `p` that may hold rows of UTC day `day`. */
  const filesOfDay = (p: PlannedTable, day: number): ScanPlan => ({
    ...p.plan,
    files: p.plan.files.filter((_, i) => {
      const d = p.days[i]
      return d == null || (d[0] <= day && day <= d[1])
    })
  })

  const produce = (
    queue: Queue.Queue<ReplayEvent, ReplayError | Cause.Done>,
    plans: ReadonlyArray<PlannedTable>,
    c: Effect.Success<ReturnType<typeof check>>
  ) =>
    Effect.gen(function*() {
      if (c.range.from >= c.range.to) return yield* Queue.end(queue)
      /** Unpaced windows started and not yet streamed out, oldest first. */
      const inFlight: Array<Deferred.Deferred<void, ReplayError>> = []
      const days = new Set<number>()
      const [first, last] = [Math.floor(c.range.from / MICROS_PER_DAY), Math.floor((c.range.to - 1) / MICROS_PER_DAY)]
      /** Whether a file's days are unknown: then every day of the range is played. */
      let unknown = false
      for (const p of plans) {
        for (const d of p.days) {
          if (d === null) unknown = true
          else for (let day = Math.max(d[0], first); day <= Math.min(d[1], last); day++) days.add(day)
        }
      }
      if (unknown) {
        for (let d = first; d <= last; d++) days.add(d)
      }
      const play = Effect.gen(function*() {
        for (const day of [...days].sort((x, y) => x - y)) {
          const from = Math.max(c.range.from, day * MICROS_PER_DAY)
          const to = Math.min(c.range.to, (day + 1) * MICROS_PER_DAY)
          if (from >= to) continue
          const dayPlans = plans.map((p) => ({ table: p.table, plan: filesOfDay(p, day) })).filter((p) => p.plan.files.length > 0)
          if (dayPlans.length === 0) continue
          const paths = dayPlans.flatMap((p) => plannedPaths(p.plan))
          const read: DayRead = { plans: dayPlans, symbols: c.symbols, paths }
          const upperBound = dayPlans.reduce((n, p) => n + p.plan.files.reduce((m, f) => m + f.recordCount, 0), 0)
          const windows = upperBound <= c.windowRows
            ? [{ from, to, rows: upperBound }]
            : cutWindows(yield* histogram(read, from, to), c.windowRows, from, to)
          const { salt, profiles } = yield* profilesOf(read, from, to)
          const only = dayPlans.length > 1 ? undefined : dayPlans[0]!.table === "trades" ? 1 : 0
          for (const w of windows) {
            if (w.rows === 0) continue
            const params = new Params()
            const sql = windowSql(dayPlans.map(({ table, plan }) =>
              windowPart(table, dayPlans.length > 1, filteredFiles(params, plan, w.from, w.to, c.symbols), params.add(salt), plan.byFieldId)
            ))
            const reader = (names: ReadonlyArray<string>) => chunkReader(names, only, profiles)
            if (c.whole) {
              const events = yield* duckDb.withConnection((connection) => readAll(connection, sql, params.values, reader)).pipe(
                Effect.mapError(blameFile(paths))
              )
              yield* Queue.offerAll(queue, events)
            } else {
              // One window ahead: the next statement runs (DuckDB reads and sorts it) while this one streams out.
              if (inFlight.length === 2) yield* Deferred.await(inFlight.shift()!)
              const turn = inFlight.at(-1)
              const done = yield* Deferred.make<void, ReplayError>()
              const window = duckDb.withConnection((connection) => streamInto(connection, sql, params.values, reader, queue, turn))
              const blamed = window.pipe(Effect.mapError((e) => e._tag === "DuckDbError" ? blameFile(paths)(e) : e))
              yield* Effect.forkChild(Deferred.into(blamed, done))
              inFlight.push(done)
            }
          }
        }
      })
      // Events stay in order up to a failure: the windows already started stream out before it.
      const exit = yield* Effect.exit(play)
      for (const done of inFlight) yield* Deferred.await(done)
      if (Exit.isFailure(exit)) return yield* exit
      yield* Queue.end(queue)
    }).pipe(
      // A long replay outlives its snapshot when maintenance expires it: said so, not as a missing file.
      Effect.catch(expiredWhileRead(catalog, plans.map((p) => p.plan)))
    )

  /**
   * The day's profiles by key. Keys are 53 bits of a hash: should two profiles ever share one,
   * the keys are drawn again with another salt, so a key always names exactly one profile.
   */
  const profilesOf = ({ paths, plans, symbols }: DayRead, from: number, to: number) =>
    Effect.gen(function*() {
      for (let salt = 0n; salt < 4n; salt++) {
        const params = new Params()
        const parts = plans.map(({ table, plan }) => profilesPart(table, filteredFiles(params, plan, from, to, symbols), params.add(salt)))
        const sql = `SELECT DISTINCT * FROM (${parts.join(" UNION ALL ")})`
        // As the windows: a consumer gone mid-statement must not leave it running on a pooled connection.
        const rows = yield* duckDb.withConnection((connection) =>
          attempt("replay profiles", async () => (await executeOne(connection, sql, params.values, (s) => s.runAndReadAll())).getRowObjectsJS(), () =>
            connection.interrupt())
        ).pipe(Effect.mapError(blameFile(paths)))
        const profiles = new Map<number, Profile>()
        for (const { key, ...profile } of rows) profiles.set(key as number, profile as unknown as Profile)
        if (profiles.size === rows.length) return { salt, profiles }
      }
      return yield* Effect.die(new Error("replay: four salts in a row gave two profiles one key"))
    })

  const histogram = ({ paths, plans, symbols }: DayRead, from: number, to: number) => {
    const params = new Params()
    // Each row keyed by the start of its second: floored, as `//` truncates toward zero and would key
    // a second before 1970 by the next one (cuts a second late, two seconds counted as one at 0).
    const parts = plans.map(({ plan }) => `SELECT epoch_us(exchange_timestamp) AS us FROM ${filteredFiles(params, plan, from, to, symbols)}`)
    const sql = `SELECT s::DOUBLE AS s, count(*)::DOUBLE AS n
      FROM (SELECT us - (((us % 1000000) + 1000000) % 1000000) AS s FROM (${parts.join(" UNION ALL ")})) GROUP BY s ORDER BY s`
    return duckDb.withConnection((connection) =>
      attempt("replay histogram", async () => {
        const result = await executeOne(connection, sql, params.values, (s) => s.runAndReadAll())
        const [s, n] = result.getColumnsJS() as [Array<number>, Array<number>]
        return s.map((second, i) => [second, n[i]!] as const)
      }, () => connection.interrupt())
    ).pipe(Effect.mapError(blameFile(paths)))
  }

  const plan = Effect.fn("ReplayEngine.plan")(function*(request: ReplayRequest) {
    const c = yield* check(request)
    const plans = yield* planAll(request, c)
    const events = Stream.callback<ReplayEvent, ReplayError>((queue) => produce(queue, plans, c), { bufferSize: QUEUE_EVENTS })
    return c.pace._tag === "Paced" ? events.pipe(paced(c.pace.speed)) : events
  })

  const stream = (request: ReplayRequest): Stream.Stream<ReplayEvent, ReplayError> => Stream.unwrap(plan(request))

  const catchUpPoint = Effect.fn("ReplayEngine.catchUpPoint")(function*(table: MarketTable, group: string) {
    const { metadata } = yield* catalog.loadTable(identifierOf(table))
    const found = yield* markerOf(metadata, group, table)
    return found === undefined
      ? undefined
      : { table, snapshotId: found.snapshotId, offsets: found.offsets satisfies Offsets, topicIds: found.topicIds }
  })

  // The embedded schema ids, unless the request says the topics use a registry's.
  const embedded = { codec: makeWireCodec() }

  const follow = (request: FollowRequest) =>
    Stream.unwrap(Effect.gen(function*() {
      if (request.from >= END_OF_TIME) {
        return yield* invalid(new InvalidArgument({ name: "from", detail: "a follow starts before 2200-01-01, the last instant K2 reads" }))
      }
      const c = yield* check({ ...request, to: END_OF_TIME })
      const points: Array<CatchUpPoint> = []
      for (const table of c.which) {
        const point = yield* catchUpPoint(table, request.group)
        if (point !== undefined) points.push(point)
      }
      const starts = points.reduce<Offsets>((all, p) => mergeOffsets(all, p.offsets), new Map())
      const named = [...new Set([...starts.keys(), ...(request.topics ?? [])])].sort()
      const bad = named.find((t) => parseTopicName(t) === undefined)
      if (bad !== undefined) {
        return yield* invalid(new InvalidArgument({ name: "topics", detail: `${quoted(bad)} is not market.{asset_class}.{trades|quotes}.{exchange}` }))
      }
      const topics = named.filter((t) => c.which.includes(parseTopicName(t)!.dataType))
      if (topics.length === 0) {
        return yield* invalid(new InvalidArgument({
          name: "topics",
          detail: `no snapshot of ${c.which.join(", ")} carries the marker of group ${quoted(request.group)}; name the topics to follow`
        }))
      }
      // Joined before the table part plays, so a gap fails at once and the group join overlaps the replay.
      const topicIds = new Map(points.flatMap((p) => [...p.topicIds]))
      const live = yield* openLive({ topics, starts, topicIds, from: c.range.from, symbols: c.symbols, schemas: request.schemas ?? embedded })
      let tableEvents = 0
      const table = points.length === 0 ? Stream.empty : stream({
        ...request,
        to: END_OF_TIME,
        tables: points.map((p) => p.table),
        snapshots: Object.fromEntries(points.map((p) => [p.table, { _tag: "ById", snapshotId: p.snapshotId }]))
      }).pipe(Stream.mapArray((events) => {
        tableEvents += events.length
        return events
      }))
      const switched = Stream.unwrap(Effect.as(
        request.onLive === undefined ? Effect.void : Effect.suspend(() => request.onLive!({ tableEvents, offsets: live.offsets })),
        live.events
      ))
      return Stream.concat(table, switched)
    }))

  return ReplayEngine.of({ plan, stream, catchUpPoint, follow })
}))

type ReaderOf = (names: ReadonlyArray<string>) => ChunkReader

const readAll = (connection: import("@duckdb/node-api").DuckDBConnection, sql: string, values: ReadonlyArray<DuckDBValue>, readerOf: ReaderOf) =>
  Effect.gen(function*() {
    // Chunk by chunk, as streamInto: a consumer gone mid-window stops the read at the chunk in flight.
    const result = yield* attempt("replay window", () => executeOne(connection, sql, values, (s) => s.stream()), () => connection.interrupt())
    const reader = readerOf(result.columnNames())
    const out: Array<ReplayEvent> = []
    for (;;) {
      const chunk = yield* attempt("replay window", () => result.fetchChunk())
      if (chunk === null || chunk.rowCount === 0) return out
      for (const e of chunkToEvents(chunk, reader)) out.push(e)
    }
  }).pipe(Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : endStream(connection)))

const streamInto = (
  connection: import("@duckdb/node-api").DuckDBConnection,
  sql: string,
  values: ReadonlyArray<DuckDBValue>,
  readerOf: ReaderOf,
  queue: Queue.Queue<ReplayEvent, ReplayError | Cause.Done>,
  /** Done when the previous window has streamed out: only then may this one. */
  turn: Deferred.Deferred<void, ReplayError> | undefined
) => {
  // One chunk ahead: DuckDB produces the next chunk (on the libuv pool) while this one becomes events.
  let ahead: Promise<DuckDBDataChunk | null> | undefined
  // The connection goes back to the pool only once no fetch is in flight on it, and a window left
  // before its end (the consumer gone while it started or played, a failure) is ended there.
  const settled = Effect.promise(() => ahead === undefined ? Promise.resolve() : ahead.then(() => undefined, () => undefined))
  return Effect.gen(function*() {
    // A consumer that stops early must not leave a window's sort running on a pooled connection.
    const result = yield* attempt("replay window", () => executeOne(connection, sql, values, (s) => s.stream()), () => connection.interrupt())
    const fetchAhead = () => {
      ahead = result.fetchChunk()
      ahead.catch(() => undefined) // awaited below or, when this window stops early, by the finalizer
      return ahead
    }
    let next = fetchAhead()
    if (turn !== undefined) yield* Deferred.await(turn)
    const reader = readerOf(result.columnNames())
    for (;;) {
      const chunk = yield* attempt("replay window", () => next)
      if (chunk === null || chunk.rowCount === 0) return
      next = fetchAhead()
      yield* Queue.offerAll(queue, chunkToEvents(chunk, reader))
    }
  }).pipe(Effect.onExit((exit) => Exit.isSuccess(exit) ? settled : Effect.andThen(settled, endStream(connection))))
}
