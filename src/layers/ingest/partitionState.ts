/**
 * What the ingestor knows of each assigned partition. Its actor, the flusher and restarts share
 * it as plain state on one JS thread (ADR-14); what must change together goes through
 * `atomically` (ADR-17).
 */
import { Effect, Scheduler, type Tracer } from "effect"
import { StreamSet } from "../../domain/ingest/streamOwnership.ts"
import type { SequenceEvent } from "../../domain/reference.ts"
import {
  instrumentRows,
  type InstrumentRow,
  type QuoteRow,
  quoteRows,
  type RowBuffer,
  type TradeRow,
  tradeRows
} from "../../domain/rows.ts"
import { type TopicPartition, type TpKey, tpKeyOf } from "../../services/KafkaSource.ts"
import type { SequenceJudge, SequenceTracker } from "../../services/SequenceTracker.ts"
import { LogBehindTable } from "../../services/Ingestor.ts"

/** Sources number trades and quotes: those tables go through a sequence tracker. */
export type TrackedTable = "trades" | "quotes"
/** The tables a partition feeds. */
export type DataTable = TrackedTable | "instruments"
export type Row = TradeRow | QuoteRow | InstrumentRow

/** One tracker per table: trades and quotes are numbered separately by their sources. */
export type Trackers = Readonly<Record<TrackedTable, SequenceTracker["Service"]>>

/** An empty buffer for a table's rows (a partition feeds one table). */
export const rowsFor = (table: DataTable): RowBuffer<Row> =>
  (table === "trades" ? tradeRows() : table === "quotes" ? quoteRows() : instrumentRows()) as RowBuffer<Row>

export interface PartitionState {
  readonly tp: TopicPartition
  readonly key: TpKey
  readonly table: DataTable
  /** Records below this are in the data table. */
  tableMark: bigint
  /** Records below this are in sequence_events (and in the tracker's checkpoint); the tableMark for instruments. */
  sequenceMark: bigint
  /**
   * The id of the topic its records are read from: the one the table's marker was recorded in,
   * else that of the first batch that told one. Undefined while no client told.
   */
  topicId: string | undefined
  /** The next offset to process: rows below it are buffered or committed. */
  next: bigint
  /**
   * Records below this were judged by this process's trackers before (a restart reads them again):
   * what the trackers evict and give up on them again is not counted again (`Rejudged`).
   */
  readonly judgedBelow: bigint
  rows: RowBuffer<Row>
  /** What `rows` holds in the heap, estimated (`rowBytes` of each row's record). */
  bytes: number
  events: Array<SequenceEvent>
  /**
   * Dead letters sent for the records buffered since the last flush: counted when their table
   * commit passes them, so a letter sent again after a restart dropped its batch counts once.
   */
  poison: number
  /** Records of the buffer dropped as duplicates: counted as `poison` is, when their table commit passes them. */
  duplicates: number
  /** Streams of this partition: what its checkpoint holds. */
  readonly streams: StreamSet
  /** Streams it carried that moved to another partition since it was installed (forgotten or restarted with it). */
  readonly left: StreamSet
  /**
   * Streams that moved to a partition held elsewhere (not restarted with this one) while this one
   * read records of them past its marks: their state, which has seen those records and the other
   * partition's since, stays as that partition has it, and the records, read again below
   * `below`, are judged apart, from this partition's checkpoint. Undefined once read past `below`.
   */
  rereading?: Rereading | undefined
  lag: bigint
  /**
   * The log's end (high-water mark) as a batch or a refresh of the log ends last told it; undefined
   * until one did. Kept across a restart, as the lag.
   */
  logEnd: bigint | undefined
  /**
   * Offsets `from` to below `below` were told lost (deleted before they were read, ADR-68) in the log of
   * `topicId` (undefined: a client that tells none). Kept across a restart and a revoke (in
   * `ToldLosses` until the partition comes back), after which the batch telling the loss is read
   * again while no commit passed the log start. Undefined while none was told.
   */
  lost: ToldLoss | undefined
  /** Consumer spans of the batches buffered since the last flush (tracing on; at most MAX_LINKS). */
  spans: Array<Tracer.Span>
  /**
   * Restarting from the tables: its buffer lost rows (a failed flush), or is let go (the restart
   * reads it again), so nothing more is taken into it or committed from it until the restart
   * replaces it. Its buffer is emptied when retired: it holds no room while the restart is pending.
   */
  retired: boolean
  /**
   * The group's offset may be behind `tableMark` with no flush of this state coming to move it
   * (nothing is left to read): installed from the tables, which may hold commits the group never
   * heard of (an answer lost, another process's), or its last group commit failed.
   */
  groupOwed: boolean
}

/**
 * A partition's state with nothing buffered: read from `next` (by default where its marks say
 * every table has it, `ingestedBelow`). What a restart carries over from the state it replaces
 * (the lag, the log end, the loss told), its streams and whether the group's offset is owed are
 * given; unset, none (`groupOwed`: true, as for a state installed from the tables).
 */
export const partitionState = (from: {
  readonly tp: TopicPartition
  readonly table: DataTable
  readonly tableMark?: bigint
  readonly sequenceMark?: bigint
  readonly next?: bigint
  readonly judgedBelow?: bigint
  readonly topicId?: string | undefined
  readonly streams?: StreamSet
  readonly left?: StreamSet
  readonly rereading?: Rereading | undefined
  readonly lag?: bigint
  readonly logEnd?: bigint | undefined
  readonly lost?: ToldLoss | undefined
  readonly groupOwed?: boolean
}): PartitionState => {
  const tableMark = from.tableMark ?? 0n
  const sequenceMark = from.sequenceMark ?? 0n
  return {
    tp: from.tp,
    key: tpKeyOf(from.tp),
    table: from.table,
    tableMark,
    sequenceMark,
    topicId: from.topicId,
    next: from.next ?? ingestedBelow({ sequenceMark, tableMark }),
    judgedBelow: from.judgedBelow ?? 0n,
    rows: rowsFor(from.table),
    bytes: 0,
    events: [],
    poison: 0,
    duplicates: 0,
    streams: from.streams ?? new StreamSet(),
    left: from.left ?? new StreamSet(),
    rereading: from.rereading,
    lag: from.lag ?? 0n,
    logEnd: from.logEnd,
    lost: from.lost,
    spans: [],
    retired: false,
    groupOwed: from.groupOwed ?? true
  }
}

/**
 * Empties what a partition buffered since its last flush: its rows and their bytes, its sequence
 * events, the dead letters and duplicates counted for them and their spans (after a flush committed them, or
 * when the partition is retired).
 */
export const emptyBuffer = (state: PartitionState): void => {
  state.rows = rowsFor(state.table)
  state.bytes = 0
  state.events = []
  state.poison = 0
  state.duplicates = 0
  state.spans = []
}

/**
 * The heap a buffered row holds, estimated from its record's size on the wire: measured on 45k
 * buffered trades, ~150 B plus three times the record (75 B records held 373 B a row; with 50
 * vendor_data entries, 2 KB records held 6.3 KB). A count of rows alone bounds nothing when rows
 * carry large maps or lists. A list item (`listItems`, known once decoded) holds a pointer and the
 * array's spare room, ~12 B, whatever its size on the wire: records of 900,000 empty conditions (1
 * byte each) held 11.6 times their size, and 60 of them ran ingest out of its 256 MB heap. A map
 * entry (`mapEntries`) is a pair array and its key, ~80 B beyond its bytes on the wire: measured,
 * entries of a 4-character key and an empty value held 97 B each, 3 times their 6 B estimated 18.
 */
export const rowBytes = (recordBytes: number, listItems = 0, mapEntries = 0): number =>
  150 + 3 * recordBytes + 12 * listItems + 80 * mapEntries

/** A map's entries, counted without allocating: the empty map, every simulated row's, costs nothing. */
export const entryCount = (m: Readonly<Record<string, string>>): number => {
  let n = 0
  for (const _ in m) n++
  return n
}

/**
 * A log's end never goes back: one below the table's marker is another log of the partition's name
 * (ADR-24), whose records up to the marker would be dropped as ingested. `tableMark`: the marker
 * the end is judged against (a batch's: the state's; the lag refresh's: as it stood when asked).
 */
export const logBehindTable = (part: PartitionState, logEnd: bigint, tableMark: bigint): LogBehindTable | undefined =>
  !part.retired && logEnd < tableMark
    ? new LogBehindTable({ topic: part.tp.topic, partition: part.tp.partition, table: part.table, logEnd, tableMark })
    : undefined

/** Records below this are in every table the partition feeds: where a restart reads from. */
export const ingestedBelow = (part: Pick<PartitionState, "sequenceMark" | "tableMark">): bigint =>
  part.sequenceMark < part.tableMark ? part.sequenceMark : part.tableMark

/**
 * How far the tracker has seen this partition's records: past its marks, what a restart or a
 * revoke reads again. A state installed while records of a moved stream wait to be read again
 * (`rereading`) has them seen too.
 */
export const seenBelow = (part: PartitionState): bigint =>
  part.rereading !== undefined && part.rereading.below > part.next ? part.rereading.below : part.next

/**
 * Where the group's offset of an idle partition goes: its table's mark, once nothing past it is
 * buffered and nothing below it is left to read again (sequence_events is not behind). Undefined
 * otherwise (a flush of the partition commits it then), and while its log is not known to reach
 * the mark: a log behind it is another log of that name (ADR-24), whose offsets are not the table's.
 */
export const idleMark = (part: PartitionState): bigint | undefined =>
  part.retired || part.tableMark === 0n || part.next !== part.tableMark || ingestedBelow(part) !== part.tableMark ||
    part.logEnd === undefined || part.logEnd < part.tableMark
    ? undefined
    : part.tableMark

/** See `PartitionState.rereading`. */
export interface Rereading {
  readonly judge: SequenceJudge
  readonly streams: StreamSet
  readonly below: bigint
}

/** Offsets `from` to below `below` of the log of `topicId` were told lost (see `PartitionState.lost`). */
export interface ToldLoss {
  readonly from: bigint
  readonly below: bigint
  readonly topicId: string | undefined
}

/**
 * What revoked partitions told lost, until they are assigned back to this process: by partition,
 * so bounded by the partitions it was ever assigned.
 */
export type ToldLosses = Map<TpKey, ToldLoss>

/** The assigned partitions. A restart replaces a partition's state: `parts.get(key) !== part` tells. */
export type Partitions = Map<TpKey, PartitionState>

/**
 * Runs `effect` without yielding to other fibers and without interruption: a partition's state,
 * its tracker streams and its buffer change together, never half-seen by the flusher, an actor or
 * a restart. Only for effects that do no I/O (they would yield anyway).
 */
export const atomically = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  effect.pipe(Effect.provideService(Scheduler.PreventSchedulerYield, true), Effect.uninterruptible)
