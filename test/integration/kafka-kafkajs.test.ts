import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { layerKafkajs } from "../../src/layers/kafka/kafkajs.ts"
import { KafkaAdmin, KafkaSink } from "../../src/services/KafkaSink.ts"
import { KafkaSource } from "../../src/services/KafkaSource.ts"
import { collectInBackground, kafkaContract, recordsFor, unique, waitUntil } from "../layers/kafka/kafkaContract.ts"
import { deleteRecords, ensureBroker, groupMembers, kafkaBrokers, sendAborted, sendTransactional } from "../support/kafka.ts"

beforeAll(() => ensureBroker(), 600_000)

const layer = () => layerKafkajs({ brokers: kafkaBrokers, clientId: "k2-test" })

kafkaContract("kafkajs (real broker)", layer, { timeoutMs: 90_000, deleteRecords, sendTransactional, sendAborted })

const sockets = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length

describe("kafkajs specifics", () => {
  it.live("records deleted ahead of a partition being read (the client behind, waiting for room) are told deleted, not passed as a gap", () =>
    Effect.gen(function*() {
      const admin = yield* KafkaAdmin
      const sink = yield* KafkaSink
      const topic = unique("k2test")
      yield* admin.ensureTopics([{ name: topic, partitions: 1 }])
      // One record batch a send: kafkajs fetches 256 KB of the partition at a time (~12 of these).
      for (let i = 0; i < 60; i++) yield* sink.send([{ topic, key: "k", partition: 0, value: new Uint8Array(20_000) }])
      const consumer = yield* (yield* KafkaSource).subscribe({ groupId: unique("g"), topics: [topic], bufferBatches: 1 })
      // Nobody reads: the client fetched a batch or two (delivered, so past its first batch) and
      // waits for room, far behind the log end. Retention deletes ahead of it meanwhile.
      yield* Effect.sleep("4 seconds")
      yield* deleteRecords(topic, 0, 58)
      const { collected } = yield* collectInBackground(consumer)
      yield* waitUntil("the records after the deleted ones", () => collected.batches.some((b) => b.nextOffset === 60n), 60_000)
      const past = collected.batches.find((b) => b.firstOffset === 58n)!
      assert.isBelow(Number(past.fromOffset), 58, "read from before the deleted records")
      // Before, kafkajs' reset to the log start was passed on as offsets with nothing to read.
      assert.strictEqual(past.logStartOffset, 58n)
      assert.isTrue(collected.batches.filter((b) => b !== past).every((b) => b.logStartOffset === undefined))
      yield* admin.deleteTopics([topic])
    }).pipe(Effect.scoped, Effect.provide(layer())), 120_000)

  it.live("a subscription that fails (unknown topic) leaves no connection open", () =>
    Effect.gen(function*() {
      const source = yield* KafkaSource
      yield* (yield* KafkaAdmin).listTopics()
      const before = sockets()
      const reason = yield* Effect.scoped(source.subscribe({ groupId: unique("g"), topics: [unique("nope")] })).pipe(
        Effect.flip,
        Effect.map((e) => e.reason)
      )
      assert.strictEqual(reason._tag, "UnknownTopic")
      yield* Effect.sleep(500)
      assert.strictEqual(sockets(), before)
    }).pipe(Effect.provide(layer())), 60_000)

  it.live("a member whose batches wait for room past the session timeout stays in the group (heartbeats while waiting)", () =>
    Effect.gen(function*() {
      const admin = yield* KafkaAdmin
      const topic = unique("k2test")
      yield* admin.ensureTopics([{ name: topic, partitions: 2 }])
      yield* (yield* KafkaSink).send(recordsFor(topic, 400))
      const groupId = unique("g")
      const consumer = yield* (yield* KafkaSource).subscribe({ groupId, topics: [topic], sessionTimeoutMs: 6_000, bufferBatches: 1 })
      // Nobody reads for twice the session timeout: the client waits in a batch all along.
      yield* Effect.sleep("12 seconds")
      assert.strictEqual(yield* groupMembers(groupId), 1, "still a member of its group")
      const { collected } = yield* collectInBackground(consumer)
      yield* waitUntil("every record", () => collected.count() >= 400, 60_000)
      yield* admin.deleteTopics([topic])
    }).pipe(Effect.scoped, Effect.provide(layer())), 120_000)
})
