/**
 * `npm run query -- <trades|quotes|bars|summary|symbols|snapshots|stats> ...`: reads the
 * lakehouse (--warehouse, --catalog or K2_WAREHOUSE, K2_CATALOG) and prints a table, CSV or JSON.
 */
import { Clock, Console, Effect, Layer, Option, Result, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { commonEnvironment, describedWith, exchangeZonesEnvironment, inRange, integerFlag, lakehouseEnvironment, setting } from "./cli/flags.ts"
import type { BarInterval } from "../domain/query/intervals.ts"
import { parseDate, parseFields, parseFilters as parseApiFilters } from "../domain/api/params.ts"
import { InvalidQuery } from "../domain/query/errors.ts"
import { checkFields } from "../domain/query/validate.ts"
import { type TableName, tables } from "../domain/tables.ts"
import { formatIsoMicros } from "../domain/time.ts"
import { barColumns, quoteBarColumns, statsColumns, summaryColumns } from "../layers/http/parquetColumns.ts"
import { idsOf, loadInvolved, notCreated, notCreatedNote, pinSnapshots } from "../layers/query/pinning.ts"
import * as QueryLayer from "../layers/query/engine.ts"
import * as Telemetry from "../layers/telemetry/telemetry.ts"
import { Catalog, CatalogError } from "../services/Catalog.ts"
import { QueryEngine } from "../services/QueryEngine.ts"
import {
  asOfFlag,
  formatFlag,
  fromFlag,
  orUsage,
  parseInstant,
  printRows,
  scanReport,
  snapshotIdFlag,
  snapshotOf,
  symbolsFlag,
  symbolsOf,
  toFlag,
  usage,
  UsageError
} from "./cli/common.ts"
import { existingLakehouse, lakehouseFlags, type LakehouseSettings } from "./cli/lakehouse.ts"
import { failsWhenStopped, openedUnlessStopped, runCommand } from "./cli/run.ts"

const iso = (v: number | null) => (v === null ? null : formatIsoMicros(v))

/** A query stopped by a signal before its answer was written out: what stdout holds is not the answer. */
class QueryStopped extends Schema.TaggedError<QueryStopped>()("QueryStopped", { message: Schema.String }) {}

/**
 * A subcommand's read and answer, exit 1 saying so when a signal (Ctrl-C, a job runner's SIGTERM
 * on its timeout) stops it before the answer is out (run.ts `failsWhenStopped`, as a replay of a
 * range): it ended 0 without a word, stdout empty, and a script took that for the answer. The
 * answer is handed to stdout in one go (`printRows`), then delivered whole before the program
 * exits: stdout holds all of it or none.
 */
export const answering = failsWhenStopped(() =>
  new QueryStopped({ message: "query stopped before its answer was written out: stdout holds none of it" })
)
const snapshotFlags = { snapshotId: snapshotIdFlag, asOf: asOfFlag }

/** The catalog and DuckDB, opened before a subcommand's `answering` starts: a stop while they open is told too. */
const opening = openedUnlessStopped(() =>
  new QueryStopped({ message: "query stopped before its answer was written out, while the catalog and DuckDB were opening: stdout holds none of it" })
)

/**
 * The engine over the warehouse the flags name; given to each subcommand, so that `--help` opens none.
 * With the program's logger beneath: Effect's default one writes to stdout, into the results.
 * `reading` are the tables the subcommand reads, those checked not to have moved (ADR-32): checking
 * every table loaded each one's metadata, a day of snapshots parsed for nothing (ADR-60).
 */
export const engine = (settings: LakehouseSettings, reading: ReadonlyArray<TableName>) =>
  QueryLayer.layerConfig.pipe(Layer.provideMerge(existingLakehouse(settings, reading)), Layer.provideMerge(Telemetry.layer("query")))

/** As the HTTP API reads `filter`: a filter without a bound (`price:`) is refused, not applied as none. */
const parseFilters = (text: string) => orUsage("filter", parseApiFilters(text))

/**
 * A cursor the engine refuses (not one of K2's, another query's), as a usage error naming the flag,
 * as every other refused value is: it said `invalid cursor: ...`, naming none (`--cursor ""`).
 */
const cursorRefused = <E>(e: E): E | UsageError =>
  e instanceof InvalidQuery && e.reason._tag === "InvalidCursor" ? new UsageError({ message: `--cursor: ${e.reason.detail}` }) : e

const rowsCommand = (table: "trades" | "quotes") =>
  Command.make(table, {
    symbols: symbolsFlag,
    from: fromFlag,
    to: toFlag,
    limit: integerFlag("limit").pipe(setting("Rows per page", { fallback: 1000, check: inRange(1, 100_000) })),
    cursor: Flag.String("cursor").pipe(Flag.withDescription("nextCursor of the previous page"), Flag.optional),
    fields: Flag.String("fields").pipe(Flag.withDescription("Comma-separated columns (default all)"), Flag.optional),
    filter: Flag.String("filter").pipe(
      Flag.withDescription(`Decimal bounds, inclusive: column:min[:max], comma-separated (${table === "trades" ? "price, quantity" : "bid_price, bid_size, ask_price, ask_size"})`),
      Flag.withDefault("")
    ),
    format: formatFlag,
    ...snapshotFlags,
    ...lakehouseFlags
  }, (a) =>
    usage(() => {
      const request = {
        symbols: symbolsOf(a.symbols),
        from: parseInstant("from", a.from),
        to: parseInstant("to", a.to, "up", "end"),
        limit: a.limit,
        // As the API reads fields: a list given that names none (`--fields ,`, an unset variable) is no "all".
        fields: orUsage("fields", parseFields(Option.getOrUndefined(a.fields))),
        filters: parseFilters(a.filter),
        ...(a.cursor._tag === "Some" ? { cursor: a.cursor.value } : {}),
        ...(() => {
          const s = snapshotOf(a.snapshotId, a.asOf)
          return s === undefined ? {} : { snapshot: s }
        })()
      }
      return Effect.gen(function*() {
        const q = yield* QueryEngine
        const page = yield* (table === "trades" ? q.trades(request) : q.quotes(request)).pipe(Effect.mapError(cursorRefused))
        const rows = page.rows.map((r) => ({
          ...r,
          ...("exchange_timestamp" in r ? { exchange_timestamp: iso(r.exchange_timestamp as number) } : {}),
          ...("ingestion_timestamp" in r ? { ingestion_timestamp: iso(r.ingestion_timestamp as number) } : {})
        }))
        // An empty page still names its columns, in the order rows have them.
        const columns = Result.getOrElse(checkFields(request.fields, tables[table].schema.fields.map((f) => f.name)), () => request.fields)
        yield* printRows(rows, columns, a.format, { ...scanReport(page), nextCursor: page.nextCursor })
      }).pipe(answering)
    })).pipe(
    Command.withDescription(`${table} of some symbols over [from, to), in exchange-time order, keyset-paginated`)
  )

const bars = Command.make("bars", {
  symbols: symbolsFlag,
  from: fromFlag,
  to: toFlag,
  interval: Flag.Literals("interval", ["1s", "5s", "1m", "5m", "15m", "30m", "1h", "1d"]).pipe(
    setting<BarInterval>("bucket width", { fallback: "1m" })
  ),
  quotes: Flag.Boolean("quotes").pipe(Flag.withDescription("Spread and mid bars from quotes instead of OHLCV"), Flag.withDefault(false)),
  format: formatFlag,
  ...snapshotFlags,
  ...lakehouseFlags
}, (a) =>
  usage(() => {
    const snapshot = snapshotOf(a.snapshotId, a.asOf)
    const request = {
      symbols: symbolsOf(a.symbols),
      from: parseInstant("from", a.from),
      to: parseInstant("to", a.to, "up", "end"),
      interval: a.interval,
      ...(snapshot === undefined ? {} : { snapshot })
    }
    return Effect.gen(function*() {
      const q = yield* QueryEngine
      const answer = a.quotes ? yield* q.quoteBars(request) : yield* q.bars(request)
      const columns = Object.keys(a.quotes ? quoteBarColumns : barColumns)
      yield* printRows(answer.rows.map((r) => ({ ...r, bucket: iso(r.bucket) })), columns, a.format, scanReport(answer))
    }).pipe(answering)
  })).pipe(
  Command.withDescription("OHLCV bars (VWAP exact, half-even to 8 places) or, with --quotes, spread and mid bars")
)

/**
 * A trading day as GET /v1/summary reads from_day and to_day: refused naming the flag, not
 * (left to the engine) as `fromDay`, a name no flag has, nor with another reason than the API's.
 */
const parseDay = (flag: string, text: string) => {
  orUsage(flag, parseDate(flag, text))
  return text
}

const summary = Command.make("summary", {
  symbols: symbolsFlag,
  fromDay: Flag.String("from-day").pipe(Flag.withDescription("First trading day (exchange-local date yyyy-mm-dd)")),
  toDay: Flag.String("to-day").pipe(Flag.withDescription("Last trading day, inclusive (default: from-day)"), Flag.optional),
  format: formatFlag,
  ...snapshotFlags,
  ...lakehouseFlags
}, (a) =>
  usage(() => {
    const snapshot = snapshotOf(a.snapshotId, a.asOf)
    const fromDay = parseDay("from-day", a.fromDay)
    const toDay = a.toDay._tag === "Some" ? parseDay("to-day", a.toDay.value) : fromDay
    // Here, not in the Effect below: a UsageError thrown there was a defect (exit 1, a stack trace).
    const symbols = symbolsOf(a.symbols)
    return Effect.gen(function*() {
      const q = yield* QueryEngine
      const answer = yield* q.dailySummary({
        symbols,
        fromDay,
        toDay,
        ...(snapshot === undefined ? {} : { snapshot })
      })
      yield* printRows(
        answer.rows.map((r) => ({ ...r, firstTrade: iso(r.firstTrade), lastTrade: iso(r.lastTrade) })),
        Object.keys(summaryColumns),
        a.format,
        scanReport(answer)
      )
    }).pipe(answering)
  })).pipe(Command.withDescription("Daily OHLCV per symbol and trading day (the exchange's local date)"))


const symbolColumns = ["symbol", "trades", "first_trade", "last_trade", "quotes", "first_quote", "last_quote"]

const symbols = Command.make("symbols", { symbols: symbolsFlag, format: formatFlag, ...snapshotFlags, ...lakehouseFlags }, (a) =>
  usage(() => {
    const snapshot = snapshotOf(a.snapshotId, a.asOf)
    const symbols = symbolsOf(a.symbols)
    return Effect.gen(function*() {
      const q = yield* QueryEngine
      // Pinned as GET /v1/symbols pins: a table not created yet reads as empty.
      const loaded = yield* loadInvolved(yield* Catalog, ["trades", "quotes"])
      const pinned = yield* Effect.fromResult(pinSnapshots(loaded, snapshot === undefined || snapshot._tag === "Current" ? { _tag: "Latest" } : snapshot, yield* Clock.currentTimeMillis))
      const answer = yield* q.symbols({ symbols, snapshotIds: idsOf(pinned) })
      const missing = notCreated(loaded)
      if (missing.length > 0) yield* Console.error(notCreatedNote(missing))
      yield* printRows(
        answer.rows.map((r) => ({
          symbol: r.symbol,
          trades: r.trades?.count ?? 0,
          first_trade: iso(r.trades?.first ?? null),
          last_trade: iso(r.trades?.last ?? null),
          quotes: r.quotes?.count ?? 0,
          first_quote: iso(r.quotes?.first ?? null),
          last_quote: iso(r.quotes?.last ?? null)
        })),
        symbolColumns,
        a.format,
        scanReport(answer)
      )
    }).pipe(answering)
  })).pipe(Command.withDescription("Symbols with counts and first/last exchange time per table"))

const tableArg = Argument.Literals("table", ["trades", "quotes", "sequence_events", "instruments"]).pipe(
  Argument.withDescription("trades, quotes, sequence_events or instruments")
)

const snapshots = Command.make("snapshots", { table: tableArg, format: formatFlag, ...lakehouseFlags }, (a) =>
  Effect.gen(function*() {
    const q = yield* QueryEngine
    // As GET /v1/snapshots/{table}: a table not created yet has none.
    const list = yield* q.snapshots(a.table).pipe(
      Effect.catchIf((e) => e instanceof CatalogError && e.reason._tag === "NoSuchTable", () =>
        Effect.as(Console.error(notCreatedNote([a.table])), []))
    )
    const columns = ["snapshot_id", "parent_id", "time", "operation", "current", "records", "files"]
    yield* printRows(
      list.map((s) => ({
        snapshot_id: s.snapshotId,
        parent_id: s.parentId,
        // As every other instant (and GET /v1/snapshots): toISOString stops at milliseconds.
        time: iso(s.timestampMs * 1000),
        operation: s.operation,
        current: s.current,
        records: s.summary["total-records"] ?? "",
        files: s.summary["total-data-files"] ?? "",
        ...(a.format === "table" ? {} : { summary: s.summary })
      })),
      a.format === "table" ? columns : [...columns, "summary"],
      a.format
    )
  }).pipe(answering)).pipe(Command.withDescription("The snapshot history of a table: id, time, operation, summary"))

const stats = Command.make("stats", { table: tableArg, format: formatFlag, ...snapshotFlags, ...lakehouseFlags }, (a) =>
  usage(() => {
    const snapshot = snapshotOf(a.snapshotId, a.asOf)
    return Effect.gen(function*() {
      const q = yield* QueryEngine
      const s = yield* q.tableStats(a.table, snapshot === undefined ? {} : { snapshot })
      yield* printRows([{ ...s, firstTimestamp: iso(s.firstTimestamp), lastTimestamp: iso(s.lastTimestamp) }], Object.keys(statsColumns), a.format)
    }).pipe(answering)
  })).pipe(Command.withDescription("Table statistics: records, files, bytes, time bounds"))

/**
 * The program over `reads`, the engine and catalog of the warehouse the flags name: the program's
 * own (`engine`) or, in tests, in-memory ones.
 */
export const queryCommand = <E>(
  reads: (settings: LakehouseSettings, reading: ReadonlyArray<TableName>) => Layer.Layer<QueryEngine | Catalog, E>
) => {
  const over = <const Name extends string, I extends LakehouseSettings, CI, E1, R>(
    command: Command.Command<Name, I, CI, E1, R>,
    reading: (input: I) => ReadonlyArray<TableName>
  ) => command.pipe(Command.provide((settings: I) => opening(reads(settings, reading(settings)))))
  // Without a subcommand there is nothing to do: a usage error (exit 2), not the help and success.
  return Command.make("query", {}, () =>
    Effect.fail(new UsageError({ message: "query: give a subcommand: trades, quotes, bars, summary, symbols, snapshots or stats (see --help)" }))).pipe(
    Command.withDescription(describedWith("Query the K2 lakehouse", [exchangeZonesEnvironment, ...lakehouseEnvironment, ...commonEnvironment])),
    Command.withSubcommands([
      over(rowsCommand("trades"), () => ["trades"]),
      over(rowsCommand("quotes"), () => ["quotes"]),
      over(bars, (a) => [a.quotes ? "quotes" : "trades"]),
      over(summary, () => ["trades"]),
      over(symbols, () => ["trades", "quotes"]),
      over(snapshots, (a) => [a.table]),
      over(stats, (a) => [a.table])
    ])
  )
}

if (import.meta.main) runCommand(queryCommand(engine))
