/**
 * Watermarks requests per batch of K2's kafkajs consumer on a transactional topic (ADR-75):
 * T transactions of N records (each followed by its commit marker) are read back, counting the
 * admin's fetchTopicOffsets calls the consumer makes.
 * Then it idles, caught up, counting what it asks meanwhile.
 *   K2_TEST_KAFKA_BROKERS=127.0.0.1:19300 npm exec -- node --disable-warning=ExperimentalWarning bench/kafkajsWatermarks.ts \
 *     [T=200] [N=5] [live|backlog] [value bytes=100] [idle seconds=15]
 */
import { Effect, Stream } from "effect"
import kafkajs from "kafkajs"
import { offsetsAsked } from "./kafkajsOffsetsAsked.ts"
import { layerKafkajs } from "../src/layers/kafka/kafkajs.ts"
import { KafkaAdmin } from "../src/services/KafkaSink.ts"
import { KafkaSource, type PartitionBatch } from "../src/services/KafkaSource.ts"

const brokers = (process.env["K2_TEST_KAFKA_BROKERS"] ?? "127.0.0.1:9092").split(",")
const transactions = Number(process.argv[2] ?? 200)
const perTransaction = Number(process.argv[3] ?? 5)
/** live: read as written; backlog: written first, then read (fetches cut wherever 256 KB ends). */
const mode = process.argv[4] ?? "live"
const valueBytes = Number(process.argv[5] ?? 100)
const idleSeconds = Number(process.argv[6] ?? 15)


const topic = `k2bench-tx-${Date.now()}`
const produce = async () => {
  const kafka = new kafkajs.Kafka({ brokers, clientId: "k2-bench-tx", logLevel: kafkajs.logLevel.NOTHING })
  const producer = kafka.producer({ transactionalId: `k2-bench-${topic}`, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  for (let t = 0; t < transactions; t++) {
    const tx = await producer.transaction()
    await tx.send({ topic, messages: Array.from({ length: perTransaction }, () => ({ key: "k", value: Buffer.alloc(valueBytes, 1), partition: 0 })) })
    await tx.commit()
  }
  await producer.disconnect()
}

const program = Effect.gen(function*() {
  const k2admin = yield* KafkaAdmin
  yield* k2admin.ensureTopics([{ name: topic, partitions: 1 }])
  const end = BigInt(transactions * (perTransaction + 1))
  if (mode === "backlog") yield* Effect.promise(produce)
  const consumer = yield* (yield* KafkaSource).subscribe({ groupId: `g-${topic}`, topics: [topic] })
  // Read as written (a live reader): each fetch holds a transaction or two and their markers.
  yield* Effect.sleep("3 seconds")
  const before = offsetsAsked()
  if (mode === "live") yield* Effect.forkScoped(Effect.promise(produce))
  const batches: Array<PartitionBatch> = []
  yield* consumer.batches.pipe(
    Stream.takeUntil((b) => b.nextOffset >= end),
    Stream.runForEach((b) => Effect.sync(() => void batches.push(b)))
  )
  const asked = offsetsAsked() - before
  // Caught up and idle: what an idle consumer asks (no log deleted).
  const idleFrom = offsetsAsked()
  yield* Effect.sleep(`${idleSeconds} seconds`)
  const idleAsked = offsetsAsked() - idleFrom
  const records = batches.reduce((n, b) => n + b.records.length, 0)
  const beyond = batches.filter((b) => b.firstOffset > b.fromOffset).length
  console.log(JSON.stringify({ mode, valueBytes, transactions, perTransaction, batches: batches.length, records, gapBatches: beyond, watermarksAsked: asked, perBatch: +(asked / batches.length).toFixed(3), idleSeconds, idleAsked }))
  console.log(batches.slice(0, 6).map((b) => `${b.fromOffset}/${b.firstOffset}-${b.nextOffset} n=${b.records.length}`).join("  "))
  yield* k2admin.deleteTopics([topic])
}).pipe(Effect.scoped, Effect.provide(layerKafkajs({ brokers, clientId: "k2-bench" })))

Effect.runPromise(program).then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
