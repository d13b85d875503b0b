/**
 * Kafka client benchmark on the local broker (scripts/kafka.sh start): produce 500k framed Avro
 * trades into a fresh 12-partition topic with each client, then consume them back with each
 * client (bare: count records, no decode), and finally through each client's KafkaSource layer
 * (kafkajs, platformatic) with decoding, the way ingest reads. Prints msgs/s.
 *
 *   npx node bench/kafka.ts            (K2_BENCH_KAFKA_MESSAGES=500000 by default)
 */
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { compatibilityPartitioner, Producer as PProducer } from "@platformatic/kafka"
import { Effect, type Layer, Result, Stream } from "effect"
import kafkajs from "kafkajs"
import { makeWireCodec } from "../src/domain/avro/codec.ts"
import { layerKafkajs } from "../src/layers/kafka/kafkajs.ts"
import { layerPlatformatic } from "../src/layers/kafka/platformatic.ts"
import { KafkaSource } from "../src/services/KafkaSource.ts"
import { bareConsumeRate } from "./bareConsume.ts"
import { makeTrades } from "../test/support/fixtures.ts"
import { benchCount, benchText } from "./settings.ts"

const { Kafka, logLevel } = kafkajs
const BROKER = benchText("K2_BENCH_KAFKA_BROKER") || "127.0.0.1:9092"
const PARTITIONS = 12
const CHUNK = 5_000

const rate = (n: number, ms: number) => Math.round(n / (ms / 1000))
const progress = (stage: string) => console.error(`[bench kafka] ${new Date().toISOString()} ${stage}`)

export async function benchKafka(): Promise<Record<string, number | string>> {
  const N = benchCount("K2_BENCH_KAFKA_MESSAGES")
  if (benchText("K2_BENCH_KAFKA_BROKER") === "") {
    execFileSync("bash", [path.resolve(import.meta.dirname, "../scripts/kafka.sh"), "start"], { stdio: "inherit" })
  }
  const codec = makeWireCodec()
  const t0 = performance.now()
  const values = makeTrades({ count: N }).map((t) => ({ key: t.symbol, value: Buffer.from(codec.encodeTrade(t)) }))
  const encodeMs = performance.now() - t0
  // Decode once up front: the codec-only rate, and the decoder is JIT-warm for whichever layer runs first.
  const t1 = performance.now()
  for (const v of values) codec.decode(v.value)
  const decodeMs = performance.now() - t1
  const results: Record<string, number | string> = {
    messages: N,
    partitions: PARTITIONS,
    "encode msgs/s": rate(N, encodeMs),
    "decode msgs/s (codec only)": rate(N, decodeMs)
  }

  const kafka = new Kafka({ clientId: "k2-bench", brokers: [BROKER], logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const stamp = Date.now().toString(36)
  const topicJs = `k2bench.kafkajs.${stamp}`
  const topicPl = `k2bench.platformatic.${stamp}`
  await admin.createTopics({ waitForLeaders: true, topics: [topicJs, topicPl].map((topic) => ({ topic, numPartitions: PARTITIONS })) })
  const headers = { "k2-schema-id": "1" }

  progress('produce: kafkajs')
  // --- produce: kafkajs (idempotent, acks=all, 4 batches in flight)
  {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const start = performance.now()
    const inflight: Array<Promise<unknown>> = []
    for (let i = 0; i < N; i += CHUNK) {
      inflight.push(producer.sendBatch({
        acks: -1,
        topicMessages: [{ topic: topicJs, messages: values.slice(i, i + CHUNK).map((v) => ({ ...v, headers })) }]
      }))
      if (inflight.length >= 4) await inflight.shift()
    }
    await Promise.all(inflight)
    results["kafkajs produce msgs/s"] = rate(N, performance.now() - start)
    await producer.disconnect()
  }

  progress('produce: platformatic')
  // --- produce: platformatic (idempotent, acks=all)
  {
    const producer = new PProducer({ clientId: "k2-bench", bootstrapBrokers: [BROKER], idempotent: true, acks: -1, partitioner: compatibilityPartitioner })
    const start = performance.now()
    const inflight: Array<Promise<unknown>> = []
    for (let i = 0; i < N; i += CHUNK) {
      inflight.push(producer.send({
        messages: values.slice(i, i + CHUNK).map((v) => ({ topic: topicPl, key: Buffer.from(v.key), value: v.value, headers: new Map([[Buffer.from("k2-schema-id"), Buffer.from("1")]]) }))
      }))
      if (inflight.length >= 4) await inflight.shift()
    }
    await Promise.all(inflight)
    results["platformatic produce msgs/s"] = rate(N, performance.now() - start)
    await producer.close()
  }

  for (const client of ["kafkajs", "platformatic"] as const) {
    progress(`bare consume: ${client}`)
    results[`${client} bare consume msgs/s`] = (await bareConsumeRate(client, BROKER, [topicJs], N)).rate
  }

  // --- the KafkaSource layer with decode + validation: what ingest sees (same topic, fresh group per client)
  const throughLayer = async (label: string, layer: Layer.Layer<KafkaSource, unknown>) => {
    progress(`the KafkaSource layer: ${label}`)
    // As the bare client's window (bareConsume.ts): from the first batch, counting the records
    // after it, to the N-th record; not to the consumer's close, which leaving the group prolongs.
    let start = 0
    let end = 0
    let first = 0
    let ok = 0
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const source = yield* KafkaSource
      const consumer = yield* source.subscribe({ groupId: `k2bench-layer-${label}-${stamp}`, topics: [topicJs], bufferBatches: 64 })
      let n = 0
      yield* consumer.batches.pipe(
        Stream.takeUntil((b) => {
          for (const r of b.records) if (Result.isSuccess(codec.decode(r.value!))) ok++
          n += b.records.length
          if (start === 0) {
            start = performance.now()
            first = b.records.length
          }
          if (n >= N) end = performance.now()
          return n >= N
        }),
        Stream.runDrain
      )
    })).pipe(Effect.provide(layer)))
    results[`${label} KafkaSource + decode msgs/s`] = rate(N - first, end - start)
    results[`${label} decoded ok`] = ok
  }
  await throughLayer("kafkajs", layerKafkajs({ brokers: [BROKER], clientId: "k2-bench" }))
  await throughLayer("platformatic", layerPlatformatic({ brokers: [BROKER], clientId: "k2-bench" }))

  await admin.deleteTopics({ topics: [topicJs, topicPl] }).catch(() => undefined)
  await admin.disconnect()
  return results
}

if (import.meta.main) {
  const results = await benchKafka()
  for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(40)} ${v}`)
  process.exit(0)
}
