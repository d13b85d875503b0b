/**
 * The embedded default's day (`ingestSimulatedDay`) over a stand-in ingestor: how the run's end
 * becomes the program's.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option } from "effect"
import * as Feeds from "../../src/layers/feeds/simulator.ts"
import * as KafkaMemory from "../../src/layers/kafka/memory.ts"
import { makeCounters, progressOf } from "../../src/layers/ingest/ingestProgress.ts"
import { ingestSimulatedDay } from "../../src/programs/cli/ingestRuns.ts"
import { type IngestProgress, Ingestor } from "../../src/services/Ingestor.ts"
import { catalogError, CatalogUnavailable } from "../../src/services/Catalog.ts"

const TOPICS = ["market.equities.trades.asx", "market.equities.quotes.asx", "reference.instruments.asx"]

const idle: IngestProgress = progressOf(makeCounters(), new Map())

const withIngestor = (run: Ingestor["Service"]["run"]) => {
  const broker = new KafkaMemory.MemoryBroker()
  return ingestSimulatedDay(broker, TOPICS, 1, performance.now()).pipe(
    Effect.provide(Layer.mergeAll(
      Layer.succeed(Ingestor)(Ingestor.of({ run, progress: Effect.succeed(idle) })),
      KafkaMemory.layerMemory(broker),
      Feeds.layerSimulator({ eventsPerSymbolPerDay: 10, seed: 1 })
    ))
  )
}

describe("the embedded default's day", () => {
  it.effect("an ingestor that dies (a defect) fails the program instead of ending it as a success", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(withIngestor(Effect.die(new Error("boom in the flusher"))))
      assert.isTrue(Exit.isFailure(exit), "the program must not succeed")
      if (Exit.isFailure(exit)) assert.include(Cause.pretty(exit.cause), "boom in the flusher")
    }))

  it.effect("an ingestor that fails with an error fails the program with that error", () =>
    Effect.gen(function*() {
      const error = catalogError(new CatalogUnavailable({ detail: "gone" }))
      const exit = yield* Effect.exit(withIngestor(Effect.fail(error)))
      assert.deepStrictEqual(exit, Exit.fail(error))
    }))

  // A long --commit-interval-ms: the day read to its end sat in the buffers until the interval
  // passed (for ever, at 99999999999), though the drain that ends the day commits it.
  it.live("a day read to its end ends without waiting for the commit interval: the drain commits it", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      let drained = false
      const end = () => TOPICS.reduce((n, t) =>
        n + broker.topic(t).partitions.reduce((m, _, p) => m + broker.endOffset(t, p), 0), 0)
      // Every record read, none written until the drain.
      const progress = Effect.sync((): IngestProgress => ({ ...idle, partitions: TOPICS.length, position: end(), unwritten: drained ? 0 : end() }))
      const run = Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => { drained = true })))
      const ended = yield* ingestSimulatedDay(broker, TOPICS, 1, performance.now()).pipe(
        Effect.provide(Layer.mergeAll(
          Layer.succeed(Ingestor)(Ingestor.of({ run, progress })),
          KafkaMemory.layerMemory(broker),
          Feeds.layerSimulator({ eventsPerSymbolPerDay: 10, seed: 1 })
        )),
        Effect.timeoutOption("5 seconds")
      )
      assert.isTrue(Option.isSome(ended), "the day must end once read to its end")
      assert.isTrue(drained)
    }))
})
