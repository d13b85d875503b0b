/**
 * The lag of every assigned partition, read from the log ends now and then (one request a topic),
 * and how old those figures are (lagFreshness.ts). A log end below a table's marker, told here
 * too, ends the run (ADR-24).
 */
import { Deferred, Effect, Metric, Option, Schedule } from "effect"
import type { LogBehindTable } from "../../services/Ingestor.ts"
import { type Consumer, tpKey } from "../../services/KafkaSource.ts"
import { lagGauge } from "./ingestMetrics.ts"
import type { IngestConfig } from "./ingestor.ts"
import { makeLagFreshness } from "./lagFreshness.ts"
import type { RunFatal } from "./partitionActors.ts"
import { atomically, logBehindTable, type PartitionState, type Partitions } from "./partitionState.ts"
import type { PartitionRestarts } from "./partitionRestarts.ts"

/**
 * How often the lag of every assigned partition is read from the log ends (one request a topic):
 * a partition that has delivered no batch yet has no other.
 */
const LAG_REFRESH = "1 second"

export interface LagRefreshContext {
  readonly config: Pick<IngestConfig, "logRemadeEachRun" | "lagStaleAfterMs">
  readonly parts: Partitions
  readonly consumer: Consumer
  readonly restarts: Pick<PartitionRestarts, "retire">
  readonly fatal: RunFatal
}

/**
 * Forks, in the run's scope, the refresh of the lag and the watch of its age (a broker alive but
 * unresponsive answers no read, which would leave the figures as they were); returns that age.
 */
export const refreshingLag = Effect.fnUntraced(function*({ config, consumer, fatal, parts, restarts: { retire } }: LagRefreshContext) {
  // A log end below a table's marker is another log of that name (ADR-24), told by the lag refresh
  // too: a topic deleted and made again (by this run's start, when it was missing) delivers no
  // batch to tell it until a record comes, and the run read as healthy and caught up, lag 0, till then.
  // Against the marker as it stood when the log ends were asked for (`markAsked`), of the same state:
  // the answer is the log's end when the broker gave it, and records published after it may be read
  // and committed before it is taken in; a state installed meanwhile has a marker read later still.
  const behindTable = (part: PartitionState, logEnd: bigint, markAsked: bigint) =>
    !config.logRemadeEachRun && logEnd >= 0n ? logBehindTable(part, logEnd, markAsked) : undefined

  // A batch carries its partition's high-water mark, but a partition that has delivered none
  // yet (catching up behind the others, or held by backpressure) would read a lag of 0: the
  // log ends are asked for now and then, off the hot path. A failure keeps the last figures.
  const freshness = yield* makeLagFreshness(config.lagStaleAfterMs)
  const refreshLag = Effect.gen(function*() {
    const topics = new Set<string>()
    for (const part of parts.values()) topics.add(part.tp.topic)
    let answered = true
    for (const topic of topics) {
      const asked = new Map<PartitionState, bigint>()
      for (const part of parts.values()) if (part.tp.topic === topic) asked.set(part, part.tableMark)
      const marks = yield* Effect.option(consumer.watermarks(topic))
      if (Option.isNone(marks)) {
        answered = false
        continue
      }
      const behind: Array<{ readonly part: PartitionState; readonly error: LogBehindTable }> = []
      yield* atomically(Effect.forEach(marks.value, (m) => {
        const part = parts.get(tpKey(m.topic, m.partition))
        if (part === undefined) return Effect.void
        const markAsked = asked.get(part)
        const error = markAsked === undefined ? undefined : behindTable(part, m.high, markAsked)
        if (error !== undefined) behind.push({ part, error })
        part.lag = m.high - part.next
        part.logEnd = m.high
        return Metric.update(lagGauge(part.tp), Number(part.lag > 0n ? part.lag : 0n))
      }, { discard: true }))
      // As a batch's partition ends the run: it takes nothing more meanwhile.
      if (behind.length > 0) {
        retire(behind.map((b) => b.part))
        yield* Deferred.fail(fatal, behind[0]!.error)
        return
      }
    }
    if (answered) yield* freshness.read
  })
  yield* Effect.forkScoped(refreshLag.pipe(Effect.repeat(Schedule.spaced(LAG_REFRESH))))
  yield* Effect.forkScoped(freshness.check.pipe(Effect.repeat(Schedule.spaced(LAG_REFRESH))))
  return freshness
})
