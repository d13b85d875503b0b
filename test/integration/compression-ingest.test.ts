/**
 * Records compressed upstream, on the real broker: for each codec Kafka has (gzip, snappy, lz4,
 * zstd) an exchange whose quotes are (a) compressed by the producer (platformatic's, as a Java or
 * librdkafka producer upstream does) onto a topic that keeps the producer's batches, and whose trades
 * are (b) sent uncompressed onto a topic whose compression.type makes the broker compress them. `ingest` with each client lands every record
 * exactly once (kafkajs decodes only gzip itself: compression.ts, ADR-72).
 */
import { type CompressionAlgorithmValue, Producer } from "@platformatic/kafka"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { makeWireCodec } from "../../src/domain/avro/codec.ts"
import { type Compression, instrumentsTopicName, sourceTopicSpecs } from "../../src/domain/wire.ts"
import * as Feeds from "../../src/layers/feeds/simulator.ts"
import * as Kafkajs from "../../src/layers/kafka/kafkajs.ts"
import { publishFeed, type Reconciliation } from "../../src/layers/produce/publisher.ts"
import { KafkaAdmin, KafkaSink, type ProducerRecord } from "../../src/services/KafkaSink.ts"
import { assertExactlyOnce, type Scenario, spawnIngest, stop, topicsOf, uniqueExchange, waitForRows } from "../support/ingestHarness.ts"
import { ensureBroker, kafkaBrokers } from "../support/kafka.ts"
import { warehouseOptions } from "../support/warehouse.ts"

beforeAll(() => ensureBroker(), 600_000)

const CODECS = ["gzip", "snappy", "lz4", "zstd"] as const satisfies ReadonlyArray<CompressionAlgorithmValue & Compression>
type Codec = typeof CODECS[number]
/** A small session per exchange (~80 rows); each its own seed, so message ids differ. */
const FEED: Feeds.SimulatorConfig = { eventsPerSymbolPerDay: 15 }

/** An exchange's topics, of one partition; its trades topic compresses with `codec` (compression.type). */
const createTopics = (exchange: string, codec: Codec) =>
  Effect.gen(function*() {
    const [trades] = topicsOf(exchange)
    const specs = sourceTopicSpecs([...topicsOf(exchange), instrumentsTopicName(exchange)], 1)!
    yield* (yield* KafkaAdmin).ensureTopics(specs.map((s) => s.name === trades ? { ...s, compression: codec } : s))
  })

/**
 * A KafkaSink for topics of one partition: trades go uncompressed (K2's kafkajs producer; the topic
 * compresses them: b), the rest compressed with `codec` by the producer (platformatic's: a).
 */
const sinkFor = (exchange: string, codec: Codec) =>
  Layer.effect(KafkaSink)(Effect.gen(function*() {
    const plain = yield* KafkaSink
    const producer = yield* Effect.acquireRelease(
      Effect.sync(() => new Producer({ clientId: `k2-test-${codec}`, bootstrapBrokers: [...kafkaBrokers], compression: codec, acks: -1 })),
      (producer) => Effect.promise(() => producer.close())
    )
    const [trades] = topicsOf(exchange)
    const compressed = (records: ReadonlyArray<ProducerRecord>) =>
      Effect.promise(() =>
        producer.send({
          messages: records.map((r) => ({
            topic: r.topic,
            partition: 0,
            ...(r.key === null ? {} : { key: Buffer.from(r.key) }),
            ...(r.value === null ? {} : { value: Buffer.from(r.value) }),
            headers: new Map(Object.entries(r.headers ?? {}).map(([k, v]) => [Buffer.from(k), Buffer.from(v)]))
          }))
        })
      ).pipe(Effect.as(records.map((r) => ({ topic: r.topic, partition: 0, baseOffset: null }))))
    return KafkaSink.of({
      client: "test",
      send: Effect.fnUntraced(function*(records: ReadonlyArray<ProducerRecord>) {
        const [a, b] = yield* Effect.all([
          compressed(records.filter((r) => r.topic !== trades)),
          plain.send(records.filter((r) => r.topic === trades))
        ], { concurrency: 2 })
        return [...a, ...b]
      }),
      flush: () => plain.flush()
    })
  }))

describe("ingest of compressed records", () => {
  it.live("lands records of every codec, producer- or topic-compressed, exactly once with either client", () =>
    Effect.gen(function*() {
      const sources = CODECS.map((codec, i) => ({ exchange: uniqueExchange(), codec, seed: 1 + i }))
      const kafkajs = Kafkajs.layerKafkajs({ brokers: kafkaBrokers, clientId: "k2-test-producer" })
      yield* Effect.all(sources.map((s) => createTopics(s.exchange, s.codec)), { concurrency: "unbounded" }).pipe(Effect.provide(kafkajs))
      const topics = sources.flatMap((s) => topicsOf(s.exchange))
      // Started before the records are sent: its start (seconds) overlaps the publishing.
      const runs = (["kafkajs", "platformatic"] as const).map((client) => {
        const group = `k2-compression-${client}-${uniqueExchange().toLowerCase()}`
        const s: Scenario = { exchange: sources[0]!.exchange, group, partitions: 1, topics, options: warehouseOptions("sqlite") }
        return { client, s, ingest: spawnIngest(s, ["--client", client, "--metrics-port", "0"]) }
      })
      for (const { ingest } of runs) yield* Effect.addFinalizer(() => stop(ingest).pipe(Effect.ignore))
      const published = yield* Effect.all(
        sources.map((s) =>
          publishFeed(makeWireCodec(), { batchSize: 500 }).pipe(
            Effect.provide(Layer.merge(Feeds.layerSimulator({ ...FEED, seed: s.seed, exchange: s.exchange }), sinkFor(s.exchange, s.codec)))
          )
        ),
        { concurrency: "unbounded" }
      ).pipe(Effect.provide(kafkajs))
      const totals = { trades: 0, quotes: 0, poison: 0, instruments: 0 }
      for (const r of published) {
        totals.trades += r.totals.trades
        totals.quotes += r.totals.quotes
      }
      const all: Reconciliation = { ...published[0]!, totals }
      for (const { client, s, ingest } of runs) {
        const c = yield* waitForRows(s, totals.trades + totals.quotes, 60_000)
        assert.isNull(ingest.child.exitCode, `${client}: ingest still running\n${ingest.output()}`)
        assertExactlyOnce(c!, all, `${client}\n${ingest.output()}`)
      }
      for (const { client, ingest } of runs) assert.strictEqual(yield* stop(ingest), 0, `${client}\n${ingest.output()}`)
    }), 180_000)
})
