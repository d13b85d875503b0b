/**
 * A table whose newest snapshot carries the group's marker garbled, over an older good one: ingest
 * must refuse (MarkerUnreadable), not resume from the older marker and write its rows again.
 */
import * as fs from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { parseJson, stringifyJson } from "../../../src/domain/iceberg/json.ts"
import { DEFAULT_INGEST_GROUP, markerKey } from "../../../src/domain/ingest/marker.ts"
import { identifierOf } from "../../../src/domain/tables.ts"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { ASX_TOPICS, ingestorOver, ingestUntil, tradeRecords } from "../../support/memoryFeed.ts"
import { checkTable } from "../../support/tableCheck.ts"
import { warehouseOptions } from "../../support/warehouse.ts"

const TOPIC = ASX_TOPICS[0]!
const SETTINGS = { commitIntervalMs: 200, topics: [TOPIC] }

describe("a marker that does not decode", () => {
  it.live("over an older good one is refused, not resumed from the older one (duplicates)", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const options = warehouseOptions("sqlite")
      const trades = makeTrades({ count: 60, symbols: ["XYZ"], days: 0.01 })
      const over = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect.pipe(Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: SETTINGS })))
      const send = (records: ReturnType<typeof tradeRecords>) =>
        Effect.gen(function*() {
          yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 1)!)
          yield* (yield* KafkaSink).send(records)
        })

      // Two runs: snapshots with the marker at 30, then at 60.
      yield* over(Effect.andThen(send(tradeRecords(trades.slice(0, 30))), ingestUntil((p) => p.written.trades >= 30 && p.uncommitted === 0)))
      yield* over(Effect.andThen(send(tradeRecords(trades.slice(30))), ingestUntil((p) => p.written.trades >= 30 && p.uncommitted === 0)))

      // The newest trades snapshot's marker garbled (as another tool, or a later K2, might write it).
      const key = markerKey(DEFAULT_INGEST_GROUP)
      const newest = yield* Effect.gen(function*() {
        const loaded = yield* (yield* Catalog).loadTable(identifierOf("trades"))
        const file = localPath(loaded.metadataLocation)
        const m = parseJson(fs.readFileSync(file, "utf8")) as { "current-snapshot-id": bigint; snapshots: Array<{ "snapshot-id": bigint; summary: Record<string, string> }> }
        const current = m.snapshots.find((s) => s["snapshot-id"] === m["current-snapshot-id"])!
        assert.strictEqual(current.summary[key], `{"${TOPIC}":{"0":60}}`)
        assert.isTrue(m.snapshots.some((s) => s.summary[key] === `{"${TOPIC}":{"0":30}}`), "an older snapshot holds the marker at 30")
        current.summary[key] = `{"${TOPIC}":{"0":"sixty"}}`
        fs.writeFileSync(file, stringifyJson(m))
        return current["snapshot-id"]
      }).pipe(Effect.provide(Lakehouse.layer(options)))

      // Resumed: it must not re-ingest 30..59 from the older marker.
      const exit = yield* over(Effect.gen(function*() {
        const fiber = yield* Effect.forkChild((yield* Ingestor).run)
        for (let i = 0; i < 500 && fiber.pollUnsafe() === undefined; i++) yield* Effect.sleep("20 millis")
        const progress = yield* (yield* Ingestor).progress
        if (fiber.pollUnsafe() === undefined) yield* Fiber.interrupt(fiber)
        return { exit: yield* Fiber.await(fiber), progress }
      }))
      const rows = yield* checkTable("trades").pipe(Effect.provide(Lakehouse.layer(options)))
      assert.strictEqual(rows.rows, 60, "no row written twice")
      assert.strictEqual(exit.progress.written.trades, 0)
      assert.isTrue(Exit.isFailure(exit.exit), "the run ends with the refusal")
      const error = Exit.isFailure(exit.exit) ? exit.exit.cause.toString() : ""
      assert.include(error, "MarkerUnreadable")
      assert.include(error, String(newest))
      assert.include(error, key)
    }), 60_000)
})
