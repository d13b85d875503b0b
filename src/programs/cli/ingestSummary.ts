/** What ingest prints when a run ends: its summary, and what a stop before the end leaves to say. */
import type { IngestProgress } from "../../services/Ingestor.ts"

/**
 * `seconds`: ingestion's, which the rate is of. `startingSeconds`: live mode's start before it
 * (reaching Kafka, the topics, the warehouse), said apart: counted in, a run that waited 40 s for
 * its broker read as ingesting at a fraction of its rate.
 */
export const summary = (p: IngestProgress, seconds: number, startingSeconds?: number) =>
  [
    `ingested in ${seconds.toFixed(1)} s (${Math.round(p.consumed / Math.max(seconds, 0.001))} messages/s)` +
    (startingSeconds === undefined ? "" : `, after ${startingSeconds.toFixed(1)} s starting (reaching Kafka, opening the warehouse)`),
    `  consumed            ${p.consumed}`,
    `  trades written      ${p.written.trades}`,
    `  quotes written      ${p.written.quotes}`,
    `  instruments written ${p.written.instruments}`,
    `  sequence events     ${p.written.sequence_events}`,
    `  duplicates dropped  ${p.duplicatesDropped}`,
    `  dead-lettered       ${p.deadLettered}`,
    `  already ingested    ${p.alreadyIngested}`,
    `  commits             ${p.commits}`,
    `  waited for room     ${(p.waitedForRoomMs / 1000).toFixed(1)} s (fetching waiting on flushes)`
  ].join("\n")

/** Under the summary of an embedded day stopped before its end: the summary alone read as a whole day. */
export const stoppedEarly = "stopped before the end of the simulated day: run again with the same settings to ingest the rest (nothing is ingested twice)"

/** A live run stopped before ingestion began: it read nothing, so it has no summary to print. */
export const stoppedWhileStarting = "stopped while starting, before anything was read: nothing to commit"
