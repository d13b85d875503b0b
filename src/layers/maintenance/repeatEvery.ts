/**
 * `repeatEvery`: an effect run again and again at a fixed period from each run's start, never
 * overlapped (`compact --every`, ingest's --maintain-every).
 */
import { Duration, Effect } from "effect"
import { monotonicMillis } from "../elapsed.ts"

/**
 * `self` again and again, each run `interval` after the previous one started: "--every 600" is
 * every 10 minutes, where Schedule.spaced waited 600 s after each run ended (drifting by the run
 * time). A run longer than `interval` is followed as it ends, never overlapped. Ends on a failure.
 */
export const repeatEvery = <A, E, R>(self: Effect.Effect<A, E, R>, interval: Duration.Input): Effect.Effect<never, E, R> =>
  Effect.gen(function*() {
    const period = Duration.toMillis(Duration.fromInputUnsafe(interval))
    while (true) {
      // Monotonic: a clock set back an hour during a run put the next one off by that hour.
      const started = yield* monotonicMillis
      yield* self
      const took = (yield* monotonicMillis) - started
      yield* Effect.sleep(Duration.millis(Math.max(0, period - took)))
    }
  })
