/**
 * Pacing a replay: the first event plays at once, every later one when the Effect Clock
 * has advanced by its exchange-time distance from the first divided by `speed`. Testable
 * with TestClock; late events (a slow consumer) play immediately, so the pace catches up.
 */
import { Duration, Effect, Stream } from "effect"
import type { EpochMicros } from "../../domain/time.ts"

export const paced = (speed: number) =>
<A extends { readonly exchange_timestamp: EpochMicros }, E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
  Stream.suspend(() => {
    let anchorTs = 0
    let anchorNs = -1n
    return stream.pipe(Stream.mapEffect((event) =>
      Effect.clockWith((clock) => {
        // Elapsed time, not wall time: a step of the system clock (NTP, a resumed VM) would rush or stall the pace.
        const now = clock.monotonicTimeNanosUnsafe()
        if (anchorNs < 0n) {
          anchorNs = now
          anchorTs = event.exchange_timestamp
          return Effect.succeed(event)
        }
        // Divided last: 1000 / speed is Infinity for a tiny speed, and a tie (0 × Infinity) was NaN.
        const offset = Math.round((event.exchange_timestamp - anchorTs) * 1000 / speed)
        if (!Number.isFinite(offset)) return Effect.as(Effect.never, event)
        const due = anchorNs + BigInt(offset)
        return due <= now ? Effect.succeed(event) : Effect.as(Effect.sleep(Duration.nanos(due - now)), event)
      })
    ))
  })
