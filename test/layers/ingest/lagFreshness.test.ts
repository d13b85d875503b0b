/**
 * A broker alive but unresponsive (a frozen JVM) answers none of the reads the lag figures come
 * from: they are said to be stale, with how long Kafka has not answered, rather than left claiming
 * to be current (the progress line's `lag`, k2_ingest_lag_age_seconds).
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Layer, Logger, Schedule } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import { makeLagFreshness } from "../../../src/layers/ingest/lagFreshness.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { wrappingConsumers } from "../../support/kafkaFaults.ts"
import { ASX_TOPICS, ingestorOver, tradeRecords } from "../../support/memoryFeed.ts"
import { makeSteppedClock } from "../../support/steppedClock.ts"
import { warehouseOptions } from "../../support/warehouse.ts"

const TOPIC = ASX_TOPICS[0]!

const capturing = () => {
  const logged: Array<string> = []
  const logger = Logger.layer([Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))])
  return { logged, logger }
}

/** The age gauge as scraped. */
const scrapedAge = Effect.map(PrometheusMetrics.format(), (text) => {
  const line = text.split("\n").find((l) => l.startsWith("k2_ingest_lag_age_seconds"))
  return line === undefined ? undefined : Number(line.split(" ").at(-1))
})

/** Polls `probe` until it holds; the bound (~20 s) only stops a broken run, and fails the test. */
const eventually = (probe: Effect.Effect<boolean>) =>
  probe.pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (ok) => ok, times: 1_000 }),
    Effect.flatMap((ok) => ok ? Effect.void : Effect.die(new Error("the awaited condition never held")))
  )

describe("the lag figures' freshness", () => {
  it.effect("goes stale after the wait unanswered, said once as the stall starts and once as it ends", () =>
    Effect.gen(function*() {
      const { logged, logger } = capturing()
      const freshness = yield* makeLagFreshness(5_000)
      const checks = yield* Effect.forkChild(freshness.check.pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.provide(logger)))
      yield* TestClock.adjust("4 seconds")
      assert.strictEqual(yield* freshness.unansweredMs, 0)
      assert.deepStrictEqual(logged, [])
      yield* TestClock.adjust("8 seconds")
      assert.strictEqual(yield* freshness.unansweredMs, 12_000)
      assert.strictEqual(yield* scrapedAge, 12)
      assert.strictEqual(logged.length, 1, logged.join("\n"))
      assert.include(logged[0]!, "Kafka has not answered the lag refresh (log-end offsets) for 5 s")
      yield* freshness.read.pipe(Effect.provide(logger))
      assert.strictEqual(yield* freshness.unansweredMs, 0)
      assert.strictEqual(yield* scrapedAge, 0)
      assert.strictEqual(logged.length, 2, logged.join("\n"))
      assert.include(logged[1]!, "Kafka answered again after 12 s")
      // Answered every second from now on: no more said.
      yield* TestClock.adjust("3 seconds")
      yield* freshness.read
      assert.strictEqual(logged.length, 2, logged.join("\n"))
      yield* Fiber.interrupt(checks)
    }))

  // As ingest while idle (nothing to flush) with its broker frozen: the log-end reads get no answer.
  it.live("an idle ingest whose broker stops answering the log-end reads says its lag is unknown, then current again", () =>
    Effect.gen(function*() {
      const { logged, logger } = capturing()
      const kafka = KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker())
      // Frozen, a read waits for the thaw, as a request to a frozen broker is answered once it thaws.
      let frozen = false
      const thawed = yield* Deferred.make<void>()
      const freezing = wrappingConsumers((consumer) => ({
        ...consumer,
        watermarks: (topic) => Effect.suspend(() => frozen ? Effect.andThen(Deferred.await(thawed), consumer.watermarks(topic)) : consumer.watermarks(topic))
      })).pipe(Layer.provide(kafka))
      const settings = { topics: [TOPIC], commitIntervalMs: 50, checkpointIntervalMs: 0, lagStaleAfterMs: 1_500 }
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 1)!)
        const ingestor = yield* Ingestor
        const fiber = yield* Effect.forkChild(ingestor.run)
        yield* (yield* KafkaSink).send(tradeRecords(makeTrades({ count: 20, symbols: ["XYZ"], days: 0.01 })))
        yield* eventually(Effect.map(ingestor.progress, (p) => p.written.trades === 20 && p.uncommitted === 0))
        assert.strictEqual((yield* ingestor.progress).lagUnansweredMs, 0)
        frozen = true
        const warned = () => logged.some((l) => l.includes("Kafka has not answered the lag refresh"))
        yield* eventually(Effect.map(ingestor.progress, (p) => p.lagUnansweredMs >= 1_500 && warned()))
        // Brought up to date every second: the age of the last read, not a read just now.
        assert.isAtLeast((yield* scrapedAge) ?? 0, 1.5)
        frozen = false
        yield* Deferred.succeed(thawed, undefined)
        yield* eventually(Effect.map(ingestor.progress, (p) => p.lagUnansweredMs === 0))
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse: warehouseOptions("sqlite"), settings, over: [freezing, logger] })))
      assert.strictEqual(logged.filter((l) => l.includes("Kafka has not answered the lag refresh")).length, 1, logged.join("\n"))
      assert.strictEqual(logged.filter((l) => l.includes("Kafka answered again")).length, 1, logged.join("\n"))
    }), 60_000)

  it.effect("a wall clock set back does not hide a stall, nor does one set forward fake it", () =>
    Effect.gen(function*() {
      const { logged, logger } = capturing()
      const stepped = yield* makeSteppedClock
      const stepping = <A>(effect: Effect.Effect<A>) => effect.pipe(Effect.provideService(Clock.Clock, stepped.clock), Effect.provide(logger))
      const freshness = yield* stepping(makeLagFreshness(5_000))
      // Set back an hour: Kafka, unanswering for 8 s, had not answered for -3592 s.
      yield* stepped.step(-3_600_000)
      yield* TestClock.adjust("8 seconds")
      yield* stepping(freshness.check)
      assert.strictEqual(yield* stepping(freshness.unansweredMs), 8_000)
      assert.strictEqual(logged.length, 1, logged.join("\n"))
      yield* stepping(freshness.read)
      // Set forward an hour just after an answer: the figures are a second old, not an hour.
      yield* stepped.step(3_600_000)
      yield* TestClock.adjust("1 second")
      yield* stepping(freshness.check)
      assert.strictEqual(yield* stepping(freshness.unansweredMs), 0)
      assert.strictEqual(yield* scrapedAge, 1)
    }))
})
