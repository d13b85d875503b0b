/**
 * A live `ingest` expires snapshots as it goes (`--expire-every`, ADR-33): on the real broker,
 * tables whose retention is one second keep a handful of snapshots while ingestion commits many
 * times, and every published record still lands exactly once.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { tables } from "../../src/domain/tables.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import {
  assertExactlyOnce,
  createTopics,
  expectedRows,
  publish,
  type Scenario,
  spawnIngest,
  stop,
  uniqueExchange,
  waitForRows
} from "../support/ingestHarness.ts"
import { ensureBroker } from "../support/kafka.ts"
import { warehouseOptions } from "../support/warehouse.ts"

beforeAll(() => ensureBroker(), 600_000)

describe("ingest --expire-every", () => {
  it.live("keeps the snapshots the tables' retention asks for while it commits, and loses nothing", () =>
    Effect.gen(function*() {
      const exchange = uniqueExchange()
      const s: Scenario = { exchange, group: `k2-expiry-${exchange.toLowerCase()}`, partitions: 3, options: warehouseOptions("sqlite") }
      yield* createTopics(s)
      // The tables made beforehand keeping one second of snapshots (K2's own keep an hour).
      const oneSecond = { "history.expire.max-snapshot-age-ms": "1000" }
      yield* Effect.gen(function*() {
        for (const t of [tables.trades, tables.quotes, tables.sequenceEvents]) yield* (yield* IcebergSink).ensureTable({ ...t, properties: oneSecond })
      }).pipe(Effect.provide(Lakehouse.layer(s.options)))

      const ingest = spawnIngest(s, ["--expire-every", "2", "--metrics-port", "0"])
      yield* Effect.addFinalizer(() => stop(ingest).pipe(Effect.ignore))
      // About 12 s of a paced feed: ingest commits every 300 ms meanwhile.
      const producer = yield* Effect.forkChild(publish(s, { eventsPerSymbolPerDay: 1_200, pacing: { _tag: "Rate", eventsPerSecond: 2_000 } }))
      const r = yield* Fiber.join(producer)
      const c = yield* waitForRows(s, expectedRows(r), 180_000)
      assertExactlyOnce(c!, r, "expiring")
      // Another expiry after the last commit: at most a couple of seconds of snapshots remain.
      yield* Effect.sleep("5 seconds")

      const { metadata } = yield* Effect.gen(function*() {
        return yield* (yield* Catalog).loadTable({ namespace: "market_data", name: "trades" })
      }).pipe(Effect.provide(Lakehouse.layer(s.options)))
      const commits = Number(metadata["last-sequence-number"])
      assert.isAtLeast(commits, 20, "ingest committed trades many times")
      assert.isAtMost(metadata.snapshots.length, 8, `${metadata.snapshots.length} of ${commits} snapshots kept\n${ingest.output()}`)
      assert.include(ingest.output(), "market_data.trades; snapshots")
      assert.strictEqual(yield* stop(ingest), 0, ingest.output())
      assertExactlyOnce((yield* waitForRows(s, expectedRows(r), 10_000))!, r, "after exit")
    }), 400_000)
})
