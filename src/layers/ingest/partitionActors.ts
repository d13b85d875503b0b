/**
 * One actor per assigned partition: a fiber with a bounded mailbox, under a supervisor that
 * restarts the partition from the tables' markers when it fails (transientFaults.ts). The fetch
 * loop hands each batch to its partition's mailbox once the buffers have room for it (ADR-57); a
 * revoke stops the actor, gives back the room of what its mailbox held, and lets its state go.
 */
import { Cause, Deferred, Effect, FiberMap, Metric, Queue, Stream } from "effect"
import type { MarkerUnreadable } from "../../domain/ingest/marker.ts"
import { letGoAll, restartingTogether } from "../../domain/ingest/streamOwnership.ts"
import { type AnotherLog, isFatalToRun } from "../../services/Ingestor.ts"
import { type Consumer, type KafkaError, type PartitionBatch, type TopicPartition, type TpKey, tpKeyOf } from "../../services/KafkaSource.ts"
import type { makeConsumeBatch } from "./batchIntake.ts"
import type { BufferRoom, Reservation } from "./bufferRoom.ts"
import type { IngestConfig } from "./ingestor.ts"
import { lagGauge, letGoOfSnapshotCounts } from "./ingestMetrics.ts"
import { ingestedBelow, type Partitions, rowBytes, seenBelow, type ToldLosses, type Trackers } from "./partitionState.ts"
import type { PartitionRestarts } from "./partitionRestarts.ts"
import { supervise, supervisorBackoff } from "./transientFaults.ts"

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

/** The faults of a partition no restart clears (isFatalToRun). */
export type FatalToRun = AnotherLog | MarkerUnreadable | KafkaError

/** A partition's fault no restart clears: the run ends with it. */
export type RunFatal = Deferred.Deferred<never, FatalToRun>

export interface PartitionActorsContext {
  readonly config: Pick<IngestConfig, "mailbox">
  readonly parts: Partitions
  readonly room: BufferRoom
  readonly trackers: Trackers
  /** What partitions told lost before they were revoked: a partition assigned back takes it again. */
  readonly toldLosses: ToldLosses
  readonly consumeBatch: ReturnType<typeof makeConsumeBatch>
  /** The flushes' lock (flushes.ts): a partition's restart runs under it, uninterruptible, as a flush does. */
  readonly underFlushLock: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly restarts: PartitionRestarts
  /** The run's actors, by partition. */
  readonly actors: FiberMap.FiberMap<TpKey, never, never>
  readonly fatal: RunFatal
}

/** The partition actors of one run. */
export const makePartitionActors = (
  { actors, config, consumeBatch, fatal, parts, restarts: { restart, restartOwed, retire }, room, toldLosses, trackers, underFlushLock }:
    PartitionActorsContext
) => {
  /** Only an interruption (a revoke, the run ending) or a fault that ends the run gets past a partition's supervisor. */
  const unsupervised = (cause: Cause.Cause<unknown>) => Cause.hasInterruptsOnly(cause) || Deferred.isDoneUnsafe(fatal)
  const mailboxes = new Map<TpKey, Queue.Queue<Intake | typeof WAKE>>()
  let consumerRef: Consumer | undefined
  /** The batches a mailbox held when it was emptied never reach the buffers: their room goes back. */
  const dropped = (items: ReadonlyArray<Intake | typeof WAKE>) => {
    for (const item of items) if (item !== WAKE) room.release(item.room)
  }

  const startActor = Effect.fnUntraced(function*(tp: TopicPartition) {
    const key = tpKeyOf(tp)
    const mailbox = yield* Queue.bounded<Intake | typeof WAKE>(config.mailbox)
    mailboxes.set(key, mailbox)
    // Uninterruptible, as a flush: a revoke of this partition must not stop it between retiring
    // its partners and installing and seeking them (they would drop every batch for good).
    const restartHere = (consumer: Consumer) =>
      Effect.suspend(() => {
        const state = parts.get(key)
        return state === undefined ? Effect.void : underFlushLock(restart(consumer, [state]))
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
        yield* letGoOfSnapshotCounts(parts, part.table)
        // Assigned back before a commit passes the log start, it reads the loss again: told once.
        if (part.lost !== undefined) toldLosses.set(key, part.lost)
        room.roomMade()
      }
      // After the state is gone: the lag refresh updates the gauges of known partitions only.
      yield* Metric.remove(lagGauge(tp))
    }
  })

  /** The consumer the actors pause, resume and restart their partitions on, once subscribed. */
  const attach = (consumer: Consumer) => {
    consumerRef = consumer
  }

  // Room is taken for a batch before it goes to its actor, here, so that a backlog waits in Kafka:
  // the batches waiting in mailboxes are inside the room, and the fetch loop holds one more, however
  // many partitions (ADR-57). A mailbox gone or replaced meanwhile (a revoke) does not get it.
  const deliver = (batches: Consumer["batches"]) =>
    batches.pipe(
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

  return { startActor, revoke, attach, deliver }
}
