/**
 * The ingest pipeline's spans with a recording tracer (memory Kafka, SQLite warehouse): each
 * batch is a consumer span linked to the producer span of its records, and each flush lives in
 * the trace of a batch it commits, with the Parquet writes and catalog commits under it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Tracer } from "effect"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { parseTraceparent } from "../../../src/domain/traceContext.ts"
import { Header, instrumentsTopicSpecs, topicSpecs } from "../../../src/domain/wire.ts"
import * as Feeds from "../../../src/layers/feeds/simulator.ts"
import * as Ingest from "../../../src/layers/ingest/ingestor.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import { publishFeed } from "../../../src/layers/produce/publisher.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin } from "../../../src/services/KafkaSink.ts"
import { ingestorOver } from "../../support/memoryFeed.ts"
import { warehouseOptions } from "../../support/warehouse.ts"
import { recording } from "../../support/tracing.ts"

const TOPICS = ["market.equities.trades.asx", "market.equities.quotes.asx"]


const parentId = (s: Tracer.NativeSpan) => Option.getOrUndefined(s.parent)?.spanId

/** Publishes a small session and ingests it all; returns the broker and the recorded spans. */
const ingestTraced = (traced: boolean) =>
  Effect.gen(function*() {
    const { spans, tracer } = recording()
    const broker = new KafkaMemory.MemoryBroker()
    const kafka = KafkaMemory.layerMemory(broker)
    const program = Effect.gen(function*() {
      const published = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics([
          ...topicSpecs(TOPICS.map((t) => ({
            assetClass: "equities" as const,
            dataType: t.includes("trades") ? "trades" as const : "quotes" as const,
            exchange: "ASX",
            partitions: 2
          }))),
          // The publisher sends the simulator's instruments too.
          ...instrumentsTopicSpecs("ASX", 2)
        ])
        return yield* publishFeed(makeWireCodec(), { batchSize: 500 })
      }).pipe(Effect.provide(Layer.merge(kafka, Feeds.layerSimulator({ symbols: ["BHP", "CBA", "CSL"], eventsPerSymbolPerDay: 300 }))))
      const total = published.totals.trades + published.totals.quotes
      yield* Effect.gen(function*() {
        const ingest = yield* Ingestor
        const fiber = yield* Effect.forkChild(ingest.run)
        for (let i = 0; i < 1500; i++) {
          const p = yield* ingest.progress
          if (p.written.trades + p.written.quotes + p.duplicatesDropped >= total && p.uncommitted === 0) break
          yield* Effect.sleep("20 millis")
        }
        yield* Fiber.interrupt(fiber)
        const p = yield* ingest.progress
        assert.strictEqual(p.written.trades + p.written.quotes + p.duplicatesDropped, total)
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse: warehouseOptions("sqlite"), settings: { topics: TOPICS, commitIntervalMs: 100 } })))
    })
    yield* (traced ? Effect.withTracer(program, tracer) : program)
    return { broker, spans }
  })

describe("Ingestor tracing", () => {
  it.live("a record's producer span is linked by its batch's consumer span; flush and commits follow in that trace", () =>
    Effect.gen(function*() {
      const { broker, spans } = yield* ingestTraced(true)
      const byId = new Map(spans.map((s) => [s.spanId, s]))
      const producers = new Map(spans.filter((s) => s.kind === "producer").map((s) => [s.spanId, s]))
      const consumers = spans.filter((s) => s.kind === "consumer")
      assert.isAbove(producers.size, 0)
      assert.isAbove(consumers.length, 0)

      // Every stored record names a producer span; every consumer span links to its records' producers.
      const correlationIds = new Set<string | undefined>()
      for (const topic of TOPICS) {
        broker.topic(topic).partitions.forEach((log, partition) => {
          for (const r of log) {
            correlationIds.add(r.headers[Header.correlationId])
            const context = parseTraceparent(r.headers[Header.traceparent])
            assert.isDefined(context, `${topic}:${partition}@${r.offset} has a traceparent`)
            assert.strictEqual(producers.get(context!.spanId)?.traceId, context!.traceId)
            const batch = consumers.find((c) =>
              c.attributes.get("messaging.destination.name") === topic &&
              c.attributes.get("messaging.destination.partition.id") === String(partition) &&
              (c.attributes.get("messaging.kafka.offset") as bigint) <= r.offset &&
              r.offset < (c.attributes.get("messaging.kafka.offset") as bigint) + BigInt(c.attributes.get("messaging.batch.message_count") as number)
            )
            assert.isDefined(batch, `a consumer span covers ${topic}:${partition}@${r.offset}`)
            assert.isTrue(
              batch!.links.some((l) => l.span.spanId === context!.spanId && l.span.traceId === context!.traceId),
              `the batch of ${topic}:${partition}@${r.offset} links to its producer span`
            )
          }
        })
      }
      // One publish run, one correlation id on all its records.
      assert.strictEqual(correlationIds.size, 1)
      assert.match([...correlationIds][0] ?? "", /^[0-9a-f-]{36}$/)
      for (const c of consumers) {
        assert.strictEqual(c.name, `process ${c.attributes.get("messaging.destination.name")}`)
        assert.strictEqual(c.attributes.get("messaging.system"), "kafka")
        assert.strictEqual(c.attributes.get("messaging.consumer.group.name"), Ingest.defaultIngestConfig.groupId)
        assert.isTrue(spans.some((s) => s.name === "ingest.decode" && parentId(s) === c.spanId), "decode under the batch")
      }

      // Each flush: parent and links are consumer spans; the commits are its descendants.
      const consumerIds = new Set(consumers.map((c) => c.spanId))
      // A flush of rows; one that only brings sequence_events up to the tables (a checkpoint fell
      // due after the last batch) commits no batch, and has none for parent.
      const flushes = spans.filter((s) => s.name === "ingest.flush" && (s.attributes.get("k2.flush.rows") as number) > 0)
      assert.isAbove(flushes.length, 0)
      const under = (s: Tracer.NativeSpan, ancestor: Tracer.NativeSpan): boolean => {
        for (let p = parentId(s); p !== undefined; p = parentId(byId.get(p)!)) {
          if (p === ancestor.spanId) return true
          if (!byId.has(p)) return false
        }
        return false
      }
      for (const f of flushes) {
        assert.isTrue(consumerIds.has(parentId(f)!), "a flush's parent is a batch it commits")
        assert.strictEqual(f.traceId, byId.get(parentId(f)!)!.traceId)
        for (const l of f.links) assert.isTrue(consumerIds.has(l.span.spanId))
        const names = new Set(spans.filter((s) => under(s, f)).map((s) => s.name))
        for (const name of ["IcebergSink.append", "parquet.writeDataFiles", "iceberg.commit", "Catalog.commitTable"]) {
          assert.isTrue(names.has(name), `${name} under ingest.flush (has ${[...names].join(", ")})`)
        }
      }
      // Every batch is the parent of, or linked by, the flush that committed it.
      const flushed = new Set(flushes.flatMap((f) => [parentId(f)!, ...f.links.map((l) => l.span.spanId)]))
      for (const c of consumers) assert.isTrue(flushed.has(c.spanId), `${c.name} @${c.attributes.get("messaging.kafka.offset")} is flushed`)
    }), 120_000)

  it.live("without an exporter no record carries a traceparent", () =>
    Effect.gen(function*() {
      const { broker } = yield* ingestTraced(false)
      for (const topic of TOPICS) {
        for (const r of broker.topic(topic).partitions.flat()) assert.isUndefined(r.headers[Header.traceparent])
      }
    }), 120_000)
})
