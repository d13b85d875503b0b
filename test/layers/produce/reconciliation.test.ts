/**
 * The reconciliation says what the ingested tables should hold: with duplicates injected, ingest
 * drops each copy (a DUPLICATE), so the tables hold fewer rows than were published.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Result } from "effect"
import { TestClock } from "effect/testing"
import { makeWireCodec, type WireMessage } from "../../../src/domain/avro/codec.ts"
import { SequenceTrackerState } from "../../../src/domain/sequence/tracker.ts"
import { instrumentsTopicName, sourceTopicSpecs } from "../../../src/domain/wire.ts"
import * as Feeds from "../../../src/layers/feeds/simulator.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import { type PublishedCounts, type PublishFailure, publishFeed, tableCounts } from "../../../src/layers/produce/publisher.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { MarketFeed } from "../../../src/services/MarketFeed.ts"
import { ASX_TOPICS } from "../../support/memoryFeed.ts"

/** Per symbol, the trades and quotes ingest writes of what the broker holds: all but the rows its tracker finds DUPLICATE. */
const keptBySymbol = (broker: KafkaMemory.MemoryBroker) => {
  const codec = makeWireCodec()
  const kept: Record<string, { trades: number; quotes: number }> = {}
  for (const topic of ASX_TOPICS) {
    const tracker = new SequenceTrackerState()
    for (const record of broker.topic(topic).partitions[0]!) {
      const decoded = codec.decode(record.value!)
      if (Result.isFailure(decoded)) continue // poison: to the DLQ
      const m = (decoded as Result.Success<WireMessage, unknown>).success
      if (m.kind !== "trade" && m.kind !== "quote") continue
      const observation = tracker.observe([m.value], 0)
      if (observation.duplicates.length > 0) continue
      const c = kept[m.value.symbol] ?? (kept[m.value.symbol] = { trades: 0, quotes: 0 })
      c[m.kind === "trade" ? "trades" : "quotes"]++
    }
  }
  return kept
}

describe("reconciliation", () => {
  for (const stopAfterSends of [undefined, 3]) {
    it.effect(`the tables it expects are what ingest keeps of the sends: published less the injected duplicate copies (${stopAfterSends === undefined ? "whole run" : "stopped"})`, () =>
      Effect.gen(function*() {
        const broker = new KafkaMemory.MemoryBroker()
        const run = yield* Effect.gen(function*() {
          yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([...ASX_TOPICS, instrumentsTopicName("ASX")], 1)!)
          const stop = yield* Deferred.make<void>()
          let sends = 0
          const r = yield* publishFeed(makeWireCodec(), {
            batchSize: 200,
            stop: Deferred.await(stop),
            onProgress: () => ++sends === stopAfterSends ? Deferred.done(stop, Exit.void).pipe(Effect.asVoid) : Effect.void
          })
          return { r, anomalies: yield* (yield* MarketFeed).manifest }
        }).pipe(Effect.provide(Layer.merge(
          KafkaMemory.layerMemory(broker),
          Feeds.layerSimulator({
            eventsPerSymbolPerDay: 100,
            tradingDays: 2,
            faults: { gap: 0.02, duplicate: 0.05, outOfOrder: 0.02, reset: 0.5, poison: 0.01 }
          })
        )))
        assert.isAbove(run.anomalies.filter((a) => a.kind === "DUPLICATE").length, 5)
        const expected = tableCounts(run.r.published, run.anomalies)
        const kept = keptBySymbol(broker)
        for (const symbol of Object.keys(run.r.published)) {
          const { trades, quotes, instruments } = expected[symbol]!
          assert.deepStrictEqual({ trades, quotes }, kept[symbol] ?? { trades: 0, quotes: 0 }, symbol)
          assert.strictEqual(instruments, run.r.published[symbol]!.instruments)
        }
      }))
  }
  // A failed run returned no counts; `published` counted each record as it was handed to the client,
  // so a failure's would have counted the send Kafka never answered.
  it.effect("a run failed by a frozen broker at a stop: per symbol, what it acknowledged is what the topics hold, the frozen send under way", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const memory = KafkaMemory.layerMemory(broker)
      const stop = yield* Deferred.make<void>()
      let sends = 0
      const frozenThird = Layer.effect(KafkaSink)(Effect.map(KafkaSink, (sink) =>
        KafkaSink.of({ ...sink, send: (records) => ++sends === 3 ? Deferred.done(stop, Exit.void).pipe(Effect.andThen(Effect.never)) : sink.send(records) })
      )).pipe(Layer.provide(memory))
      const failures: Array<PublishFailure> = []
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([...ASX_TOPICS, instrumentsTopicName("ASX")], 1)!)
        const publishing = yield* Effect.forkChild(Effect.exit(publishFeed(makeWireCodec(), {
          batchSize: 300,
          stop: Deferred.await(stop),
          drainTimeout: "5 seconds",
          onFailure: (f) => Effect.sync(() => void failures.push(f))
        })))
        yield* Deferred.await(stop)
        yield* TestClock.adjust("5 seconds")
        const exit = yield* Fiber.join(publishing)
        assert.isTrue(Exit.isFailure(exit))
      }).pipe(Effect.provide(Layer.mergeAll(memory, frozenThird, Feeds.layerSimulator({ eventsPerSymbolPerDay: 1_000, faults: { poison: 0.01 } }))))
      assert.strictEqual(failures.length, 1)
      const held: Record<string, PublishedCounts> = {}
      const codec = makeWireCodec()
      for (const topic of [...ASX_TOPICS, instrumentsTopicName("ASX")]) {
        for (const record of broker.topic(topic).partitions[0]!) {
          const c = held[record.key!] ?? (held[record.key!] = { trades: 0, quotes: 0, poison: 0, instruments: 0 })
          const decoded = codec.decode(record.value!)
          const kind = Result.isFailure(decoded) ? "poison" : (decoded as Result.Success<WireMessage, unknown>).success.kind
          c[kind === "trade" ? "trades" : kind === "quote" ? "quotes" : kind === "instrument" ? "instruments" : "poison"]++
        }
      }
      assert.deepStrictEqual(failures[0]!.published, held)
      const underWay = Object.values(failures[0]!.underWay).reduce((n, c) => n + c.trades + c.quotes + c.poison + c.instruments, 0)
      assert.strictEqual(underWay, 300)
      assert.include(failures[0]!.message, "acknowledged none of the sends under way")
    }))
})
