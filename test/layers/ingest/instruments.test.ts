/**
 * Instruments end to end on the memory Kafka layer and a SQLite warehouse: an ASX load
 * directory's company_info reaches reference_data.instruments through the reference topic,
 * exactly once per load; re-loads append versions, and the query engine reads the latest
 * version of each (exchange, symbol).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import type { Instrument } from "../../../src/domain/reference.ts"
import { instrumentsTopicName, instrumentsTopicSpecs, topicName, topicSpecs } from "../../../src/domain/wire.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import * as Asx from "../../../src/layers/feeds/asx.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { publishFeed, type Reconciliation } from "../../../src/layers/produce/publisher.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import type { IngestProgress } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin } from "../../../src/services/KafkaSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { markerIn } from "../../support/marker.ts"
import { tempDir } from "../../support/tempDir.ts"
import { ingestorOver, ingestUntil } from "../../support/memoryFeed.ts"
import { warehouseOptions } from "../../support/warehouse.ts"

const FIXTURE = path.resolve(import.meta.dirname, "../../fixtures/asx/basic")
const PARTITIONS = 2
const INSTRUMENTS_TOPIC = instrumentsTopicName("ASX")
const TOPICS = [
  topicName({ assetClass: "equities", dataType: "trades", exchange: "ASX" }),
  topicName({ assetClass: "equities", dataType: "quotes", exchange: "ASX" }),
  INSTRUMENTS_TOPIC
]
const INSTRUMENTS = { namespace: "reference_data", name: "instruments" }
const GROUP = "k2-instruments-test"

/** The instrument as the engine answers it (dates as text), without lineage. */
const asRow = (i: Instrument) => ({
  symbol: i.symbol,
  exchange: i.exchange,
  company_id: i.company_id,
  name: i.name,
  isin: i.isin,
  currency: i.currency,
  asset_class: i.asset_class,
  listing_date: i.listing_date,
  delisting_date: i.delisting_date
})
const withoutLineage = (r: Readonly<Record<string, unknown>>) => {
  const { ingestion_timestamp: _t, kafka_topic: _k, kafka_partition: _p, kafka_offset: _o, ...rest } = r
  return rest
}

describe("instruments (memory Kafka, SQLite warehouse)", () => {
  it.live("company_info lands in reference_data.instruments; re-loads read as the latest version per key", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const lake = Lakehouse.layer(warehouseOptions("sqlite"))
      const scratch = yield* tempDir("k2-instruments-")

      /** `npm run produce --source asx` into the memory broker. */
      const load = (dir: string): Effect.Effect<Reconciliation, unknown> =>
        Effect.gen(function*() {
          yield* (yield* KafkaAdmin).ensureTopics([
            ...topicSpecs((["trades", "quotes"] as const).map((dataType) => ({ assetClass: "equities" as const, dataType, exchange: "ASX", partitions: PARTITIONS }))),
            ...instrumentsTopicSpecs("ASX", PARTITIONS)
          ])
          return yield* publishFeed(makeWireCodec())
        }).pipe(Effect.provide(Layer.merge(kafka, Asx.layerAsx({ dir, deadLetterFile: path.join(scratch, "dead-letters.jsonl") }))))

      /** One ingest process: runs until every partition is read to its end and committed. */
      const ingest: Effect.Effect<IngestProgress, unknown> = Effect.suspend(() => {
        const end = TOPICS.reduce((n, t) => n + broker.topic(t).partitions.reduce((m, log) => m + log.length, 0), 0)
        return ingestUntil((p) => p.partitions === TOPICS.length * PARTITIONS && p.position >= end && p.uncommitted === 0)
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse: lake, settings: { groupId: GROUP, topics: TOPICS, commitIntervalMs: 200 } })))

      /** Every version in the table, and what the query engine answers. */
      const read = Effect.gen(function*() {
        const plan = yield* (yield* TableScanner).plan(INSTRUMENTS)
        const [stored] = yield* selectPlanned(plan, "count(*)::INTEGER AS n, count(DISTINCT (kafka_partition, kafka_offset))::INTEGER AS coordinates")
        const answer = yield* (yield* QueryEngine).instruments()
        const marker = markerIn((yield* (yield* Catalog).loadTable(INSTRUMENTS)).metadata, GROUP)
        return { stored: stored as { n: number; coordinates: number }, rows: answer.rows, marker }
      }).pipe(Effect.provide(QueryLayer.layer().pipe(Layer.provideMerge(lake))))

      // First load: exactly company_info's good rows (XYZ has a bad ISIN and is dead-lettered).
      const first = yield* load(FIXTURE)
      assert.deepStrictEqual(first.instruments.map((i) => i.symbol), ["BHP", "CBA"])
      assert.strictEqual(first.totals.instruments, 2)
      const p1 = yield* ingest
      assert.strictEqual(p1.written.instruments, 2)
      // The feed's trades, quotes and instruments land: none is on a topic of another exchange or kind.
      assert.strictEqual(p1.deadLettered, first.totals.poison)
      assert.strictEqual(p1.written.trades + p1.written.quotes + p1.duplicatesDropped, first.totals.trades + first.totals.quotes)
      const r1 = yield* read
      assert.strictEqual(r1.stored.n, 2)
      assert.deepStrictEqual(r1.rows.map(withoutLineage), first.instruments.map(asRow))
      for (const row of r1.rows) assert.strictEqual(row.kafka_topic, INSTRUMENTS_TOPIC)
      // The snapshot carries the group's marker: the reference topic's partitions, read to their end.
      const ends = broker.topic(INSTRUMENTS_TOPIC).partitions.map((log) => BigInt(log.length))
      assert.deepStrictEqual(
        [...(r1.marker?.offsets.get(INSTRUMENTS_TOPIC) ?? new Map())].filter(([, o]) => o > 0n).sort(),
        ends.flatMap((o, partition) => (o > 0n ? [[partition, o] as [number, bigint]] : []))
      )

      // A restart of the same group ingests nothing twice.
      const again = yield* ingest
      assert.strictEqual(again.written.instruments, 0)
      assert.strictEqual((yield* read).stored.n, 2)

      // Reloading the same files appends the same instruments again; readers still see one per key.
      yield* load(FIXTURE)
      const p2 = yield* ingest
      assert.strictEqual(p2.written.instruments, 2)
      const r2 = yield* read
      assert.deepStrictEqual(r2.stored, { n: 4, coordinates: 4 })
      assert.deepStrictEqual(r2.rows.map(withoutLineage), first.instruments.map(asRow))

      // A load whose company_info changed: the latest version wins.
      const changed = path.join(scratch, "changed")
      fs.cpSync(FIXTURE, changed, { recursive: true })
      const info = path.join(changed, "reference-data/company_info.csv")
      fs.writeFileSync(info, fs.readFileSync(info, "utf8").replace("COMMONWEALTH BANK OF AUSTRALIA, THE", "CBA RENAMED LTD"))
      const third = yield* load(changed)
      yield* ingest
      const r3 = yield* read
      assert.strictEqual(r3.stored.n, 6)
      assert.deepStrictEqual(r3.rows.map(withoutLineage), third.instruments.map(asRow))
      assert.strictEqual(r3.rows.find((r) => r.symbol === "CBA")?.name, "CBA RENAMED LTD")
    }).pipe(Effect.scoped), 120_000)
})
