/**
 * Maintenance against the PostgreSQL catalog and Apache Iceberg's REST catalog server: appends
 * committed while compaction runs lose and double no row (the compaction's commit conflicts and is
 * rebuilt on the new base); expiry and orphan removal (no grace) leave every retained snapshot, a
 * tagged old one included, readable with all its files; compactions interrupted at several points
 * leave the table whole, and the next run cleans up after them.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Ref } from "effect"
import { markerKey } from "../../src/domain/ingest/marker.ts"
import { tradeColumns } from "../../src/domain/rows.ts"
import { tables } from "../../src/domain/tables.ts"
import { selectPlanned } from "../../src/layers/duckdb/readPlan.ts"
import { localPath } from "../../src/layers/iceberg/fileio.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import * as MaintenanceLayer from "../../src/layers/maintenance/maintenance.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { Maintenance } from "../../src/services/Maintenance.ts"
import { TableScanner } from "../../src/services/TableScanner.ts"
import { ensureRestCatalog, restCatalogUri, uniqueParent } from "../interop/restCatalog.ts"
import { makeTrades } from "../support/fixtures.ts"
import { postgresUrl, uniqueCatalogName } from "../support/postgres.ts"

const trades = { namespace: "market_data", name: "trades" }
const PER = 50

const catalogs: ReadonlyArray<["postgres" | "rest", (dir: string) => Lakehouse.LakehouseOptions]> = [
  ["postgres", (dir) => ({ warehouse: dir, catalog: { _tag: "postgres", url: postgresUrl }, catalogName: uniqueCatalogName() })],
  ["rest", (dir) => ({ warehouse: dir, catalog: { _tag: "rest", uri: restCatalogUri, parentNamespace: uniqueParent() } })]
]

/** Commit `i`: PER trades over two days, carrying group g1's marker as ingestion does. */
const append = (i: number) =>
  Effect.gen(function*() {
    const rows = makeTrades({ count: PER, days: 2, offsetBase: i * PER, idPrefix: "a" })
    yield* (yield* IcebergSink).append(trades, tradeColumns(rows), {
      properties: { [markerKey("g1")]: JSON.stringify({ t: { "0": (i + 1) * PER } }) }
    })
  })

/** Rows and distinct ids at a snapshot (current when none), every planned file on the disk. */
const countAt = (snapshotId?: bigint) =>
  Effect.gen(function*() {
    const plan = yield* (yield* TableScanner).plan(trades, snapshotId === undefined ? {} : { snapshot: { _tag: "ById", snapshotId } })
    for (const f of plan.files) assert.isTrue(fs.existsSync(localPath(f.filePath)), `${f.filePath} of snapshot ${snapshotId} removed`)
    const [row] = yield* selectPlanned(plan, "count(*)::INTEGER AS n, count(DISTINCT message_id)::INTEGER AS ids")
    return row as { n: number; ids: number }
  })

/** Rows of every retained snapshot, each read in full and free of duplicates. */
const retainedRows = Effect.gen(function*() {
  const m = (yield* (yield* Catalog).loadTable(trades)).metadata
  const out: Array<number> = []
  for (const s of m.snapshots) {
    const c = yield* countAt(s["snapshot-id"])
    assert.strictEqual(c.n, c.ids, `rows doubled at snapshot ${s["snapshot-id"]}`)
    out.push(c.n)
  }
  return out
})

/** Compaction, then expiry of all but the newest two (and the tagged), then orphan removal with no grace. */
const hardRun = () => ({
  compact: { minInputFiles: 2 },
  expire: { maxSnapshotAgeMs: 0, retainLast: 2, nowMs: Date.now() + 1_000 },
  orphans: { olderThanMs: 0, nowMs: Date.now() + 1_000 }
})

for (const [kind, optionsFor] of catalogs) {
  describe(`maintenance on the ${kind} catalog`, () => {
    if (kind === "rest") beforeAll(() => ensureRestCatalog())

    it.live("appends during compaction, expiry and orphan removal with no grace, interrupted compactions: no row lost or doubled", () =>
      Effect.gen(function*() {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), `k2-maint-${kind}-`))
        const lake = MaintenanceLayer.layer().pipe(Layer.provideMerge(Lakehouse.layer(optionsFor(dir))))
        yield* Effect.gen(function*() {
          const maintenance = yield* Maintenance
          const catalog = yield* Catalog
          yield* (yield* IcebergSink).ensureTable(tables.trades)
          for (let i = 0; i < 10; i++) yield* append(i)

          // 1. Commits land while compaction runs, again and again.
          const stop = yield* Ref.make(false)
          const writer = yield* Effect.forkChild(Effect.gen(function*() {
            for (let i = 10; i < 40; i++) {
              yield* append(i)
              yield* Effect.sleep("5 millis")
            }
            yield* Ref.set(stop, true)
          }))
          let compacted = 0
          while (!(yield* Ref.get(stop))) compacted += (yield* maintenance.compact(trades, { minInputFiles: 2 })).partitions.length
          yield* Fiber.join(writer)
          assert.isAbove(compacted, 0)
          assert.deepStrictEqual(yield* countAt(), { n: 40 * PER, ids: 40 * PER })

          // 2. An old snapshot tagged, then everything else expired and orphans removed at once.
          const old = (yield* catalog.loadTable(trades)).metadata.snapshots[3]!["snapshot-id"]
          yield* catalog.commitTable(trades, [], [{ action: "set-snapshot-ref", "ref-name": "audit", type: "tag", "snapshot-id": old }])
          const report = yield* maintenance.run(trades, hardRun())
          assert.deepStrictEqual([report.compactFailure, report.expireFailure, report.orphanFailure], [null, null, null])
          assert.isAbove(report.orphans!.removed.length, 0)
          const rows = yield* retainedRows
          assert.include(rows, 4 * PER)
          assert.include(rows, 40 * PER)

          // 3. Compactions interrupted at several points.
          const delays = [0, 2, 5, 10, 20, 40, 80, 160]
          for (const [round, delay] of delays.entries()) {
            for (let j = 0; j < 4; j++) yield* append(100 + round * 4 + j)
            const fiber = yield* Effect.forkChild(maintenance.compact(trades, { minInputFiles: 2 }))
            yield* Effect.sleep(`${delay} millis`)
            yield* Fiber.interrupt(fiber)
            const n = (40 + (round + 1) * 4) * PER
            assert.deepStrictEqual(yield* countAt(), { n, ids: n })
          }
          const last = yield* maintenance.run(trades, hardRun())
          assert.deepStrictEqual([last.compactFailure, last.expireFailure, last.orphanFailure], [null, null, null])
          yield* retainedRows
          assert.deepStrictEqual(yield* countAt(), { n: 72 * PER, ids: 72 * PER })
        }).pipe(Effect.provide(lake))
      }), 300_000)
  })
}
