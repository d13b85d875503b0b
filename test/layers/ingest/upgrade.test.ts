/**
 * Upgrades: a warehouse an earlier K2 wrote, resumed by this one. The tables are first written by
 * this ingestor, then put back into the shapes earlier releases left (each shape copied from the
 * release that wrote it, see `asEarlierK2`), and a second run must resume exactly where the first
 * stopped: nothing ingested twice, nothing skipped, no false sequence anomaly.
 */
import * as fs from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { parseJson, stringifyJson } from "../../../src/domain/iceberg/json.ts"
import { CHECKPOINT_PREFIX, DEFAULT_INGEST_GROUP } from "../../../src/domain/ingest/marker.ts"
import { identifierOf, type TableName } from "../../../src/domain/tables.ts"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { markerIn } from "../../support/marker.ts"
import { ASX_TOPICS, ingestorOver, ingestUntil, tradeRecords } from "../../support/memoryFeed.ts"
import { checkTable, sequenceEvents } from "../../support/tableCheck.ts"
import { warehouseOptions } from "../../support/warehouse.ts"

const TOPIC = ASX_TOPICS[0]!
const SETTINGS = { commitIntervalMs: 200, topics: [TOPIC] }

type Json = Record<string, unknown>

/**
 * Rewrites each table's current metadata file (and the checkpoints it names) as K2 before ADR-21,
 * ADR-29 and ADR-33 left it: snapshot summaries with the group's marker and the checkpoints'
 * locations only (no `k2.kafka.topic-ids.*`), no properties mirroring them (`k2.*`), none of the
 * retention properties, and checkpoints of seven fields a stream (`[exchange, symbol, last, lastTs,
 * floor, prevTs, gaps]`, as a12185a..2cd781d wrote them: no seenAt, startTs or cross fields).
 */
const asEarlierK2 = (options: Lakehouse.LakehouseOptions, names: ReadonlyArray<TableName>) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    for (const name of names) {
      const loaded = yield* catalog.loadTable(identifierOf(name))
      const file = localPath(loaded.metadataLocation)
      const m = parseJson(fs.readFileSync(file, "utf8")) as Json
      const snapshots = m["snapshots"] as Array<{ summary: Record<string, string> }>
      for (const s of snapshots) {
        for (const key of Object.keys(s.summary)) if (key.startsWith("k2.kafka.topic-ids.")) delete s.summary[key]
      }
      const properties = m["properties"] as Record<string, string>
      for (const key of Object.keys(properties)) {
        if (key.startsWith("k2.") || key.startsWith("history.expire.") || key.startsWith("write.metadata.")) delete properties[key]
      }
      fs.writeFileSync(file, stringifyJson(m))
      const checkpoints = new Set(snapshots.flatMap((s) => Object.entries(s.summary).filter(([k]) => k.startsWith(CHECKPOINT_PREFIX)).map(([, v]) => v)))
      for (const checkpoint of checkpoints) {
        const path = localPath(checkpoint)
        if (!fs.existsSync(path)) continue
        const json = JSON.parse(fs.readFileSync(path, "utf8")) as { v: 1; streams: Array<Array<unknown>> }
        fs.writeFileSync(path, JSON.stringify({ v: 1, streams: json.streams.map((stream) => stream.slice(0, 7)) }))
      }
    }
  }).pipe(Effect.provide(Lakehouse.layer(options)))

describe("a warehouse written by an earlier K2", () => {
  it.live("is resumed at its markers and checkpoints: nothing twice, nothing skipped, no false anomaly", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const options = warehouseOptions("sqlite")
      const trades = makeTrades({ count: 120, symbols: ["XYZ", "ABC"], days: 0.01 })
      const run = (done: Parameters<typeof ingestUntil>[0], send: ReadonlyArray<ReturnType<typeof tradeRecords>[number]>) =>
        Effect.gen(function*() {
          yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 1)!)
          yield* (yield* KafkaSink).send(send)
          return yield* ingestUntil(done)
        }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: SETTINGS })))

      const first = yield* run((p) => p.written.trades >= 60 && p.uncommitted === 0, tradeRecords(trades.slice(0, 60)))
      assert.strictEqual(first.written.trades, 60)

      yield* asEarlierK2(options, ["trades", "sequence_events"])
      const aged = yield* Effect.gen(function*() {
        const m = (yield* (yield* Catalog).loadTable(identifierOf("trades"))).metadata
        return { marker: markerIn(m, DEFAULT_INGEST_GROUP), properties: m.properties }
      }).pipe(Effect.provide(Lakehouse.layer(options)))
      assert.strictEqual(aged.marker?.offsets.get(TOPIC)?.get(0), 60n)
      assert.strictEqual(aged.marker?.topicIds.size, 0)
      assert.isUndefined(aged.properties["history.expire.max-snapshot-age-ms"])

      // A copy of an ingested trade (a feed's retransmission), then the rest of the day.
      const second = yield* run(
        (p) => p.written.trades >= 60 && p.duplicatesDropped >= 1 && p.uncommitted === 0,
        tradeRecords([trades[58]!, ...trades.slice(60)])
      )
      assert.strictEqual(second.written.trades, 60)
      assert.strictEqual(second.duplicatesDropped, 1)

      const after = yield* Effect.gen(function*() {
        const table = yield* checkTable("trades")
        const m = (yield* (yield* Catalog).loadTable(identifierOf("trades"))).metadata
        return { table, m }
      }).pipe(Effect.provide(Lakehouse.layer(options)))
      assert.strictEqual(after.table.rows, 120)
      assert.strictEqual(after.table.distinctMessageIds, 120)
      // The checkpoint restored: the copy is the only anomaly (a fresh stream would have seen a GAP).
      const events = yield* sequenceEvents(options).pipe(Effect.provide(Lakehouse.layer(options)))
      assert.deepStrictEqual(events.map((e) => e["kind"]), ["DUPLICATE"])
      // The retention properties an earlier K2 did not set are added (ADR-33).
      assert.strictEqual(after.m.properties["history.expire.max-snapshot-age-ms"], "3600000")
    }), 60_000)
})
