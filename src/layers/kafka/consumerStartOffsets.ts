/**
 * Where newly assigned partitions start: onAssign's answer, else the group's committed offset,
 * else the log start or end (`startFrom`).
 */
import {
  kafkaError,
  KafkaUnavailable,
  type StartFrom,
  type SubscribeOptions,
  type TopicPartition,
  type TpKey,
  tpKeyOf
} from "../../services/KafkaSource.ts"
import type { CallbackRun } from "./consumerCallbacks.ts"
import type { ConsumerDriver } from "./consumerDriver.ts"
import { negativeOffset } from "./consumerErrors.ts"

export interface StartOffsetsOf<E, R> {
  readonly options: SubscribeOptions<E, R>
  readonly driver: ConsumerDriver
  readonly startFrom: StartFrom
  readonly run: CallbackRun<E, R>
}

export type StartOffsets = (tps: ReadonlyArray<TopicPartition>) => Promise<Map<TpKey, bigint>>

export const startOffsetsOf = <E, R>({ driver, options, run, startFrom }: StartOffsetsOf<E, R>): StartOffsets => async (tps) => {
  const out = new Map<TpKey, bigint>()
  const chosen = options.onAssign ? await run(options.onAssign(tps), "onAssign") : new Map<TpKey, bigint>()
  for (const [k, v] of chosen) if (v < 0n) throw negativeOffset("onAssign", k, v)
  const rest = tps.filter((tp) => !chosen.has(tpKeyOf(tp)))
  for (const [k, v] of chosen) out.set(k, v)
  if (rest.length === 0) return out
  const committed = await driver.committed(rest)
  const needReset = rest.filter((tp) => (committed.get(tpKeyOf(tp)) ?? null) === null)
  for (const tp of rest) {
    const c = committed.get(tpKeyOf(tp)) ?? null
    if (c !== null) out.set(tpKeyOf(tp), c)
  }
  const topics = [...new Set(needReset.map((tp) => tp.topic))]
  for (const topic of topics) {
    const marks = await driver.watermarks(topic)
    for (const m of marks) {
      const key = `${m.topic}:${m.partition}`
      if (needReset.some((tp) => tpKeyOf(tp) === key)) out.set(key, startFrom === "earliest" ? m.low : m.high)
    }
  }
  // A client whose metadata predates partitions just added has no offsets for them yet: the
  // consumer fails, retryable, rather than leave them without a position.
  const unknown = needReset.filter((tp) => !out.has(tpKeyOf(tp)))
  if (unknown.length > 0) {
    throw kafkaError(
      new KafkaUnavailable({ operation: "watermarks", detail: `no offsets yet for ${unknown.map(tpKeyOf).join(", ")}` })
    )
  }
  return out
}
