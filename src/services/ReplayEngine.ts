/**
 * ReplayEngine: history as a Stream of trades and quotes in exchange-time order, across
 * symbols and tables, from a chosen snapshot, unpaced or paced at a multiple of real time,
 * with memory bounded whatever the range (docs/query.md "Replay").
 *
 * Kafka targets: `follow` replays a group's catch-up point and continues on the live source
 * topics (no gap, no overlap per partition); `republish` (layers/replay/republish.ts) runs any
 * replay into a topic.
 */
import { Context, type Effect, Schema, type Stream } from "effect"
import type { TableFileError } from "../domain/iceberg/errors.ts"
import type { MarkerUnreadable, Offsets, TopicIds } from "../domain/ingest/marker.ts"
import type { InvalidQuery } from "../domain/query/errors.ts"
import type { EpochMicros } from "../domain/time.ts"
import type { DuckDbError } from "../layers/duckdb/DuckDb.ts"
import type { CatalogError } from "./Catalog.ts"
import type { KafkaError, KafkaSource } from "./KafkaSource.ts"
import type { SchemaRegistryError } from "./SchemaRegistry.ts"
import type { WireSchemas } from "../layers/ingest/writerSchemas.ts"
import type { MarketTable } from "./QueryEngine.ts"
import type { ScanError, SnapshotSelector } from "./TableScanner.ts"

export type Pace =
  | { readonly _tag: "Unpaced" }
  /** `speed` × real time: 1 is real time, 60 replays an hour a minute. */
  | { readonly _tag: "Paced"; readonly speed: number }

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
   * 1,000,000 unpaced, 50,000 paced or with `wholeWindows` (such a window is held in memory while it plays).
   */
  readonly windowRows?: number
  /**
   * Read each window whole before it plays, as paced replays do, so that no pooled connection waits
   * on the consumer. For a consumer that may stop reading (an HTTP client): unpaced, a window
   * streams from its connection as it is consumed, and a stalled reader holds two of them.
   */
  readonly wholeWindows?: boolean
}

/**
 * Null where a column is null: K2's column another engine dropped reads as null (ADR-2), as pages
 * show it; never from Kafka (live events) or K2's own tables. The replay's key (`message_id`,
 * `exchange_timestamp`) and `symbol`, of the tables' sort order, are typed as K2 writes them.
 */
interface EventCommon {
  readonly message_id: string
  readonly symbol: string
  readonly exchange: string | null
  readonly asset_class: string | null
  readonly exchange_timestamp: EpochMicros
  readonly currency: string | null
  readonly conditions: ReadonlyArray<string>
  readonly source_sequence: bigint | null
  readonly ingestion_timestamp: EpochMicros | null
  readonly kafka_topic: string | null
  readonly kafka_partition: number | null
  readonly kafka_offset: bigint | null
  readonly vendor_data: Readonly<Record<string, string>>
}

/** Decimals are exact text with 8 places. */
export interface TradeEvent extends EventCommon {
  readonly _tag: "Trade"
  readonly trade_id: string | null
  readonly price: string | null
  readonly quantity: string | null
  readonly side: string | null
}

export interface QuoteEvent extends EventCommon {
  readonly _tag: "Quote"
  readonly quote_id: string | null
  readonly bid_price: string | null
  readonly bid_size: string | null
  readonly ask_price: string | null
  readonly ask_size: string | null
}

/**
 * Ordered by (exchange_timestamp, source_sequence with NULL as -1, message_id, Quote before Trade, Kafka lineage), as
 * pages (docs/query.md): NULL first of the sequences K2 writes, never negative; another engine's negative ones before it.
 */
export type ReplayEvent = TradeEvent | QuoteEvent

export interface CatchUpPoint {
  readonly table: MarketTable
  /** The newest snapshot carrying the group's marker: replay it, then read Kafka from `offsets`. */
  readonly snapshotId: bigint
  readonly offsets: Offsets
  /** The id of each topic the offsets are in, where ingestion recorded it (ADR-29). */
  readonly topicIds: TopicIds
}

export interface FollowRequest {
  /** The consumer group whose marker says what the tables hold (the ingest group). */
  readonly group: string
  /** Exchange-time start, inclusive; applied to the table part and to live records alike. */
  readonly from: EpochMicros
  /** Empty or absent: every symbol. */
  readonly symbols?: ReadonlyArray<string>
  /** Default both. */
  readonly tables?: ReadonlyArray<MarketTable>
  /**
   * Source topics to follow (`market.{asset_class}.{trades|quotes}.{exchange}`) besides those
   * named in the tables' markers (needed while a table has no marker yet). Topics of tables not
   * replayed are left out.
   */
  readonly topics?: ReadonlyArray<string>
  /** Pace of the table part; live records flow as they arrive. */
  readonly pace?: Pace
  readonly windowRows?: number
  /** Called once, when the table part is done, with the offsets the live part starts from. */
  readonly onLive?: (start: LiveStart) => Effect.Effect<void>
  /**
   * How live records are read: the codec of the topics' schema ids (default: the embedded ids)
   * and, with a registry, its by-id lookup for writer schemas the codec does not know yet.
   */
  readonly schemas?: WireSchemas
}

export interface LiveStart {
  /** Events the table part yielded. */
  readonly tableEvents: number
  /** Next offset per topic and partition: the marker, or the log's start for partitions the marker lacks. */
  readonly offsets: Offsets
}

/**
 * The live topic cannot continue the table without a gap: records at the marker were deleted
 * (retention; `low` above the marker), or the partition is behind it (a recreated topic). With
 * `live`, found later: records past the position the replay had reached (`marker`) were deleted
 * before it read them (a table part or a reader slower than the topic's retention).
 */
export class CatchUpGap extends Schema.TaggedError<CatchUpGap>()("CatchUpGap", {
  topic: Schema.String,
  partition: Schema.Number,
  marker: Schema.BigInt,
  low: Schema.BigInt,
  high: Schema.BigInt,
  live: Schema.Boolean
}) {
  override get message() {
    return this.live
      ? `${this.topic}:${this.partition} lost records: the replay had read up to offset ${this.marker}, but the log now holds [${this.low}, ${this.high}) ` +
        "(retention deleted records before the replay read them: its table part or its reader was slower than the topic's retention)"
      : `${this.topic}:${this.partition} cannot continue the table at offset ${this.marker}: the log holds [${this.low}, ${this.high})`
  }
}

/**
 * A live topic is another log than the one the table's marker counts in: deleted and made again
 * under its name since ingestion recorded its id (ADR-29). Its offsets are not the marker's.
 */
export class CatchUpTopicRecreated extends Schema.TaggedError<CatchUpTopicRecreated>()("CatchUpTopicRecreated", {
  topic: Schema.String,
  partition: Schema.Number,
  tableTopicId: Schema.String,
  topicId: Schema.String
}) {
  override get message() {
    return `${this.topic}:${this.partition} is in topic id ${this.topicId}, but the table's marker counts offsets of topic id ${this.tableTopicId}: ` +
      "the topic was deleted and made again, and the table cannot be continued in it"
  }
}

export type ReplayError = InvalidQuery | ScanError | DuckDbError | TableFileError | CatalogError
export type FollowError = ReplayError | KafkaError | CatchUpGap | CatchUpTopicRecreated | SchemaRegistryError | MarkerUnreadable

export class ReplayEngine extends Context.Service<ReplayEngine, {
  /**
   * Checks the request and plans its read (each table's files at its snapshot), then returns the
   * stream that plays it: an invalid request, a missing snapshot or file, a catalog failure fail
   * here, before any event; the stream fails only on what reading the planned files meets.
   */
  plan(request: ReplayRequest): Effect.Effect<Stream.Stream<ReplayEvent, ReplayError>, ReplayError>
  /** `plan` and its stream as one stream. */
  stream(request: ReplayRequest): Stream.Stream<ReplayEvent, ReplayError>
  /**
   * Where a replay hands over to the live topic for `group`; undefined when no snapshot carries its
   * marker. A marker that does not decode fails (an older one would replay rows twice).
   */
  catchUpPoint(table: MarketTable, group: string): Effect.Effect<CatchUpPoint | undefined, CatalogError | MarkerUnreadable>
  /**
   * Catch-up to live: replay each table at its catch-up point for `group`, then consume the source
   * topics from exactly that point's offsets, and never end. Per (topic, partition) the events are
   * the table's rows (offsets below the marker) and then the decodable records at and after it,
   * each once. Live events come in arrival order (offset order per partition), not merged by time.
   */
  follow(request: FollowRequest): Stream.Stream<ReplayEvent, FollowError, KafkaSource>
}>()("k2/services/ReplayEngine") {}
