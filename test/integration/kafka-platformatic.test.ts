import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { partitionForKey } from "../../src/layers/kafka/partitioner.ts"
import { layerPlatformatic } from "../../src/layers/kafka/platformatic.ts"
import { KafkaAdmin, KafkaSink } from "../../src/services/KafkaSink.ts"
import { type KafkaError, KafkaSource, tpKey } from "../../src/services/KafkaSource.ts"
import { collectInBackground, kafkaContract, unique, waitUntil } from "../layers/kafka/kafkaContract.ts"
import { deleteRecords, ensureBroker, kafkaBrokers, sendAborted, sendTransactional } from "../support/kafka.ts"

beforeAll(() => ensureBroker(), 600_000)

const layer = () => layerPlatformatic({ brokers: kafkaBrokers, clientId: "k2-test" })

kafkaContract("platformatic (real broker)", layer, { timeoutMs: 90_000, deleteRecords, sendTransactional, sendAborted })

const reasonOf = <A>(exit: Exit.Exit<A, KafkaError>) => {
  assert.isTrue(Exit.isFailure(exit))
  const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
  return (error as { error: KafkaError } | undefined)?.error.reason
}

describe("platformatic specifics", () => {
  it.live("puts keyed records where Java / kafkajs put them (murmur2 & 0x7fffffff), not platformatic's default", () =>
    Effect.gen(function*() {
      const admin = yield* KafkaAdmin
      const sink = yield* KafkaSink
      const topic = unique("k2test")
      yield* admin.ensureTopics([{ name: topic, partitions: 12 }])
      const keys = ["BHP", "CBA", "CSL", "NAB", "WBC", "ANZ", "RIO", "WES", "FMG", "TLS", "", "ÆØÅ-🙂"]
      for (const key of keys) {
        const [meta] = yield* sink.send([{ topic, key, value: new Uint8Array([1]) }])
        assert.strictEqual(meta!.partition, partitionForKey(key, 12), `partition of ${JSON.stringify(key)}`)
      }
      yield* admin.deleteTopics([topic])
    }).pipe(Effect.provide(layer())), 60_000)

  it.live("classifies errors: bad partition rejected, unknown topic, unreachable broker retryable", () =>
    Effect.gen(function*() {
      const admin = yield* KafkaAdmin
      const sink = yield* KafkaSink
      const source = yield* KafkaSource
      const topic = unique("k2test")
      yield* admin.ensureTopics([{ name: topic, partitions: 2 }])
      const bad = reasonOf(yield* Effect.exit(sink.send([{ topic, key: null, partition: 2, value: new Uint8Array([1]) }])))
      assert.strictEqual(bad?._tag, "KafkaRejected")
      assert.isFalse(bad!.retryable)
      const unknown = reasonOf(yield* Effect.exit(Effect.scoped(source.subscribe({ groupId: unique("g"), topics: [unique("nope")] }))))
      assert.strictEqual(unknown?._tag, "UnknownTopic")
      yield* admin.deleteTopics([topic])
      const down = reasonOf(
        yield* Effect.exit(
          Effect.gen(function*() {
            return yield* (yield* KafkaAdmin).listTopics()
          }).pipe(Effect.provide(layerPlatformatic({ brokers: ["127.0.0.1:1"] })))
        )
      )
      assert.strictEqual(down?._tag, "KafkaUnavailable")
      assert.isTrue(down!.retryable)
    }).pipe(Effect.provide(layer())), 60_000)

  it.live("records of an aborted transaction whose abort marker is beyond the fetch are not delivered", () =>
    Effect.gen(function*() {
      const admin = yield* KafkaAdmin
      const topic = unique("k2test")
      yield* admin.ensureTopics([{ name: topic, partitions: 1 }])
      // Offsets 0-2 aborted records (one batch), 3 the abort marker, 4-5 plain records.
      yield* sendAborted(topic, 0, 3, 1)
      yield* (yield* KafkaSink).send([0, 1].map((i) => ({ topic, key: null, partition: 0, value: new Uint8Array([i]) })))
      const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic] })
      const { collected } = yield* collectInBackground(consumer)
      yield* waitUntil("the plain records", () => collected.byPartition.get(tpKey(topic, 0))?.some((r) => r.offset === 5n) === true, 30_000)
      assert.deepStrictEqual(collected.byPartition.get(tpKey(topic, 0))!.map((r) => r.offset), [4n, 5n])
      yield* admin.deleteTopics([topic])
    }).pipe(Effect.scoped, Effect.provide(layerPlatformatic({ brokers: kafkaBrokers, clientId: "k2-test", maxBytesPerPartition: 1 }))), 60_000)

  it.live("a position out of range restarts the partition at startFrom (earliest), like auto.offset.reset", () =>
    Effect.gen(function*() {
      const admin = yield* KafkaAdmin
      const sink = yield* KafkaSink
      const source = yield* KafkaSource
      const topic = unique("k2test")
      yield* admin.ensureTopics([{ name: topic, partitions: 1 }])
      yield* sink.send(Array.from({ length: 20 }, (_, i) => ({ topic, key: null, partition: 0, value: new Uint8Array([i]) })))
      const consumer = yield* source.subscribe({
        groupId: unique("g"),
        topics: [topic],
        onAssign: () => Effect.succeed(new Map([[tpKey(topic, 0), 1_000n]]))
      })
      const { collected } = yield* collectInBackground(consumer)
      yield* waitUntil("records from the log start", () => collected.count() >= 20, 30_000)
      const p0 = collected.byPartition.get(tpKey(topic, 0))!
      assert.deepStrictEqual(p0.map((r) => r.offset), Array.from({ length: 20 }, (_, i) => BigInt(i)))
      yield* admin.deleteTopics([topic])
    }).pipe(Effect.scoped, Effect.provide(layer())), 60_000)
})
