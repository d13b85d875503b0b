/** A simulated feed published to memory Kafka, as unit and maintenance tests set it up. */
import { Effect, Fiber, Layer } from "effect"
import { makeWireCodec } from "../../src/domain/avro/codec.ts"
import { instrumentsTopicName, sourceTopicSpecs } from "../../src/domain/wire.ts"
import * as Feeds from "../../src/layers/feeds/simulator.ts"
import type * as KafkaMemory from "../../src/layers/kafka/memory.ts"
import { publishFeed } from "../../src/layers/produce/publisher.ts"
import { Ingestor } from "../../src/services/Ingestor.ts"
import { KafkaAdmin } from "../../src/services/KafkaSink.ts"

/** The ASX trades and quotes topics the memory tests ingest. */
export const ASX_TOPICS = ["market.equities.trades.asx", "market.equities.quotes.asx"]

/** Creates ASX_TOPICS and the instruments topic with `partitions` each, then publishes the simulated feed. */
export const publishToMemory = (
  kafka: ReturnType<typeof KafkaMemory.layerMemory>,
  partitions: number,
  feed: Parameters<typeof Feeds.layerSimulator>[0]
) =>
  Effect.gen(function*() {
    // The publisher sends the simulator's instruments too.
    yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([...ASX_TOPICS, instrumentsTopicName("ASX")], partitions)!)
    return yield* publishFeed(makeWireCodec())
  }).pipe(Effect.provide(Layer.merge(kafka, Feeds.layerSimulator(feed))))

/** Runs the ingestor until `done` holds of its progress, then interrupts it (a drain). */
export const ingestUntil = (done: (p: Effect.Success<Ingestor["Service"]["progress"]>) => boolean) =>
  Effect.gen(function*() {
    const ingestor = yield* Ingestor
    const fiber = yield* Effect.forkChild(ingestor.run)
    for (let i = 0; i < 3000; i++) {
      const pr = yield* ingestor.progress
      if (done(pr)) break
      const exited = fiber.pollUnsafe()
      if (exited !== undefined) return yield* Effect.die(new Error(`ingestor stopped: ${String(exited)}`))
      yield* Effect.sleep("20 millis")
    }
    yield* Fiber.interrupt(fiber)
    return yield* ingestor.progress
  })
