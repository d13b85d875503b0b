/**
 * A partition whose actor fails restarts from the tables together with the partitions it shares a
 * moved sequence stream with (its partners). Those partners are retired for the restart: until it
 * installs their new state they take no batch. A restart that does not get that far must not leave
 * a partner retired for good, dropping every batch of its partition while the run lasts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import * as Ingest from "../../../src/layers/ingest/ingestor.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { Catalog, CatalogRejected, catalogError } from "../../../src/services/Catalog.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { KafkaSource } from "../../../src/services/KafkaSource.ts"
import { refusingDlqSends } from "../../support/kafkaFaults.ts"
import { ASX_TOPICS, ingestorOver, movingStream } from "../../support/memoryFeed.ts"
import { checkTable } from "../../support/tableCheck.ts"
import { holdingLoads, lakehouseRefusingLoads, lakehouseWrapping, warehouseOptions } from "../../support/warehouse.ts"
import { type Progress, waitForProgress } from "../../support/ingestorProgress.ts"

const TOPIC = ASX_TOPICS[0]!

const SETTINGS = { topics: [TOPIC], commitIntervalMs: 100, checkpointIntervalMs: 0 }

const poisonOn = (partition: number) =>
  Effect.gen(function*() {
    yield* (yield* KafkaSink).send([{ topic: TOPIC, key: "XYZ", value: new Uint8Array(20), partition }])
  })


/**
 * Runs the ingestor over the two-partition topic, then sends XYZ 1..40 on partition `first` and
 * 41..50 on the other (as after the topic gained partitions): the two partitions share the moved
 * stream and restart together. The run's fiber, to interrupt at the end.
 */
const runAcross = (send: ReturnType<typeof movingStream>, first: number) =>
  Effect.gen(function*() {
    yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 2)!)
    const fiber = yield* Effect.forkChild((yield* Ingestor).run)
    yield* send(0, 40, first)
    yield* waitForProgress((p) => p.written.trades >= 40 && p.uncommitted === 0)
    yield* send(40, 50, 1 - first)
    yield* waitForProgress((p) => p.written.trades >= 50 && p.uncommitted === 0)
    return fiber
  })

/** The run ingested all 60 records, and the table holds each once. */
const assertAllOnce = (progress: Progress, options: ReturnType<typeof warehouseOptions>, which: string) =>
  Effect.gen(function*() {
    assert.strictEqual(progress.written.trades, 60, `${which}'s new records are ingested`)
    const trades = yield* checkTable("trades").pipe(Effect.provide(Lakehouse.layer(options)))
    assert.strictEqual(trades.rows, 60)
    assert.strictEqual(trades.distinctCoordinates, 60)
  })

describe("Ingestor: partners of a restart that does not complete", () => {
  it.live("a restart that fails to read the tables leaves no partner partition retired for good", () =>
    Effect.gen(function*() {
      const kafka = KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker())
      const refusing = refusingDlqSends(kafka, 2)
      const options = warehouseOptions("sqlite")
      // Armed, the next table load is refused (as by a catalog that answers 403 for a moment): the
      // restart that reads the tables fails once; the supervisor tries it again.
      let refuseLoads = 0
      const lakehouse = lakehouseWrapping(options, (catalog) =>
        Catalog.of({
          ...catalog,
          loadTable: (id) =>
            Effect.suspend(() =>
              refuseLoads-- > 0
                ? Effect.fail(catalogError(new CatalogRejected({ detail: "injected" })))
                : catalog.loadTable(id)
            )
        }))
      const send = movingStream(60)
      const progress = yield* Effect.gen(function*() {
        const fiber = yield* runAcross(send, 0)
        // Partition 0's actor fails on its DLQ; its first restart (with partition 1) cannot read the tables.
        refuseLoads = 1
        yield* poisonOn(0)
        yield* waitForProgress((p) => p.restarts >= 2 && p.deadLettered >= 1 && p.uncommitted === 0)
        // Partition 1 goes on.
        yield* send(50, 60, 1)
        const after = yield* waitForProgress((p) => p.written.trades >= 60 && p.uncommitted === 0)
        yield* Fiber.interrupt(fiber)
        return after
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse, settings: SETTINGS, over: [refusing] })))
      yield* assertAllOnce(progress, options, "partition 1")
      // Two partitions restarted once: the attempt that could not read the tables restarted nothing.
      assert.strictEqual(progress.restarts, 2)
    }), 60_000)

  it.live("a restart that failed, its partition revoked before the retry, leaves no partner partition retired for good", () =>
    Effect.gen(function*() {
      const kafka = KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker())
      const refusing = refusingDlqSends(kafka, 2)
      const options = warehouseOptions("sqlite")
      // While `refuse(true)` holds, every table load is refused (a catalog answering 403 for a while),
      // saying so with `refused`: the restart fails, and so does each retry.
      const { lakehouse, refuse, refused } = yield* lakehouseRefusingLoads(options)
      const send = movingStream(60)
      const progress = yield* Effect.gen(function*() {
        const fiber = yield* runAcross(send, 1)
        // Partition 1's actor fails on its DLQ; its restart (with partition 0) cannot read the tables.
        refuse(true)
        yield* poisonOn(1)
        yield* Deferred.await(refused)
        // Partition 0's last records come meanwhile: retired, it takes none of them.
        yield* send(50, 60, 0)
        yield* Effect.sleep("300 millis")
        // While partition 1's supervisor waits to try again, a second member joins and takes it
        // (members share partitions round robin), then leaves: partition 1 comes back.
        yield* Effect.scoped(Effect.gen(function*() {
          const other = yield* (yield* KafkaSource).subscribe({ groupId: Ingest.defaultIngestConfig.groupId, topics: [TOPIC] })
          assert.deepStrictEqual(yield* other.assignment, [{ topic: TOPIC, partition: 1 }])
          refuse(false)
        }))
        // Partition 0 is restarted though no batch of it comes any more.
        const after = yield* waitForProgress((p) => p.partitions === 2 && p.deadLettered >= 1 && p.written.trades >= 60 && p.uncommitted === 0)
        yield* Fiber.interrupt(fiber)
        return after
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse, settings: SETTINGS, over: [refusing] })))
      yield* assertAllOnce(progress, options, "partition 0")
    }), 60_000)

  it.live("a restart interrupted by a revoke of its partition leaves no partner partition retired for good", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const refusing = refusingDlqSends(kafka, 2)
      const options = warehouseOptions("sqlite")
      const { gate, hold, loading, wrap } = yield* holdingLoads
      const lakehouse = lakehouseWrapping(options, wrap)
      // The ingestor's onRevoke says when it begins.
      const revoking = yield* Deferred.make<void>()
      const source = Layer.effect(KafkaSource)(Effect.gen(function*() {
        const inner = yield* KafkaSource
        return KafkaSource.of({
          ...inner,
          subscribe: (opts) =>
            inner.subscribe(opts.onRevoke === undefined ? opts : {
              ...opts,
              onRevoke: (tps) => Effect.andThen(Deferred.succeed(revoking, undefined), opts.onRevoke!(tps))
            })
        })
      })).pipe(Layer.provide(kafka))
      const send = movingStream(60)
      const progress = yield* Effect.gen(function*() {
        const fiber = yield* runAcross(send, 1)
        // Partition 1's actor fails on its DLQ; while its restart (with partition 0) reads the
        // tables, a second member joins and takes partition 1 (members share partitions round robin).
        hold()
        yield* poisonOn(1)
        yield* Deferred.await(loading)
        const joining = yield* Effect.forkChild(Effect.scoped(Effect.gen(function*() {
          const other = yield* (yield* KafkaSource).subscribe({ groupId: Ingest.defaultIngestConfig.groupId, topics: [TOPIC] })
          assert.deepStrictEqual(yield* other.assignment, [{ topic: TOPIC, partition: 1 }])
        })))
        yield* Deferred.await(revoking)
        // The catalog answers once the revoke is under way.
        yield* Effect.sleep("200 millis")
        yield* Deferred.succeed(gate, undefined)
        // The second member left: partition 1 came back.
        yield* Fiber.join(joining)
        yield* waitForProgress((p) => p.partitions === 2 && p.deadLettered >= 1 && p.uncommitted === 0)
        // Partition 0 goes on.
        yield* send(50, 60, 0)
        const after = yield* waitForProgress((p) => p.written.trades >= 60 && p.uncommitted === 0)
        yield* Fiber.interrupt(fiber)
        return after
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse, settings: SETTINGS, over: [source, refusing] })))
      yield* assertAllOnce(progress, options, "partition 0")
    }), 60_000)
})
