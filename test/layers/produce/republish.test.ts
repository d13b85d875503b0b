/**
 * Republishing a replay, stopped by a signal (interrupted) while a send is under way: the send
 * is not taken back from the broker, so it is waited for and counted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { layerMemory, MemoryBroker } from "../../../src/layers/kafka/memory.ts"
import { republish, type RepublishProgress } from "../../../src/layers/replay/republish.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import type { TradeEvent } from "../../../src/services/ReplayEngine.ts"
import { makeSteppedClock } from "../../support/steppedClock.ts"

const trade = (i: number): TradeEvent => ({
  _tag: "Trade",
  message_id: `m-${i}`,
  trade_id: `t-${i}`,
  symbol: "BHP",
  exchange: "ASX",
  asset_class: "equities",
  exchange_timestamp: 1_700_000_000_000_000 + i,
  currency: "AUD",
  conditions: [],
  source_sequence: BigInt(i),
  ingestion_timestamp: 1_700_000_000_000_000 + i,
  kafka_topic: "market.equities.trades.asx",
  kafka_partition: 0,
  kafka_offset: BigInt(i),
  vendor_data: {},
  price: "45.12000000",
  quantity: "100.00000000",
  side: "BUY"
})

describe("republish", () => {
  it.effect("interrupted while a send is under way, the summary counts that send: the topic holds it", () =>
    Effect.gen(function*() {
      const broker = new MemoryBroker()
      const memory = layerMemory(broker)
      const release = yield* Deferred.make<void>()
      const secondSend = yield* Deferred.make<void>()
      const written = yield* Deferred.make<void>()
      // As a real client: records handed over are written whether or not the caller still waits.
      const client = Layer.effect(KafkaSink)(Effect.gen(function*() {
        const sink = yield* KafkaSink
        let sends = 0
        return KafkaSink.of({
          ...sink,
          send: (records) =>
            Effect.gen(function*() {
              const write = ++sends === 1 ? sink.send(records) : Deferred.succeed(secondSend, undefined).pipe(
                Effect.andThen(Deferred.await(release)),
                Effect.andThen(sink.send(records)),
                Effect.tap(Deferred.succeed(written, undefined))
              )
              return yield* Fiber.join(yield* Effect.forkDetach(write))
            })
        })
      })).pipe(Layer.provide(memory))
      let latest: RepublishProgress | undefined
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics([{ name: "backtest", partitions: 1 }])
        const events = Stream.concat(Stream.fromArray([trade(1), trade(2), trade(3)]), Stream.fromArray([trade(4), trade(5)]))
          .pipe(Stream.rechunk(3), Stream.concat(Stream.never))
        const running = yield* Effect.forkChild(republish(events, {
          topic: "backtest",
          codec: makeWireCodec(),
          onProgress: (p) => Effect.sync(() => void (latest = p))
        }))
        yield* Deferred.await(secondSend)
        // The signal arrives first, then the broker acknowledges.
        running.interruptUnsafe()
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.await(running)
        yield* Deferred.await(written)
      }).pipe(Effect.provide(Layer.merge(memory, client)))
      assert.strictEqual(broker.endOffset("backtest", 0), 5)
      assert.strictEqual(latest?.events, 5)
      assert.strictEqual(latest?.trades, 5)
    }))

  it.effect("the elapsed time it reports does not go back when the wall clock is set back an hour meanwhile", () =>
    Effect.gen(function*() {
      const stepped = yield* makeSteppedClock
      const memory = layerMemory(new MemoryBroker())
      const told: Array<number> = []
      const summary = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics([{ name: "backtest", partitions: 1 }])
        // A second between the two chunks, during which the clock is set back an hour.
        const events = Stream.concat(
          Stream.fromArray([trade(1), trade(2)]),
          Stream.fromEffect(Effect.as(Effect.andThen(Effect.sleep("1 second"), stepped.step(-3_600_000)), trade(3)))
        )
        const running = yield* Effect.forkChild(republish(events, {
          topic: "backtest",
          codec: makeWireCodec(),
          onProgress: (p) => Effect.sync(() => void told.push(p.elapsedMs))
        }).pipe(Effect.provideService(Clock.Clock, stepped.clock)))
        yield* TestClock.adjust("1 second")
        return yield* Fiber.join(running)
      }).pipe(Effect.provide(memory))
      assert.deepStrictEqual(told, [0, 1_000])
      assert.strictEqual(summary.elapsedMs, 1_000)
    }))
})
