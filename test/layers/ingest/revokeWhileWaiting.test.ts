/**
 * A revoke that lands while a partition actor waits on I/O in the middle of a batch (its DLQ send,
 * or a schema registry lookup): the rebalance does not wait for it, nothing of that batch reaches
 * the buffers or the sequence tracker, and when the partition comes back its records are ingested
 * once, with no false sequence event.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Schedule } from "effect"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { tradeSchema } from "../../../src/domain/avro/schemas.ts"
import { dlqTopicName, sourceTopicSpecs } from "../../../src/domain/wire.ts"
import * as Ingest from "../../../src/layers/ingest/ingestor.ts"
import type { ResolveSchema } from "../../../src/layers/ingest/writerSchemas.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink, type ProducerRecord } from "../../../src/services/KafkaSink.ts"
import { KafkaSource, tpKeyOf } from "../../../src/services/KafkaSource.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { ASX_TOPICS, ingestorOver } from "../../support/memoryFeed.ts"
import { assertTablesHoldOnce, sequenceEvents } from "../../support/tableCheck.ts"
import { warehouseOptions } from "../../support/warehouse.ts"

const [TRADES] = ASX_TOPICS as [string, string]
const wire = makeWireCodec()
/** A schema id the codec does not know: the registry's id of our own trade schema. */
const REGISTRY_ID = 10

type Waiter = "dlq" | "registry"

const scenario = (waiter: Waiter) =>
  Effect.gen(function*() {
    const broker = new KafkaMemory.MemoryBroker()
    const kafka = KafkaMemory.layerMemory(broker)
    const options = warehouseOptions("sqlite")
    // The first DLQ send, or the first registry lookup, waits for `release`, saying when it is interrupted.
    const waiting = yield* Deferred.make<void>()
    const release = yield* Deferred.make<void>()
    let held = false
    let interrupted = false
    const hold = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.suspend(() => {
        if (held) return effect
        held = true
        return Deferred.succeed(waiting, undefined).pipe(
          Effect.andThen(Deferred.await(release)),
          Effect.andThen(effect),
          Effect.onInterrupt(() => Effect.sync(() => void (interrupted = true)))
        )
      })
    const dlqHeld = Layer.effect(KafkaSink)(Effect.gen(function*() {
      const inner = yield* KafkaSink
      return KafkaSink.of({
        ...inner,
        send: (records) => records.some((r) => r.topic.endsWith(".dlq")) ? hold(inner.send(records)) : inner.send(records)
      })
    })).pipe(Layer.provide(kafka))
    let lookups = 0
    const resolveSchema: ResolveSchema = (id) =>
      hold(Effect.sync(() => {
        lookups++
        assert.strictEqual(id, REGISTRY_ID)
        return tradeSchema
      }))

    // 20 trades of one stream, in one batch: with a poison record among them (the DLQ waiter), or
    // framed with an id only the registry knows (the registry waiter).
    const trades = makeTrades({ count: 20, symbols: ["XYZ"], days: 0.01 })
    const records: Array<ProducerRecord> = trades.map((t) => {
      const value = wire.encodeTrade(t)
      if (waiter === "registry") Buffer.from(value.buffer, value.byteOffset, value.byteLength).writeInt32BE(REGISTRY_ID, 1)
      return { topic: TRADES, key: t.symbol, value, partition: 0 }
    })
    if (waiter === "dlq") records.splice(10, 0, { topic: TRADES, key: "XYZ", value: new Uint8Array(20), partition: 0 })

    const result = yield* Effect.gen(function*() {
      yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs(ASX_TOPICS, 1)!)
      yield* (yield* KafkaSink).send(records)
      const ingestor = yield* Ingestor
      const fiber = yield* Effect.forkChild(ingestor.run)
      yield* Deferred.await(waiting).pipe(
        Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.die(new Error(`the actor never waited on the ${waiter}`)) })
      )
      // A second member takes the trades partition (round robin: quotes stays), while the actor
      // still waits: the revoke does not wait for it, and stops it. What it waited on then goes on
      // (an actor left running would take its batch now). Then the member leaves, and the
      // partition comes back.
      const revokedWhileWaiting = yield* Effect.scoped(Effect.gen(function*() {
        const other = yield* (yield* KafkaSource).subscribe({ groupId: Ingest.defaultIngestConfig.groupId, topics: ASX_TOPICS })
        assert.deepStrictEqual((yield* other.assignment).map(tpKeyOf), [tpKeyOf({ topic: TRADES, partition: 0 })])
        const seen = { partitions: (yield* ingestor.progress).partitions, interrupted }
        yield* Deferred.succeed(release, undefined)
        yield* Effect.sleep("50 millis")
        return seen
      })).pipe(
        Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.die(new Error(`the revoke waited on the ${waiter}`)) })
      )
      const progress = yield* ingestor.progress.pipe(
        Effect.repeat({
          schedule: Schedule.spaced("20 millis"),
          until: (p) => p.partitions === 2 && p.written.trades === 20 && p.position === records.length && p.uncommitted === 0,
          times: 750
        })
      )
      yield* Fiber.interrupt(fiber)
      return { revokedWhileWaiting, progress }
    }).pipe(Effect.provide(ingestorOver({
      kafka,
      lakehouse: options,
      over: [dlqHeld],
      settings: { commitIntervalMs: 50, checkpointIntervalMs: 0 },
      resolveSchema: waiter === "registry" ? resolveSchema : undefined
    })))

    assert.deepStrictEqual(result.revokedWhileWaiting, { partitions: 1, interrupted: true }, "the revoke stopped the waiting actor")
    const { progress } = result
    assert.strictEqual(progress.written.trades, 20)
    // The batch the revoke cut short counted nothing and fed nothing to the tracker.
    assert.strictEqual(progress.consumed, records.length)
    assert.strictEqual(progress.duplicatesDropped, 0)
    assert.strictEqual(progress.deadLettered, waiter === "dlq" ? 1 : 0)
    if (waiter === "dlq") assert.strictEqual(broker.topic(dlqTopicName(TRADES)).partitions.flat().length, 1)
    // Asked again after the interrupted lookup: the lock it held was let go.
    else assert.strictEqual(lookups, 1)
    yield* assertTablesHoldOnce(options, 20)
    assert.deepStrictEqual(yield* sequenceEvents(options, "kind"), [])
  })

describe("A revoke while a partition actor waits mid-batch", () => {
  for (const waiter of ["dlq", "registry"] as const) {
    it.live(`on a ${waiter === "dlq" ? "DLQ send" : "schema registry lookup"}: not waited for; the batch is read again, once`, () => scenario(waiter), 60_000)
  }
})
