import { Context, type Effect, Schema } from "effect"
import type { CatalogError } from "./Catalog.ts"
import type { SinkError } from "./IcebergSink.ts"
import { KafkaError } from "./KafkaSource.ts"
import type { TableFileError } from "../domain/iceberg/errors.ts"
import type { MarkerUnreadable } from "../domain/ingest/marker.ts"

export interface IngestProgress {
  /**
   * Records taken from Kafka to ingest: each is written, dead-lettered or dropped as a duplicate.
   * Not those read again below a table's marker (`alreadyIngested`); a record read again above
   * the marker (after a failed flush, a partition failure or a revoke) is counted again.
   */
  readonly consumed: number
  /**
   * Rows committed, by table. A commit whose outcome stayed unknown (the catalog's answer lost
   * through every retry) counts once its partitions' restart finds it in the table; one that a
   * snapshot expiry removed before that (`compact` with a zero age, another engine's) cannot be
   * told from another writer's, and does not count.
   */
  readonly written: Readonly<Record<"trades" | "quotes" | "instruments" | "sequence_events", number>>
  /**
   * Poison records sent to the DLQ, counted once their table commit passes them (as `written`):
   * a letter sent again after a restart dropped its batch (the DLQ is at least once) counts once.
   */
  readonly deadLettered: number
  /**
   * Records below a table's marker read after a restart or rebalance (some rebuild the sequence
   * tracker's state), then skipped: they were ingested before.
   */
  readonly alreadyIngested: number
  /**
   * Consumed records dropped by the sequence tracker as duplicates, counted once their table commit
   * passes them (as `deadLettered`): one judged again after a restart dropped its batch counts once.
   */
  readonly duplicatesDropped: number
  readonly commits: number
  /** Sum over assigned partitions of high-water mark minus the next offset to read. */
  readonly lag: number
  /**
   * How long Kafka has not answered a read of the log ends `lag` is figured from, once that is
   * longer than the config's `lagStaleAfterMs` (`lag` is then the last figure read); else 0. A broker alive
   * but unresponsive (a frozen JVM) answers nothing, while the progress otherwise reads as idle.
   */
  readonly lagUnansweredMs: number
  /**
   * A stop asked for the drain (flush, commit, leave the group), under way or done: the lag is no
   * longer read and the partitions are let go, so their figures say nothing of now.
   */
  readonly draining: boolean
  readonly partitions: number
  /** Sum over assigned partitions of the next offset to read (a partition awaiting a restart: where the restart reads from). */
  readonly position: number
  /** Records consumed but not yet committed to every table (sequence_events included). */
  readonly uncommitted: number
  /**
   * Records consumed but not yet in their data table. Can be 0 while `uncommitted` is not:
   * sequence_events commits only on anomalies, every checkpoint interval and on drain.
   */
  readonly unwritten: number
  /**
   * Partitions restarted from the table's marker after a failure or a fenced commit, counted once
   * restarted: an attempt that could not read the tables restarted none (its retry counts when it does).
   */
  readonly restarts: number
  /**
   * Milliseconds during which fetched batches waited for buffer room (the fetch loop's wait, ADR-57),
   * a wait still going on included: the flushes setting the pace (backpressure), not Kafka.
   */
  readonly waitedForRoomMs: number
}

/**
 * A partition's log ends below the offset up to which its table holds records: the topic was
 * deleted and re-created under the same name (or the broker lost records). Its new records carry
 * offsets the table already holds, and would be skipped as ingested; the run ends instead.
 */
export class LogBehindTable extends Schema.TaggedError<LogBehindTable>()("LogBehindTable", {
  topic: Schema.String,
  partition: Schema.Number,
  table: Schema.String,
  /** The log's end (high-water mark). */
  logEnd: Schema.BigInt,
  /** The table holds the partition's records below this offset. */
  tableMark: Schema.BigInt
}) {
  override get message() {
    return `${this.topic}:${this.partition} ends at offset ${this.logEnd}, but table ${this.table} holds its records up to offset ${this.tableMark}: ` +
      `the topic was deleted and re-created, or the broker lost records. Its new records would be skipped as ingested, so ingestion stops: ` +
      `ingest a re-created topic into a new warehouse, or publish under a new topic name`
  }
}

/**
 * The topic a table's marker was recorded in was deleted and made again under its name (its id
 * changed): the marker's offsets are positions in the old log. Found whatever the new log's length.
 */
export class TopicRecreated extends Schema.TaggedError<TopicRecreated>()("TopicRecreated", {
  topic: Schema.String,
  partition: Schema.Number,
  table: Schema.String,
  /** The topic id the table's marker was recorded with. */
  tableTopicId: Schema.String,
  /** The id of the topic read now. */
  topicId: Schema.String
}) {
  override get message() {
    return `${this.topic}:${this.partition} is in topic id ${this.topicId}, but table ${this.table} holds the records of topic id ${this.tableTopicId} ` +
      `under that name: the topic was deleted and made again. Its records would be skipped as ingested up to the table's marker, so ingestion stops: ` +
      `ingest a re-created topic into a new warehouse, or publish under a new topic name`
  }
}

/** The log read is not the one a table's marker describes: ingesting on would skip its records as ingested. */
export type AnotherLog = LogBehindTable | TopicRecreated

const isAnotherLog = (e: { readonly _tag: string }): e is AnotherLog => e._tag === "LogBehindTable" || e._tag === "TopicRecreated"

/** The cluster's ACLs refused the principal (a dead-letter topic it may not write): no restart grants it. */
const isNotAuthorized = (e: { readonly _tag: string }): e is KafkaError => e instanceof KafkaError && e.reason._tag === "NotAuthorized"

/** Faults of a partition no restart clears: the run ends with them. */
export const isFatalToRun = (e: { readonly _tag: string }): e is AnotherLog | MarkerUnreadable | KafkaError =>
  isAnotherLog(e) || e._tag === "MarkerUnreadable" || isNotAuthorized(e)

export type IngestError = KafkaError | SinkError | CatalogError | TableFileError | AnotherLog | MarkerUnreadable

/**
 * Kafka to Iceberg, exactly once (DESIGN.md "Ingest"): the tables' markers, not the consumer
 * group, say what has been ingested.
 */
export class Ingestor extends Context.Service<Ingestor, {
  /**
   * Consumes and commits until interrupted. Interruption drains: stop fetching, flush and
   * commit what is buffered, commit group offsets, leave the group. A drain whose commit fails
   * fails the run with that error (beside the interruption); the next start re-reads its records.
   */
  readonly run: Effect.Effect<void, IngestError>
  readonly progress: Effect.Effect<IngestProgress>
}>()("k2/services/Ingestor") {}
