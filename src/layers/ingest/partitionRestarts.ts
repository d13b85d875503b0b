/**
 * Partitions retired (nothing more taken into their buffers or committed from them) and restarted
 * from the tables' markers, with the partitions they restart together with (streamOwnership.ts).
 * Restarts run under the flush lock (flushes.ts): a flush that failed, a partition's supervisor
 * (partitionActors.ts).
 */
import { Effect, Metric, Option } from "effect"
import { restartingTogether } from "../../domain/ingest/streamOwnership.ts"
import { type Consumer, type TpKey, tpKey, tpKeyOf } from "../../services/KafkaSource.ts"
import * as Metrics from "../telemetry/metrics.ts"
import type { BufferRoom } from "./bufferRoom.ts"
import type { IngestCounters } from "./ingestProgress.ts"
import { emptyBuffer, type PartitionState, type Partitions } from "./partitionState.ts"
import type { makeStartFromTables } from "./tableStarts.ts"
import { isTransient, retrySchedule } from "./transientFaults.ts"

export interface PartitionRestartsContext {
  readonly parts: Partitions
  readonly room: BufferRoom
  readonly counters: IngestCounters
  readonly startFromTables: ReturnType<typeof makeStartFromTables>
}

export const makePartitionRestarts = ({ counters, parts, room, startFromTables }: PartitionRestartsContext) => {
  /**
   * Partitions retired by a restart that failed, whose supervisor (that of the partition the
   * restart was for) was revoked before its retry: each one's own actor restarts it instead.
   */
  const restartOwed = new Set<TpKey>()

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

  return { restartOwed, retire, restart }
}

export type PartitionRestarts = ReturnType<typeof makePartitionRestarts>
