/** The ingest pipeline's labelled metric updates (the series are in telemetry/metrics.ts). */
import { Effect, Metric } from "effect"
import type { GapGiveUpReason } from "../../domain/sequence/machine.ts"
import type { CommitOutcome } from "../../services/IcebergSink.ts"
import type { TopicPartition } from "../../services/KafkaSource.ts"
import * as Metrics from "../telemetry/metrics.ts"
import type { Partitions } from "./partitionState.ts"

/** Occurrences by key, for labelled counters. */
export const countBy = <A>(items: ReadonlyArray<A>, key: (a: A) => string): Array<[string, number]> => {
  const counts = new Map<string, number>()
  for (const item of items) {
    const k = key(item)
    counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  return [...counts]
}

export const lagGauge = (tp: TopicPartition) =>
  Metric.withAttributes(Metrics.consumerLag, { topic: tp.topic, partition: String(tp.partition) })

/** Offsets of a partition deleted from its log before ingest read them (ADR-68). */
export const lostOffsetsCounter = (tp: TopicPartition) =>
  Metric.withAttributes(Metrics.offsetsLost, { topic: tp.topic, partition: String(tp.partition) })

/** The tables a partition's commits go to: its data table, and sequence_events for a numbered one. */
const tablesFedBy = (table: Metrics.IngestTable): ReadonlyArray<Metrics.IngestTable> =>
  table === "instruments" || table === "sequence_events" ? [table] : [table, "sequence_events"]

/**
 * The snapshot counts of `table` (and sequence_events, for a numbered one) when no partition left
 * in `parts` feeds it: another process commits to it now, and a count of this process's last
 * commit, long past, would stay (alerting on an expiry another process has since caught up with).
 * After a revoke, and after a commit (one in flight when its partitions were revoked).
 */
export const letGoOfSnapshotCounts = (parts: Partitions, table: Metrics.IngestTable) =>
  Effect.suspend(() => {
    const fed = new Set<Metrics.IngestTable>()
    for (const part of parts.values()) for (const t of tablesFedBy(part.table)) fed.add(t)
    return Effect.forEach(
      tablesFedBy(table).filter((t) => !fed.has(t)),
      (t) => Metric.remove(Metric.withAttributes(Metrics.tableSnapshots, { table: t })),
      { discard: true }
    )
  })

/**
 * What the trackers evicted and gave up while judging again records this process's trackers had
 * judged before (read again after a restart): counted the first time, so left out of
 * `k2_sequence_tracker_evictions_total` and `k2_sequence_gaps_given_up_total`.
 */
export interface Rejudged {
  evictions: number
  readonly gapsGivenUp: Record<GapGiveUpReason, number>
}

export const makeRejudged = (): Rejudged => ({ evictions: 0, gapsGivenUp: { reset: 0, limit: 0 } })

/**
 * The rows and the commit of a commit that landed. Alone for one found in its table after its
 * outcome stayed unknown: its files and duration are not known.
 */
export const countedMetrics = (table: Metrics.IngestTable, rows: number) =>
  Effect.andThen(
    Metric.update(Metric.withAttributes(Metrics.recordsWritten, { table }), rows),
    Metric.update(Metric.withAttributes(Metrics.commits, { table }), 1)
  )

/** The metrics of one committed table snapshot (DataFile sizes are the Parquet files written). */
export const committedMetrics = (table: Metrics.IngestTable, rows: number, outcome: CommitOutcome, started: number) =>
  Effect.gen(function*() {
    const t = { table }
    let bytes = 0
    for (const f of outcome.files) bytes += f.fileSizeInBytes
    yield* countedMetrics(table, rows)
    yield* Metric.update(Metric.withAttributes(Metrics.bytesWritten, t), bytes)
    yield* Metric.update(Metric.withAttributes(Metrics.filesWritten, t), outcome.files.length)
    yield* Metric.update(Metric.withAttributes(Metrics.commitDuration, t), (performance.now() - started) / 1000)
    yield* Metric.update(Metric.withAttributes(Metrics.tableSnapshots, t), outcome.table.metadata.snapshots.length)
    // Only swaps lost to another writer: a retry after the catalog did not answer is no conflict.
    if (outcome.conflicts > 0) yield* Metric.update(Metrics.commitConflicts, outcome.conflicts)
  })
