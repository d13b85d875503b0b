/**
 * Where partitions start: from the tables, not the consumer group (DESIGN.md step 4). The marks
 * of the newest snapshots carrying the group's marker, the tracker state from the same
 * sequence_events snapshot, and the offset to read from.
 */
import { Effect, Metric } from "effect"
import { markerOf, type Offsets, offsetOf } from "../../domain/ingest/marker.ts"
import { holdAll, letGoAll, newestCheckpoints, ownerOf, StreamSet } from "../../domain/ingest/streamOwnership.ts"
import { checkpointStreams } from "../../domain/sequence/tracker.ts"
import { identifierOf } from "../../domain/tables.ts"
import type { Catalog } from "../../services/Catalog.ts"
import type { FileIO } from "../../services/FileIO.ts"
import { type TopicPartition, type TpKey, tpKeyOf } from "../../services/KafkaSource.ts"
import * as Metrics from "../telemetry/metrics.ts"
import { atomically, ingestedBelow, type DataTable, type PartitionState, type Partitions, partitionState, seenBelow, type ToldLosses, type Trackers } from "./partitionState.ts"
import { checkpointKey, SEQUENCE_EVENTS } from "./tableCommits.ts"

export interface TableStartsContext {
  readonly group: string
  readonly catalog: Catalog["Service"]
  readonly files: FileIO["Service"]
  readonly trackers: Trackers
  readonly tableOfTopic: ReadonlyMap<string, DataTable>
  readonly parts: Partitions
  /** What partitions told lost before they were revoked: a partition assigned back takes it again. */
  readonly toldLosses: ToldLosses
}

interface Checkpoint {
  readonly file: string
  readonly json: string
}

/**
 * A partition installed without its sequence checkpoint (its streams start afresh): counted, beside
 * the warning that says why, so that the loss of gap-detection continuity can alert.
 */
const checkpointIgnored = (reason: Metrics.CheckpointIgnoredReason) =>
  Metric.update(Metric.withAttributes(Metrics.sequenceCheckpointIgnored, { reason }), 1)

/**
 * (Re)starts partitions from the tables: marks, tracker state, and where to read from. What
 * the tables hold is read first; then every partition's state is replaced at once, so an actor
 * holding the old state can tell (`parts.get(key) !== part`) and feeds nothing to the tracker.
 * A restart passes the states it retires as `replacing`.
 */
export const makeStartFromTables = ({ catalog, files, group, parts, tableOfTopic, toldLosses, trackers }: TableStartsContext) => {
  const markersOf = Effect.fnUntraced(function*(tps: ReadonlyArray<TopicPartition>) {
    const tablesNeeded = new Set(tps.map((tp) => tableOfTopic.get(tp.topic)!))
    const data = new Map<DataTable, Offsets | undefined>()
    const topicIds = new Map<string, string>()
    for (const t of tablesNeeded) {
      const marker = yield* markerOf((yield* catalog.loadTable(identifierOf(t))).metadata, group, t)
      data.set(t, marker?.offsets)
      for (const [topic, id] of marker?.topicIds ?? []) topicIds.set(topic, id)
    }
    const sequenceTable = (yield* catalog.loadTable(SEQUENCE_EVENTS)).metadata
    const sequenceMarker = yield* markerOf(sequenceTable, group, "sequence_events")
    return { data, topicIds, sequence: sequenceMarker }
  })

  const install = Effect.fnUntraced(function*(
    tps: ReadonlyArray<TopicPartition>,
    markers: Effect.Success<ReturnType<typeof markersOf>>,
    checkpoints: ReadonlyMap<TpKey, Checkpoint>,
    ignored: ReadonlyMap<TpKey, Metrics.CheckpointIgnoredReason>,
    replacing: ReadonlyMap<TpKey, PartitionState> | undefined
  ) {
    const starts = new Map<TpKey, bigint>()
    // A restart installs only over the state it retired: a revoke or a new assignment that came
    // while it read the tables owns the partition now (and its start position).
    const installed = tps.filter((tp) => replacing === undefined || parts.get(tpKeyOf(tp)) === replacing.get(tpKeyOf(tp)))
    const installing = new Set(installed.map(tpKeyOf))
    // A stream a live partition not installed here holds (one started on its own meanwhile, which
    // may have taken it on since) is that partition's: its tracker state is not restored from these
    // older checkpoints.
    const heldElsewhere = (table: DataTable, exchange: string, symbol: string) =>
      ownerOf(parts, table, exchange, symbol, (k) => installing.has(k)) !== undefined
    // From every checkpoint read, those of partitions not installed too: a stream whose newest is
    // one of theirs was seen past the others' (on records not read again here), so restored from
    // an older one it would judge its next record a gap. Its partition restored it when it started,
    // or it starts afresh.
    const restoredFrom = newestCheckpoints(tps.flatMap((tp) => {
      const checkpoint = checkpoints.get(tpKeyOf(tp))
      return checkpoint === undefined ? [] : [{ key: tpKeyOf(tp), table: tableOfTopic.get(tp.topic)!, json: checkpoint.json }]
    }))
    // Every stream the partitions carried is forgotten before any is restored: a stream that moved
    // between two of them is restored from the checkpoint that holds it, and must not be forgotten
    // after that by the partition it moved to. One that left for a partition held elsewhere stays as
    // that partition has it: forgotten, its next record there would be judged against what this one
    // reads again (a false GAP). This one's records of it past its marks, which that state has seen
    // (kept, they would be dropped as duplicates), are judged apart when read again (`rereading`).
    const apart = new Map<TpKey, { readonly streams: StreamSet; readonly below: bigint }>()
    for (const tp of installed) {
      const previous = parts.get(tpKeyOf(tp))
      const table = tableOfTopic.get(tp.topic)!
      if (table !== "instruments" && previous !== undefined && previous.streams.size + previous.left.size > 0) {
        yield* trackers[table].forget((exchange, symbol) =>
          previous.streams.has(exchange, symbol) ||
          (previous.left.has(exchange, symbol) && !heldElsewhere(table, exchange, symbol))
        )
        const below = seenBelow(previous)
        if (below > ingestedBelow(previous)) {
          const streams = new StreamSet()
          previous.left.some((exchange, symbol) => (heldElsewhere(table, exchange, symbol) && streams.add(exchange, symbol), false))
          if (streams.size > 0) apart.set(tpKeyOf(tp), { streams, below })
        }
      }
    }
    for (const tp of installed) {
      const key = tpKeyOf(tp)
      const table = tableOfTopic.get(tp.topic)!
      const tableMark = offsetOf(markers.data.get(table) ?? new Map(), tp.topic, tp.partition) ?? 0n
      const streams = new StreamSet()
      // Not tracked, instruments have no mark or checkpoint in sequence_events.
      const sequenceMark = table === "instruments"
        ? tableMark
        : markers.sequence === undefined
        ? 0n
        : offsetOf(markers.sequence.offsets, tp.topic, tp.partition) ?? 0n
      const checkpoint = checkpoints.get(key)
      const reason = ignored.get(key)
      if (reason !== undefined) yield* checkpointIgnored(reason)
      if (table !== "instruments" && checkpoint !== undefined) {
        // A stream another partition carries now is its own: this checkpoint's state of it is old.
        const mine = (exchange: string, symbol: string) =>
          restoredFrom(table, exchange, symbol) === key && !heldElsewhere(table, exchange, symbol)
        yield* trackers[table].restore(checkpoint.json, mine).pipe(
          Effect.catch((e) =>
            Effect.andThen(Effect.logWarning(`sequence checkpoint ${checkpoint.file} ignored: ${e.message}`), checkpointIgnored("damaged"))
          )
        )
        for (const [exchange, symbol] of checkpointStreams(checkpoint.json)) if (mine(exchange, symbol)) streams.add(exchange, symbol)
      }
      // sequence_events is committed after the data tables, so its mark is never ahead of theirs.
      const next = ingestedBelow({ sequenceMark, tableMark })
      // Judged against this partition's checkpoint, taken before it read them. They still left it:
      // a revoke or restart before it reads past them forgets or judges them apart again.
      const again = apart.get(key)
      const rereading = again === undefined || table === "instruments" || again.below <= next ? undefined : {
        judge: yield* trackers[table].apart(checkpoint?.json, (exchange, symbol) => again.streams.has(exchange, symbol)),
        streams: again.streams,
        below: again.below
      }
      const left = new StreamSet()
      rereading?.streams.some((exchange, symbol) => (left.add(exchange, symbol), false))
      // The previous state is let go; the lag, log end and loss are the partition's, not that
      // state's: kept until the next batch says otherwise. A partition assigned back has no
      // previous state, but what it told lost before its revoke is still told.
      const previous = parts.get(key)
      if (previous !== undefined) letGoAll(parts, previous)
      const lost = previous?.lost ?? toldLosses.get(key)
      toldLosses.delete(key)
      // What the state it replaces judged, this process's trackers counted (evictions, gaps given up).
      const judged = previous === undefined ? 0n : seenBelow(previous)
      const state = partitionState({
        tp, table, tableMark, sequenceMark, topicId: markers.topicIds.get(tp.topic), next, streams, left, rereading,
        judgedBelow: previous !== undefined && previous.judgedBelow > judged ? previous.judgedBelow : judged,
        lag: previous?.lag ?? 0n, logEnd: previous?.logEnd, lost
      })
      parts.set(key, state)
      holdAll(parts, state)
      starts.set(key, state.next)
    }
    return starts
  })

  /**
   * `logStarts`: where each partition's log now starts, when known. A log that drops what the group
   * committed (the embedded default's) may no longer hold the records between a checkpoint and the
   * table's mark, which a restart reads only to rebuild the tracker.
   */
  return Effect.fnUntraced(function*(
    tps: ReadonlyArray<TopicPartition>,
    replacing?: ReadonlyMap<TpKey, PartitionState>,
    logStarts?: ReadonlyMap<TpKey, bigint>
  ) {
    const markers = yield* markersOf(tps)
    const checkpoints = new Map<TpKey, Checkpoint>()
    // Counted when installed: a partition a revoke took meanwhile, or a read of the tables retried, is not.
    const ignored = new Map<TpKey, Metrics.CheckpointIgnoredReason>()
    for (const tp of tps) {
      const file = markers.sequence?.carried[checkpointKey(group, tpKeyOf(tp))]
      const table = tableOfTopic.get(tp.topic)!
      if (file === undefined || table === "instruments") continue
      // sequence_events past the data table (a rollback or a re-created table): the checkpoint has
      // seen records the table no longer holds, and would drop them as duplicates when they are
      // read again. Its streams start afresh from the table's mark instead.
      const tableMark = offsetOf(markers.data.get(table) ?? new Map(), tp.topic, tp.partition) ?? 0n
      const sequenceMark = offsetOf(markers.sequence!.offsets, tp.topic, tp.partition) ?? 0n
      if (sequenceMark > tableMark) {
        yield* Effect.logWarning(
          `${tpKeyOf(tp)}: sequence_events is at ${sequenceMark}, ${table} at ${tableMark}: re-ingesting from ${tableMark}, its sequence streams start afresh`
        )
        ignored.set(tpKeyOf(tp), "ahead")
        continue
      }
      // The records between the checkpoint and the table's mark are gone: restored, its streams would
      // judge the first record past them a gap (and miss the duplicates of those gone). They start
      // afresh, as from a missing checkpoint, and rebuild from what the log still holds.
      const logStart = logStarts?.get(tpKeyOf(tp))
      if (logStart !== undefined && logStart > sequenceMark && sequenceMark < tableMark) {
        yield* Effect.logWarning(
          `${tpKeyOf(tp)}: the log starts at ${logStart}, past sequence_events' mark ${sequenceMark} (${table} at ${tableMark}): its sequence streams start afresh`
        )
        ignored.set(tpKeyOf(tp), "released")
        continue
      }
      // Iceberg metadata does not name checkpoints, so another engine's orphan removal deletes
      // them; the partition's streams then start afresh, as with a damaged checkpoint.
      const bytes = yield* files.read(file).pipe(
        Effect.catchIf(
          (e) => e.reason._tag === "MissingFile",
          (e) => Effect.as(Effect.logWarning(`sequence checkpoint ignored: ${e.message}`), undefined)
        )
      )
      if (bytes !== undefined) checkpoints.set(tpKeyOf(tp), { file, json: new TextDecoder().decode(bytes) })
      else ignored.set(tpKeyOf(tp), "missing")
    }
    return yield* atomically(install(tps, markers, checkpoints, ignored, replacing))
  })
}
