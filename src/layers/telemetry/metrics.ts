/**
 * K2's metrics, in the process-wide Effect registry (`Metric.MetricRegistry`'s default): one
 * registry per process, rendered by `PrometheusMetrics.format()` both by `serve`'s `/metrics`
 * route and by the tiny metrics server of the other long-running programs (./server.ts).
 *
 * Two kinds of series:
 * - pushed: counters and histograms updated where the work happens (the ingest pipeline);
 * - pulled: gauges (and monotonic counters kept elsewhere) whose value is read at scrape time
 *   through `Metric.registerUnsafe` hooks (process memory, freshness, tracker size).
 *
 * Every label value is bounded: tables, topics and partitions, kinds and reasons from closed
 * sets; never a symbol, a key or an offset.
 */
import { Context, Effect, Metric } from "effect"

// --- ingest ---------------------------------------------------------------------------------

export const ingestTables = ["trades", "quotes", "instruments", "sequence_events"] as const
export type IngestTable = (typeof ingestTables)[number]

export const messagesConsumed = Metric.counter("k2_ingest_messages_consumed_total", {
  description: "Kafka records taken by the ingest pipeline (including those skipped as already ingested)"
})
export const recordsWritten = Metric.counter("k2_ingest_records_written_total", {
  description: "Rows committed to Iceberg, by table"
})
export const bytesWritten = Metric.counter("k2_ingest_bytes_written_total", {
  description: "Bytes of Parquet data files committed to Iceberg, by table"
})
export const filesWritten = Metric.counter("k2_ingest_files_written_total", {
  description: "Parquet data files committed to Iceberg, by table"
})
export const commits = Metric.counter("k2_ingest_commits_total", {
  description: "Iceberg snapshots committed by the ingest pipeline, by table"
})
export const commitDuration = Metric.histogram("k2_ingest_commit_duration_seconds", {
  description: "Time to write a table's Parquet files and commit its snapshot (all catalog attempts), by table",
  boundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
})
export const tableSnapshots = Metric.gauge("k2_ingest_table_snapshots", {
  description: "Snapshots a table keeps, as of this process's last commit to it, by table: every commit rewrites them all (ADR-33)"
})
export const commitConflicts = Metric.counter("k2_ingest_commit_conflicts_total", {
  description: "Catalog commit attempts retried because another writer moved the table (compare-and-swap lost)"
})
export const deadLetters = Metric.counter("k2_ingest_dead_letters_total", {
  description: "Poison records sent to the DLQ topic, by reason"
})
export const sequenceEvents = Metric.counter("k2_sequence_events_total", {
  description: "Sequence integrity events written to sequence_events, by kind (GAP, GAP_FILLED, DUPLICATE, OUT_OF_ORDER, RESET)"
})
export const sequenceTrackerStreams = Metric.gauge("k2_sequence_tracker_streams", {
  description: "(exchange, symbol) streams held by the sequence trackers"
})
export const sequenceTrackerEvictions = Metric.counter("k2_sequence_tracker_evictions_total", {
  description: "Streams evicted from the sequence trackers' LRU (capacity reached)"
})
export const sequenceGapsGivenUp = Metric.counter("k2_sequence_gaps_given_up_total", {
  description: "Open gap ranges the sequence trackers gave up, by reason: reset (still open at a RESET, normally daily) or limit (the oldest of a stream beyond K2_SEQUENCE_MAX_GAPS: a feed losing messages); late fills of them are OUT_OF_ORDER"
})
export const sequenceCheckpointIgnored = Metric.counter("k2_sequence_checkpoint_ignored_total", {
  description: "Partition starts (at start, on assignment or a restart) whose sequence tracker checkpoint was not restored, so their streams started afresh (no gap or duplicate found across the cut), by reason: damaged (not restorable), missing (its file deleted), ahead (sequence_events past the data table's marker: a rollback or a re-created table), released (the log starts past the checkpoint's offset)"
})
export const consumerLag = Metric.gauge("k2_ingest_consumer_lag_messages", {
  description: "High-water mark minus the next offset to read, by assigned topic and partition"
})
export const lagAge = Metric.gauge("k2_ingest_lag_age_seconds", {
  description: "Seconds since Kafka last answered a read of the log ends that k2_ingest_consumer_lag_messages is figured from (every second): grows while a broker alive but unresponsive answers nothing, and those lag figures are stale"
})
export const freshness = Metric.gauge("k2_ingest_freshness_seconds", {
  description: "Now minus the newest exchange timestamp this process committed of the partitions it owns (NaN while none of them has committed one)"
})
export const offsetsLost = Metric.counter("k2_ingest_offsets_lost_total", {
  description: "Offsets deleted from a partition's log (retention, DeleteRecords) before ingest read them, by topic and partition: records lost to the tables (each also logged as an error); registered at 0 for each assigned partition"
})
export const partitionRestarts = Metric.counter("k2_ingest_partition_restarts_total", {
  description: "Partitions restarted from the table's marker after a failure or a fenced commit (an attempt that could not read the tables restarted none)"
})
export const runRetries = Metric.counter("k2_ingest_run_retries_total", {
  description: "Runs ended by a fault ingestion waits out (broker, catalog or storage unreachable) and started again; meanwhile no partition is owned"
})
export const backpressure = Metric.counter("k2_ingest_backpressure_seconds_total", {
  description: "Time during which fetched batches waited for buffer room while flushes caught up (grows during a wait)"
})
export const assignedPartitions = Metric.gauge("k2_ingest_assigned_partitions", {
  description: "Kafka partitions currently assigned to this process"
})

// --- DuckDB (serve's queries, ingest's Parquet writes) ------------------------------------------

export const duckDbConnections = Metric.gauge("k2_duckdb_connections", {
  description: "DuckDB connections in the pool: the most statements that run at once (K2_DUCKDB_CONNECTIONS)"
})
export const duckDbConnectionsInUse = Metric.gauge("k2_duckdb_connections_in_use", {
  description: "Pooled DuckDB connections running a statement now"
})
export const duckDbConnectionWaiters = Metric.gauge("k2_duckdb_connection_waiters", {
  description: "Statements waiting for a pooled DuckDB connection (a read past its time limit that spent most of it waiting answers 503 server_busy)"
})

/** Dead-letter reasons known in advance (decoder failure tags and WrongTopic), pre-registered at 0. */
export const knownDeadLetterReasons = ["NotFramed", "Undecodable", "UnknownSchemaId", "SchemaInvalid", "WrongTopic"] as const
export const sequenceEventKinds = ["GAP", "GAP_FILLED", "DUPLICATE", "OUT_OF_ORDER", "RESET"] as const
/** Why a partition's sequence checkpoint was not restored (`sequenceCheckpointIgnored`). */
export const checkpointIgnoredReasons = ["damaged", "missing", "ahead", "released"] as const
export type CheckpointIgnoredReason = (typeof checkpointIgnoredReasons)[number]

/** Counters with label sets known in advance, registered at 0 so dashboards and alerts see them before traffic. */
export const registerIngestSeries = Effect.gen(function*() {
  yield* Metric.update(messagesConsumed, 0)
  yield* Metric.update(commitConflicts, 0)
  yield* Metric.update(partitionRestarts, 0)
  yield* Metric.update(runRetries, 0)
  for (const table of ingestTables) {
    const t = { table }
    yield* Metric.update(Metric.withAttributes(recordsWritten, t), 0)
    yield* Metric.update(Metric.withAttributes(bytesWritten, t), 0)
    yield* Metric.update(Metric.withAttributes(filesWritten, t), 0)
    yield* Metric.update(Metric.withAttributes(commits, t), 0)
  }
  for (const reason of knownDeadLetterReasons) yield* Metric.update(Metric.withAttributes(deadLetters, { reason }), 0)
  for (const kind of sequenceEventKinds) yield* Metric.update(Metric.withAttributes(sequenceEvents, { kind }), 0)
  for (const reason of checkpointIgnoredReasons) yield* Metric.update(Metric.withAttributes(sequenceCheckpointIgnored, { reason }), 0)
})

// --- pulled series ----------------------------------------------------------------------------

/**
 * Registers a series whose value is read at scrape time; removed when the scope closes (a
 * later registration of the same series replaces it). `read` must be cheap and never throw.
 */
export const registerGauge = (metric: Metric.Metric<number, unknown>, read: () => number) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const registration = Metric.registerUnsafe(metric, context, {
      get: () => ({ value: read() }),
      update: () => {},
      modify: () => {}
    } as unknown as Metric.Metric.Hooks<number, never>)
    yield* Effect.addFinalizer(() => Effect.sync(() => registration.remove()))
  })

/** A monotonic counter kept elsewhere (e.g. a domain object's tally), read at scrape time. */
export const registerCounter = (metric: Metric.Metric<number, unknown>, read: () => number) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const registration = Metric.registerUnsafe(metric, context, {
      get: () => ({ count: read(), incremental: true }),
      update: () => {},
      modify: () => {}
    } as unknown as Metric.Metric.Hooks<number, never>)
    yield* Effect.addFinalizer(() => Effect.sync(() => registration.remove()))
  })

/** Updates a metric from a callback outside Effect (a PerformanceObserver, a timer). */
export const updater = <I>(metric: Metric.Metric<I, unknown>) =>
  Effect.map(Effect.context<never>(), (context: Context.Context<never>) => (input: I) => metric.updateUnsafe(input, context))
