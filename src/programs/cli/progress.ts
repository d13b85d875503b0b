/** One progress line for long work: rewritten in place on a terminal, a line every few seconds otherwise. */
import { Effect } from "effect"
import type { IngestProgress } from "../../services/Ingestor.ts"

let lastPlain = 0

/** Writes `line` to stderr (stdout is for results): in place on a terminal, every 5 s otherwise (a log, CI). */
export const writeProgress = (line: string, elapsedMs: number, width: number) => {
  if (process.stderr.isTTY) {
    process.stderr.write(`\r${line.padEnd(width)}`)
  } else if (elapsedMs - lastPlain >= 5_000) {
    lastPlain = elapsedMs
    process.stderr.write(`${line}\n`)
  }
}

export const progressLine = (p: IngestProgress, elapsedMs: number, expected?: number) =>
  Effect.sync(() => {
    const seconds = Math.max(elapsedMs / 1000, 0.001)
    const rate = Math.round(p.consumed / seconds)
    const committed = p.written.trades + p.written.quotes
    const of = expected === undefined ? "" : ` of ${expected}`
    const line = `${p.consumed}${of} messages, ${rate}/s | rows committed ${committed} | ` +
      `dlq ${p.deadLettered} | lag ${p.lag} | partitions ${p.partitions} | ${seconds.toFixed(0)} s`
    writeProgress(line, elapsedMs, 100)
  })
