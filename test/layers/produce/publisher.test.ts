/** The publisher on memory Kafka: a paced feed leaves as it is made, not once a batch fills. */
import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Clock, Deferred, Effect, Exit, Fiber, Layer, Logger, Result, Stream } from "effect"
import { TestClock } from "effect/testing"
import { makeWireCodec, type WireMessage } from "../../../src/domain/avro/codec.ts"
import { type FeedEvent, SummaryCounter } from "../../../src/domain/feeds/events.ts"
import { Simulator } from "../../../src/domain/feeds/simulator.ts"
import { DEFAULT_MODEL, NO_FAULTS } from "../../../src/domain/feeds/simulatorModel.ts"
import { Header, instrumentsTopicName, sourceTopicSpecs, topicName } from "../../../src/domain/wire.ts"
import * as Feeds from "../../../src/layers/feeds/simulator.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import { publishFeed, type PublishedCounts, type PublishFailure, type PublishProgress } from "../../../src/layers/produce/publisher.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { kafkaError, KafkaRejected, KafkaUnavailable } from "../../../src/services/KafkaSource.ts"
import { MarketFeed } from "../../../src/services/MarketFeed.ts"
import { ASX_TOPICS } from "../../support/memoryFeed.ts"
import { makeSteppedClock } from "../../support/steppedClock.ts"

/** A record with its decimals as plain text, so that 38.20 and 38.2 (the same price) compare equal. */
const exact = (value: object) =>
  Object.fromEntries(Object.entries(value).map(([k, v]) => [k, BigDecimal.isBigDecimal(v) ? BigDecimal.format(BigDecimal.normalize(v)) : v]))

/** The memory broker's sink with its sends wrapped by `send` (the inner send given). */
const sendsThrough = (
  memory: ReturnType<typeof KafkaMemory.layerMemory>,
  send: (inner: KafkaSink["Service"]["send"]) => KafkaSink["Service"]["send"]
) =>
  Layer.effect(KafkaSink)(Effect.gen(function*() {
    const inner = yield* KafkaSink
    return KafkaSink.of({ ...inner, send: send(inner.send) })
  })).pipe(Layer.provide(memory))

/** The lines logged, and the logger layer that gathers them. */
const loggedLines = () => {
  const lines: Array<string> = []
  const layer = Logger.layer([Logger.make(({ message }) => void lines.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))])
  return { lines, layer }
}

/**
 * The memory broker with the ASX topics, its sink's sends wrapped by `send`: `run` an effect over it
 * (the topics made first) with the simulator's feed of `events` per symbol per day, what it logs in
 * `logged`, and `inKafka` the records the topics hold.
 */
const overMemoryBroker = (send: (inner: KafkaSink["Service"]["send"]) => KafkaSink["Service"]["send"]) => {
  const broker = new KafkaMemory.MemoryBroker()
  const topics = [...ASX_TOPICS, instrumentsTopicName("ASX")]
  const memory = KafkaMemory.layerMemory(broker)
  const { layer: capture, lines: logged } = loggedLines()
  const run = <A, E, R>(effect: Effect.Effect<A, E, R>, events = 10_000) =>
    Effect.gen(function*() {
      yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(topics, 1)!)
      return yield* effect
    }).pipe(Effect.provide(Layer.mergeAll(memory, sendsThrough(memory, send), capture, Feeds.layerSimulator({ eventsPerSymbolPerDay: events }))))
  return { broker, topics, logged, run, inKafka: () => topics.reduce((n, t) => n + broker.endOffset(t, 0), 0) }
}

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
      const timed = sendsThrough(memory, (send) => (records) =>
        Effect.tap(send(records), () => Effect.map(Clock.currentTimeMillis, (t) => void answered.push(t))))
      const told: Array<PublishProgress> = []
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(topics, 1)!)
        // The run starts at 5 s on the clock: elapsed times count from there.
        yield* TestClock.adjust("5 seconds")
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
      assert.deepStrictEqual(told.map((p) => p.elapsedMs), answered.map((t) => t - 5_000))
    }))

  it.effect("progress's elapsed time neither goes back nor leaps when the wall clock is set back or forward an hour", () =>
    Effect.gen(function*() {
      const stepped = yield* makeSteppedClock
      const broker = new KafkaMemory.MemoryBroker()
      const topics = [...ASX_TOPICS, instrumentsTopicName("ASX")]
      const told: Array<PublishProgress> = []
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(topics, 1)!)
        const publishing = yield* Effect.forkChild(publishFeed(makeWireCodec(), {
          stopAfter: "3 seconds",
          onProgress: (p) => Effect.sync(() => void told.push(p))
        }).pipe(Effect.provideService(Clock.Clock, stepped.clock)))
        for (let i = 0; i < 20; i++) yield* TestClock.adjust("50 millis")
        yield* stepped.step(-3_600_000)
        for (let i = 0; i < 20; i++) yield* TestClock.adjust("50 millis")
        yield* stepped.step(7_200_000)
        for (let i = 0; i < 30; i++) yield* TestClock.adjust("50 millis")
        yield* Fiber.join(publishing)
      }).pipe(Effect.provide(Layer.mergeAll(
        KafkaMemory.layerMemory(broker),
        Feeds.layerSimulator({ eventsPerSymbolPerDay: 1_000, pacing: { _tag: "Rate", eventsPerSecond: 100 } })
      )))
      assert.isAbove(told.length, 10)
      const elapsed = told.map((p) => p.elapsedMs)
      assert.isAtLeast(Math.min(...elapsed), 0)
      assert.isAtMost(Math.max(...elapsed), 3_500)
      assert.deepStrictEqual(elapsed, [...elapsed].sort((a, b) => a - b))
    }))

  it.effect("progress tells how many of the events acknowledged were instruments (produce's rate leaves them out)", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const topics = [...ASX_TOPICS, instrumentsTopicName("ASX")]
      const told: Array<PublishProgress> = []
      const r = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(topics, 1)!)
        return yield* publishFeed(makeWireCodec(), { batchSize: 7, onProgress: (p) => Effect.sync(() => void told.push(p)) })
      }).pipe(Effect.provide(Layer.merge(KafkaMemory.layerMemory(broker), Feeds.layerSimulator({ eventsPerSymbolPerDay: 5 }))))
      const last = told[told.length - 1]!
      assert.isAbove(r.totals.instruments, 0)
      assert.strictEqual(last.instruments, r.totals.instruments)
      assert.strictEqual(last.events, r.totals.trades + r.totals.quotes + r.totals.poison + r.totals.instruments)
      // Instruments go first: the first sends are all instruments, and later ones hold none.
      assert.strictEqual(told[0]!.instruments, told[0]!.events)
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
      let sends = 0
      // The third send is refused, before anything of it is written.
      const { logged, run, inKafka } = overMemoryBroker((send) => (records) =>
        ++sends === 3 ? Effect.fail(kafkaError(new KafkaUnavailable({ operation: "send", detail: "broker gone" }))) : send(records))
      const exit = yield* run(Effect.exit(publishFeed(makeWireCodec(), { batchSize: 500 })))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(inKafka(), 1_000)
      assert.isTrue(logged.some((line) => line.includes(`${inKafka()} events acknowledged`) && line.includes("broker gone")), logged.join("\n"))
    }))

  it.effect("a send that fails gives onFailure per symbol what Kafka acknowledged (what the topics hold) and the records under way", () =>
    Effect.gen(function*() {
      let sends = 0
      const { broker, topics, run } = overMemoryBroker((send) => (records) =>
        ++sends === 3 ? Effect.fail(kafkaError(new KafkaRejected({ operation: "send", detail: "TOPIC_AUTHORIZATION_FAILED" }))) : send(records))
      const failures: Array<PublishFailure> = []
      const exit = yield* run(Effect.exit(publishFeed(makeWireCodec(), { batchSize: 500, onFailure: (f) => Effect.sync(() => void failures.push(f)) })))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(failures.length, 1)
      const failure = failures[0]!
      assert.include(failure.message, "TOPIC_AUTHORIZATION_FAILED")
      // What the topics hold, per symbol and type.
      const held: Record<string, PublishedCounts> = {}
      for (const topic of topics) {
        const type = topic === instrumentsTopicName("ASX") ? "instruments" : topic.includes(".trades.") ? "trades" : "quotes"
        for (const record of broker.topic(topic).partitions[0]!) {
          const c = held[record.key!] ?? (held[record.key!] = { trades: 0, quotes: 0, poison: 0, instruments: 0 })
          c[type]++
        }
      }
      assert.deepStrictEqual(failure.published, held)
      const sum = (counts: Record<string, PublishedCounts>) =>
        Object.values(counts).reduce((n, c) => n + c.trades + c.quotes + c.poison + c.instruments, 0)
      assert.strictEqual(sum(failure.published), 1_000)
      assert.strictEqual(failure.totals.trades + failure.totals.quotes + failure.totals.poison + failure.totals.instruments, 1_000)
      // The refused send's 500 records were under way.
      assert.strictEqual(sum(failure.underWay), 500)
      assert.strictEqual(failure.resent, 0)
    }))

  /** The publish run to its end on the test clock, half a second at a time: its exit, once ended. */
  const runOnTestClock = <A, E, R>(publish: Effect.Effect<A, E, R>, seconds: number) =>
    Effect.gen(function*() {
      const publishing = yield* Effect.forkChild(Effect.exit(publish))
      for (let i = 0; i < seconds * 2 && publishing.pollUnsafe() === undefined; i++) {
        yield* TestClock.adjust("500 millis")
        for (let j = 0; j < 20; j++) yield* Effect.yieldNow
      }
      const exit = publishing.pollUnsafe()
      assert.isDefined(exit, "the publish never ended")
      return (exit as Exit.Success<Exit.Exit<A, E>>).value
    })

  it.effect("a send failing while the broker restarts is sent again with backoff: the run completes, each record once in the topics, the resend counted", () =>
    Effect.gen(function*() {
      let sends = 0
      // The third send fails four times (the broker down), nothing of it written; then it is taken.
      const { logged, run, inKafka } = overMemoryBroker((send) => (records) =>
        Effect.suspend(() =>
          ++sends >= 3 && sends <= 6 ? Effect.fail(kafkaError(new KafkaUnavailable({ operation: "send", detail: "ECONNREFUSED" }))) : send(records)
        ))
      const exit = yield* run(runOnTestClock(publishFeed(makeWireCodec(), { batchSize: 500, resendFor: "60 seconds" }), 120), 100)
      assert.isTrue(Exit.isSuccess(exit), `${String(exit)}\n${logged.join("\n")}`)
      if (!Exit.isSuccess(exit)) return
      const { totals, resent } = exit.value
      assert.strictEqual(inKafka(), totals.trades + totals.quotes + totals.poison + totals.instruments)
      assert.strictEqual(resent, 500)
      assert.strictEqual(logged.filter((line) => line.includes("waiting for Kafka to take a send of 500 records") && line.includes("giving up at 60 s")).length, 4, logged.join("\n"))
      assert.isTrue(logged.some((line) => line.includes("Kafka took the send again") && line.includes("4 attempts failed")), logged.join("\n"))
    }))

  it.effect("a send still failing past resendFor ends the run as one not sent again does, saying what was acknowledged and resent", () =>
    Effect.gen(function*() {
      let sends = 0
      // From the third send on, the broker is gone for good.
      const { logged, run, inKafka } = overMemoryBroker((send) => (records) =>
        Effect.suspend(() => ++sends >= 3 ? Effect.fail(kafkaError(new KafkaUnavailable({ operation: "send", detail: "broker gone" }))) : send(records)))
      const exit = yield* run(runOnTestClock(publishFeed(makeWireCodec(), { batchSize: 500, resendFor: "20 seconds" }), 120))
      assert.isTrue(Exit.isFailure(exit))
      assert.isAbove(inKafka(), 0)
      assert.isAbove(sends, 4, "sent again meanwhile")
      // Gave up at the first failure 20 s from the send's first attempt: the backoff's 5 s cap past it at most.
      const waits = logged.filter((line) => line.includes("waiting for Kafka to take a send")).map((line) => Number(/\((\d+) s,/.exec(line)![1]))
      assert.isBelow(Math.max(...waits), 20, logged.join("\n"))
      assert.isTrue(logged.some((line) => line.includes(`${inKafka()} events acknowledged`) && /\d+ records were sent again/.test(line) && line.includes("broker gone")), logged.join("\n"))
    }))

  it.effect("a send Kafka does not answer (its client still retrying) fails the run at resendFor, not once the client gives up", () =>
    Effect.gen(function*() {
      let sends = 0
      // The third send fails once, then its attempt gets no answer, ever.
      const { logged, run } = overMemoryBroker((send) => (records) =>
        Effect.suspend(() =>
          ++sends === 3 ? Effect.fail(kafkaError(new KafkaUnavailable({ operation: "send", detail: "ECONNREFUSED" }))) : sends > 3 ? Effect.never : send(records)
        ))
      const exit = yield* run(runOnTestClock(publishFeed(makeWireCodec(), { batchSize: 500, resendFor: "20 seconds" }), 40))
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(exit), "in the 20 s it is waited for (last: kafka unavailable during send: ECONNREFUSED)")
      assert.isTrue(logged.some((line) => line.includes("waiting for Kafka to acknowledge a send of") && line.includes("giving up at 20 s")), logged.join("\n"))
    }))

  it.effect("stopped while a failing send is being sent again, it waits drainTimeout, not resendFor, and fails saying what was acknowledged", () =>
    Effect.gen(function*() {
      const stop = yield* Deferred.make<void>()
      let sends = 0
      // From the third send on the broker is gone; the signal comes with its first failure.
      const { logged, run, inKafka } = overMemoryBroker((send) => (records) =>
        Effect.suspend(() =>
          ++sends >= 3
            ? Deferred.done(stop, Exit.void).pipe(Effect.andThen(Effect.fail(kafkaError(new KafkaUnavailable({ operation: "send", detail: "broker gone" })))))
            : send(records)
        ))
      const exit = yield* run(runOnTestClock(publishFeed(makeWireCodec(), { batchSize: 500, stop: Deferred.await(stop), drainTimeout: "5 seconds", resendFor: "60 seconds" }), 10))
      assert.isTrue(Exit.isFailure(exit))
      assert.isTrue(logged.some((line) => line.includes(`${inKafka()} events acknowledged`) && line.includes("acknowledged none of the sends under way for 5 s")), logged.join("\n"))
    }))

  it.effect("a send failing just before resendFor, its resend's backoff cut short, is not said to have been sent again", () =>
    Effect.gen(function*() {
      let sends = 0
      // The third send fails 19.9 s in; its resend's backoff (at least 200 ms) ends past the 20 s cut.
      const { logged, run } = overMemoryBroker((send) => (records) =>
        Effect.suspend(() =>
          ++sends >= 3
            ? Effect.sleep("19900 millis").pipe(Effect.andThen(Effect.fail(kafkaError(new KafkaUnavailable({ operation: "send", detail: "broker gone" })))))
            : send(records)
        ))
      const exit = yield* run(runOnTestClock(publishFeed(makeWireCodec(), { batchSize: 500, resendFor: "20 seconds" }), 40))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(sends, 3, "never sent again")
      const failed = logged.find((line) => line.startsWith("publishing failed"))
      assert.isDefined(failed, logged.join("\n"))
      assert.include(failed, "in the 20 s it is waited for")
      assert.notInclude(failed, "sent again", logged.join("\n"))
    }))

  it.effect("a send Kafka refuses (not a fault that passes) is not sent again: the run ends at once", () =>
    Effect.gen(function*() {
      let sends = 0
      const { run } = overMemoryBroker((send) => (records) =>
        ++sends === 3 ? Effect.fail(kafkaError(new KafkaRejected({ operation: "send", detail: "TOPIC_AUTHORIZATION_FAILED" }))) : send(records))
      const exit = yield* run(Effect.exit(publishFeed(makeWireCodec(), { batchSize: 500, resendFor: "60 seconds" })))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(sends, 3)
    }))

  it.effect("stopped while Kafka answers no send (a frozen broker), it waits drainTimeout and fails saying what was acknowledged", () =>
    Effect.gen(function*() {
      const stop = yield* Deferred.make<void>()
      let sends = 0
      // The third send gets no answer, ever; the signal comes while it is under way.
      const { logged, run, inKafka } = overMemoryBroker((send) => (records) =>
        ++sends === 3 ? Deferred.done(stop, Exit.void).pipe(Effect.andThen(Effect.never)) : send(records))
      yield* run(Effect.gen(function*() {
        const publishing = yield* Effect.forkChild(Effect.exit(publishFeed(makeWireCodec(), { batchSize: 500, stop: Deferred.await(stop), drainTimeout: "5 seconds" })))
        yield* Deferred.await(stop)
        yield* TestClock.adjust("5 seconds")
        for (let i = 0; i < 50 && publishing.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
        const exit = publishing.pollUnsafe()
        assert.isDefined(exit, "still waiting for a send Kafka never answers")
        assert.isTrue(Exit.isSuccess(exit!) && Exit.isFailure(exit.value))
        assert.strictEqual(inKafka(), 1_000)
        assert.isTrue(logged.some((line) => line.includes(`${inKafka()} events acknowledged`) && line.includes("500 more")), logged.join("\n"))
      }))
    }))

  it.effect("stopped while a slow but answering broker acknowledges each send in 3 s, the drain is not cut: it completes and reconciles", () =>
    Effect.gen(function*() {
      const stop = yield* Deferred.make<void>()
      let sends = 0
      // Every send is answered, 3 s after it leaves; the signal comes while the third is under
      // way, and the batch made meanwhile still has to go: 6 s of drain, each send well within 5 s.
      const { run, inKafka } = overMemoryBroker((send) => (records) =>
        (++sends === 3 ? Deferred.done(stop, Exit.void) : Effect.void).pipe(
          Effect.andThen(Effect.sleep("3 seconds")),
          Effect.andThen(send(records))
        ))
      yield* run(Effect.gen(function*() {
        const publishing = yield* Effect.forkChild(Effect.exit(publishFeed(makeWireCodec(), { batchSize: 500, stop: Deferred.await(stop), drainTimeout: "5 seconds" })))
        for (let i = 0; i < 60 && publishing.pollUnsafe() === undefined; i++) {
          yield* TestClock.adjust("500 millis")
          for (let j = 0; j < 20; j++) yield* Effect.yieldNow
        }
        const exit = publishing.pollUnsafe()
        assert.isDefined(exit, "the drain never ended")
        assert.isTrue(Exit.isSuccess(exit!) && Exit.isSuccess(exit.value), String(Exit.isSuccess(exit!) ? exit.value : exit))
        assert.isAbove(sends, 3, "a batch made while the third send was under way was sent after the stop")
        const reconciliation = (exit as Exit.Success<Exit.Exit<{ totals: PublishedCounts }, unknown>>).value as Exit.Success<{ totals: PublishedCounts }>
        const { totals } = reconciliation.value
        assert.strictEqual(inKafka(), totals.trades + totals.quotes + totals.poison + totals.instruments)
      }))
    }))

  it.effect("each record: its exchange's topic, key = symbol, the value's schema id and the run's correlation id; poison as given, under its own id", () =>
    Effect.gen(function*() {
      // Two venues' events interleaved (instruments first), poison among them: the topic of each
      // record follows its own exchange and data type, not the one before it.
      const venue = (exchange: string, symbols: ReadonlyArray<string>) =>
        new Simulator({ ...DEFAULT_MODEL, exchange, symbols, eventsPerSymbolPerDay: 20, faults: { ...NO_FAULTS, poison: 0.2 } }, new SummaryCounter(exchange))
      const asx = venue("ASX", ["BHP", "CBA"]), xnas = venue("XNAS", ["AAPL"])
      const events: Array<FeedEvent> = [...asx.next(100), ...xnas.next(100)]
      for (;;) {
        const a = asx.next(3), x = xnas.next(2)
        if (a.length === 0 && x.length === 0) break
        events.push(...a, ...x)
      }
      const feed = Layer.succeed(MarketFeed)(MarketFeed.of({
        name: "two venues",
        events: () => Stream.fromIterable(events),
        summary: Effect.sync(() => asx.counter.snapshot()),
        manifest: Effect.succeed([])
      }))
      const codec = makeWireCodec()
      const broker = new KafkaMemory.MemoryBroker()
      const topics = ["ASX", "XNAS"].flatMap((exchange) => [
        topicName({ assetClass: "equities", dataType: "trades", exchange }),
        topicName({ assetClass: "equities", dataType: "quotes", exchange }),
        instrumentsTopicName(exchange)
      ])
      const result = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(topics, 1)!)
        return yield* publishFeed(codec, { correlationId: "run-1", batchSize: 7 })
      }).pipe(Effect.provide(Layer.merge(KafkaMemory.layerMemory(broker), feed)))

      const expected = new Map<string, Array<FeedEvent>>()
      const counts: Record<string, PublishedCounts> = {}
      for (const e of events) {
        const [topic, symbol, type] = e._tag === "Trade"
          ? [topicName({ assetClass: "equities", dataType: "trades", exchange: e.trade.exchange }), e.trade.symbol, "trades" as const]
          : e._tag === "Quote"
          ? [topicName({ assetClass: "equities", dataType: "quotes", exchange: e.quote.exchange }), e.quote.symbol, "quotes" as const]
          : e._tag === "Instrument"
          ? [instrumentsTopicName(e.instrument.exchange), e.instrument.symbol, "instruments" as const]
          : [topicName({ assetClass: "equities", dataType: e.dataType, exchange: e.exchange }), e.symbol, "poison" as const]
        expected.set(topic, [...(expected.get(topic) ?? []), e])
        const c = counts[symbol] ?? (counts[symbol] = { trades: 0, quotes: 0, poison: 0, instruments: 0 })
        c[type]++
      }
      assert.deepStrictEqual(result.published, counts)
      assert.deepStrictEqual(result.topics, [...topics].sort())
      assert.isAbove(counts["AAPL"]!.poison + counts["BHP"]!.poison, 0, "poison among them")
      const schemaIds = { trade: codec.tradeSchemaId, quote: codec.quoteSchemaId, instrument: codec.instrumentSchemaId }
      for (const topic of topics) {
        const records = broker.topic(topic).partitions[0]!
        const sent = expected.get(topic) ?? []
        assert.strictEqual(records.length, sent.length, topic)
        records.forEach((r, i) => {
          const e = sent[i]!
          if (e._tag === "Poison") {
            assert.strictEqual(r.key, e.symbol)
            assert.deepStrictEqual(r.value, e.payload)
            assert.deepStrictEqual(r.headers, { [Header.correlationId]: e.message_id })
            return
          }
          const decoded = codec.decode(r.value!)
          assert.isTrue(Result.isSuccess(decoded), topic)
          const m = (decoded as Result.Success<WireMessage, unknown>).success
          const value = e._tag === "Trade" ? e.trade : e._tag === "Quote" ? e.quote : e.instrument
          assert.strictEqual(m.kind, e._tag.toLowerCase())
          assert.strictEqual(r.key, value.symbol)
          assert.deepStrictEqual(r.headers, { [Header.schemaId]: String(schemaIds[m.kind]), [Header.correlationId]: "run-1" })
          assert.deepStrictEqual(exact(m.value), exact(value), topic)
        })
      }
    }))
})
