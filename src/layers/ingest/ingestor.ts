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
 * partition starts from), batchIntake.ts (a batch into a buffer), deadLetters.ts, bufferRoom.ts
 * (backpressure), tableCommits.ts (a flush's fenced commits), transientFaults.ts (what is
 * retried); this module assigns, supervises, flushes and drains.
 *
 * Tracing: each batch is a consumer span (`process <topic>`) linked to the producer spans in
 * its records' `traceparent` headers; a flush span (`ingest.flush`, with the Parquet writes and
 * catalog commits under it) lives in the trace of the first batch it commits and links to the
 * others. Links are only collected when spans are exported.
 */
import { Cause, Clock, Deferred, Effect, Exit, Fiber, FiberMap, Layer, Metric, Option, Queue, Ref, Result, Schedule, Scope, Semaphore, Stream, type Tracer } from "effect"
import { DEFAULT_INGEST_GROUP, type MarkerUnreadable } from "../../domain/ingest/marker.ts"
import { letGoAll, restartingTogether } from "../../domain/ingest/streamOwnership.ts"
import type { WireCodec } from "../../domain/avro/codec.ts"
import { gapGiveUpReasons } from "../../domain/sequence/machine.ts"
import { ingestedTables } from "../../domain/tables.ts"
import { parseInstrumentsTopicName, parseTopicName } from "../../domain/wire.ts"
import { Catalog } from "../../services/Catalog.ts"
import { FileIO } from "../../services/FileIO.ts"
import { IcebergSink } from "../../services/IcebergSink.ts"
import { type AnotherLog, type IngestError, Ingestor, isFatalToRun, type LogBehindTable } from "../../services/Ingestor.ts"
import { type Consumer, type KafkaError, KafkaSource, type OffsetCommit, type PartitionBatch, type TopicPartition, type TpKey, tpKey, tpKeyOf } from "../../services/KafkaSource.ts"
import { KafkaAdmin, KafkaSink } from "../../services/KafkaSink.ts"
import { monotonicMillis } from "../elapsed.ts"
import * as Metrics from "../telemetry/metrics.ts"
import { makeConsumeBatch } from "./batchIntake.ts"
import { BufferRoom, type Reservation } from "./bufferRoom.ts"
import { makeDeadLetter } from "./deadLetters.ts"
import { makeCounters, progressOf } from "./ingestProgress.ts"
import { lagGauge, lostOffsetsCounter, makeRejudged } from "./ingestMetrics.ts"
import { type LagFreshness, makeLagFreshness } from "./lagFreshness.ts"
import { atomically, emptyBuffer, idleMark, ingestedBelow, logBehindTable, type DataTable, type PartitionState, type Partitions, rowBytes, seenBelow, type ToldLosses, type Trackers } from "./partitionState.ts"
import { makeTableCommits, type Taken, takeBuffers } from "./tableCommits.ts"
import { makeStartFromTables } from "./tableStarts.ts"
import { isPermanent, isTransient, reconnectSchedule, retrySchedule, supervise, supervisorBackoff } from "./transientFaults.ts"
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

/** Put in a partition actor's mailbox when a restart is owed to it: it may have no batch coming. */
const WAKE = "wake"

/** A batch in a partition actor's mailbox, with the buffer room taken for it (ADR-57). */
interface Intake {
  readonly batch: PartitionBatch
  readonly room: Reservation
}

/** The heap a batch's records would hold buffered, estimated. */
const batchBytes = (batch: PartitionBatch): number => {
  let bytes = 0
  for (const record of batch.records) bytes += rowBytes(record.value?.length ?? 0)
  return bytes
}

/**
 * How often the lag of every assigned partition is read from the log ends (one request a topic):
 * a partition that has delivered no batch yet has no other.
 */
const LAG_REFRESH = "1 second"

/** Batches a flush span links to (OpenTelemetry's default limit is 128 links per span). */
const MAX_FLUSH_LINKS = 64

/** The flush span: in the trace of the first batch it commits, linked to the others. */
const flushSpanOptions = (taken: ReadonlyArray<Taken>): Tracer.SpanOptionsNoTrace => {
  let rows = 0
  for (const t of taken) rows += t.rows.size
  const attributes = { "k2.flush.partitions": taken.length, "k2.flush.rows": rows }
  const batches = taken.flatMap((t) => t.spans).slice(0, MAX_FLUSH_LINKS)
  if (batches.length === 0) return { attributes }
  return { attributes, parent: batches[0]!, links: batches.slice(1).map((span) => ({ span, attributes: {} })) }
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
  const { commitSequenceEvents, commitTable, newestCommitted, resolveUnknownOutcomes } = makeTableCommits({ group, sink, catalog, files, counters })

  yield* Metrics.registerIngestSeries
  // Of the partitions owned now, NaN while none committed an exchange time: the age of what this
  // process once committed would keep growing after a rebalance took its partitions away, and
  // alert for tables it no longer feeds.
  yield* Metrics.registerGauge(Metrics.freshness, () => {
    const newest = newestCommitted(parts.keys())
    return newest < 0 ? Number.NaN : Math.max(0, Date.now() / 1000 - newest / 1e6)
  })
  yield* Metrics.registerGauge(Metrics.assignedPartitions, () => parts.size)
  yield* Metrics.registerCounter(Metrics.backpressure, () => {
    room.countWaited()
    return counters.waitedForRoomMs / 1000
  })
  const statsOf = () => {
    let streams = 0
    let evictions = 0
    const gapsGivenUp = { reset: 0, limit: 0 }
    for (const t of new Set([trackers.trades, trackers.quotes])) {
      const st = Effect.runSync(t.stats)
      streams += st.streams
      evictions += st.evictions
      gapsGivenUp.reset += st.gapsGivenUp.reset
      gapsGivenUp.limit += st.gapsGivenUp.limit
    }
    // Judged again after a restart: counted the first time.
    return {
      streams,
      evictions: evictions - rejudged.evictions,
      gapsGivenUp: { reset: gapsGivenUp.reset - rejudged.gapsGivenUp.reset, limit: gapsGivenUp.limit - rejudged.gapsGivenUp.limit }
    }
  }
  yield* Metrics.registerGauge(Metrics.sequenceTrackerStreams, () => statsOf().streams)
  yield* Metrics.registerCounter(Metrics.sequenceTrackerEvictions, () => statsOf().evictions)
  for (const reason of gapGiveUpReasons) {
    yield* Metrics.registerCounter(Metric.withAttributes(Metrics.sequenceGapsGivenUp, { reason }), () => statsOf().gapsGivenUp[reason])
  }
  const flushLock = yield* Semaphore.make(1)
  // On the monotonic clock (elapsed.ts): by the wall clock set back an hour, the last flush was an
  // hour ahead, and no flush (nor checkpoint) was due by time for that hour. Never, at the start.
  const lastFlush = yield* Ref.make(Number.NEGATIVE_INFINITY)

  let lastCheckpoint = Number.NEGATIVE_INFINITY
  /**
   * Partitions retired by a restart that failed, whose supervisor (that of the partition the
   * restart was for) was revoked before its retry: each one's own actor restarts it instead.
   */
  const restartOwed = new Set<TpKey>()
  /** Why the drain a stop asked for left records uncommitted: the interrupted `run` fails with it. */
  let drainFailure: IngestError | undefined
  /**
   * A stop asked for a drain, which waits for the flush in flight: that flush's failure is the
   * drain's. Set as the run's scope closes on an interruption (a fault's close leaves it false),
   * cleared by the next run; `progress` reports it (`draining`), the drain under way or done.
   */
  let stopping = false
  /** How old the running run's lag figures are. */
  let lagFreshness: LagFreshness | undefined

  /**
   * Uninterruptible once started: a drain waits for the flush in flight, then flushes the rest.
   * `final` (the drain) always commits sequence_events, so a clean restart re-reads nothing, and
   * fails when a commit fails: its partitions are let go, not restarted.
   */
  const flushWith = (consumer: Consumer, final = false) =>
    flushLock.withPermits(1)(Effect.uninterruptible(Effect.gen(function*() {
      const now = yield* monotonicMillis
      yield* Ref.set(lastFlush, now)
      // Those left by a flush whose partitions' restart failed (the run rejoined since).
      yield* resolveUnknownOutcomes
      const { checkpoints, taken } = yield* takeBuffers(parts, trackers, final || now - lastCheckpoint >= config.checkpointIntervalMs)
      // Each table's rows keep their room until they are in DuckDB (ADR-91): the flush's first steps
      // run before the actors decode more, and these decode while its COPY runs off the JS thread.
      const held = taken.length > 0 ? holdTaken(taken) : undefined
      // Taken or not: room made where no one said so still wakes the waiters within a commit interval.
      room.roomMade()
      if (held !== undefined) {
        if (checkpoints) lastCheckpoint = now
        yield* commitTaken(consumer, taken, checkpoints, final, (table) => room.release(held[table])).pipe(
          Effect.withSpan("ingest.flush", flushSpanOptions(taken)),
          // Given back whatever happened (a write that failed, or never started, loads nothing).
          Effect.ensuring(Effect.sync(() => Object.values(held).forEach((r) => room.release(r))))
        )
      }
      yield* commitOwedOffsets(consumer)
    })))

  /**
   * The group's offsets of idle partitions owed one (`PartitionState.groupOwed`), at their tables'
   * marks: durable, and no flush of theirs comes to commit them until a record does (after a flush
   * whose commit landed unanswered, the restart finds its partitions at the end of their logs).
   */
  const commitOwedOffsets = (consumer: Consumer) =>
    Effect.suspend(() => {
      const owed = [...parts.values()].flatMap((part) => {
        const mark = part.groupOwed ? idleMark(part) : undefined
        return mark === undefined ? [] : [{ part, mark }]
      })
      if (owed.length === 0) return Effect.void
      return commitGroup(consumer, owed.map(({ mark, part }) => ({ topic: part.tp.topic, partition: part.tp.partition, offset: mark }))).pipe(
        Effect.andThen(Effect.sync(() => {
          for (const { part } of owed) part.groupOwed = false
        })),
        Effect.catch((e) => Effect.logDebug(`group offset commit skipped: ${e.message}`))
      )
    })

  /**
   * Group offsets, waited for `groupCommitWaitMs` at most: a broker that does not answer in time
   * leaves them owed (the request may still land; a later commit of the partition supersedes it).
   */
  const commitGroup = (consumer: Consumer, offsets: ReadonlyArray<OffsetCommit>) =>
    consumer.commit(offsets).pipe(Effect.timeout(config.groupCommitWaitMs))

  /** The room of the rows (and sequence events) a flush took, by table. */
  const holdTaken = (taken: ReadonlyArray<Taken>): Record<DataTable, Reservation> => {
    const sum = (table: DataTable) => {
      let records = 0
      let bytes = 0
      for (const t of taken) {
        if (t.part.table !== table) continue
        records += t.rows.size + t.events.length
        bytes += t.bytes
      }
      return room.hold(records, bytes)
    }
    return { trades: sum("trades"), quotes: sum("quotes"), instruments: sum("instruments") }
  }

  const commitTaken = Effect.fnUntraced(function*(
    consumer: Consumer,
    taken: ReadonlyArray<Taken>,
    checkpoints: boolean,
    final: boolean,
    loaded: (table: DataTable) => void
  ) {
    const committed = yield* Effect.gen(function*() {
      // Each partition feeds one table, so the data tables commit side by side; each commit runs
      // to its end even if another fails, and sequence_events (never ahead of them) comes last.
      const results = yield* Effect.all(
        (["trades", "quotes", "instruments"] as const).map((table) => commitTable(table, taken, () => loaded(table))),
        { concurrency: "unbounded", mode: "result" }
      )
      for (const result of results) if (Result.isFailure(result)) return yield* Effect.fail(result.failure)
      if (checkpoints) yield* commitSequenceEvents(taken)
      return true
    }).pipe(
      // Whatever failed, the buffers taken are gone: restart those partitions from the tables,
      // unless no restart can help (the flusher fails, and with it the run). Those are retired
      // instead: the drain must not commit what they buffered since with a mark past the rows lost.
      Effect.catch((error): Effect.Effect<boolean, IngestError> => {
        if (final) return Effect.fail(error)
        if (isPermanent(error)) return Effect.andThen(Effect.sync(() => retire(taken.map((t) => t.part))), Effect.fail(error))
        // The flush the drain waited for: its records stay uncommitted (no fetch comes to read them
        // again), so the stop fails with it, as when the final flush fails, not as a clean drain.
        if (stopping) drainFailure ??= error
        return Effect.gen(function*() {
          yield* Effect.logWarning(`flush failed, restarting ${taken.length} partition(s) from the tables: ${error.message}`)
          yield* restart(consumer, taken.map((t) => t.part))
          // The restart read the tables' marks: a commit that landed unanswered is not read again,
          // and is counted as written if its table holds it.
          yield* resolveUnknownOutcomes
          return false
        })
      })
    )
    if (!committed) return
    yield* Effect.logDebug(`flush committed ${taken.length} partition(s)`)
    // Only partitions still in the state this flush took: one revoked meanwhile (or revoked and
    // assigned back, a new state started from a later owner's marks) has a group offset past
    // `next` that this commit would move back.
    const mine = taken.filter((t) => parts.get(t.part.key) === t.part)
    const owe = (owed: boolean) =>
      Effect.sync(() => {
        for (const t of mine) t.part.groupOwed = owed
      })
    yield* commitGroup(consumer, mine.map((t) => ({
      topic: t.part.tp.topic,
      partition: t.part.tp.partition,
      offset: t.next
    }))).pipe(
      Effect.andThen(owe(false)),
      // Owed: if no flush of theirs comes first, committed once they are idle (commitOwedOffsets).
      Effect.catch((e) =>
        Effect.andThen(
          owe(true),
          Cause.isTimeoutError(e)
            ? Effect.logWarning(
              `Kafka did not answer a group offset commit within ${config.groupCommitWaitMs} ms (a broker alive but unresponsive?): ` +
                `the rows are in the tables; the group's offsets (lag monitoring only) are committed later`
            )
            : Effect.logDebug(`group offset commit skipped: ${e.message}`)
        )
      )
    )
  })

  /**
   * Nothing more is taken into these partitions' buffers or committed from them (their rows were
   * lost). What they buffered is let go (their restart reads it again from the tables): kept, it
   * held buffer room and kept the flush size reached for as long as a restart kept failing,
   * stalling the other partitions or making each of their flushes a tiny commit.
   */
  const retire = (states: Iterable<PartitionState>) => {
    for (const state of states) {
      state.retired = true
      emptyBuffer(state)
    }
    room.roomMade()
  }

  /**
   * Restarts from the tables the partitions these states still are. A state already replaced (a
   * revoke and a new assignment came meanwhile) is left alone: its partition has a start of its own.
   */
  const restart = Effect.fnUntraced(function*(consumer: Consumer, states: ReadonlyArray<PartitionState>) {
    // With the partitions that carried a stream in common with them (one that moved): restarted
    // alone, a partition's records read again would meet a stream state that has seen them.
    // Retired ones included: a partner retired by a restart that failed to read the tables is
    // still waiting for one, and only a restart replaces a retired state (else it drops every batch).
    const together = restartingTogether(
      parts.values(),
      states.filter((state) => parts.get(state.key) === state)
    )
    const retiring = new Map(together.map((state) => [state.key, state]))
    if (retiring.size === 0) return
    retire(retiring.values())
    const retired = [...retiring.values()].map((part) => part.tp)
    // Where their logs start: one that drops what the group committed (the embedded default's) may
    // no longer hold what a restart reads to rebuild the tracker. Read under the flush lock, so no
    // group commit moves them meanwhile; unknown (a failure, a broker that does not answer soon) is
    // taken as a log that still holds every record.
    const logStarts = new Map<TpKey, bigint>()
    for (const topic of new Set(retired.map((tp) => tp.topic))) {
      const marks = yield* consumer.watermarks(topic).pipe(Effect.timeout("2 seconds"), Effect.option)
      if (Option.isSome(marks)) for (const m of marks.value) logStarts.set(tpKey(m.topic, m.partition), m.low)
    }
    const starts = yield* startFromTables(retired, retiring, logStarts).pipe(Effect.retry({ schedule: retrySchedule, while: isTransient }))
    // Counted once installed (those a revoke took meanwhile are not): an attempt that could not read
    // the tables restarted nothing.
    for (const key of starts.keys()) restartOwed.delete(key)
    counters.restarts += starts.size
    yield* Metric.update(Metrics.partitionRestarts, starts.size)
    for (const tp of retired) {
      const start = starts.get(tpKeyOf(tp))
      if (start !== undefined) yield* consumer.seek(tp, start).pipe(Effect.ignore)
    }
  })

  // ---------------------------------------------------------------------------------------

  const runOnce = Effect.scoped(Effect.gen(function*() {
    // A failed drain of an earlier `run` is not this one's.
    drainFailure = undefined
    stopping = false
    for (const definition of ingestedTables([...tableOfTopic.values()].includes("instruments"))) {
      yield* sink.ensureTable(definition)
    }
    const scope = yield* Effect.scope
    const actors = yield* FiberMap.make<TpKey, never, never>()
    /** A partition's fault no restart clears: the run ends with it. */
    const fatal = yield* Deferred.make<never, AnotherLog | MarkerUnreadable | KafkaError>()
    /** Only an interruption (a revoke, the run ending) or a fault that ends the run gets past a partition's supervisor. */
    const unsupervised = (cause: Cause.Cause<unknown>) => Cause.hasInterruptsOnly(cause) || Deferred.isDoneUnsafe(fatal)
    const mailboxes = new Map<TpKey, Queue.Queue<Intake | typeof WAKE>>()
    let consumerRef: Consumer | undefined
    /** The batches a mailbox held when it was emptied never reach the buffers: their room goes back. */
    const dropped = (items: ReadonlyArray<Intake | typeof WAKE>) => {
      for (const item of items) if (item !== WAKE) room.release(item.room)
    }
    // Registered first, so it runs last, once the fetch loop and the actors are gone: the room of a
    // batch caught between them (taken, not yet in a mailbox) goes back, not into the next run.
    yield* Effect.addFinalizer(() => Effect.sync(() => room.releaseAll()))

    const startActor = Effect.fnUntraced(function*(tp: TopicPartition) {
      const key = tpKeyOf(tp)
      const mailbox = yield* Queue.bounded<Intake | typeof WAKE>(config.mailbox)
      mailboxes.set(key, mailbox)
      // Uninterruptible, as a flush: a revoke of this partition must not stop it between retiring
      // its partners and installing and seeking them (they would drop every batch for good).
      const restartHere = (consumer: Consumer) =>
        Effect.suspend(() => {
          const state = parts.get(key)
          return state === undefined ? Effect.void : flushLock.withPermits(1)(Effect.uninterruptible(restart(consumer, [state])))
        })
      // The fetch loop took room for each batch before it came here; it goes back once the batch is
      // in the buffers (or dropped). One whose restart is owed to it does that restart instead (its
      // seek brings a batch again).
      const work = Effect.forever(
        Queue.take(mailbox).pipe(Effect.flatMap((item) =>
          Effect.gen(function*() {
            if (restartOwed.has(key) && consumerRef !== undefined) {
              yield* Effect.logWarning(`partition ${key} restarts from the tables' markers, for a revoked partition whose restart failed`)
              return yield* restartHere(consumerRef)
            }
            if (item === WAKE) return
            return yield* consumeBatch(item.batch)
          }).pipe(Effect.ensuring(Effect.sync(() => dropped([item]))))
        ))
      )
      // The supervisor: past the retry budget a partition pauses, then restarts from the tables'
      // markers after a capped, jittered backoff (a record that keeps failing is retried, not
      // spun on); a restart that fails is retried the same way. The backoff starts afresh after a
      // healthy minute: failures long ago do not make every later restart wait the cap.
      let failed = false
      const attempt = Effect.gen(function*() {
        if (failed && consumerRef !== undefined) {
          yield* restartHere(consumerRef)
          yield* consumerRef.resume([tp])
          failed = false
        }
        return yield* work
      })
      const once = attempt.pipe(
        // Another log than the table's marker describes, a marker that does not decode, or an ACL refusal, stays
        // so whatever restarts: the run ends, and the partition takes nothing more meanwhile.
        Effect.tapError((e) =>
          isFatalToRun(e)
            ? Effect.andThen(Effect.sync(() => retire([parts.get(key)].filter((part) => part !== undefined))), Deferred.fail(fatal, e))
            : Effect.void
        ),
        Effect.sandbox,
        Effect.tapError((cause) =>
          Effect.gen(function*() {
            if (Cause.hasInterruptsOnly(cause) || Deferred.isDoneUnsafe(fatal)) return
            yield* Effect.logWarning(`partition ${key} failed, restarting from the tables' markers`, cause)
            failed = true
            if (consumerRef !== undefined) yield* consumerRef.pause([tp])
            dropped(yield* Queue.clear(mailbox))
          })
        )
      )
      yield* FiberMap.run(actors, key, supervise(once, supervisorBackoff, unsupervised))
    })

    const revoke = Effect.fnUntraced(function*(tps: ReadonlyArray<TopicPartition>) {
      for (const tp of tps) {
        const key = tpKeyOf(tp)
        yield* FiberMap.remove(actors, key)
        // The fetch loop may be waiting to hand this mailbox a batch: shutting it down lets it go on.
        const mailbox = mailboxes.get(key)
        if (mailbox !== undefined) {
          // Cleared until empty: a clear lets the batch the fetch loop waits to hand over in (it is
          // told offered), and the shutdown would drop it with its room, held until the run ends.
          for (let items = yield* Queue.clear(mailbox); items.length > 0; items = yield* Queue.clear(mailbox)) dropped(items)
          yield* Queue.shutdown(mailbox)
        }
        mailboxes.delete(key)
        const part = parts.get(key)
        restartOwed.delete(key)
        if (part !== undefined) {
          // Retired, its restart failed and its supervisor waited to try again: the partners that
          // restart retired would wait for good (taking no batch). Their own actors restart them,
          // woken (a full mailbox has a batch to wake it).
          if (part.retired) {
            for (const partner of restartingTogether(parts.values(), [part])) {
              if (partner === part || !partner.retired) continue
              restartOwed.add(partner.key)
              const mailbox = mailboxes.get(partner.key)
              if (mailbox !== undefined) Queue.offerUnsafe(mailbox, WAKE)
            }
          }
          // With the streams that left it when it holds records past its marks (or still to read
          // again, `rereading`): their states have seen those records, which are read again (here
          // too, if the partition comes back).
          const rereads = seenBelow(part) > ingestedBelow(part)
          if (part.table !== "instruments") {
            yield* trackers[part.table].forget((e, s) => part.streams.has(e, s) || (rereads && part.left.has(e, s)))
          }
          letGoAll(parts, part)
          parts.delete(key)
          // Assigned back before a commit passes the log start, it reads the loss again: told once.
          if (part.lost !== undefined) toldLosses.set(key, part.lost)
          room.roomMade()
        }
        // After the state is gone: the lag refresh updates the gauges of known partitions only.
        yield* Metric.remove(lagGauge(tp))
      }
    })

    const consumer = yield* source.subscribe({
      groupId: group,
      topics: config.topics,
      sessionTimeoutMs: config.sessionTimeoutMs,
      onAssign: (tps) =>
        Effect.gen(function*() {
          // A catalog that stays unreachable fails the subscription, retryable: `run` rejoins.
          const starts = yield* startFromTables(tps).pipe(Effect.retry({ schedule: retrySchedule, while: isTransient }))
          for (const tp of tps) {
            yield* startActor(tp)
            // At 0 before any loss, so an alert on its increase sees the first one.
            yield* Metric.update(lostOffsetsCounter(tp), 0)
          }
          return starts
        }).pipe(Scope.provide(scope)),
      onRevoke: revoke
    })
    consumerRef = consumer

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
            if (Exit.hasInterrupts(exit)) drainFailure = e
          }).pipe(Effect.andThen(Effect.logError(`final flush failed, its records are read again on the next start: ${e.message}`)))
        ),
        Effect.catchCause((c) => Effect.logError("final flush failed", c)),
        Effect.andThen(Effect.suspend(() => revoke([...parts.values()].map((part) => part.tp))))
      )
    )

    // A log end below a table's marker is another log of that name (ADR-24), told by the lag refresh
    // too: a topic deleted and made again (by this run's start, when it was missing) delivers no
    // batch to tell it until a record comes, and the run read as healthy and caught up, lag 0, till then.
    // Against the marker as it stood when the log ends were asked for (`markAsked`), of the same state:
    // the answer is the log's end when the broker gave it, and records published after it may be read
    // and committed before it is taken in; a state installed meanwhile has a marker read later still.
    const behindTable = (part: PartitionState, logEnd: bigint, markAsked: bigint) =>
      !config.logRemadeEachRun && logEnd >= 0n ? logBehindTable(part, logEnd, markAsked) : undefined

    // A batch carries its partition's high-water mark, but a partition that has delivered none
    // yet (catching up behind the others, or held by backpressure) would read a lag of 0: the
    // log ends are asked for now and then, off the hot path. A failure keeps the last figures.
    // Forked after the drain's finalizer, so it stops before the drain. Their age is watched beside
    // it: a broker alive but unresponsive answers no read, which would leave the figures as they were.
    const freshness = yield* makeLagFreshness(config.lagStaleAfterMs)
    const refreshLag = Effect.gen(function*() {
      const topics = new Set<string>()
      for (const part of parts.values()) topics.add(part.tp.topic)
      let answered = true
      for (const topic of topics) {
        const asked = new Map<PartitionState, bigint>()
        for (const part of parts.values()) if (part.tp.topic === topic) asked.set(part, part.tableMark)
        const marks = yield* Effect.option(consumer.watermarks(topic))
        if (Option.isNone(marks)) {
          answered = false
          continue
        }
        const behind: Array<{ readonly part: PartitionState; readonly error: LogBehindTable }> = []
        yield* atomically(Effect.forEach(marks.value, (m) => {
          const part = parts.get(tpKey(m.topic, m.partition))
          if (part === undefined) return Effect.void
          const markAsked = asked.get(part)
          const error = markAsked === undefined ? undefined : behindTable(part, m.high, markAsked)
          if (error !== undefined) behind.push({ part, error })
          part.lag = m.high - part.next
          part.logEnd = m.high
          return Metric.update(lagGauge(part.tp), Number(part.lag > 0n ? part.lag : 0n))
        }, { discard: true }))
        // As a batch's partition ends the run: it takes nothing more meanwhile.
        if (behind.length > 0) {
          retire(behind.map((b) => b.part))
          yield* Deferred.fail(fatal, behind[0]!.error)
          return
        }
      }
      if (answered) yield* freshness.read
    })
    yield* Effect.forkScoped(refreshLag.pipe(Effect.repeat(Schedule.spaced(LAG_REFRESH))))
    yield* Effect.forkScoped(freshness.check.pipe(Effect.repeat(Schedule.spaced(LAG_REFRESH))))
    // Only while this run owns partitions: a rejoin lets them go, with their lag.
    lagFreshness = freshness
    yield* Effect.addFinalizer(() => Effect.sync(() => void (lagFreshness = undefined)))

    const flusher = Effect.gen(function*() {
      const now = yield* monotonicMillis
      const due = room.buffered() >= config.flushRows || room.bufferedBytes() >= config.flushBytes ||
        now - (yield* Ref.get(lastFlush)) >= config.commitIntervalMs
      if (!due) return
      yield* flushWith(consumer)
    }).pipe(Effect.repeat(Schedule.spaced("20 millis")))
    const flushing = yield* Effect.forkScoped(flusher)
    // Added after the flusher, so it runs before the flusher is stopped (which waits for a flush in flight).
    yield* Effect.addFinalizer((exit) => Effect.sync(() => void (stopping = Exit.hasInterrupts(exit))))

    // Room is taken for a batch before it goes to its actor, here, so that a backlog waits in Kafka:
    // the batches waiting in mailboxes are inside the room, and the fetch loop holds one more, however
    // many partitions (ADR-57). A mailbox gone or replaced meanwhile (a revoke) does not get it.
    const fetching = consumer.batches.pipe(
      Stream.runForEach((batch) => {
        const mailbox = mailboxes.get(tpKeyOf(batch))
        if (mailbox === undefined) return Effect.void
        return room.reserve(batch.records.length, batchBytes(batch)).pipe(
          Effect.flatMap((reserved) =>
            mailboxes.get(tpKeyOf(batch)) === mailbox
              ? Effect.flatMap(Queue.offer(mailbox, { batch, room: reserved }), (offered) =>
                offered ? Effect.void : Effect.sync(() => room.release(reserved)))
              : Effect.sync(() => room.release(reserved))
          )
        )
      })
    )
    // A flusher that fails (a restart after a failed flush that kept failing) ends the run,
    // which rejoins from the tables: nothing stalls unseen. A partition's fatal fault ends it too.
    yield* Effect.raceAllFirst([fetching, Fiber.join(flushing), Deferred.await(fatal)])
  }))

  const progress = Effect.gen(function*() {
    room.countWaited()
    return progressOf(counters, parts, lagFreshness === undefined ? 0 : yield* lagFreshness.unansweredMs, stopping)
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
    Effect.onExit((exit) => Exit.hasInterrupts(exit) && drainFailure !== undefined ? Effect.fail(drainFailure) : Effect.void)
  )

  return Ingestor.of({ run, progress })
})

export const layer = (config: IngestConfig, deps: IngestorDeps) => Layer.effect(Ingestor)(make(config, deps))
