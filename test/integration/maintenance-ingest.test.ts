/**
 * Maintenance while ingestion runs, on the SQLite catalog and on Apache Iceberg's REST catalog
 * server: compaction commits between ingestion's 1-second-style appends and loses nothing;
 * afterwards each day partition is one file and query answers are identical; expiry keeps
 * the marker snapshots and orphan removal keeps every referenced file, so a restarted
 * ingestion resumes exactly where the table says and every record lands exactly once.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Ref } from "effect"
import { makeWireCodec } from "../../src/domain/avro/codec.ts"
import { DuckDb } from "../../src/layers/duckdb/DuckDb.ts"
import { selectPlanned } from "../../src/layers/duckdb/readPlan.ts"
import { localPath } from "../../src/layers/iceberg/fileio.ts"
import * as Ingest from "../../src/layers/ingest/ingestor.ts"
import * as KafkaMemory from "../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import * as MaintenanceLayer from "../../src/layers/maintenance/maintenance.ts"
import type { Reconciliation } from "../../src/layers/produce/publisher.ts"
import * as Trackers from "../../src/layers/sequence/tracker.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { Ingestor, type IngestProgress } from "../../src/services/Ingestor.ts"
import { Maintenance } from "../../src/services/Maintenance.ts"
import { TableScanner } from "../../src/services/TableScanner.ts"
import { ensureRestCatalog, restCatalogUri, uniqueParent } from "../interop/restCatalog.ts"
import { markerIn } from "../support/marker.ts"
import { ASX_TOPICS, publishToMemory } from "../support/memoryFeed.ts"
import { checkTable } from "../support/tableCheck.ts"

const TOPICS = ASX_TOPICS
const GROUP = "k2-maint-it"
const TABLES = ["trades", "quotes", "sequence_events"].map((name) => ({ namespace: "market_data", name }))

const ingestorLayer = Layer.unwrap(Effect.gen(function*() {
  const trades = yield* Trackers.make()
  const quotes = yield* Trackers.make()
  return Ingest.layer(
    { ...Ingest.defaultIngestConfig, groupId: GROUP, topics: TOPICS, commitIntervalMs: 40, flushRows: 400 },
    { codec: makeWireCodec(), trackers: { trades, quotes } }
  )
}))

/** Ingests until `valid` records have landed (written, or dropped as duplicates), compacting every table in a loop meanwhile if `compacting`. */
const ingest = (valid: number, { compacting }: { readonly compacting: boolean }) =>
  Effect.gen(function*() {
    const ingestor = yield* Ingestor
    const maintenance = yield* Maintenance
    const stop = yield* Ref.make(false)
    const done = (p: IngestProgress) => p.uncommitted === 0 && p.written.trades + p.written.quotes + p.duplicatesDropped >= valid
    const compactor = !compacting ? undefined : yield* Effect.forkChild(Effect.gen(function*() {
      while (!(yield* Ref.get(stop))) {
        for (const t of TABLES.slice(0, 2)) {
          // The ingestor creates the tables when it starts.
          yield* maintenance.compact(t, { minInputFiles: 2 }).pipe(
            Effect.catchReason("CatalogError", "NoSuchTable", () => Effect.void)
          )
        }
        yield* Effect.sleep("150 millis")
      }
    }))
    const fiber = yield* Effect.forkChild(ingestor.run)
    for (let i = 0; i < 6000; i++) {
      const p = yield* ingestor.progress
      if (done(p)) break
      if (fiber.pollUnsafe() !== undefined) return yield* Effect.die(new Error("ingestor stopped"))
      yield* Effect.sleep("20 millis")
    }
    yield* Fiber.interrupt(fiber)
    yield* Ref.set(stop, true)
    if (process.env.K2_DEBUG) console.log(JSON.stringify(yield* ingestor.progress))
    if (compactor !== undefined) yield* Fiber.join(compactor)
    return yield* ingestor.progress
  })

const answers = Effect.gen(function*() {
  const scanner = yield* TableScanner
  const out: Record<string, unknown> = {}
  for (const name of ["trades", "quotes"]) {
    const plan = yield* scanner.plan({ namespace: "market_data", name })
    const price = name === "trades" ? "price" : "bid_price"
    out[name] = yield* selectPlanned(
      plan,
      `symbol, time_bucket(INTERVAL 5 MINUTE, exchange_timestamp)::VARCHAR AS t, count(*)::INTEGER AS n,
       min(${price})::VARCHAR AS lo, max(${price})::VARCHAR AS hi,
       arg_min(${price}, (exchange_timestamp, kafka_offset))::VARCHAR AS o,
       arg_max(${price}, (exchange_timestamp, kafka_offset))::VARCHAR AS c`,
      "GROUP BY ALL ORDER BY ALL"
    )
    out[`${name}.files`] = plan.files.map((f) => f.filePath)
  }
  return out
})

const filesPerPartition = (name: string) =>
  Effect.gen(function*() {
    const plan = yield* (yield* TableScanner).plan({ namespace: "market_data", name })
    const out: Record<string, number> = {}
    for (const f of plan.files) out[JSON.stringify(f.partition)] = (out[JSON.stringify(f.partition)] ?? 0) + 1
    return out
  })

const catalogs: ReadonlyArray<["sqlite" | "rest", (dir: string) => Lakehouse.LakehouseOptions]> = [
  ["sqlite", (dir) => ({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } })],
  ["rest", (dir) => ({ warehouse: dir, catalog: { _tag: "rest", uri: restCatalogUri, parentNamespace: uniqueParent() } })]
]

for (const [kind, optionsFor] of catalogs) {
  describe(`maintenance while ingesting (${kind} catalog)`, () => {
    if (kind === "rest") beforeAll(() => ensureRestCatalog())

    it.live("compaction, expiry and orphan removal keep exactly-once ingestion and query answers", () =>
      Effect.gen(function*() {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), `k2-maint-${kind}-`))
        const options = optionsFor(dir)
        const broker = new KafkaMemory.MemoryBroker()
        const kafka = KafkaMemory.layerMemory(broker, { maxBatchRecords: 150 })
        const lake = MaintenanceLayer.layer().pipe(Layer.provideMerge(Lakehouse.layer(options)))

        /** One simulated trading day of `symbols` published to the (memory) topics. */
        const publishDay = (startDate: string, seed: number, symbols = ["BHP", "CBA", "CSL", "NAB"]): Effect.Effect<Reconciliation> =>
          publishToMemory(kafka, 3, {
            symbols,
            eventsPerSymbolPerDay: 1_500,
            startDate,
            tradingDays: 1,
            seed,
            faults: { duplicate: 0.005 }
          }).pipe(Effect.orDie)
        const validOf = (r: Reconciliation) => r.totals.trades + r.totals.quotes

        const withIngest = <A, E>(effect: Effect.Effect<A, E, Ingestor | Maintenance | TableScanner | Catalog | DuckDb>) =>
          effect.pipe(Effect.provide(ingestorLayer.pipe(Layer.provideMerge(Layer.merge(kafka, lake)))))
        const withLake = <A, E>(effect: Effect.Effect<A, E, Maintenance | TableScanner | Catalog | DuckDb>) =>
          effect.pipe(Effect.provide(lake))

        // 1. Ingest day 1 while compacting, then stop (a drain). Then two more symbols of that day,
        // not compacted: compaction at rest always has files to merge.
        const day1 = yield* publishDay("2024-03-04", 1)
        const first = yield* withIngest(ingest(validOf(day1), { compacting: true }))
        assert.isAtLeast(first.commits, 3)
        const day1Late = yield* publishDay("2024-03-04", 3, ["ANZ", "WBC"])
        const late = yield* withIngest(ingest(validOf(day1Late), { compacting: false }))
        assert.strictEqual(late.alreadyIngested, 0)

        // 2. Compaction at rest: one file per day partition, identical answers.
        const report = yield* withLake(Effect.gen(function*() {
          const maintenance = yield* Maintenance
          const before = yield* answers
          const filesBefore = yield* filesPerPartition("trades")
          for (const t of TABLES) yield* maintenance.compact(t)
          const after = yield* answers
          const filesAfter = yield* filesPerPartition("trades")
          return { before, after, filesBefore, filesAfter }
        }))
        assert.isAbove(Math.max(...Object.values(report.filesBefore)), 1)
        assert.deepStrictEqual(Object.values(report.filesAfter), Object.keys(report.filesAfter).map(() => 1))
        assert.deepStrictEqual(report.after.trades, report.before.trades)
        assert.deepStrictEqual(report.after.quotes, report.before.quotes)

        // 3. Expiry keeps the marker snapshots; orphan removal (no grace) keeps every referenced file.
        const expiry = yield* withLake(Effect.gen(function*() {
          const maintenance = yield* Maintenance
          const catalog = yield* Catalog
          const markersBefore = []
          for (const t of TABLES) markersBefore.push(markerIn((yield* catalog.loadTable(t)).metadata, GROUP)?.offsets)
          const results = []
          for (const t of TABLES) {
            results.push(yield* maintenance.run(t, {
              compact: false,
              expire: { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1_000 },
              orphans: { olderThanMs: 0, nowMs: Date.now() + 1_000 }
            }))
          }
          const markersAfter = []
          for (const t of TABLES) markersAfter.push(markerIn((yield* catalog.loadTable(t)).metadata, GROUP)?.offsets)
          const now = yield* answers
          return { results, markersBefore, markersAfter, now }
        }))
        assert.deepStrictEqual(expiry.markersAfter, expiry.markersBefore)
        for (const m of expiry.markersAfter) assert.isDefined(m)
        for (const r of expiry.results) {
          assert.isBelow(r.expire!.snapshotsAfter, r.expire!.snapshotsBefore)
          assert.isAbove(r.orphans!.removed.length, 0)
        }
        assert.deepStrictEqual(expiry.now.trades, report.after.trades)
        for (const f of [...expiry.now["trades.files"] as Array<string>, ...expiry.now["quotes.files"] as Array<string>]) {
          assert.isTrue(fs.existsSync(localPath(f)), `referenced file removed: ${f}`)
        }

        // 4. A restarted ingestion resumes from the (expired) tables' markers, compacting meanwhile.
        const day2 = yield* publishDay("2024-03-05", 2)
        const second = yield* withIngest(ingest(validOf(day2), { compacting: true }))
        // It started at the markers: nothing of day 1 was read again.
        assert.strictEqual(second.alreadyIngested, 0)
        assert.strictEqual(second.consumed, validOf(day2))
        const final = yield* withLake(Effect.gen(function*() {
          const trades = yield* checkTable("trades")
          const quotes = yield* checkTable("quotes")
          return { trades, quotes }
        }))
        assert.strictEqual(final.trades.rows, final.trades.distinctMessageIds)
        assert.strictEqual(final.trades.rows, final.trades.distinctCoordinates)
        assert.strictEqual(final.quotes.rows, final.quotes.distinctMessageIds)
        assert.strictEqual(final.quotes.rows, final.quotes.distinctCoordinates)
        assert.strictEqual(
          final.trades.rows + final.quotes.rows + first.duplicatesDropped + late.duplicatesDropped + second.duplicatesDropped,
          validOf(day1) + validOf(day1Late) + validOf(day2)
        )
        // Compacted at rest again: one file per UTC day (an ASX session spans two UTC days).
        const lastly = yield* withLake(Effect.gen(function*() {
          for (const t of TABLES) yield* (yield* Maintenance).compact(t)
          return yield* filesPerPartition("trades")
        }))
        assert.isAtLeast(Object.keys(lastly).length, 2)
        assert.deepStrictEqual(Object.values(lastly), Object.keys(lastly).map(() => 1))
      }), 300_000)
  })
}
