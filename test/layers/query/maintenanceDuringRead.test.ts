/**
 * A read racing `compact` on the same warehouse: the snapshot it planned is superseded by a
 * compaction, expired, and its files removed as orphans before DuckDB opens them (or, for an older
 * snapshot, its manifests before they are planned). The read then fails saying its snapshot is
 * gone (SnapshotNotFound, 404 over HTTP), not that a file of the table is missing (a 500 that
 * reads as a damaged table). Queries and replay. Memory catalog, local files.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { SnapshotNotFound } from "../../../src/services/TableScanner.ts"
import { afterLoad, afterNextPlan, compactNow, maintenanceLayer, racingScanner, racingStorage } from "../../support/maintenanceRace.ts"
import { genTrades, T0 } from "./data.ts"
import { TRADES } from "./fixture.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-maint-read-"))

const storage = racingStorage(dir)

const warehouse = Layer.mergeAll(QueryLayer.layer(), ReplayLayer.layer).pipe(
  Layer.provide(racingScanner),
  Layer.provideMerge(maintenanceLayer),
  Layer.provideMerge(storage)
)

const range = { from: T0, to: T0 + 86_400_000_000 }

/** What `compact` does to trades, with this test's Maintenance. */
const compactTrades = Effect.gen(function*() {
  return Effect.provideService(compactNow(TRADES), Maintenance, yield* Maintenance)
})

layer(warehouse, { timeout: 120_000, excludeTestServices: true })("a read while maintenance expires its snapshot", (it) => {
  it.effect("fails as its snapshot gone, not as a missing data file", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const engine = yield* QueryEngine
      yield* sink.ensureTable(tables.trades)
      for (const seed of [1, 2, 3]) yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed, days: 1, idPrefix: `s${seed}-` })))

      yield* afterNextPlan(yield* compactTrades)
      const error = yield* Effect.flip(engine.trades({ symbols: [], ...range, limit: 10_000 }))
      assert.instanceOf(error, SnapshotNotFound, String(error))
      assert.include((error as SnapshotNotFound).message, "expired")

      // The table itself is whole: read again, every row is there.
      const again = yield* engine.trades({ symbols: [], ...range, limit: 10_000 })
      assert.strictEqual(again.rows.length, 300)
    }))

  it.effect("a read of an older snapshot whose manifests go while it plans fails as that snapshot gone", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const engine = yield* QueryEngine
      const first = yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed: 7, days: 1, idPrefix: "old-" })))
      yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed: 8, days: 1, idPrefix: "new-" })))

      yield* afterLoad(yield* compactTrades)
      const snapshot = { _tag: "ById" as const, snapshotId: first.snapshot["snapshot-id"] }
      const error = yield* Effect.flip(engine.trades({ symbols: [], ...range, limit: 10_000, snapshot }))
      assert.instanceOf(error, SnapshotNotFound, String(error))
      assert.include((error as SnapshotNotFound).message, "expired")
    }))

  it.effect("a replay whose snapshot maintenance expires before it reads fails as that snapshot gone", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed: 9, days: 1, idPrefix: "r-" })))

      yield* afterNextPlan(yield* compactTrades)
      const error = yield* Effect.flip(Stream.runDrain((yield* ReplayEngine).stream({ ...range, tables: ["trades"] })))
      assert.instanceOf(error, SnapshotNotFound, String(error))
      assert.include((error as SnapshotNotFound).message, "expired")
    }))
})
