/**
 * Two maintenance runs on one warehouse at once (a cron `compact` beside `ingest
 * --maintain-every`): the other run compacts a day first, expires the snapshot and removes the
 * files this run was about to rewrite. This run's compaction of that day is then skipped, as when
 * the other committed first (FilesNoLongerLive), not reported as a day that failed on a missing file.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { DuckDb } from "../../../src/layers/duckdb/DuckDb.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import * as MaintenanceLayer from "../../../src/layers/maintenance/maintenance.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { afterLoad, compactNow, racingStorage } from "../../support/maintenanceRace.ts"
import { genTrades } from "../query/data.ts"

const TRADES = { namespace: "market_data", name: "trades" }
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-maint-twice-"))

const storage = racingStorage(dir)

/** Set before a run: runs once, before this run's next DuckDB statement (a compaction's rewrite). */
let beforeDuckDb: Effect.Effect<void> | undefined

const hookedDuckDb = Layer.effect(DuckDb)(Effect.gen(function*() {
  const real = yield* DuckDb
  const armed = Effect.suspend(() => {
    const step = beforeDuckDb ?? Effect.void
    beforeDuckDb = undefined
    return step
  })
  return DuckDb.of({ size: real.size, withConnection: (use) => Effect.andThen(armed, real.withConnection(use)) })
}))

/** The other run: a Maintenance of its own (its own caches, as in another process) over the same warehouse. */
const otherProcess = MaintenanceLayer.make()

layer(MaintenanceLayer.layer().pipe(Layer.provide(hookedDuckDb), Layer.provideMerge(storage)), { timeout: 120_000, excludeTestServices: true })("two maintenance runs at once", (it) => {
  it.effect("the run that finds its day compacted (and the files gone) by the other skips it, and fails nothing", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      yield* sink.ensureTable(tables.trades)
      for (const seed of [1, 2, 3]) yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed, days: 1, idPrefix: `s${seed}-` })))

      // The other run goes between this one's plan (the live files) and its rewrite.
      beforeDuckDb = Effect.provideService(compactNow(TRADES), Maintenance, yield* otherProcess)
      const result = yield* maintenance.compact(TRADES, { targetFileSizeBytes: 64 * 1024 * 1024 })
      assert.deepStrictEqual(result.partitions, [])
      assert.strictEqual(result.filesAfter, 1)

      const plan = yield* (yield* TableScanner).plan(TRADES)
      const [counts] = yield* selectPlanned(plan, "count(*)::INTEGER AS n")
      assert.strictEqual(counts!["n"], 300)
    }))

  it.effect("orphan removal that finds the snapshots it loaded expired (and their files gone) by the other goes on from the table as it is now", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      for (const seed of [4, 5, 6]) yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed, days: 1, idPrefix: `o${seed}-` })))

      // The other run goes between this one's listing of the files and its reading of what the table references.
      yield* afterLoad(Effect.provideService(compactNow(TRADES), Maintenance, yield* otherProcess), 2)
      const later = Date.now() + 48 * 3_600_000
      const report = yield* maintenance.run(TRADES, { compact: false, expire: false, orphans: { olderThanMs: 24 * 3_600_000, nowMs: later } })
      assert.isNotNull(report.orphans)

      const plan = yield* (yield* TableScanner).plan(TRADES)
      const [counts] = yield* selectPlanned(plan, "count(*)::INTEGER AS n")
      assert.strictEqual(counts!["n"], 600)
    }))

  it.effect("compaction that finds the snapshot it loaded expired (and its manifests gone) by the other plans on the table as it is now", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      for (const seed of [7, 8, 9]) yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed, days: 1, idPrefix: `p${seed}-` })))

      // The other run goes between this one's load of the table and its reading of the live files.
      yield* afterLoad(Effect.provideService(compactNow(TRADES), Maintenance, yield* otherProcess))
      const result = yield* maintenance.compact(TRADES, { targetFileSizeBytes: 64 * 1024 * 1024 })
      assert.deepStrictEqual(result.partitions, [])
      assert.strictEqual(result.filesAfter, 1)

      const plan = yield* (yield* TableScanner).plan(TRADES)
      const [counts] = yield* selectPlanned(plan, "count(*)::INTEGER AS n")
      assert.strictEqual(counts!["n"], 900)
    }))
})
