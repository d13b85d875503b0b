/**
 * A stop that comes while a flush is in flight waits for it (flushes.ts): when that flush then
 * fails, its records are not in the tables and no fetch comes to read them again, so the stop is
 * no clean drain and the run ends with the failure. Also when the failure is one no restart clears
 * (a table K2 cannot write): its partitions are retired, the final flush then has nothing of theirs
 * to commit and succeeds, and the run ended as a clean stop (the embedded default's end of day:
 * exit 0 and a summary, with the flush's records missing from the tables). And when, while the drain
 * waits for that flush, a partition meets a fault that ends the run: it is retired with the rows it
 * buffered (counted consumed), which the drain then cannot commit.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Option, Schedule } from "effect"
import { dlqTopicName, sourceTopicSpecs } from "../../../src/domain/wire.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { kafkaError, NotAuthorized } from "../../../src/services/KafkaSource.ts"
import { UnsupportedTableFeature } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { ASX_TOPICS, ingestorOver, ingestUntil, tradeRecords } from "../../support/memoryFeed.ts"
import { assertTablesHoldOnce } from "../../support/tableCheck.ts"
import { lakehouseStallingCommits, warehouseOptions } from "../../support/warehouse.ts"

const [TOPIC] = ASX_TOPICS as [string, string]
const SETTINGS = { topics: [TOPIC], commitIntervalMs: 200, checkpointIntervalMs: 0 }

describe("A stop while a flush is in flight", () => {
  it.live("whose flush then fails on a table K2 cannot write ends the run with that failure, not as a clean drain", () =>
    Effect.gen(function*() {
      const kafka = KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker())
      const options = warehouseOptions("sqlite")
      const lakehouse = Lakehouse.layer(options)
      // The first trades append waits for `release`, then is refused as a table K2 cannot write
      // (another engine's change, undone before the next start).
      const stalled = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      let refusals = 1
      const refusingOnce = Layer.effect(IcebergSink)(Effect.gen(function*() {
        const inner = yield* IcebergSink
        return IcebergSink.of({
          ...inner,
          append: (id, batch, writeOptions) =>
            id.name === "trades" && refusals > 0
              ? Effect.suspend(() => {
                refusals--
                return Deferred.succeed(stalled, undefined).pipe(
                  Effect.andThen(Deferred.await(release)),
                  Effect.andThen(Effect.fail(new UnsupportedTableFeature({ table: "market_data.trades", feature: "bucket[16](symbol)" })))
                )
              })
              : inner.append(id, batch, writeOptions)
        })
      })).pipe(Layer.provide(lakehouse))
      const trades = makeTrades({ count: 20, symbols: ["XYZ"], days: 0.01 })

      const exit = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(ASX_TOPICS, 1)!)
        yield* (yield* KafkaSink).send(tradeRecords(trades))
        const ingestor = yield* Ingestor
        const fiber = yield* Effect.forkChild(ingestor.run)
        const timeout = (what: string) => Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.die(new Error(what)) })
        yield* Deferred.await(stalled).pipe(timeout("no flush reached the trades table"))
        // The stop comes while the flush is in flight; the flush fails once the stop waits for it.
        const stopping = yield* Effect.forkChild(Fiber.interrupt(fiber))
        yield* ingestor.progress.pipe(Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (p) => p.draining }), timeout("the stop never began"))
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(stopping)
        return yield* Fiber.await(fiber)
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse, settings: SETTINGS, over: [refusingOnce] })))

      // Before: a plain interruption (a clean stop), the 20 records in no table.
      const failure = Exit.findErrorOption(exit)
      assert.isTrue(Option.isSome(failure) && failure.value._tag === "UnsupportedTableFeature", String(exit))
      // Nothing was lost: the next start reads them from the table's mark, once.
      yield* ingestUntil((p) => p.partitions === 2 && p.written.trades >= trades.length && p.lag === 0 && p.unwritten === 0).pipe(
        Effect.provide(ingestorOver({ kafka, lakehouse, settings: { ...SETTINGS, topics: ASX_TOPICS } }))
      )
      yield* assertTablesHoldOnce(options, trades.length)
    }), 60_000)

  it.live("whose partition meets a fault that ends the run while the drain waits for it ends the run with that fault, not as a clean drain", () =>
    Effect.gen(function*() {
      const kafka = KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker())
      const options = warehouseOptions("sqlite")
      const { lakehouse, release, stall, stalled } = yield* lakehouseStallingCommits(options)
      // The DLQ send waits for `refuse`, then is refused to the principal: a fault that ends the run.
      const sending = yield* Deferred.make<void>()
      const refuse = yield* Deferred.make<void>()
      const refusingDlq = Layer.effect(KafkaSink)(Effect.gen(function*() {
        const inner = yield* KafkaSink
        return KafkaSink.of({
          ...inner,
          send: (records) =>
            records.some((r) => r.topic === dlqTopicName(TOPIC))
              ? Deferred.succeed(sending, undefined).pipe(
                Effect.andThen(Deferred.await(refuse)),
                Effect.andThen(Effect.fail(kafkaError(
                  new NotAuthorized({ operation: "send", code: "TOPIC_AUTHORIZATION_FAILED", resource: `topic ${dlqTopicName(TOPIC)}`, needs: "WRITE", principal: "User:k2" })
                )))
              )
              : inner.send(records)
        })
      })).pipe(Layer.provide(kafka))
      const trades = makeTrades({ count: 20, symbols: ["XYZ"], days: 0.01 })
      const timeout = (what: string) => Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.die(new Error(what)) })

      const exit = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(ASX_TOPICS, 1)!)
        const sink = yield* KafkaSink
        const ingestor = yield* Ingestor
        const fiber = yield* Effect.forkChild(ingestor.run)
        // A flush of the first 10 is in flight (its commit held) ...
        stall(true)
        yield* sink.send(tradeRecords(trades.slice(0, 10)))
        yield* Deferred.await(stalled).pipe(timeout("no flush committed"))
        // ... while the next 10 are buffered behind it, then a poison record's letter is refused.
        yield* sink.send(tradeRecords(trades.slice(10, 20)))
        yield* ingestor.progress.pipe(Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (p) => p.consumed >= 20 }), timeout("the second 10 were not buffered"))
        yield* sink.send([{ topic: TOPIC, key: "XYZ", value: new Uint8Array(20), partition: 0 }])
        yield* Deferred.await(sending).pipe(timeout("no dead letter was sent"))
        // The stop comes; while its drain waits for the flush in flight, the letter is refused.
        const stopping = yield* Effect.forkChild(Fiber.interrupt(fiber))
        yield* ingestor.progress.pipe(Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (p) => p.draining }), timeout("the stop never began"))
        yield* Deferred.succeed(refuse, undefined)
        // The partition is retired with the 10 it buffered (its position goes back to its marks).
        yield* ingestor.progress.pipe(Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (p) => p.position < 20 }), timeout("the partition was not retired"))
        stall(false)
        yield* release
        yield* Fiber.join(stopping)
        return yield* Fiber.await(fiber)
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse, settings: { ...SETTINGS, commitIntervalMs: 50 }, over: [refusingDlq] })))

      // Before: a plain interruption (a clean stop), though the second 10, counted consumed, are in no table.
      const failure = Exit.findErrorOption(exit)
      assert.isTrue(Option.isSome(failure) && failure.value._tag === "KafkaError" && failure.value.reason._tag === "NotAuthorized", String(exit))
      // The flush in flight committed the first 10; the next 10 wait in Kafka for the next start.
      yield* assertTablesHoldOnce(options, 10)
    }), 60_000)
})
