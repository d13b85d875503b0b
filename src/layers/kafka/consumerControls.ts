/**
 * The Consumer the core hands out: its seek, pause and resume move the partition states (a new
 * epoch discards what is buffered), and its offset calls go to the client's driver.
 */
import { Effect } from "effect"
import {
  type Consumer,
  type KafkaError,
  kafkaError,
  NotAssigned,
  type OffsetCommit,
  type SubscribeOptions,
  type TopicPartition,
  type TpKey,
  tpKey,
  tpKeyOf
} from "../../services/KafkaSource.ts"
import type { ConsumerDriver } from "./consumerDriver.ts"
import { isKafkaError, negativeOffset } from "./consumerErrors.ts"
import type { PartState } from "./consumerPartState.ts"

export interface ConsumerOf<E, R> {
  readonly options: SubscribeOptions<E, R>
  readonly driver: ConsumerDriver
  readonly parts: Map<TpKey, PartState>
  readonly nextEpoch: () => number
  readonly errorOf: (operation: string, cause: unknown) => KafkaError
  readonly batches: Consumer["batches"]
}

export const consumerOf = <E, R>({ batches, driver, errorOf, nextEpoch, options, parts }: ConsumerOf<E, R>): Consumer => {
  /** tp's state, when its assignment was announced (a caller may act on it). */
  const announced = (tp: TopicPartition): PartState | undefined => {
    const st = parts.get(tpKeyOf(tp))
    return st?.announced === true ? st : undefined
  }

  const assigned = (tp: TopicPartition) =>
    announced(tp) !== undefined
      ? Effect.void
      : Effect.fail(kafkaError(new NotAssigned({ topic: tp.topic, partition: tp.partition })))

  const tryPromise = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, KafkaError> =>
    Effect.tryPromise({ try: f, catch: (e) => (isKafkaError(e) ? e : errorOf(operation, e)) })

  return {
    groupId: options.groupId,
    batches,
    assignment: Effect.sync(() => [...parts.values()].map((st) => st.tp)),
    seek: Effect.fn("KafkaSource.seek")(function*(tp: TopicPartition, offset: bigint) {
      yield* assigned(tp)
      if (offset < 0n) return yield* Effect.fail(negativeOffset("seek", tpKeyOf(tp), offset))
      const st = announced(tp)!
      st.epoch = nextEpoch()
      st.fetchPos = offset
      st.deliveredPos = offset
      st.strict = true
      if (st.starting) {
        st.sought = true
        return
      }
      driver.seek(tp, offset)
    }),
    pause: (tps) =>
      Effect.sync(() => {
        const now: Array<TopicPartition> = []
        for (const tp of tps) {
          const st = announced(tp)
          if (st === undefined || st.paused) continue
          st.paused = true
          st.epoch = nextEpoch()
          now.push(tp)
        }
        if (now.length > 0) driver.pause(now)
      }),
    resume: (tps) =>
      Effect.sync(() => {
        const now: Array<TopicPartition> = []
        for (const tp of tps) {
          const st = announced(tp)
          if (st === undefined || !st.paused) continue
          st.paused = false
          st.epoch = nextEpoch()
          if (st.starting) continue
          st.fetchPos = st.deliveredPos
          st.strict = true
          driver.seek(tp, st.deliveredPos)
          now.push(tp)
        }
        if (now.length > 0) driver.resume(now)
      }),
    commit: Effect.fn("KafkaSource.commit")(function*(offsets: ReadonlyArray<OffsetCommit>) {
      // Offsets of partitions this member no longer owns are ignored: the broker checks only the
      // generation, so a late commit would move the new owner's offset back (kafkajs, memory).
      const mine = offsets.filter((o) => parts.has(tpKey(o.topic, o.partition)))
      if (mine.length === 0) return
      yield* tryPromise("commit", () => driver.commit(mine))
    }),
    committed: (tps) => tryPromise("committed", () => driver.committed(tps)),
    watermarks: (topic) => tryPromise("watermarks", () => driver.watermarks(topic))
  }
}
