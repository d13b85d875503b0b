/**
 * The ingest gauges tell the truth about what this process owns: a process left without
 * partitions (more group members than partitions), or with only partitions that carry no exchange
 * time, shows no lag series of others and no freshness to alert on.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { instrumentsTopicName } from "../../../src/domain/wire.ts"
import * as Ingest from "../../../src/layers/ingest/ingestor.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaSource } from "../../../src/services/KafkaSource.ts"
import { ASX_TOPICS, ingestorOver, publishToMemory } from "../../support/memoryFeed.ts"
import { warehouseOptions } from "../../support/warehouse.ts"
import { parseExposition } from "./opsMetrics.ts"

/** The ingestor over `kafka` and a fresh warehouse of its own. */
const ingestorOf = (kafka: ReturnType<typeof KafkaMemory.layerMemory>, topics: ReadonlyArray<string>) =>
  ingestorOver({ kafka, lakehouse: warehouseOptions("sqlite"), settings: { topics, commitIntervalMs: 200 } })

const scrape = Effect.map(PrometheusMetrics.format(), (text) => parseExposition(text).series)

describe("ingest gauges", () => {
  it.live("a process that owns no partition: no lag series, freshness NaN (not the age of what it once committed)", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      yield* publishToMemory(kafka, 1, { symbols: ["BHP", "CBA"], eventsPerSymbolPerDay: 200 })
      yield* Effect.gen(function*() {
        const ingestor = yield* Ingestor
        const first = yield* Effect.forkChild(ingestor.run)
        yield* ingestor.progress.pipe(
          Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (p) => p.written.trades > 0 && p.uncommitted === 0 && p.lag === 0 })
        )
        const owning = yield* scrape
        assert.isAbove(Number(owning.find((s) => s.name === "k2_ingest_freshness_seconds")?.value), 0)
        assert.isAbove(owning.filter((s) => s.name === "k2_ingest_consumer_lag_messages").length, 0)
        yield* Fiber.interrupt(first)

        // Two members join first: sorted before this process's next member id, they take both partitions.
        const source = yield* KafkaSource
        yield* source.subscribe({ groupId: Ingest.defaultIngestConfig.groupId, topics: ASX_TOPICS })
        yield* source.subscribe({ groupId: Ingest.defaultIngestConfig.groupId, topics: ASX_TOPICS })
        const second = yield* Effect.forkChild(ingestor.run)
        yield* Effect.sleep("300 millis")
        assert.strictEqual((yield* ingestor.progress).partitions, 0)
        const idle = yield* scrape
        assert.deepStrictEqual(idle.filter((s) => s.name === "k2_ingest_consumer_lag_messages"), [])
        assert.strictEqual(idle.find((s) => s.name === "k2_ingest_assigned_partitions")?.value, "0")
        assert.strictEqual(idle.find((s) => s.name === "k2_ingest_freshness_seconds")?.value, "NaN")
        yield* Fiber.interrupt(second)
      }).pipe(
        Effect.scoped,
        Effect.provide(ingestorOf(kafka, ASX_TOPICS))
      )
    }), 60_000)

  it.live("a process left with only partitions that carry no exchange time: freshness NaN (not the age of trades it no longer feeds)", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      yield* publishToMemory(kafka, 1, { symbols: ["BHP", "CBA"], eventsPerSymbolPerDay: 200 })
      const topics = [ASX_TOPICS[0]!, instrumentsTopicName("ASX")]
      yield* Effect.gen(function*() {
        const ingestor = yield* Ingestor
        const first = yield* Effect.forkChild(ingestor.run)
        yield* ingestor.progress.pipe(
          Effect.repeat({
            schedule: Schedule.spaced("20 millis"),
            until: (p) => p.written.trades > 0 && p.written.instruments > 0 && p.uncommitted === 0 && p.lag === 0
          })
        )
        const feeding = yield* scrape
        assert.isAbove(Number(feeding.find((s) => s.name === "k2_ingest_freshness_seconds")?.value), 0)
        assert.sameMembers(
          feeding.filter((s) => s.name === "k2_ingest_table_snapshots").map((s) => s.labels.table),
          ["trades", "sequence_events", "instruments"]
        )
        yield* Fiber.interrupt(first)

        // A member joins first: sorted before this process's next member id, it takes the trades
        // partition (topics in name order, round robin); this process keeps the instruments one.
        yield* (yield* KafkaSource).subscribe({ groupId: Ingest.defaultIngestConfig.groupId, topics })
        const second = yield* Effect.forkChild(ingestor.run)
        yield* ingestor.progress.pipe(
          Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (p) => p.partitions === 1 && p.uncommitted === 0 && p.lag === 0 })
        )
        // A partition with nothing new delivers no batch: its gauge comes with the lag refresh (each second).
        const series = yield* scrape.pipe(
          Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (s) => s.some((x) => x.name === "k2_ingest_consumer_lag_messages") })
        )
        assert.deepStrictEqual(
          series.filter((s) => s.name === "k2_ingest_consumer_lag_messages").map((s) => s.labels.topic),
          [instrumentsTopicName("ASX")]
        )
        assert.strictEqual(series.find((s) => s.name === "k2_ingest_freshness_seconds")?.value, "NaN")
        // The snapshot counts of the tables it no longer feeds go with their partitions: another
        // process commits to them now, and a count of long ago kept K2SnapshotsPilingUp firing
        // (instruments', had nothing new come since, waits for its next commit).
        assert.deepStrictEqual(
          series.filter((s) => s.name === "k2_ingest_table_snapshots" && s.labels.table !== "instruments"),
          []
        )
        yield* Fiber.interrupt(second)
      }).pipe(
        Effect.scoped,
        Effect.provide(ingestorOf(kafka, topics))
      )
    }), 60_000)
})
