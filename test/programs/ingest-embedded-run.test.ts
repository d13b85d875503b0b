/**
 * The embedded default's day (`ingestSimulatedDay`) over a stand-in ingestor: how the run's end
 * becomes the program's.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer } from "effect"
import * as Feeds from "../../src/layers/feeds/simulator.ts"
import * as KafkaMemory from "../../src/layers/kafka/memory.ts"
import { makeCounters, progressOf } from "../../src/layers/ingest/ingestProgress.ts"
import { ingestSimulatedDay } from "../../src/programs/ingest.ts"
import { type IngestProgress, Ingestor } from "../../src/services/Ingestor.ts"
import { catalogError, CatalogUnavailable } from "../../src/services/Catalog.ts"

const TOPICS = ["market.equities.trades.asx", "market.equities.quotes.asx", "reference.instruments.asx"]

const idle: IngestProgress = progressOf(makeCounters(), new Map())

const withIngestor = (run: Ingestor["Service"]["run"]) => {
  const broker = new KafkaMemory.MemoryBroker()
  return ingestSimulatedDay(broker, TOPICS, 1, Date.now()).pipe(
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
})
