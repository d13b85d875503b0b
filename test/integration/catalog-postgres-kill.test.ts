/**
 * Ingestion over the PostgreSQL catalog (the database of K2_TEST_POSTGRES_URL) while its
 * connections are terminated again and again (pg_terminate_backend, as an operator, a failover or a
 * server restart ends them): from the start (table creation), through commits and their swaps.
 * Ingestion waits every fault out by itself, the tables hold each record once, and reads through
 * the same catalog work at once after. Only this catalog's connections are ended: they carry an
 * application_name of their own.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import pg from "pg"
import * as Ingest from "../../src/layers/ingest/ingestor.ts"
import * as KafkaMemory from "../../src/layers/kafka/memory.ts"
import { assertExactlyOnce, caughtUp, groupOffsetsAgainstEnds, ingestorsOver } from "../support/chaos.ts"
import { ingestorLayer, publishToMemory } from "../support/memoryFeed.ts"
import { postgresUrl, uniqueCatalogName } from "../support/postgres.ts"
import { checkTable } from "../support/tableCheck.ts"
import { lakehouseNotingFailures, tempWarehouse } from "../support/warehouse.ts"

const PARTITIONS = 3
const GROUP = Ingest.defaultIngestConfig.groupId

describe("PostgreSQL catalog: connections terminated during ingestion", () => {
  it.live("every fault is waited out: each record once in the tables, and reads work at once after", () =>
    Effect.gen(function*() {
      const name = uniqueCatalogName("k2_kill")
      const url = new URL(postgresUrl)
      url.searchParams.set("application_name", name)
      const options = { warehouse: tempWarehouse(), catalogName: name, catalog: { _tag: "postgres" as const, url: url.toString() } }
      // What the catalog answered while its connections were ended.
      const { failures, lakehouse } = lakehouseNotingFailures(options)
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker, { maxBatchRecords: 60 })
      const env = yield* Layer.build(Layer.mergeAll(kafka, lakehouse))
      const published = yield* publishToMemory(kafka, PARTITIONS, { symbols: ["BHP", "CBA", "CSL", "NAB", "WBC", "ANZ"], eventsPerSymbolPerDay: 1_000 })
      const valid = published.totals.trades + published.totals.quotes

      const admin = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const client = new pg.Client({ connectionString: postgresUrl })
          await client.connect()
          return client
        }),
        (client) => Effect.promise(() => client.end().catch(() => undefined))
      )
      let terminated = 0
      // Every 20-100 ms, every connection of the catalog's: idle ones, and those under a statement.
      const killer = yield* Effect.forkChild(Effect.forever(Effect.gen(function*() {
        yield* Effect.sleep(`${20 + Math.floor(Math.random() * 80)} millis`)
        const ended = yield* Effect.promise(() =>
          admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [name])
        )
        terminated += ended.rowCount ?? 0
      })))

      const { progressOf, start } = ingestorsOver(
        () => ingestorLayer({ settings: { commitIntervalMs: 30, flushRows: 150, maxBufferedRows: 300, checkpointIntervalMs: 0 } }),
        env
      )
      const running = yield* start()
      let reached = false
      for (let tick = 0; tick < 3_000 && !reached; tick++) {
        const exit = running.pollUnsafe()
        if (exit !== undefined) return yield* Effect.die(new Error(`the ingestor stopped: ${String(exit)}`))
        reached = caughtUp([yield* progressOf(running)], broker, PARTITIONS)
        if (!reached) yield* Effect.sleep("20 millis")
      }
      yield* Fiber.interrupt(killer)
      const context = `${terminated} connections terminated, the catalog failed ${JSON.stringify(Object.fromEntries(failures))}`
      assert.isTrue(reached, `${context}: caught up: ${groupOffsetsAgainstEnds(broker, GROUP)}`)
      // Connections were ended under the catalog; what it failed with is a fault to wait out (a read
      // is sent again on a new connection, a swap's unknown outcome is resolved by its commit id).
      assert.isAtLeast(terminated, 20, context)
      assert.deepStrictEqual([...failures.keys()].filter((tag) => tag !== "CatalogUnavailable" && tag !== "CommitStateUnknown"), [], context)

      // The same pool serves reads at once, with no failure left over from the terminated connections.
      const failed = [...failures.values()].reduce((a, b) => a + b, 0)
      const [trades, quotes] = yield* Effect.all([checkTable("trades"), checkTable("quotes")]).pipe(Effect.provide(env))
      assert.strictEqual(trades.rows + quotes.rows, valid, context)
      assert.strictEqual([...failures.values()].reduce((a, b) => a + b, 0), failed, context)
      yield* Fiber.interrupt(running)
      yield* assertExactlyOnce({ context, valid, poison: [], broker, group: GROUP, partitions: PARTITIONS, options })
    }).pipe(Effect.scoped), 60_000)
})
