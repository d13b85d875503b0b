/** The ingestor's tallies, and its progress as `Ingestor.progress` reports it. */
import type { IngestProgress } from "../../services/Ingestor.ts"
import { ingestedBelow, type Partitions } from "./partitionState.ts"

/** Counted by this process since it started; the rest of the progress is read from the partitions. */
export const makeCounters = () => ({
  consumed: 0,
  written: { trades: 0, quotes: 0, instruments: 0, sequence_events: 0 },
  deadLettered: 0,
  alreadyIngested: 0,
  duplicatesDropped: 0,
  commits: 0,
  restarts: 0,
  waitedForRoomMs: 0
})

export type IngestCounters = ReturnType<typeof makeCounters>

export const progressOf = (counters: IngestCounters, parts: Partitions, lagUnansweredMs = 0, draining = false): IngestProgress => {
  let lag = 0n
  let position = 0n
  let uncommitted = 0n
  let unwritten = 0n
  for (const p of parts.values()) {
    lag += p.lag > 0n ? p.lag : 0n
    // A retired partition dropped its buffer and reads again from the tables once restarted: its
    // position is there, or the embedded day would end (read to the end) without those rows.
    position += p.retired ? ingestedBelow(p) : p.next
    uncommitted += p.next - ingestedBelow(p)
    // Replaying what sequence_events has not seen yet puts `next` below the table's mark.
    if (p.next > p.tableMark) unwritten += p.next - p.tableMark
  }
  return {
    ...counters,
    written: { ...counters.written },
    lag: Number(lag),
    lagUnansweredMs,
    draining,
    partitions: parts.size,
    position: Number(position),
    uncommitted: Number(uncommitted),
    unwritten: Number(unwritten)
  }
}
