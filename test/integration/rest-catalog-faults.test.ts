/**
 * Ingestion over Apache Iceberg's REST catalog server (K2_TEST_REST_URI) through a proxy that
 * breaks its connections (test/support/tcpFaults.ts): requests reset before the server took them,
 * half sent, taken and then reset as the answer starts (a commit landed, its answer lost), answers
 * cut after their first 2 KB, and a few seconds in which every connection is refused (the server
 * restarting). Ingestion waits every fault out by itself, the tables hold each record once, and
 * reads through the same catalog work at once after.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import * as Ingest from "../../src/layers/ingest/ingestor.ts"
import * as KafkaMemory from "../../src/layers/kafka/memory.ts"
import { ensureRestCatalog, restCatalogUri, uniqueParent } from "../interop/restCatalog.ts"
import { assertExactlyOnce, caughtUp, groupOffsetsAgainstEnds, ingestorsOver, seeded } from "../support/chaos.ts"
import { ingestorLayer, publishToMemory } from "../support/memoryFeed.ts"
import { type FaultAction, faultProxy } from "../support/tcpFaults.ts"
import { checkTable } from "../support/tableCheck.ts"
import { lakehouseNotingFailures, tempWarehouse } from "../support/warehouse.ts"

const PARTITIONS = 3
const GROUP = Ingest.defaultIngestConfig.groupId
/** A table commit: POST to the table itself (a creation posts to its namespace's `tables`). */
const COMMIT = /^POST \S+\/tables\/[^/]+$/
const FAULTS: ReadonlyArray<FaultAction> = ["reset", "reset-mid-request", "reset-after-forward", "reset-mid-response"]

beforeAll(() => ensureRestCatalog())

describe("REST catalog: connections broken during ingestion", () => {
  it.live("every fault is waited out: each record once in the tables, and reads work at once after", () =>
    Effect.gen(function*() {
      // Through the proxy, a server not there would read as connections broken: said plainly first.
      yield* Effect.tryPromise({
        try: () => fetch(`${restCatalogUri}/v1/config`, { signal: AbortSignal.timeout(5_000) }),
        catch: (e) => new Error(`no REST catalog answers at ${restCatalogUri} (K2_TEST_REST_URI): ${String(e)}`)
      }).pipe(Effect.orDie)
      const random = seeded(Number(process.env.K2_TEST_SEED ?? 1))
      // Faults begin once the catalog is set up (its parent namespace made).
      let faulty = false
      // The first commits meet these for sure: one lands and its answer is lost, one is cut on its way.
      const commitFaults: Array<FaultAction> = ["reset-after-forward", "reset-mid-request", "reset-after-forward"]
      const proxy = yield* faultProxy(Number(new URL(restCatalogUri).port), (r) => {
        if (!faulty || r.line === "GET /v1/config") return "pass"
        if (COMMIT.test(r.line) && commitFaults.length > 0) return commitFaults.shift()!
        return random() < 0.15 ? FAULTS[Math.floor(random() * FAULTS.length)]! : "pass"
      })
      const parentNamespace = uniqueParent("k2_faults")
      const warehouse = tempWarehouse()
      const options = { warehouse, catalog: { _tag: "rest" as const, uri: `http://127.0.0.1:${proxy.port}`, parentNamespace } }
      const { failures, lakehouse } = lakehouseNotingFailures(options)
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker, { maxBatchRecords: 60 })
      const env = yield* Layer.build(Layer.mergeAll(kafka, lakehouse))
      const published = yield* publishToMemory(kafka, PARTITIONS, { symbols: ["BHP", "CBA", "CSL", "NAB", "WBC", "ANZ"], eventsPerSymbolPerDay: 600 })
      const valid = published.totals.trades + published.totals.quotes
      faulty = true

      const { progressOf, start } = ingestorsOver(
        () => ingestorLayer({ settings: { commitIntervalMs: 30, flushRows: 150, maxBufferedRows: 300, checkpointIntervalMs: 0 } }),
        env
      )
      const running = yield* start()
      let reached = false
      let outageMidIngest = false
      // The server away for 3 s once ingestion is under way: every connection reset, new ones refused.
      const outage = yield* Effect.forkChild(Effect.gen(function*() {
        yield* Effect.sleep("1500 millis")
        outageMidIngest = !reached
        proxy.refuse(true)
        yield* Effect.sleep("3 seconds")
        proxy.refuse(false)
      }))
      for (let tick = 0; tick < 3_000 && !reached; tick++) {
        const exit = running.pollUnsafe()
        if (exit !== undefined) return yield* Effect.die(new Error(`the ingestor stopped: ${String(exit)}`))
        reached = caughtUp([yield* progressOf(running)], broker, PARTITIONS)
        if (!reached) yield* Effect.sleep("20 millis")
      }
      yield* Fiber.join(outage)
      faulty = false
      const broken = proxy.seen.filter((r) => r.action !== "pass")
      const context = `${broken.length} of ${proxy.seen.length} requests broken, the catalog failed ${JSON.stringify(Object.fromEntries(failures))}`
      assert.isTrue(reached, `${context}: caught up: ${groupOffsetsAgainstEnds(broker, GROUP)}`)
      for (const action of FAULTS) assert.isTrue(broken.some((r) => r.action === action), `${context}: some request met ${action}`)
      assert.deepStrictEqual(commitFaults, [], `${context}: commits met their faults`)
      assert.isTrue(outageMidIngest, `${context}: the outage came before ingestion caught up`)
      assert.deepStrictEqual([...failures.keys()].filter((tag) => tag !== "CatalogUnavailable" && tag !== "CommitStateUnknown"), [], context)

      const [trades, quotes] = yield* Effect.all([checkTable("trades"), checkTable("quotes")]).pipe(Effect.provide(env))
      assert.strictEqual(trades.rows + quotes.rows, valid, context)
      yield* Fiber.interrupt(running)
      // Checked on the server itself, not through the proxy.
      yield* assertExactlyOnce({
        context,
        valid,
        poison: [],
        broker,
        group: GROUP,
        partitions: PARTITIONS,
        options: { ...options, catalog: { ...options.catalog, uri: restCatalogUri } }
      })
    }).pipe(Effect.scoped), 120_000)
})
