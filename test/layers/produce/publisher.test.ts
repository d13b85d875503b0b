/** The publisher on memory Kafka: a paced feed leaves as it is made, not once a batch fills. */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Exit, Fiber, Layer, Logger } from "effect"
import { TestClock } from "effect/testing"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { instrumentsTopicName, sourceTopicSpecs } from "../../../src/domain/wire.ts"
import * as Feeds from "../../../src/layers/feeds/simulator.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import { publishFeed, type PublishProgress } from "../../../src/layers/produce/publisher.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { kafkaError, KafkaUnavailable } from "../../../src/services/KafkaSource.ts"
import { MarketFeed } from "../../../src/services/MarketFeed.ts"
import { ASX_TOPICS } from "../../support/memoryFeed.ts"

describe("publishFeed", () => {
  it.effect("publishes a feed paced at 100 events a second within a fraction of a second of each event", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const inBroker = () =>
        [...ASX_TOPICS, instrumentsTopicName("ASX")].reduce((n, t) => n + broker.endOffset(t, 0), 0)
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([...ASX_TOPICS, instrumentsTopicName("ASX")], 1)!)
        const publishing = yield* Effect.forkChild(publishFeed(makeWireCodec(), { batchSize: 1_000 }))
        // Two seconds make about 200 events: far fewer than a batch.
        for (let i = 0; i < 20; i++) yield* TestClock.adjust("100 millis")
        const published = inBroker()
        assert.isAbove(published, 100, "events published as they are made")
        assert.isBelow(published, 1_000)
        yield* Fiber.interrupt(publishing)
      }).pipe(Effect.provide(Layer.merge(
        KafkaMemory.layerMemory(broker),
        Feeds.layerSimulator({ eventsPerSymbolPerDay: 1_000, pacing: { _tag: "Rate", eventsPerSecond: 100 } })
      )))
    }))

  it.effect("progress tells when each send was acknowledged, not when the next batch was ready (the freshness bench times from it)", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const topics = [...ASX_TOPICS, instrumentsTopicName("ASX")]
      const memory = KafkaMemory.layerMemory(broker)
      // When the broker answered each send, in the publisher's own clock.
      const answered: Array<number> = []
      const timed = Layer.effect(KafkaSink)(Effect.gen(function*() {
        const inner = yield* KafkaSink
        return KafkaSink.of({
          ...inner,
          send: (records) => Effect.tap(inner.send(records), () => Effect.map(Clock.currentTimeMillis, (t) => void answered.push(t)))
        })
      })).pipe(Layer.provide(memory))
      const told: Array<PublishProgress> = []
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(topics, 1)!)
        const publishing = yield* Effect.forkChild(publishFeed(makeWireCodec(), {
          stopAfter: "1 second",
          onProgress: (p) => Effect.sync(() => void told.push(p))
        }))
        for (let i = 0; i < 30; i++) yield* TestClock.adjust("50 millis")
        yield* Fiber.join(publishing)
      }).pipe(Effect.provide(Layer.mergeAll(
        memory,
        timed,
        Feeds.layerSimulator({ eventsPerSymbolPerDay: 1_000, pacing: { _tag: "Rate", eventsPerSecond: 100 } })
      )))
      assert.isAbove(told.length, 5)
      assert.deepStrictEqual(told.map((p) => p.acknowledgedAt), answered)
      // The clock starts at 0 here.
      assert.deepStrictEqual(told.map((p) => p.elapsedMs), answered)
    }))

  it.effect("stopped after a while, it counts exactly what it sent, all of it acknowledged", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const topics = [...ASX_TOPICS, instrumentsTopicName("ASX")]
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(topics, 1)!)
        const publishing = yield* Effect.forkChild(publishFeed(makeWireCodec(), { stopAfter: "3 seconds" }))
        for (let i = 0; i < 40; i++) yield* TestClock.adjust("100 millis")
        const r = yield* Fiber.join(publishing)
        assert.isTrue(r.stopped)
        const counted = r.totals.trades + r.totals.quotes + r.totals.instruments + r.totals.poison
        assert.isAbove(counted, 200)
        assert.strictEqual(counted, topics.reduce((n, t) => n + broker.endOffset(t, 0), 0))
      }).pipe(Effect.provide(Layer.merge(
        KafkaMemory.layerMemory(broker),
        Feeds.layerSimulator({ eventsPerSymbolPerDay: 1_000, pacing: { _tag: "Rate", eventsPerSecond: 100 } })
      )))
    }))

  it.effect("stopped after the feed gave its last event (waiting to find it has no more), the run is complete", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const topics = [...ASX_TOPICS, instrumentsTopicName("ASX")]
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(topics, 1)!)
        // 2 events per 20 ms: the 5th and last goes at 50 ms, the feed finds its end at 60 ms.
        const publishing = yield* Effect.forkChild(publishFeed(makeWireCodec(), { stopAfter: "55 millis" }))
        for (let i = 0; i < 20; i++) yield* TestClock.adjust("10 millis")
        const r = yield* Fiber.join(publishing)
        assert.isTrue((yield* (yield* MarketFeed).summary).complete)
        assert.strictEqual(r.totals.trades + r.totals.quotes, 5)
        assert.isFalse(r.stopped, "nothing was left to send")
      }).pipe(Effect.provide(Layer.merge(
        KafkaMemory.layerMemory(broker),
        Feeds.layerSimulator({ maxEvents: 5, pacing: { _tag: "Rate", eventsPerSecond: 100 } })
      )))
    }))

  it.effect("stopped, it sends every event the feed made: the feed's counts and anomaly manifest are what was published", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const topics = [...ASX_TOPICS, instrumentsTopicName("ASX")]
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(topics, 1)!)
        const stop = yield* Deferred.make<void>()
        let sends = 0
        // Unpaced: the feed runs ahead of the sends, so it has made events not yet sent when stopped.
        const r = yield* publishFeed(makeWireCodec(), {
          stop: Deferred.await(stop),
          onProgress: () => ++sends === 5 ? Deferred.done(stop, Exit.void).pipe(Effect.asVoid) : Effect.void
        })
        assert.isTrue(r.stopped)
        const feed = yield* MarketFeed
        const made = yield* feed.summary
        assert.isFalse(made.complete)
        assert.deepStrictEqual(r.totals, { trades: made.trades, quotes: made.quotes, poison: made.poison, instruments: made.instruments })
        const poison = (yield* feed.manifest).filter((a) => a.kind === "POISON").map((a) => a.message_id)
        assert.isAbove(poison.length, 0)
        assert.strictEqual(poison.length, r.totals.poison)
        const counted = r.totals.trades + r.totals.quotes + r.totals.instruments + r.totals.poison
        assert.strictEqual(counted, topics.reduce((n, t) => n + broker.endOffset(t, 0), 0))
      }).pipe(Effect.provide(Layer.merge(
        KafkaMemory.layerMemory(broker),
        Feeds.layerSimulator({ eventsPerSymbolPerDay: 10_000, faults: { poison: 0.01 } })
      )))
    }))

  it.effect("a send that fails ends the run saying how many events Kafka acknowledged before it", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const topics = [...ASX_TOPICS, instrumentsTopicName("ASX")]
      const memory = KafkaMemory.layerMemory(broker)
      let sends = 0
      // The third send is refused, before anything of it is written.
      const failingThird = Layer.effect(KafkaSink)(Effect.gen(function*() {
        const inner = yield* KafkaSink
        return KafkaSink.of({
          ...inner,
          send: (records) =>
            ++sends === 3 ? Effect.fail(kafkaError(new KafkaUnavailable({ operation: "send", detail: "broker gone" }))) : inner.send(records)
        })
      })).pipe(Layer.provide(memory))
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      const exit = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(topics, 1)!)
        return yield* Effect.exit(publishFeed(makeWireCodec(), { batchSize: 500 }))
      }).pipe(Effect.provide(Layer.mergeAll(memory, failingThird, Logger.layer([capture]), Feeds.layerSimulator({ eventsPerSymbolPerDay: 10_000 }))))
      assert.isTrue(Exit.isFailure(exit))
      const inKafka = topics.reduce((n, t) => n + broker.endOffset(t, 0), 0)
      assert.strictEqual(inKafka, 1_000)
      assert.isTrue(logged.some((line) => line.includes(`${inKafka} events acknowledged`) && line.includes("broker gone")), logged.join("\n"))
    }))
})
