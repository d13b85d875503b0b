/**
 * How old the lag figures are. They are read from the log ends every second (and from each batch);
 * a broker alive but unresponsive (a frozen JVM) answers none of those reads, and the figures
 * would stay as they were, claiming to be current while nothing is read (ADR-50).
 */
import { Effect, Metric } from "effect"
import { monotonicMillis } from "../elapsed.ts"
import * as Metrics from "../telemetry/metrics.ts"

export type LagFreshness = Effect.Success<ReturnType<typeof makeLagFreshness>>

const seconds = (ms: number) => Math.floor(ms / 1000)

/** Lag figures read now; stale once Kafka has not answered a read of them for `staleAfterMs`. */
export const makeLagFreshness = Effect.fnUntraced(function*(staleAfterMs: number) {
  // Monotonic: a wall clock set back an hour hid a stall for that hour, one set forward faked one.
  let readAt = yield* monotonicMillis
  let stalled = false
  const ageMs = Effect.map(monotonicMillis, (now) => now - readAt)
  const setGauge = (ms: number) => Metric.update(Metrics.lagAge, ms / 1000)

  return {
    /** Kafka answered a read of the lag figures: fresh again, said once if a stall ends. */
    read: Effect.gen(function*() {
      const now = yield* monotonicMillis
      const ms = now - readAt
      readAt = now
      yield* setGauge(0)
      if (!stalled) return
      stalled = false
      yield* Effect.logWarning(`Kafka answered again after ${seconds(ms)} s: the lag figures are current`)
    }),
    /** The age gauge brought up to date, a stall said once as it starts: run every second. */
    check: Effect.gen(function*() {
      const ms = yield* ageMs
      yield* setGauge(ms)
      if (stalled || ms < staleAfterMs) return
      stalled = true
      yield* Effect.logWarning(
        `Kafka has not answered the lag refresh (log-end offsets) for ${seconds(ms)} s: ` +
          `a broker alive but unresponsive? The lag figures are the last read until it answers`
      )
    }),
    /** How long Kafka has not answered a read of the lag figures, once they are stale; else 0. */
    unansweredMs: Effect.map(ageMs, (ms) => ms < staleAfterMs ? 0 : ms)
  }
})
