/**
 * The ingestor run to its end, a progress line while it runs and the summary after: the embedded
 * default's simulated day, and live mode until stopped.
 */
import { Cause, Console, Effect, Exit, Fiber, Option, Schedule } from "effect"
import { makeWireCodec } from "../../domain/avro/codec.ts"
import { sourceTopicSpecs } from "../../domain/wire.ts"
import type * as KafkaMemory from "../../layers/kafka/memory.ts"
import { countOf, publishFeed } from "../../layers/produce/publisher.ts"
import { type IngestProgress, Ingestor } from "../../services/Ingestor.ts"
import { KafkaAdmin } from "../../services/KafkaSink.ts"
import { stoppedEarly, summary } from "./ingestSummary.ts"
import { progressLine, RecentRate } from "./progress.ts"
import { failsTheDrain } from "./run.ts"

/** The topics' specs; the command has checked that each is a market data or instruments topic. */
export const specsOf = (topics: ReadonlyArray<string>, partitions: number) => sourceTopicSpecs(topics, partitions) ?? []

/** A run that failed on its own or while draining (an error or a defect), not one only interrupted. */
const failedRun = <A, E>(exit: Exit.Exit<A, E>): exit is Exit.Failure<A, E> => Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)

/** Whether a run read a record from Kafka: one to ingest, or one already ingested below a marker. */
const readAnything = (p: IngestProgress) => p.consumed > 0 || p.alreadyIngested > 0 || p.commits > 0

/**
 * The embedded default's day: the simulator publishes into `broker` once the ingestor has every
 * partition, and the ingestor runs until every partition is read to its end and in its table;
 * then the summary. A signal stops it as it stops the live mode: what was read is committed, then
 * the summary. A run that fails (an error or a defect) fails it, with no summary. `started` is a
 * performance.now() reading (monotonic), as the elapsed times are measured against it.
 */
export const ingestSimulatedDay = (broker: KafkaMemory.MemoryBroker, topics: ReadonlyArray<string>, partitions: number, started: number) =>
  Effect.gen(function*() {
    yield* (yield* KafkaAdmin).ensureTopics(specsOf(topics, partitions))
    const ingestor = yield* Ingestor
    const running = yield* Effect.forkChild(failsTheDrain(ingestor.run))
    const allAssigned = (p: IngestProgress) => p.partitions === topics.length * partitions
    let total: number | undefined
    // Whether the day was read to its end: a run stopped by a signal says so under its summary.
    let complete = false
    const rates = new RecentRate()
    const report = Effect.flatMap(ingestor.progress, (p) => progressLine(p, performance.now() - started, rates, { total }))
    const whole = Effect.gen(function*() {
      // Publish once the group has its partitions: the backlog bound applies only from then on.
      yield* ingestor.progress.pipe(Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: allAssigned }))
      const publisher = yield* Effect.forkChild(publishFeed(makeWireCodec(), { batchSize: 2_000 }))
      // The simulator keeps pace with ingestion (the backlog bound): progress is reported throughout.
      const reporter = yield* Effect.forkChild(report.pipe(Effect.repeat(Schedule.spaced("250 millis"))))
      const published = yield* Fiber.join(publisher)
      total = countOf(published.totals)
      // Done when every partition is read to its end: stopping the ingestor then drains it, which
      // commits what is buffered and sequence_events too. Waiting for the rows to be in their
      // tables first waited out --commit-interval-ms (for ever, given a large one).
      const end = topics.reduce((n, t) => n + broker.topic(t).partitions.reduce((m, _, p) => m + broker.endOffset(t, p), 0), 0)
      yield* ingestor.progress.pipe(
        Effect.repeat({ schedule: Schedule.spaced("250 millis"), until: (p) => allAssigned(p) && p.position >= end })
      )
      yield* Fiber.interrupt(reporter)
      yield* report
      complete = true
    })
    // Done or stopped by a signal, the ingestor drains here, while the catalog and the log are
    // still open (the layers close when this returns). A failed drain fails the run: it is said
    // instead of a summary (on a signal, failsTheDrain keeps it for the exit code). A run that
    // fails on its own ends the wait too: else the publisher, held by the backlog bound, waits for ever.
    yield* Effect.raceFirst(whole, Effect.asVoid(Fiber.await(running))).pipe(Effect.ensuring(Effect.gen(function*() {
      yield* Fiber.interrupt(running)
      if (!failedRun(yield* Fiber.await(running))) {
        yield* Console.error("")
        yield* Console.log(summary(yield* ingestor.progress, (performance.now() - started) / 1000))
        if (!complete) yield* Console.log(stoppedEarly)
      }
    })))
    // A defect too: it would otherwise end the program as a success, with a partial summary.
    const exit = yield* Fiber.await(running)
    if (failedRun(exit)) {
      const failure = Exit.findErrorOption(exit)
      return yield* Option.isSome(failure) ? Effect.fail(failure.value) : Effect.failCause(exit.cause)
    }
  })

/**
 * Live mode's ingestion, once started (Kafka reached, the warehouse open, the clients connected):
 * a progress line a second, then the summary however it ends, `summarized` called once it is
 * printed; a run that failed before reading anything has none (it did not start: its error says
 * why). `started`: the run's start (performance.now()), before the broker wait. The summary's
 * time and rate, and the progress line's, are ingestion's, from here: measured from `started`, a
 * run that waited 40 s for its broker reported its rate diluted by the wait.
 */
export const ingestUntilStopped = (started: number, summarized: () => void) =>
  Effect.gen(function*() {
    const ingestor = yield* Ingestor
    const begun = performance.now()
    const rates = new RecentRate()
    const reporter = yield* Effect.forkChild(
      Effect.gen(function*() {
        yield* progressLine(yield* ingestor.progress, performance.now() - begun, rates)
      }).pipe(Effect.repeat(Schedule.spaced("1 second")))
    )
    yield* ingestor.run.pipe(
      failsTheDrain,
      Effect.onExit((exit) =>
        Effect.gen(function*() {
          yield* Fiber.interrupt(reporter)
          const progress = yield* ingestor.progress
          // A run that failed before reading anything (the broker refused its group, a topic it
          // cannot read) did not start: its error alone, not a summary of zeros above it. Once it
          // read, or when stopped, the summary.
          if (failedRun(exit) && !readAnything(progress)) return
          yield* Console.error("")
          yield* Console.log(summary(progress, (performance.now() - begun) / 1000, (begun - started) / 1000))
          summarized()
        })
      )
    )
  })
