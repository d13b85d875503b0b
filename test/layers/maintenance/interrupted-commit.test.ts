/**
 * `compact` stopped by SIGTERM while a day's compaction commits (or `--every` interrupted then):
 * the commit runs to its end, so the day's rewritten files are either the table's or removed,
 * never left on disk unreferenced for a day (the orphan grace) beside the files they replaced.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as MaintenanceLayer from "../../../src/layers/maintenance/maintenance.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { lakehouseWrapping } from "../../support/warehouse.ts"
import { genTrades } from "../query/data.ts"

const TRADES = { namespace: "market_data", name: "trades" }
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-maint-interrupt-"))

/** Set before a run: the next commit of a table waits for it, after saying so through `committing`. */
let gate: { committing: Deferred.Deferred<void>; release: Deferred.Deferred<void> } | undefined

const storage = lakehouseWrapping({ warehouse: dir, catalog: { _tag: "memory" } }, (catalog) =>
  Catalog.of({
    ...catalog,
    commitTable: (id, requirements, updates) =>
      Effect.suspend(() => {
        const g = gate
        gate = undefined
        const wait = g === undefined ? Effect.void : Deferred.succeed(g.committing, undefined).pipe(Effect.andThen(Deferred.await(g.release)))
        return Effect.andThen(wait, catalog.commitTable(id, requirements, updates))
      })
  }))

const dataFiles = (root: string): Array<string> =>
  fs.readdirSync(root, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".parquet"))
    .map((f) => path.join(root, f))

layer(MaintenanceLayer.layer().pipe(Layer.provideMerge(storage)), { timeout: 120_000, excludeTestServices: true })(
  "compaction interrupted while it commits",
  (it) => {
    it.effect("finishes the commit: the rewritten files are the table's, and no file on disk is left unreferenced", () =>
      Effect.gen(function*() {
        const sink = yield* IcebergSink
        const maintenance = yield* Maintenance
        yield* sink.ensureTable(tables.trades)
        for (const seed of [1, 2, 3]) yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed, days: 1, idPrefix: `s${seed}-` })))

        const committing = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        gate = { committing, release }
        const run = yield* Effect.forkChild(maintenance.compact(TRADES, { targetFileSizeBytes: 64 * 1024 * 1024 }))
        yield* Deferred.await(committing)
        // SIGTERM now: the interruption waits for the commit, which the catalog then takes.
        const stopping = yield* Effect.forkChild(Fiber.interrupt(run))
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(stopping)

        const plan = yield* (yield* TableScanner).plan(TRADES)
        const live = plan.files.map((f) => f.filePath.replace(/^file:\/\//, ""))
        assert.strictEqual(live.length, 1)
        assert.match(live[0]!, /k2-compacted/)
        const compactedOnDisk = dataFiles(dir).filter((f) => f.includes("k2-compacted"))
        assert.deepStrictEqual(compactedOnDisk, live)
      }))
  }
)
