/**
 * A position in a compacted record batch's tail (its records from the position on compacted away,
 * if the broker keeps the batch): what K2's kafkajs consumer delivers from there, and the
 * watermarks it asks. Kafka 4.4 rewrites the batch without them: the fetch at 2 returns 5 on, as
 * fetched from 2 (ADR-75).
 *   K2_TEST_KAFKA_BROKERS=127.0.0.1:19300 npm exec -- node --disable-warning=ExperimentalWarning bench/kafkajsCompactedTail.ts
 */
import { Effect, Fiber, Stream } from "effect"
import kafkajs from "kafkajs"
import { offsetsAsked } from "./kafkajsOffsetsAsked.ts"
import { layerKafkajs } from "../src/layers/kafka/kafkajs.ts"
import { KafkaAdmin } from "../src/services/KafkaSink.ts"
import { KafkaSource, type PartitionBatch, tpKey } from "../src/services/KafkaSource.ts"

const brokers = (process.env["K2_TEST_KAFKA_BROKERS"] ?? "127.0.0.1:9092").split(",")

const topic = `k2bench-compact-${Date.now()}`
const raw = new kafkajs.Kafka({ brokers, clientId: "k2-bench-compact", logLevel: kafkajs.logLevel.NOTHING })
const send = async (keys: ReadonlyArray<string>) => {
  const producer = raw.producer()
  await producer.connect()
  await producer.send({ topic, messages: keys.map((key) => ({ key, value: `${key}@${Date.now()}`, partition: 0 })) })
  await producer.disconnect()
}

const program = Effect.gen(function*() {
  const k2admin = yield* KafkaAdmin
  yield* k2admin.ensureTopics([{
    name: topic,
    partitions: 1,
    config: { "cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.001", "min.compaction.lag.ms": "0", "delete.retention.ms": "0" }
  }])
  // Offsets 0-4 one record batch (k0-k4), 5-7 newer k2-k4: compaction leaves 0-1 of the first
  // batch; 8 (z) rolls the segment so that the cleaner takes it.
  yield* Effect.promise(() => send(["k0", "k1", "k2", "k3", "k4"]))
  yield* Effect.promise(() => send(["k2", "k3", "k4"]))
  yield* Effect.sleep("1 second")
  yield* Effect.promise(() => send(["z"]))
  yield* Effect.sleep("1 second")
  yield* Effect.promise(() => send(["y"]))
  // The cleaner looks every 15 s (log.cleaner.backoff.ms).
  yield* Effect.sleep("35 seconds")
  const before = offsetsAsked()
  const consumer = yield* (yield* KafkaSource).subscribe({
    groupId: `g-${topic}`,
    topics: [topic],
    onAssign: () => Effect.succeed(new Map([[tpKey(topic, 0), 2n]]))
  })
  const batches: Array<PartitionBatch> = []
  const fiber = yield* Effect.forkChild(consumer.batches.pipe(Stream.runForEach((b) => Effect.sync(() => void batches.push(b)))))
  yield* Effect.sleep("10 seconds")
  yield* Fiber.interrupt(fiber)
  const [marks] = yield* consumer.watermarks(topic)
  console.log(JSON.stringify({ high: String(marks!.high), watermarksAsked: offsetsAsked() - before - 1, batches: batches.map((b) => `${b.fromOffset}/${b.firstOffset}-${b.nextOffset} [${b.records.map((r) => r.offset).join(",")}]`) }))
  yield* k2admin.deleteTopics([topic])
}).pipe(Effect.scoped, Effect.provide(layerKafkajs({ brokers, clientId: "k2-bench" })))

Effect.runPromise(program).then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
