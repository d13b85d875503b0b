/**
 * The buffer room the fetch loop took for a batch (ADR-57) goes back when a revoke drops that
 * batch, also the batch the fetch loop was still handing to the revoked partition's full mailbox:
 * room never given back stays taken for the rest of the run, and a batch larger than the whole
 * room (which goes through alone, once nothing else holds any) then waits for ever.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import * as Ingest from "../../../src/layers/ingest/ingestor.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink, type ProducerRecord } from "../../../src/services/KafkaSink.ts"
import { KafkaSource, tpKeyOf } from "../../../src/services/KafkaSource.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { waitForProgress } from "../../support/ingestorProgress.ts"
import { ASX_TOPICS, ingestorOver, tradeRecords } from "../../support/memoryFeed.ts"
import { assertTablesHoldOnce } from "../../support/tableCheck.ts"
import { warehouseOptions } from "../../support/warehouse.ts"

const [TRADES] = ASX_TOPICS as [string, string]
const BATCH = 10
/** Estimated heap a batch may take: a batch of trades takes ~5 KB, the large poison record ~150 KB. */
const ROOM_BYTES = 100_000

describe("Buffer room and a revoke", () => {
  it.live("the batch the fetch loop was handing to a revoked partition's full mailbox gives its room back", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker, { maxBatchRecords: BATCH })
      const options = warehouseOptions("sqlite")
      // The first DLQ send waits (the partition's actor held mid-batch) until the revoke stops it.
      const waiting = yield* Deferred.make<void>()
      let held = false
      const dlqHeld = Layer.effect(KafkaSink)(Effect.gen(function*() {
        const inner = yield* KafkaSink
        return KafkaSink.of({
          ...inner,
          send: (records) =>
            records.some((r) => r.topic.endsWith(".dlq")) && !held
              ? Effect.andThen(Effect.sync(() => void (held = true)), Effect.andThen(Deferred.succeed(waiting, undefined), Effect.never))
              : inner.send(records)
        })
      })).pipe(Layer.provide(kafka))

      // Three batches: the first with a poison record (its actor waits on the DLQ), the second in
      // the mailbox, the third taken room for by the fetch loop, which waits to hand it over.
      const trades = makeTrades({ count: 3 * BATCH - 1, symbols: ["XYZ"], days: 0.01 })
      const records: Array<ProducerRecord> = tradeRecords(trades)
      records.splice(2, 0, { topic: TRADES, key: "XYZ", value: new Uint8Array(20), partition: 0 })

      const progress = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(ASX_TOPICS, 1)!)
        yield* (yield* KafkaSink).send(records)
        const ingestor = yield* Ingestor
        const fiber = yield* Effect.forkChild(ingestor.run)
        yield* Deferred.await(waiting).pipe(
          Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.die(new Error("the actor never waited on the DLQ")) })
        )
        // The fetch loop hands on the second batch and waits on the full mailbox with the third.
        yield* Effect.sleep("300 millis")
        // A second member takes the trades partition (round robin: quotes stays), then leaves.
        yield* Effect.scoped(Effect.gen(function*() {
          const other = yield* (yield* KafkaSource).subscribe({ groupId: Ingest.defaultIngestConfig.groupId, topics: ASX_TOPICS })
          assert.deepStrictEqual((yield* other.assignment).map(tpKeyOf), [tpKeyOf({ topic: TRADES, partition: 0 })])
        }))
        const back = yield* waitForProgress((p) => p.partitions === 2 && p.written.trades === trades.length && p.uncommitted === 0)
        assert.strictEqual(back.written.trades, trades.length, "the partition came back and its records were ingested")
        // A record larger than the whole room: it goes through alone, once no room is held.
        yield* (yield* KafkaSink).send([{ topic: TRADES, key: "XYZ", value: new Uint8Array(50_000), partition: 0 }])
        const p = yield* waitForProgress((p) => p.position === records.length + 1 && p.deadLettered === 2, "10 seconds")
        yield* Fiber.interrupt(fiber)
        return p
      }).pipe(Effect.provide(ingestorOver({
        kafka,
        lakehouse: options,
        over: [dlqHeld],
        settings: { commitIntervalMs: 50, checkpointIntervalMs: 0, maxBufferedBytes: ROOM_BYTES }
      })))

      // Before: the revoke's clear let the waiting batch into the mailbox its shutdown then emptied,
      // with its room, so the large record waited for ever.
      assert.strictEqual(progress.position, records.length + 1, "the record larger than the room was read")
      assert.strictEqual(progress.deadLettered, 2)
      yield* assertTablesHoldOnce(options, trades.length)
    }), 60_000)
})
