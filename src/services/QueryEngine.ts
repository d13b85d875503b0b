/**
 * QueryEngine: what researchers and compliance read — trades and quotes by time range
 * (keyset-paginated), OHLCV bars, daily summaries, quote analytics, reference data and
 * table history — over DuckDB on the files the TableScanner planned. Every read can time
 * travel (snapshot id or as-of instant) and reports what it scanned. Semantics: docs/query.md.
 */
import { Context, type Effect } from "effect"
import type { TableFileError } from "../domain/iceberg/errors.ts"
import type { InvalidQuery, MissingColumn } from "../domain/query/errors.ts"
import type { BarInterval } from "../domain/query/intervals.ts"
import type { EpochMicros } from "../domain/time.ts"
import type { DuckDbError } from "../layers/duckdb/DuckDb.ts"
import type { CatalogError } from "./Catalog.ts"
import type { ScanError, ScanPlan, SnapshotSelector } from "./TableScanner.ts"

export type MarketTable = "trades" | "quotes"

/** Decimals are plain text with exactly 8 decimal places (the columns' scale); never JS floats. */
export type DecimalText = string

/** What one table's part of an answer touched. */
export interface Scanned {
  readonly table: string
  /** Null when the table has no snapshot yet. */
  readonly snapshotId: bigint | null
  readonly snapshotTimestampMs: number | null
  readonly manifestsRead: number
  readonly manifestsTotal: number
  readonly filesPlanned: number
  readonly filesTotal: number
  readonly bytesPlanned: number
  readonly bytesTotal: number
  /** Of the answer's elapsed time, planning this table's read (catalog, manifests, pruning). */
  readonly planningMs: number
}

/** What a read of `plan` touched. */
export const scannedOf = (plan: ScanPlan): Scanned => ({
  table: `${plan.table.namespace}.${plan.table.name}`,
  snapshotId: plan.snapshot?.["snapshot-id"] ?? null,
  snapshotTimestampMs: plan.snapshot?.["timestamp-ms"] ?? null,
  manifestsRead: plan.stats.manifestsRead,
  manifestsTotal: plan.stats.manifestsTotal,
  filesPlanned: plan.stats.filesPlanned,
  filesTotal: plan.stats.filesTotal,
  bytesPlanned: plan.stats.bytesPlanned,
  bytesTotal: plan.stats.bytesTotal,
  planningMs: plan.stats.planningMs
})

export interface Answer<A> {
  readonly rows: ReadonlyArray<A>
  readonly scanned: ReadonlyArray<Scanned>
  readonly rowsReturned: number
  /** Planning, DuckDB and conversion, by the Effect Clock. */
  readonly elapsedMs: number
}

export interface Page<A> extends Answer<A> {
  /** Pass back as `cursor` for the next page; null on the last page. */
  readonly nextCursor: string | null
}

export interface ReadOptions {
  /** Which state of the table(s): current (default), by snapshot id, or as of an instant. */
  readonly snapshot?: SnapshotSelector
  /**
   * For a read of several tables: each at exactly this snapshot id (null: read as empty), as an
   * answer that named them pinned them. Wins over `snapshot` when it names every table read.
   */
  readonly snapshotIds?: Readonly<Record<string, bigint | null>>
}

/** [from, to) in epoch microseconds; `from == to` is empty, `from > to` is refused. */
export interface TimeRange {
  readonly from: EpochMicros
  readonly to: EpochMicros
}

/** Inclusive bounds on a decimal column, as decimal text. */
export interface DecimalFilter {
  readonly column: string
  readonly min?: DecimalText
  readonly max?: DecimalText
}

export interface RowsRequest extends ReadOptions, TimeRange {
  /** Empty or absent: every symbol. An unknown symbol yields no rows, not an error. */
  readonly symbols?: ReadonlyArray<string>
  /** 1..100000, default 1000. */
  readonly limit?: number
  /** From the previous page; pins that page's snapshot. */
  readonly cursor?: string
  /** Columns to return (default all); the order key columns are always read. */
  readonly fields?: ReadonlyArray<string>
  /** Applied before the limit. Trades: price, quantity; quotes: bid_price, bid_size, ask_price, ask_size. */
  readonly filters?: ReadonlyArray<DecimalFilter>
}

/**
 * A trade or quote row: string columns as strings, decimals as DecimalText, timestamps as
 * epoch micros, longs as bigint, conditions as string[], vendor_data as a record.
 */
export type MarketRow = Readonly<Record<string, unknown>>

export interface BarsRequest extends ReadOptions, TimeRange {
  readonly symbols?: ReadonlyArray<string>
  readonly interval: BarInterval
  /** Most bars in the answer; more is refused (`TooManyRows`, with how many it makes). Absent: no cap. */
  readonly maxBars?: number
}

/** Open and close are the first and last trade by exchange time, then sequence, then message_id, then price. */
export interface Ohlcv {
  readonly open: DecimalText
  readonly high: DecimalText
  readonly low: DecimalText
  readonly close: DecimalText
  readonly volume: DecimalText
  readonly tradeCount: number
  /** sum(price × quantity) / sum(quantity), exact, rounded half-even to 8 places. */
  readonly vwap: DecimalText
}

/** Bars are per instrument, (symbol, exchange): one symbol listed twice trades in two currencies. */
export interface Bar extends Ohlcv {
  readonly symbol: string
  readonly exchange: string
  /** Bucket start, epoch micros, aligned to the epoch (UTC). */
  readonly bucket: EpochMicros
}

export interface SummaryRequest extends ReadOptions {
  readonly symbols?: ReadonlyArray<string>
  /** First and last trading day (exchange-local dates, yyyy-mm-dd), inclusive. */
  readonly fromDay: string
  readonly toDay: string
}

export interface DailySummary extends Ohlcv {
  readonly symbol: string
  readonly exchange: string
  /** The exchange's local date, yyyy-mm-dd. */
  readonly tradingDay: string
  readonly firstTrade: EpochMicros
  readonly lastTrade: EpochMicros
}

export interface QuoteBar {
  readonly symbol: string
  readonly exchange: string
  readonly bucket: EpochMicros
  /** Every quote in the bucket, one-sided ones (a zero bid or ask) included. */
  readonly quoteCount: number
  /**
   * Mid and spread fields are over the bucket's two-sided quotes (bid > 0 and ask > 0) only: null
   * when it has none (docs/decisions.md ADR-40).
   * Mid = (bid + ask) / 2, rounded half-even to 8 places; open/close by (time, sequence, message_id, mid, spread).
   */
  readonly midOpen: DecimalText | null
  readonly midHigh: DecimalText | null
  readonly midLow: DecimalText | null
  readonly midClose: DecimalText | null
  /** Spread = ask - bid (exact; negative when crossed). */
  readonly spreadMin: DecimalText | null
  readonly spreadMax: DecimalText | null
  /** Mean spread over the two-sided quotes, rounded half-even to 8 places. */
  readonly spreadMean: DecimalText | null
  readonly spreadClose: DecimalText | null
}

export interface TradeQuotesRequest extends ReadOptions, TimeRange {
  readonly symbols?: ReadonlyArray<string>
  /** Trades per page, 1..100000, default 1000. */
  readonly limit?: number
  /** From the previous page; pins that page's snapshots of both tables. */
  readonly cursor?: string
  /** How far before `from` to look for the quote prevailing at the first trades; default one day. */
  readonly quoteLookbackMicros?: number
}

export type TradeClassification = "BUY" | "SELL" | "MID"

export interface TradeWithQuote {
  readonly symbol: string
  readonly exchange: string
  readonly exchangeTimestamp: EpochMicros
  readonly sourceSequence: bigint | null
  readonly messageId: string
  readonly price: DecimalText
  readonly quantity: DecimalText
  readonly side: string
  /** Where the trade was read from (null for rows another writer made): an audit goes back to Kafka. */
  readonly kafkaTopic: string | null
  readonly kafkaPartition: number | null
  readonly kafkaOffset: bigint | null
  /** The prevailing quote (null fields when none in the lookback), shown whatever it holds. */
  readonly quoteTimestamp: EpochMicros | null
  readonly bidPrice: DecimalText | null
  readonly bidSize: DecimalText | null
  readonly askPrice: DecimalText | null
  readonly askSize: DecimalText | null
  /** Mid, effective spread and classification are null when there is no quote, or its bid or ask is 0 (one-sided, ADR-40). */
  readonly mid: DecimalText | null
  /** 2 × |price − mid| = |2·price − bid − ask|, exact. */
  readonly effectiveSpread: DecimalText | null
  /** Quote rule: above the mid BUY, below SELL, at the mid MID. */
  readonly classification: TradeClassification | null
}

export interface SymbolTableStats {
  readonly count: number
  readonly first: EpochMicros
  readonly last: EpochMicros
}

export interface SymbolInfo {
  readonly symbol: string
  readonly trades: SymbolTableStats | null
  readonly quotes: SymbolTableStats | null
}

export interface TableStats {
  readonly table: string
  readonly snapshotId: bigint | null
  readonly snapshotTimestampMs: number | null
  readonly records: number
  readonly dataFiles: number
  readonly bytes: number
  readonly manifests: number
  /** exchange_timestamp bounds from the file statistics (null for tables without the column or no files). */
  readonly firstTimestamp: EpochMicros | null
  readonly lastTimestamp: EpochMicros | null
  /** UTC days holding data, from each file's exchange_timestamp bounds or time partition (a file spanning days counts each). */
  readonly days: number
}

export interface SnapshotInfo {
  readonly snapshotId: bigint
  readonly parentId: bigint | null
  readonly timestampMs: number
  readonly operation: string
  readonly summary: Readonly<Record<string, string>>
  readonly current: boolean
}

export interface InstrumentsRequest extends ReadOptions {
  readonly symbols?: ReadonlyArray<string>
}

export type QueryError = InvalidQuery | ScanError | DuckDbError | TableFileError | CatalogError | MissingColumn

export class QueryEngine extends Context.Service<QueryEngine, {
  trades(request: RowsRequest): Effect.Effect<Page<MarketRow>, QueryError>
  quotes(request: RowsRequest): Effect.Effect<Page<MarketRow>, QueryError>
  bars(request: BarsRequest): Effect.Effect<Answer<Bar>, QueryError>
  dailySummary(request: SummaryRequest): Effect.Effect<Answer<DailySummary>, QueryError>
  /**
   * A fingerprint of the zones `dailySummary` counts trading days by (K2_SEQUENCE_ZONES over the
   * default table, and the default zone): what a summary depends on besides its snapshot (ADR-98).
   */
  readonly tradingDayZones: string
  quoteBars(request: BarsRequest): Effect.Effect<Answer<QuoteBar>, QueryError>
  /** Each trade with the last quote of its instrument (exchange, symbol) at or before it (ties: highest sequence, then message_id). */
  tradesWithQuotes(request: TradeQuotesRequest): Effect.Effect<Page<TradeWithQuote>, QueryError>
  instruments(request?: InstrumentsRequest): Effect.Effect<Answer<Readonly<Record<string, unknown>>>, QueryError>
  /** Every symbol in trades or quotes, with counts and first/last exchange time per table. */
  symbols(request?: ReadOptions & { readonly symbols?: ReadonlyArray<string> }): Effect.Effect<Answer<SymbolInfo>, QueryError>
  tableStats(table: MarketTable | "sequence_events" | "instruments", options?: ReadOptions): Effect.Effect<TableStats, QueryError>
  /**
   * The table's snapshot log, oldest first. `upTo`: the log as it stood when that snapshot was
   * current (those committed up to it, it current), for an answer pinned to it.
   */
  snapshots(
    table: MarketTable | "sequence_events" | "instruments",
    options?: { readonly upTo?: bigint }
  ): Effect.Effect<ReadonlyArray<SnapshotInfo>, QueryError>
}>()("k2/services/QueryEngine") {}
