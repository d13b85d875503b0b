/**
 * What a flush takes from the partitions, and its table commits (DESIGN.md step 2): one snapshot
 * per table, carrying the group's marker, and fenced (ADR-6): abandoned if another writer moved the mark of one of its
 * partitions since this process read it, so a zombie never commits twice what a new owner did.
 */
import { Effect, Metric, Option, Result, type Tracer } from "effect"
import { concatBatches } from "../../domain/columnBatch.ts"
import { CHECKPOINT_PREFIX, fence } from "../../domain/ingest/marker.ts"
import { keepOnly, movedAmong, StreamSet } from "../../domain/ingest/streamOwnership.ts"
import type { TableMetadata } from "../../domain/iceberg/spec.ts"
import type { SequenceEvent } from "../../domain/reference.ts"
import type { RowBuffer } from "../../domain/rows.ts"
import { sequenceEventColumns } from "../../domain/sequence/events.ts"
import { identifierOf } from "../../domain/tables.ts"
import type { Catalog, TableIdentifier } from "../../services/Catalog.ts"
import type { FileIO } from "../../services/FileIO.ts"
import type { IcebergSink, SinkError } from "../../services/IcebergSink.ts"
import type { TpKey } from "../../services/KafkaSource.ts"
import type { IngestCounters } from "./ingestProgress.ts"
import { COMMIT_ID } from "../iceberg/commit.ts"
import * as Metrics from "../telemetry/metrics.ts"
import { committedMetrics, countBy, countedMetrics } from "./ingestMetrics.ts"
import { atomically, emptyBuffer, ingestedBelow, type DataTable, type PartitionState, type Partitions, type Row, type Trackers } from "./partitionState.ts"

export const SEQUENCE_EVENTS = identifierOf("sequence_events")

/** Checkpoint side files written at once: fsyncs overlap (960 took 0.3-0.5 s at 16, against 2.1-2.4 s one by one). */
const CHECKPOINT_WRITES = 16

/** Summary key of one partition's tracker checkpoint (a side file; DESIGN.md step 2). */
export const checkpointKey = (group: string, key: TpKey) => `${CHECKPOINT_PREFIX}${group}.${key}`

/** What one flush commits for one partition. */
export interface Taken {
  readonly part: PartitionState
  readonly rows: RowBuffer<Row>
  readonly events: ReadonlyArray<SequenceEvent>
  /** The heap the rows hold, estimated (`PartitionState.bytes`). */
  readonly bytes: number
  /** Dead letters sent for these records. */
  readonly poison: number
  /** Of these records, those dropped as duplicates. */
  readonly duplicates: number
  readonly tableMark: bigint
  readonly sequenceMark: bigint
  readonly next: bigint
  /** The tracker checkpoint at `next`, when this flush commits sequence_events. */
  readonly checkpoint: string | undefined
  readonly spans: ReadonlyArray<Tracer.Span>
}

/**
 * Takes every partition's buffer at one instant, with the tracker checkpoints when this flush
 * commits sequence_events: when `due`, or when a buffer holds anomalies (events are only ever
 * committed with a checkpoint).
 */
export const takeBuffers = (parts: Partitions, trackers: Trackers, due: boolean) =>
  atomically(Effect.gen(function*() {
    let checkpoints = due
    for (const part of parts.values()) checkpoints ||= part.events.length > 0
    const taking = [...parts.values()].filter((part) => !part.retired && part.next > ingestedBelow(part))
    const texts = checkpoints ? yield* checkpointsOf(taking, trackers, parts.values()) : new Map<PartitionState, string>()
    // Letting go changes no partition's `left`: one look at them serves every partition taken.
    const moved = checkpoints ? movedAmong(parts.values()) : undefined
    const taken: Array<Taken> = []
    for (const part of taking) {
      taken.push({
        part,
        rows: part.rows,
        events: part.events,
        bytes: part.bytes,
        poison: part.poison,
        duplicates: part.duplicates,
        tableMark: part.tableMark,
        sequenceMark: part.sequenceMark,
        next: part.next,
        checkpoint: texts.get(part),
        spans: part.spans
      })
      if (moved !== undefined) yield* letGoOfUntracked(parts, trackers, part, moved)
      emptyBuffer(part)
    }
    return { taken, checkpoints }
  }))

/**
 * The tracker checkpoint of each tracked partition, its streams', one pass over each table's
 * tracker: a pass a partition cost partitions times streams, the event loop held (ADR-57).
 */
const checkpointsOf = (taking: ReadonlyArray<PartitionState>, trackers: Trackers, all: Iterable<PartitionState>) =>
  Effect.gen(function*() {
    const texts = new Map<PartitionState, string>()
    const rereading = [...all].filter((part) => part.rereading !== undefined)
    for (const table of ["trades", "quotes"] as const) {
      const mine = taking.filter((part) => part.table === table)
      if (mine.length === 0) continue
      // Streams a partition has still to read again apart (`rereading`): their state has seen records
      // no table holds yet. Checkpointed, a start from the tables restored it and dropped those
      // records as duplicates; left out, it restores an older checkpoint (the owner's next record
      // may then be a false GAP).
      const apart = new StreamSet()
      for (const part of rereading) if (part.table === table) part.rereading!.streams.some((e, s) => (apart.add(e, s), false))
      // Who holds each stream (one partition, but nothing here needs that to be so).
      const holders = new Map<string, Map<string, Array<PartitionState>>>()
      for (const part of mine) {
        part.streams.some((exchange, symbol) => {
          if (apart.has(exchange, symbol)) return false
          let symbols = holders.get(exchange)
          if (symbols === undefined) holders.set(exchange, (symbols = new Map()))
          const list = symbols.get(symbol)
          if (list === undefined) symbols.set(symbol, [part])
          else list.push(part)
          return false
        })
      }
      const byPart = yield* trackers[table].checkpointsOf(mine, (exchange, symbol) => holders.get(exchange)?.get(symbol))
      for (const [part, text] of byPart) texts.set(part, text)
    }
    return texts
  })

/**
 * A partition's streams are what its checkpoint holds: those the tracker has evicted (its LRU
 * keeps K2_SEQUENCE_CAPACITY) are let go, else a partition kept every symbol it had carried since
 * it was assigned, without end where symbols come and go. Instruments are not tracked: none is
 * kept. A stream that moved between partitions stays with its owner (another partition has it in
 * `left`): who restarts with whom, and who restores it, still go by it.
 */
const letGoOfUntracked = (
  parts: Partitions,
  trackers: Trackers,
  part: PartitionState,
  moved: (table: string, exchange: string, symbol: string) => boolean
) =>
  Effect.gen(function*() {
    if (part.streams.size === 0) return
    const tracked = part.table === "instruments" ? () => false : yield* trackers[part.table].tracking
    keepOnly(parts, part, (exchange, symbol) => tracked(exchange, symbol) || moved(part.table, exchange, symbol))
  })

export interface TableCommitsContext {
  readonly group: string
  readonly sink: IcebergSink["Service"]
  readonly catalog: Catalog["Service"]
  readonly files: FileIO["Service"]
  readonly counters: IngestCounters
}

/** A commit whose outcome stayed unknown: it may have landed, and then its rows are the table's. */
interface Unresolved {
  readonly table: TableIdentifier
  readonly commitId: string
  /** Counts it as committed. */
  readonly count: Effect.Effect<void>
}

const isUnknownOutcome = (e: SinkError) => e._tag === "CatalogError" && e.reason._tag === "CommitStateUnknown"

export const makeTableCommits = ({ catalog, counters, files, group, sink }: TableCommitsContext) => {
  /**
   * Commits whose outcome stayed unknown, not yet looked for. The partitions restart from the
   * tables' marks, so a commit that landed is never read (nor counted) again: it is counted when
   * its table is seen to hold it.
   */
  let unresolved: Array<Unresolved> = []

  /**
   * `append` with the commit id it is given to carry, remembered for `resolveUnknownOutcomes` when
   * its outcome stays unknown.
   */
  const appending = <A>(table: TableIdentifier, count: Effect.Effect<void>, append: (properties: Record<string, string>) => Effect.Effect<A, SinkError>) =>
    Effect.suspend(() => {
      const commitId = crypto.randomUUID()
      return append({ [COMMIT_ID]: commitId }).pipe(
        Effect.tapError((e) => isUnknownOutcome(e) ? Effect.sync(() => void unresolved.push({ table, commitId, count })) : Effect.void)
      )
    })

  /**
   * Counts the commits whose outcome stayed unknown that their tables hold; forgets those they do
   * not (never landed, or expired before they were looked for). A table that cannot be read now is
   * asked again next time. Under the flush lock, as the commits.
   */
  const resolveUnknownOutcomes = Effect.suspend(() => {
    const pending = unresolved
    unresolved = []
    return Effect.forEach(pending, (u) =>
      Effect.gen(function*() {
        const loaded = yield* Effect.option(catalog.loadTable(u.table))
        if (Option.isNone(loaded)) unresolved.push(u)
        else if (loaded.value.metadata.snapshots.some((s) => s.summary[COMMIT_ID] === u.commitId)) yield* u.count
      }), { discard: true })
  })

  /**
   * Newest exchange_timestamp (us) committed by this process, by partition, for the freshness
   * gauge: of the partitions it owns now, not of those a rebalance took away.
   */
  const newestCommitted = new Map<TpKey, number>()

  /** The fence of a commit of `taken` (ADR-6), each partition checked at `mark`. */
  const fenced = (taken: ReadonlyArray<Taken>, mark: (t: Taken) => bigint, table: string) => (base: TableMetadata) =>
    fence(
      base,
      group,
      taken.map((t) => ({
        topic: t.part.tp.topic,
        partition: t.part.tp.partition,
        from: mark(t),
        to: t.next,
        ...(t.part.topicId === undefined ? {} : { topicId: t.part.topicId })
      })),
      table
    )

  /** `onLoaded`: the rows are in DuckDB and being written (`WriteOptions.onLoaded`); not called when they never get there. */
  const commitTable = Effect.fnUntraced(function*(table: DataTable, taken: ReadonlyArray<Taken>, onLoaded: () => void) {
    const mine = taken.filter((t) => t.part.table === table && t.next > t.tableMark)
    if (mine.length === 0) return
    const batch = concatBatches(mine.map((t) => t.rows.columns()))
    const started = performance.now()
    const count = () => {
      counters.written[table] += batch.rowCount
      counters.commits++
      for (const t of mine) {
        // Counted with the rows: the letters of a batch a restart dropped were sent, but their
        // records are read (and their letters sent) again. The same for duplicates: a restart judges them again.
        counters.deadLettered += t.poison
        counters.duplicatesDropped += t.duplicates
        // Instruments carry no exchange time (newest -1): they do not move the freshness gauge.
        if (t.rows.newest > (newestCommitted.get(t.part.key) ?? -1)) newestCommitted.set(t.part.key, t.rows.newest)
      }
    }
    const id = identifierOf(table)
    const outcome = yield* appending(
      id,
      Effect.andThen(Effect.sync(count), countedMetrics(table, batch.rowCount)),
      (properties) => sink.append(id, batch, { properties, prepare: fenced(mine, (t) => t.tableMark, table), onLoaded })
    )
    for (const t of mine) {
      t.part.tableMark = t.next
      if (table === "instruments") t.part.sequenceMark = t.next
    }
    count()
    yield* committedMetrics(table, batch.rowCount, outcome, started)
  })

  /** sequence_events with each partition's tracker checkpoint; never ahead of the data tables. */
  const commitSequenceEvents = Effect.fnUntraced(function*(taken: ReadonlyArray<Taken>) {
    const mine = taken.filter((t) => t.part.table !== "instruments" && t.next > t.sequenceMark)
    if (mine.length === 0) return
    const location = (yield* catalog.loadTable(SEQUENCE_EVENTS)).metadata.location
    const checkpoints: Record<string, string> = {}
    // One side file a partition, each synced with its directory entry (ADR-43): written one after
    // the other they took 2.1-2.4 s a commit at 960 partitions, under the flush lock (ADR-57).
    yield* Effect.forEach(mine, (t) => {
      const file = `${location}/metadata/k2-sequence-${crypto.randomUUID()}.json`
      checkpoints[checkpointKey(group, t.part.key)] = file
      return files.write(file, new TextEncoder().encode(t.checkpoint ?? ""))
    }, { concurrency: CHECKPOINT_WRITES, discard: true })
    const events = mine.flatMap((t) => t.events)
    const prepare = fenced(mine, (t) => t.sequenceMark, "sequence_events")
    const started = performance.now()
    const count = Effect.sync(() => {
      counters.written.sequence_events += events.length
      counters.commits++
    })
    // Counted as written, not as found: a restart finds again the events of a commit that failed.
    const byKind = Effect.forEach(countBy(events, (e) => e.kind), ([kind, n]) =>
      Metric.update(Metric.withAttributes(Metrics.sequenceEvents, { kind }), n), { discard: true })
    const outcome = yield* appending(
      SEQUENCE_EVENTS,
      Effect.andThen(count, Effect.andThen(countedMetrics("sequence_events", events.length), byKind)),
      (properties) => sink.append(SEQUENCE_EVENTS, sequenceEventColumns(events), {
        properties,
        prepare: (base) => Result.map(prepare(base), (marker) => ({ ...marker, ...checkpoints }))
      })
    )
    for (const t of mine) t.part.sequenceMark = t.next
    yield* count
    yield* committedMetrics("sequence_events", events.length, outcome, started)
    yield* byKind
  })

  /** Newest exchange_timestamp (us) committed by this process of these partitions; -1 when none. */
  const newestOf = (keys: Iterable<TpKey>): number => {
    let newest = -1
    for (const key of keys) newest = Math.max(newest, newestCommitted.get(key) ?? -1)
    return newest
  }

  return { commitTable, commitSequenceEvents, newestCommitted: newestOf, resolveUnknownOutcomes }
}
