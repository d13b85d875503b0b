/**
 * Pacing a replay: the first event plays at once, every later one when the Effect Clock
 * has advanced by its exchange-time distance from the first divided by `speed`. Testable
 * with TestClock; late events (a slow consumer) play immediately, so the pace catches up.
 *
 * The events due by then play together, as one chunk (ties, and events a slow consumer or a send
 * made late): one at a time, a republish paid a broker round trip per event and fell behind for
 * good at a speed whose events came faster than round trips (--speed 1000000 ran 20x slower than
 * unpaced). An event not yet due is never held back with another: it is emitted when it is due.
 */
import { type Array as Arr, Duration, Effect, type Pull, Stream } from "effect"
import type { EpochMicros } from "../../domain/time.ts"

export const paced = (speed: number) =>
<A extends { readonly exchange_timestamp: EpochMicros }, E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
  Stream.transformPull(stream, (pull) =>
    Effect.sync(() => {
      let anchorTs = 0
      let anchorNs = -1n
      /** The upstream chunk being played, from `at`. */
      let pending: ReadonlyArray<A> = []
      let at = 0
      /** When `event` is due on the monotonic clock; undefined for never (a tiny speed). */
      const dueOf = (event: A): bigint | undefined => {
        // Divided last: 1000 / speed is Infinity for a tiny speed, and a tie (0 × Infinity) was NaN.
        const offset = Math.round((event.exchange_timestamp - anchorTs) * 1000 / speed)
        return Number.isFinite(offset) ? anchorNs + BigInt(offset) : undefined
      }
      const next: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E> = Effect.clockWith((clock) =>
        Effect.gen(function*() {
          while (at >= pending.length) {
            pending = yield* pull
            at = 0
          }
          // Elapsed time, not wall time: a step of the system clock (NTP, a resumed VM) would rush or stall the pace.
          let now = clock.monotonicTimeNanosUnsafe()
          if (anchorNs < 0n) {
            anchorNs = now
            anchorTs = pending[at]!.exchange_timestamp
          }
          const first = dueOf(pending[at]!)
          if (first === undefined) return yield* Effect.never
          if (first > now) {
            yield* Effect.sleep(Duration.nanos(first - now))
            const woken = clock.monotonicTimeNanosUnsafe()
            now = woken > first ? woken : first
          }
          const start = at++
          while (at < pending.length) {
            const due = dueOf(pending[at]!)
            if (due === undefined || due > now) break
            at++
          }
          return pending.slice(start, at) as unknown as Arr.NonEmptyReadonlyArray<A>
        })
      )
      return next
    }))
