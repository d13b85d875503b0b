/** One progress line for long work: rewritten in place on a terminal, a line every few seconds otherwise. */
import { Effect } from "effect"
import type { IngestProgress } from "../../services/Ingestor.ts"

let lastPlain = 0

/**
 * Writes `line` to stderr (stdout is for results): in place on a terminal, every 5 s otherwise (a log,
 * CI). On a terminal it is cut to one row short of its width: a longer line wraps, and `\r` returns
 * only to the start of its last row, so each rewrite left a row behind (ingest's 100 characters on
 * an 80-column terminal, four a second). Padded to `width` to cover a longer line written before.
 */
export const writeProgress = (line: string, elapsedMs: number, width: number) => {
  if (process.stderr.isTTY) {
    const fits = Math.max(1, (process.stderr.columns || Number.MAX_SAFE_INTEGER) - 1)
    process.stderr.write(`\r${line.slice(0, fits).padEnd(Math.min(width, fits))}`)
  } else if (elapsedMs - lastPlain >= 5_000) {
    lastPlain = elapsedMs
    process.stderr.write(`${line}\n`)
  }
}

/**
 * Messages a second over the last 5 s (since the start before that): a live ingest whose feed went
 * quiet reads 0, where an average since the start faded for hours. Fed a sample per progress line.
 */
export class RecentRate {
  private readonly samples: Array<{ readonly at: number; readonly count: number }> = [{ at: 0, count: 0 }]

  at(count: number, elapsedMs: number): number {
    const samples = this.samples
    samples.push({ at: elapsedMs, count })
    // Keep the newest sample at least 5 s old as the window's start.
    while (samples.length > 2 && elapsedMs - samples[1]!.at >= 5_000) samples.shift()
    const first = samples[0]!
    const span = elapsedMs - first.at
    return span <= 0 ? 0 : Math.round((count - first.count) * 1_000 / span)
  }
}

/** The lag, or how long Kafka has not answered the reads it comes from (the last figure would read as current). */
const lagText = (p: IngestProgress) =>
  p.lagUnansweredMs > 0 ? `lag ? (Kafka not answering for ${Math.floor(p.lagUnansweredMs / 1000)} s)` : `lag ${p.lag}`

/**
 * `day`: the embedded default's simulated day, its `total` records once published. The line then
 * counts how far through the day the partitions have read (`position`), the records an earlier
 * run ingested (which this one seeks past) included: counted as consumed, a resumed day ended at
 * "175631 of 399925 messages", read as cut short though it was whole.
 */
export const progressLine = (p: IngestProgress, elapsedMs: number, rates: RecentRate, day?: { readonly total: number | undefined }) =>
  Effect.sync(() => {
    const seconds = Math.max(elapsedMs / 1000, 0.001)
    const rate = rates.at(p.consumed, elapsedMs)
    const committed = p.written.trades + p.written.quotes
    const read = day === undefined ? `${p.consumed}` : day.total === undefined ? `${p.position}` : `${p.position} of ${day.total}`
    // Draining, the lag is no longer read and the partitions are let go: "partitions 0" and the
    // last lag read as the state of now (a frozen broker's "lag ?" turned back into a stale figure).
    // Holding no partition (the group still assigning them: a restart after a kill waits out the old
    // member's session), "lag 0 | partitions 0" read as caught up while nothing was read.
    const state = p.draining
      ? "draining (flush, commit, leave the group)"
      : p.partitions === 0
      ? "no partitions assigned yet (the group rebalancing?)"
      : `${lagText(p)} | partitions ${p.partitions}`
    const line = `${read} messages, ${rate}/s | rows committed ${committed} | ` +
      `dlq ${p.deadLettered} | ${state} | ${seconds.toFixed(0)} s`
    writeProgress(line, elapsedMs, 100)
  })
