/**
 * ReplayEngine: history as a Stream of trades and quotes in exchange-time order, across
 * symbols and tables, from a chosen snapshot, unpaced or paced at a multiple of real time,
 * with memory bounded whatever the range (docs/query.md "Replay").
 *
 * Kafka targets build on two pieces here: `stream` (republish: run it into a KafkaSink) and
 * `catchUpPoint` (the snapshot to replay and the offsets to continue from on the live topic).
 */
import { Context, type Effect, type Stream } from "effect"
import type { TableFileError } from "../domain/iceberg/errors.ts"
import type { Offsets } from "../domain/ingest/marker.ts"
import type { InvalidQuery } from "../domain/query/errors.ts"
import type { EpochMicros } from "../domain/time.ts"
import type { DuckDbError } from "../layers/duckdb/DuckDb.ts"
import type { CatalogError } from "./Catalog.ts"
import type { MarketTable } from "./QueryEngine.ts"
import type { ScanError, SnapshotSelector } from "./TableScanner.ts"

export type Pace =
  | { readonly _tag: "Unpaced" }
  /** `speed` × real time: 1 is real time, 60 replays an hour a minute. */
  | { readonly _tag: "Paced"; readonly speed: number }

export const Unpaced: Pace = { _tag: "Unpaced" }

export interface ReplayRequest {
  /** Empty or absent: every symbol. */
  readonly symbols?: ReadonlyArray<string>
  /** [from, to) in epoch micros of exchange time. */
  readonly from: EpochMicros
  readonly to: EpochMicros
  /** Default both. */
  readonly tables?: ReadonlyArray<MarketTable>
  /** Applied to every table; use `snapshots` for a snapshot id per table. */
  readonly snapshot?: SnapshotSelector
  readonly snapshots?: Partial<Record<MarketTable, SnapshotSelector>>
  readonly pace?: Pace
  /**
   * Most rows DuckDB sorts at once (the memory bound), 1,000..10,000,000; default
   * 1,000,000 unpaced, 50,000 paced (a paced window is held in memory while it plays).
   */
  readonly windowRows?: number
}

interface EventCommon {
  readonly message_id: string
  readonly symbol: string
  readonly exchange: string
  readonly asset_class: string
  readonly exchange_timestamp: EpochMicros
  readonly currency: string
  readonly conditions: ReadonlyArray<string>
  readonly source_sequence: bigint | null
  readonly ingestion_timestamp: EpochMicros
  readonly kafka_topic: string
  readonly kafka_partition: number
  readonly kafka_offset: bigint
  readonly vendor_data: Readonly<Record<string, string>>
}

/** Decimals are exact text with 8 places. */
export interface TradeEvent extends EventCommon {
  readonly _tag: "Trade"
  readonly trade_id: string
  readonly price: string
  readonly quantity: string
  readonly side: string
}

export interface QuoteEvent extends EventCommon {
  readonly _tag: "Quote"
  readonly quote_id: string
  readonly bid_price: string
  readonly bid_size: string
  readonly ask_price: string
  readonly ask_size: string
}

/** Ordered by (exchange_timestamp, source_sequence with NULL first, message_id, Quote before Trade). */
export type ReplayEvent = TradeEvent | QuoteEvent

export interface CatchUpPoint {
  readonly table: MarketTable
  /** The newest snapshot carrying the group's marker: replay it, then read Kafka from `offsets`. */
  readonly snapshotId: bigint
  readonly offsets: Offsets
}

export type ReplayError = InvalidQuery | ScanError | DuckDbError | TableFileError | CatalogError

export class ReplayEngine extends Context.Service<ReplayEngine, {
  stream(request: ReplayRequest): Stream.Stream<ReplayEvent, ReplayError>
  /** Where a replay hands over to the live topic for `group`; undefined when no snapshot carries its marker. */
  catchUpPoint(table: MarketTable, group: string): Effect.Effect<CatchUpPoint | undefined, CatalogError>
}>()("k2/services/ReplayEngine") {}
