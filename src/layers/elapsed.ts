/**
 * Time to measure intervals by (a commit interval, how long Kafka has not answered, a run's length):
 * the monotonic clock. The wall clock (Clock.currentTimeMillis) steps when NTP corrects it, a VM
 * resumes or an operator fixes the date: an interval read off it went negative for as long as the
 * step back (no flush was due for that hour) or hours long at a step forward. The wall clock stays
 * for what is stamped, or compared with stamps (snapshot timestamps, expiry ages, file times; ADR-52).
 */
import { Clock, Effect } from "effect"

/** Milliseconds from an arbitrary origin: only the difference of two readings means anything. */
export const monotonicMillisOf = (clock: Clock.Clock): number => Number(clock.monotonicTimeNanosUnsafe()) / 1e6

/** `monotonicMillisOf` the current Clock. */
export const monotonicMillis: Effect.Effect<number> = Clock.clockWith((clock) => Effect.sync(() => monotonicMillisOf(clock)))
