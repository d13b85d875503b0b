/** `produce`'s progress line: the events published, their recent rate, and an ETA when the run is bounded. */
import { Effect } from "effect"
import type { PublishProgress } from "../../layers/produce/publisher.ts"
import { RecentRate, writeProgress } from "./progress.ts"

/** What the publish should come to: the events in all (the simulator's), and --duration. */
export interface ProgressExpected {
  readonly total?: number | undefined
  readonly durationMs?: number | undefined
}

/**
 * How far the publish is: events, their rate over the last seconds (an average since the start
 * lagged a change of pace for minutes), and an ETA when the total or --duration bounds the run,
 * whichever ends first.
 */
export const progressBar = (events: number, elapsedMs: number, rates: RecentRate, expected: ProgressExpected) =>
  Effect.sync(() => {
    const rate = rates.at(events, elapsedMs)
    const left: Array<number> = []
    if (expected.total !== undefined && rate > 0) left.push(Math.max(0, expected.total - events) / rate)
    if (expected.durationMs !== undefined) left.push(Math.max(0, expected.durationMs - elapsedMs) / 1000)
    const eta = left.length === 0 ? "" : ` ETA ${Math.min(...left).toFixed(0)} s`
    writeProgress(`${events} events, ${rate}/s${eta}`, elapsedMs, 60)
  })

/**
 * The publisher's `onProgress` for `produce`: a line at most every 200 ms, counting the events
 * but not the instruments sent before them (about 20: `--rate 1` read 3/s after 10 s).
 */
export const progressReporter = (expected: ProgressExpected) => {
  const rates = new RecentRate()
  let lastReport = 0
  return (p: PublishProgress): Effect.Effect<void> => {
    if (p.elapsedMs - lastReport < 200) return Effect.void
    lastReport = p.elapsedMs
    return progressBar(p.events - p.instruments, p.elapsedMs, rates, expected)
  }
}
