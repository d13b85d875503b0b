/**
 * A wall clock that steps (NTP correcting it, a VM resumed, an operator fixing the date) over the
 * clock in use (live or the TestClock): its monotonic time and its sleeps are the underlying
 * clock's, as a real step moves neither the monotonic clock nor the timers.
 */
import { Clock, Effect } from "effect"

export const makeSteppedClock = Clock.clockWith((under) =>
  Effect.sync(() => {
    let offsetMs = 0
    const wallMs = () => under.currentTimeMillisUnsafe() + offsetMs
    const wallNanos = () => under.currentTimeNanosUnsafe() + BigInt(offsetMs) * 1_000_000n
    const clock: Clock.Clock = {
      currentTimeMillisUnsafe: wallMs,
      currentTimeMillis: Effect.sync(wallMs),
      currentTimeNanosUnsafe: wallNanos,
      currentTimeNanos: Effect.sync(wallNanos),
      monotonicTimeNanosUnsafe: () => under.monotonicTimeNanosUnsafe(),
      monotonicTimeNanos: Effect.sync(() => under.monotonicTimeNanosUnsafe()),
      sleep: (d) => under.sleep(d)
    }
    /** Steps the wall clock by `ms` (negative: back). */
    const step = (ms: number) => Effect.sync(() => void (offsetMs += ms))
    return { clock, step }
  })
)
