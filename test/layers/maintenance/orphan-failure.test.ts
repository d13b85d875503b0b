/**
 * Orphan removal that fails (the table location cannot be listed, a file cannot be removed) after
 * compaction and expiry committed: the run reports what they did beside it (`orphanFailure`), as
 * a failed compaction or expiry is reported beside the other steps, rather than failing the
 * table as a whole and leaving `compact` to print only the orphans' error.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { StorageFailure, TableFileError } from "../../../src/domain/iceberg/errors.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as MaintenanceLayer from "../../../src/layers/maintenance/maintenance.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { genTrades } from "../query/data.ts"

const TRADES = { namespace: "market_data", name: "trades" }
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-maint-orphan-failure-"))
const HOUR_MS = 3_600_000

/** Set: listing a directory fails (a permission error on the table location, say). */
let listFails = false

const storage = Layer.effect(FileIO)(Effect.gen(function*() {
  const real = yield* FileIO
  return FileIO.of({
    ...real,
    list: (location) =>
      listFails
        ? Effect.fail(new TableFileError({ reason: new StorageFailure({ path: location, detail: "EACCES: permission denied" }) }))
        : real.list(location)
  })
})).pipe(Layer.provideMerge(Lakehouse.storageLayer({ warehouse: dir, catalog: { _tag: "memory" } })))

layer(MaintenanceLayer.layer().pipe(Layer.provideMerge(Lakehouse.layerOn(storage))), { timeout: 120_000, excludeTestServices: true })(
  "orphan removal that fails",
  (it) => {
    it.effect("the compaction and expiry committed before it are reported beside its failure", () =>
      Effect.gen(function*() {
        const sink = yield* IcebergSink
        yield* sink.ensureTable(tables.trades)
        for (const seed of [1, 2, 3]) yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed, days: 1, idPrefix: `s${seed}-` })))
        listFails = true
        const later = Date.now() + 48 * HOUR_MS
        const r = yield* (yield* Maintenance).run(TRADES, {
          compact: { targetFileSizeBytes: 64 * 1024 * 1024 },
          expire: { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: later },
          orphans: { olderThanMs: 24 * HOUR_MS, nowMs: later }
        })
        listFails = false
        assert.strictEqual(r.compact?.filesBefore, 3)
        assert.strictEqual(r.compact?.filesAfter, 1)
        assert.strictEqual(r.expire?.snapshotsAfter, 1)
        assert.isNull(r.orphans)
        assert.strictEqual(r.orphanFailure?._tag, "TableFileError")
        assert.include(r.orphanFailure!.message, "EACCES")
      }))
  }
)
