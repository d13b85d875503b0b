/**
 * The ingest pipeline (DESIGN.md "Ingest: exactly once into Iceberg").
 *
 * One actor per assigned partition (a fiber with a bounded mailbox) decodes, validates,
 * dead-letters poison, runs the sequence tracker and appends rows to its partition's
 * buffer. A batch goes to its actor only once the buffers have room for it, so a backlog stalls
 * fetching (memory stays bounded whatever the backlog and however many partitions). One flusher
 * commits all partitions' buffers: trades, quotes and instruments side by side, then
 * sequence_events (with the tracker checkpoints; only when anomalies were found or
 * `checkpointIntervalMs` has passed), each snapshot carrying the group's marker. Instruments
 * (reference topics) are not sequence-tracked. Every table commit is fenced: it is abandoned if
 * another writer moved the marker of one of its partitions since this process read it, so a
 * zombie never commits twice what a new owner committed.
 *
 * With a schema registry, a batch's schema ids the codec does not know (other versions of our
 * schemas) are fetched and taught to it before the batch decodes (writerSchemas.ts).
 *
 * The pieces: partitionState.ts (what is known of each partition), tableStarts.ts (where a
 * partition starts from), partitionActors.ts (the actors, their supervisors and mailboxes, and the
 * fetch loop that fills them), batchIntake.ts (a batch into a buffer), deadLetters.ts,
 * bufferRoom.ts (backpressure), flushes.ts (the flusher), tableCommits.ts (a flush's fenced
 * commits), partitionRestarts.ts (a partition retired and restarted from the tables),
 * lagRefresh.ts (lag from the log ends), ingestGauges.ts (the series read when scraped),
 * transientFaults.ts (what is retried); this module wires them into a run, drains it on a stop and
 * rejoins after a transient fault.
 *
 * Tracing: each batch is a consumer span (`process <topic>`) linked to the producer spans in
 * its records' `traceparent` headers; a flush span (`ingest.flush`, with the Parquet writes and
 * catalog commits under it) lives in the trace of the first batch it commits and links to the
 * others. Links are only collected when spans are exported.
 */
import { Clock, Deferred, Effect, Exit, Fiber, FiberMap, Layer, Metric, Option, Scope } from "effect"
import { DEFAULT_INGEST_GROUP } from "../../domain/ingest/marker.ts"
import type { WireCodec } from "../../domain/avro/codec.ts"
import { ingestedTables } from "../../domain/tables.ts"
import { parseInstrumentsTopicName, parseTopicName } from "../../domain/wire.ts"
import { Catalog } from "../../services/Catalog.ts"
import { FileIO } from "../../services/FileIO.ts"
import { IcebergSink } from "../../services/IcebergSink.ts"
import { Ingestor } from "../../services/Ingestor.ts"
import { KafkaSource, type TpKey } from "../../services/KafkaSource.ts"
import { KafkaAdmin, KafkaSink } from "../../services/KafkaSink.ts"
import * as Metrics from "../telemetry/metrics.ts"
import { makeConsumeBatch } from "./batchIntake.ts"
import { BufferRoom } from "./bufferRoom.ts"
import { makeDeadLetter } from "./deadLetters.ts"
import { makeFlushes, type Stopping } from "./flushes.ts"
import { registerIngestGauges } from "./ingestGauges.ts"
import { lostOffsetsCounter, makeRejudged } from "./ingestMetrics.ts"
import { makeCounters, progressOf } from "./ingestProgress.ts"
import { refreshingLag } from "./lagRefresh.ts"
import type { LagFreshness } from "./lagFreshness.ts"
import { type FatalToRun, makePartitionActors } from "./partitionActors.ts"
import { makePartitionRestarts } from "./partitionRestarts.ts"
import { type DataTable, type Partitions, type ToldLosses, type Trackers } from "./partitionState.ts"
import { makeTableCommits } from "./tableCommits.ts"
import { makeStartFromTables } from "./tableStarts.ts"
import { isTransient, reconnectSchedule, retrySchedule } from "./transientFaults.ts"
import * as WriterSchemas from "./writerSchemas.ts"

export interface IngestConfig {
  readonly groupId: string
  /** Source topics, `market.{asset_class}.{trades|quotes}.{exchange}` and `reference.instruments.{exchange}`. */
  readonly topics: ReadonlyArray<string>
  /** Flush when this many rows are buffered... */
  readonly flushRows: number
  /** ...or when the buffered rows hold this many bytes of heap (estimated from their records' sizes)... */
  readonly flushBytes: number
  /** ...or this long after the last flush, whichever comes first. */
  readonly commitIntervalMs: number
  /**
   * Fetched batches wait to go to their actors while this many rows (and sequence events), buffered
   * or in the batches in mailboxes and being processed, wait for a flush (backpressure; bounds
   * memory, in total whatever the partitions, ADR-57)...
   */
  readonly maxBufferedRows: number
  /**
   * ...or while those hold this many bytes of heap (estimated): rows with large vendor_data maps or
   * conditions lists hold many times a plain trade's heap, which a count of rows does not bound.
   * The rows a running flush took leave the room once loaded into DuckDB (actors decode while it
   * writes its files and commits), so up to twice these limits are held at once: the flush's rows
   * and the buffers filled meanwhile.
   */
  readonly maxBufferedBytes: number
  /** Batches queued per partition actor. */
  readonly mailbox: number
  /** Group session timeout: how soon a silent member's partitions move to another. */
  readonly sessionTimeoutMs: number
  /**
   * A flush that found no sequence anomalies commits sequence_events (its marker and the tracker
   * checkpoints) only this long after the last one: a restart re-reads at most this much to
   * rebuild tracker state, and the flushes between commit only the data tables.
   */
  readonly checkpointIntervalMs: number
  /**
   * How long a group offset commit (lag monitoring only) is waited for before it is owed: a broker
   * alive but unresponsive (a paused or GC-bound JVM) answers none, and the clients wait minutes
   * (request timeout times retries) while the flush, and a stop's drain, waited with them.
   */
  readonly groupCommitWaitMs: number
  /**
   * The lag figures are said to be stale (progress, a warning) once Kafka has not answered a read
   * of the log ends for this long: a broker alive but unresponsive answers none, and they would
   * stay as they were, claiming to be current (ADR-50).
   */
  readonly lagStaleAfterMs: number
  /**
   * The log is made again from the same feed on every start (the embedded default's in-process
   * log, ADR-22): a log behind a table's marker is that feed's records coming again, skipped as
   * ingested. Otherwise it is another log of the same name, and the run ends (ADR-24).
   */
  readonly logRemadeEachRun: boolean
}

export const defaultIngestConfig: Omit<IngestConfig, "topics"> = {
  groupId: DEFAULT_INGEST_GROUP,
  flushRows: 15_000,
  // Reached before the rows only by rows several times a plain trade's size (~370 B buffered).
  flushBytes: 16 * 1024 * 1024,
  commitIntervalMs: 1_000,
  // With one batch per mailbox and 256 KB fetches (the Kafka layers' defaults), these keep the
  // live heap within package.json's V8 old space whatever the backlog (docs/benchmarks.md, "peak
  // RSS"). Three flushes' worth, and the rows a running flush took are not counted once loaded into
  // DuckDB: actors keep decoding while it writes its files (so up to twice these are held, measured in that RSS).
  maxBufferedRows: 45_000,
  maxBufferedBytes: 48 * 1024 * 1024,
  mailbox: 1,
  sessionTimeoutMs: 30_000,
  checkpointIntervalMs: 10_000,
  groupCommitWaitMs: 5_000,
  lagStaleAfterMs: 5_000,
  logRemadeEachRun: false
}

export interface IngestorDeps {
  readonly codec: WireCodec
  /** One tracker per table: trades and quotes are numbered separately by their sources. */
  readonly trackers: Trackers
  /**
   * With a schema registry: its by-id lookup, for records framed with ids the codec does not
   * know (other versions of our schemas). Without, only the codec's ids decode.
   */
  readonly resolveSchema?: WriterSchemas.ResolveSchema
}

const make = Effect.fnUntraced(function*(config: IngestConfig, deps: IngestorDeps) {
  const source = yield* KafkaSource
  const producer = yield* KafkaSink
  const admin = Option.getOrUndefined(yield* Effect.serviceOption(KafkaAdmin))
  const sink = yield* IcebergSink
  const catalog = yield* Catalog
  const files = yield* FileIO
  const { codec, trackers } = deps
  const group = config.groupId
  const writerSchemas = deps.resolveSchema === undefined ? undefined : WriterSchemas.make(codec, deps.resolveSchema)

  const tableOfTopic = new Map<string, DataTable>()
  for (const topic of config.topics) {
    const table = parseTopicName(topic)?.dataType ?? (parseInstrumentsTopicName(topic) === undefined ? undefined : "instruments")
    if (table === undefined) return yield* Effect.die(new Error(`not a market data or instruments topic: ${topic}`))
    tableOfTopic.set(topic, table)
  }

  const parts: Partitions = new Map()
  // Outlives a run: a rejoin revokes every partition, then gets them back.
  const toldLosses: ToldLosses = new Map()
  const counters = makeCounters()
  const room = new BufferRoom(parts, { rows: config.maxBufferedRows, bytes: config.maxBufferedBytes }, counters, yield* Clock.Clock)
  const startFromTables = makeStartFromTables({ group, catalog, files, trackers, tableOfTopic, parts, toldLosses })
  const rejudged = makeRejudged()
  const consumeBatch = makeConsumeBatch({
    group,
    codec,
    writerSchemas,
    trackers,
    parts,
    counters,
    rejudged,
    deadLetter: makeDeadLetter(producer, admin),
    logRemadeEachRun: config.logRemadeEachRun
  })
  const commits = makeTableCommits({ group, sink, catalog, files, counters })

  yield* registerIngestGauges({ parts, room, counters, trackers, rejudged, newestCommitted: commits.newestCommitted })
  const restarts = makePartitionRestarts({ parts, room, counters, startFromTables })
  const stop: Stopping = { stopping: false, drainFailure: undefined }
  const { flushWith, flusher, underFlushLock } = yield* makeFlushes({ config, parts, trackers, room, commits, restarts, stop })

  /** How old the running run's lag figures are. */
  let lagFreshness: LagFreshness | undefined

  const runOnce = Effect.scoped(Effect.gen(function*() {
    // A failed drain of an earlier `run` is not this one's.
    stop.drainFailure = undefined
    stop.stopping = false
    for (const definition of ingestedTables([...tableOfTopic.values()].includes("instruments"))) {
      yield* sink.ensureTable(definition)
    }
    const scope = yield* Effect.scope
    const actors = yield* FiberMap.make<TpKey, never, never>()
    /** A partition's fault no restart clears: the run ends with it. */
    const fatal = yield* Deferred.make<never, FatalToRun>()
    // Registered first, so it runs last, once the fetch loop and the actors are gone: the room of a
    // batch caught between them (taken, not yet in a mailbox) goes back, not into the next run.
    yield* Effect.addFinalizer(() => Effect.sync(() => room.releaseAll()))
    const partitionActors = makePartitionActors({ config, parts, room, trackers, toldLosses, consumeBatch, underFlushLock, restarts, actors, fatal })

    const consumer = yield* source.subscribe({
      groupId: group,
      topics: config.topics,
      sessionTimeoutMs: config.sessionTimeoutMs,
      onAssign: (tps) =>
        Effect.gen(function*() {
          // A catalog that stays unreachable fails the subscription, retryable: `run` rejoins.
          const starts = yield* startFromTables(tps).pipe(Effect.retry({ schedule: retrySchedule, while: isTransient }))
          for (const tp of tps) {
            yield* partitionActors.startActor(tp)
            // At 0 before any loss, so an alert on its increase sees the first one.
            yield* Metric.update(lostOffsetsCounter(tp), 0)
          }
          return starts
        }).pipe(Scope.provide(scope)),
      onRevoke: partitionActors.revoke
    })
    partitionActors.attach(consumer)

    // Registered after the subscription, so it runs before the consumer leaves the group. A
    // consumer that failed revokes nothing itself: what is left is let go here, so that a rejoin
    // starts every partition it gets from the tables.
    // The actors are stopped first: their FiberMap's own finalizer runs only after this one, and an
    // actor still on a batch buffered it after the final flush had taken the buffers (counted
    // consumed, never committed, read again on the next start). A batch cut short is read again.
    yield* Effect.addFinalizer((exit) =>
      FiberMap.clear(actors).pipe(Effect.andThen(flushWith(consumer, true))).pipe(
        Effect.catch((e) =>
          Effect.sync(() => {
            // Only a drain a stop asked for fails the run: after a fault, the run rejoins (or ends
            // with that fault), and a stop that comes while it waits drains nothing of this one's.
            if (Exit.hasInterrupts(exit)) stop.drainFailure = e
          }).pipe(Effect.andThen(Effect.logError(`final flush failed, its records are read again on the next start: ${e.message}`)))
        ),
        Effect.catchCause((c) => Effect.logError("final flush failed", c)),
        // A fault that ends the run, met while the stop waited for the flush in flight (a partition's,
        // retired with what it buffered, or the lag refresh's): the drain committed nothing of its
        // partition, whose records counted consumed are in no table, so the stop fails with it.
        Effect.andThen(Effect.suspend(() =>
          Exit.hasInterrupts(exit) && Deferred.isDoneUnsafe(fatal)
            ? Effect.catch(Deferred.await(fatal), (e) => Effect.sync(() => void (stop.drainFailure ??= e)))
            : Effect.void
        )),
        Effect.andThen(Effect.suspend(() => partitionActors.revoke([...parts.values()].map((part) => part.tp))))
      )
    )

    // Forked after the drain's finalizer, so it stops before the drain.
    const freshness = yield* refreshingLag({ config, parts, consumer, restarts, fatal })
    // Only while this run owns partitions: a rejoin lets them go, with their lag.
    lagFreshness = freshness
    yield* Effect.addFinalizer(() => Effect.sync(() => void (lagFreshness = undefined)))

    const flushing = yield* Effect.forkScoped(flusher(consumer))
    // Added after the flusher, so it runs before the flusher is stopped (which waits for a flush in flight).
    yield* Effect.addFinalizer((exit) => Effect.sync(() => void (stop.stopping = Exit.hasInterrupts(exit))))

    const fetching = partitionActors.deliver(consumer.batches)
    // A flusher that fails (a restart after a failed flush that kept failing) ends the run,
    // which rejoins from the tables: nothing stalls unseen. A partition's fatal fault ends it too.
    yield* Effect.raceAllFirst([fetching, Fiber.join(flushing), Deferred.await(fatal)])
  }))

  const progress = Effect.gen(function*() {
    room.countWaited()
    return progressOf(counters, parts, lagFreshness === undefined ? 0 : yield* lagFreshness.unansweredMs, stop.stopping)
  })

  /**
   * A lost broker or catalog is waited out: the subscription is rebuilt from the tables'
   * markers after a capped, jittered backoff, for as long as the fault lasts.
   */
  const run = runOnce.pipe(
    Effect.tapError((e) =>
      isTransient(e)
        // Counted: its partitions (and their lag series) are let go until a rejoin gets them back,
        // so the stall alert cannot see lag meanwhile (ops/prometheus/k2.rules.yml).
        ? Effect.andThen(
          Metric.update(Metrics.runRetries, 1),
          Effect.logWarning(`ingestion interrupted by a transient fault, rejoining: ${e.message}`)
        )
        : Effect.logError(`ingestion stopped by a fault it does not wait out: ${e.message}`)
    ),
    Effect.retry({ schedule: reconnectSchedule, while: isTransient }),
    Effect.tap(() => Effect.logInfo("ingestion stopped")),
    // Outside the retry, which would turn the failure of an interrupted run into a plain interrupt.
    Effect.onExit((exit) => Exit.hasInterrupts(exit) && stop.drainFailure !== undefined ? Effect.fail(stop.drainFailure) : Effect.void)
  )

  return Ingestor.of({ run, progress })
})

export const layer = (config: IngestConfig, deps: IngestorDeps) => Layer.effect(Ingestor)(make(config, deps))
