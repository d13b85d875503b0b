/**
 * The ingest series read from the pipeline's state when scraped (telemetry/metrics.ts registers
 * them): freshness, assigned partitions, time waited for buffer room, and the sequence trackers'
 * streams, evictions and gaps given up.
 */
import { Effect, Metric } from "effect"
import { gapGiveUpReasons } from "../../domain/sequence/machine.ts"
import type { TpKey } from "../../services/KafkaSource.ts"
import * as Metrics from "../telemetry/metrics.ts"
import type { BufferRoom } from "./bufferRoom.ts"
import type { IngestCounters } from "./ingestProgress.ts"
import type { Rejudged } from "./ingestMetrics.ts"
import type { Partitions, Trackers } from "./partitionState.ts"

export interface IngestGaugesContext {
  readonly parts: Partitions
  readonly room: BufferRoom
  readonly counters: IngestCounters
  readonly trackers: Trackers
  readonly rejudged: Rejudged
  /** The newest exchange time this process committed of these partitions (tableCommits.ts); -1 when none. */
  readonly newestCommitted: (keys: Iterable<TpKey>) => number
}

export const registerIngestGauges = Effect.fnUntraced(function*(
  { counters, newestCommitted, parts, rejudged, room, trackers }: IngestGaugesContext
) {
  yield* Metrics.registerIngestSeries
  // Of the partitions owned now, NaN while none committed an exchange time: the age of what this
  // process once committed would keep growing after a rebalance took its partitions away, and
  // alert for tables it no longer feeds.
  yield* Metrics.registerGauge(Metrics.freshness, () => {
    const newest = newestCommitted(parts.keys())
    return newest < 0 ? Number.NaN : Math.max(0, Date.now() / 1000 - newest / 1e6)
  })
  yield* Metrics.registerGauge(Metrics.assignedPartitions, () => parts.size)
  yield* Metrics.registerCounter(Metrics.backpressure, () => {
    room.countWaited()
    return counters.waitedForRoomMs / 1000
  })
  const statsOf = () => {
    let streams = 0
    let evictions = 0
    const gapsGivenUp = { reset: 0, limit: 0 }
    for (const t of new Set([trackers.trades, trackers.quotes])) {
      const st = Effect.runSync(t.stats)
      streams += st.streams
      evictions += st.evictions
      gapsGivenUp.reset += st.gapsGivenUp.reset
      gapsGivenUp.limit += st.gapsGivenUp.limit
    }
    // Judged again after a restart: counted the first time.
    return {
      streams,
      evictions: evictions - rejudged.evictions,
      gapsGivenUp: { reset: gapsGivenUp.reset - rejudged.gapsGivenUp.reset, limit: gapsGivenUp.limit - rejudged.gapsGivenUp.limit }
    }
  }
  yield* Metrics.registerGauge(Metrics.sequenceTrackerStreams, () => statsOf().streams)
  yield* Metrics.registerCounter(Metrics.sequenceTrackerEvictions, () => statsOf().evictions)
  for (const reason of gapGiveUpReasons) {
    yield* Metrics.registerCounter(Metric.withAttributes(Metrics.sequenceGapsGivenUp, { reason }), () => statsOf().gapsGivenUp[reason])
  }
})
