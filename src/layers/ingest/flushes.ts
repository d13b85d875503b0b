/**
 * The flusher: when the buffers hold `flushRows` rows or `flushBytes` bytes, or `commitIntervalMs`
 * after the last flush, it takes every partition's buffer and commits them (tableCommits.ts), then
 * the group's offsets (lag monitoring only). A flush that fails restarts its partitions from the
 * tables (partitionRestarts.ts). One flush at a time, under the flush lock, which restarts take too.
 */
import { Cause, Effect, Ref, Result, Schedule, Semaphore, type Tracer } from "effect"
import type { IngestError } from "../../services/Ingestor.ts"
import type { Consumer, OffsetCommit } from "../../services/KafkaSource.ts"
import { monotonicMillis } from "../elapsed.ts"
import type { BufferRoom, Reservation } from "./bufferRoom.ts"
import type { IngestConfig } from "./ingestor.ts"
import { letGoOfSnapshotCounts } from "./ingestMetrics.ts"
import { type DataTable, idleMark, type Partitions, type Trackers } from "./partitionState.ts"
import type { PartitionRestarts } from "./partitionRestarts.ts"
import { type makeTableCommits, type Taken, takeBuffers } from "./tableCommits.ts"
import { isPermanent } from "./transientFaults.ts"

/** A stop's drain, as the flushes, `progress` and `run` see it. */
export interface Stopping {
  /**
   * A stop asked for a drain, which waits for the flush in flight: that flush's failure is the
   * drain's. Set as the run's scope closes on an interruption (a fault's close leaves it false),
   * cleared by the next run; `progress` reports it (`draining`), the drain under way or done.
   */
  stopping: boolean
  /** Why the drain a stop asked for left records uncommitted: the interrupted `run` fails with it. */
  drainFailure: IngestError | undefined
}

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

export interface FlushesContext {
  readonly config: Pick<IngestConfig, "flushRows" | "flushBytes" | "commitIntervalMs" | "checkpointIntervalMs" | "groupCommitWaitMs">
  readonly parts: Partitions
  readonly trackers: Trackers
  readonly room: BufferRoom
  readonly commits: Pick<ReturnType<typeof makeTableCommits>, "commitTable" | "commitSequenceEvents" | "resolveUnknownOutcomes">
  readonly restarts: Pick<PartitionRestarts, "retire" | "restart">
  readonly stop: Stopping
}

export const makeFlushes = Effect.fnUntraced(function*(
  { commits: { commitSequenceEvents, commitTable, resolveUnknownOutcomes }, config, parts, restarts: { restart, retire }, room, stop, trackers }:
    FlushesContext
) {
  const flushLock = yield* Semaphore.make(1)
  // On the monotonic clock (elapsed.ts): by the wall clock set back an hour, the last flush was an
  // hour ahead, and no flush (nor checkpoint) was due by time for that hour. Never, at the start.
  const lastFlush = yield* Ref.make(Number.NEGATIVE_INFINITY)

  let lastCheckpoint = Number.NEGATIVE_INFINITY

  /** One at a time under the flush lock, and uninterruptible once started: a flush, or a partition's restart. */
  const underFlushLock = <A, E, R>(effect: Effect.Effect<A, E, R>) => flushLock.withPermits(1)(Effect.uninterruptible(effect))

  /**
   * Uninterruptible once started: a drain waits for the flush in flight, then flushes the rest.
   * `final` (the drain) always commits sequence_events, so a clean restart re-reads nothing, and
   * fails when a commit fails: its partitions are let go, not restarted.
   */
  const flushWith = (consumer: Consumer, final = false) =>
    underFlushLock(Effect.gen(function*() {
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
        // Partitions revoked while it committed: the snapshot counts of tables this process no longer feeds go.
        for (const table of Object.keys(held) as Array<DataTable>) yield* letGoOfSnapshotCounts(parts, table)
      }
      yield* commitOwedOffsets(consumer)
    }))

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
        // The flush the drain waited for: its records stay uncommitted (no fetch comes to read them
        // again), so the stop fails with it, as when the final flush fails, not as a clean drain.
        // Also when no restart helps: its partitions retired, the final flush has nothing of theirs
        // to commit and succeeds, and the stop read as clean (the flusher's failure goes with the run).
        if (stop.stopping) stop.drainFailure ??= error
        if (isPermanent(error)) return Effect.andThen(Effect.sync(() => retire(taken.map((t) => t.part))), Effect.fail(error))
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

  /** Flushes whenever one is due, checked every 20 ms, for as long as the run lasts. */
  const flusher = (consumer: Consumer) =>
    Effect.gen(function*() {
      const now = yield* monotonicMillis
      const due = room.buffered() >= config.flushRows || room.bufferedBytes() >= config.flushBytes ||
        now - (yield* Ref.get(lastFlush)) >= config.commitIntervalMs
      if (!due) return
      yield* flushWith(consumer)
    }).pipe(Effect.repeat(Schedule.spaced("20 millis")))

  return { underFlushLock, flushWith, flusher }
})

