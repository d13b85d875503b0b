/**
 * The metadata files a commit retires whose removal it skipped (ADR-85: MAX_RUNNING_REMOVALS
 * removals still running) are orphans that `removeOrphans` takes; the files the table still names
 * (its current metadata file, its metadata log) stay.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Layer } from "effect"
import { tables } from "../../../src/domain/tables.ts"
import { MAX_RUNNING_REMOVALS } from "../../../src/layers/catalog/sql.ts"
import * as FileIOLayers from "../../../src/layers/iceberg/fileio.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as MaintenanceLayer from "../../../src/layers/maintenance/maintenance.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"

const HOUR_MS = 3_600_000

describe("retired metadata files whose removal a commit skipped (ADR-85)", () => {
  it.live("are removed by orphan removal, and nothing the table names is", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-skipped-removals-"))
      const release = yield* Deferred.make<void>()
      const state = { holding: false }
      const held: Array<string> = []
      // Removals that do not return until released: the commits past MAX_RUNNING_REMOVALS skip theirs.
      const files = Layer.effect(FileIO)(Effect.gen(function*() {
        const real = yield* FileIO
        return FileIO.of({
          ...real,
          remove: (location) => Effect.suspend(() => state.holding ? (held.push(location), Effect.andThen(Deferred.await(release), real.remove(location))) : real.remove(location))
        })
      })).pipe(Layer.provide(FileIOLayers.layer))
      const storage = Lakehouse.catalogLayer({ warehouse: dir, catalog: { _tag: "memory" } }).pipe(Layer.provideMerge(files))
      yield* Effect.gen(function*() {
        const catalog = yield* Catalog
        const id = { namespace: "market_data", name: "trades" }
        yield* catalog.createNamespace("market_data")
        const created = yield* catalog.createTable(id, {
          ...tables.trades,
          properties: { "write.metadata.delete-after-commit.enabled": "true", "write.metadata.previous-versions-max": "1" }
        })
        const retired = [created.metadataLocation]
        let last = created
        state.holding = true
        for (let i = 1; i <= MAX_RUNNING_REMOVALS + 3; i++) {
          last = yield* catalog.commitTable(id, [], [{ action: "set-properties", updates: { n: String(i) } }])
          retired.push(last.metadataLocation)
        }
        // Every commit but the first retired one file (the log holds one); the last two are still named.
        const named = [last.metadataLocation, ...last.metadata["metadata-log"].map((e) => e["metadata-file"])]
        assert.deepStrictEqual(named.toSorted(), retired.slice(-2).toSorted())
        assert.strictEqual(held.length, MAX_RUNNING_REMOVALS)
        yield* Deferred.succeed(release, undefined)
        const skipped = retired.slice(0, -2).filter((f) => !held.includes(f))
        assert.strictEqual(skipped.length, 2)
        const r = yield* (yield* Maintenance).removeOrphans(id, { olderThanMs: HOUR_MS, nowMs: Date.now() + 2 * HOUR_MS })
        for (const f of skipped) assert.include(r.removed, f)
        const fileIO = yield* FileIO
        for (const f of skipped) assert.isFalse(yield* fileIO.exists(f), f)
        for (const f of named) assert.isTrue(yield* fileIO.exists(f), f)
        assert.strictEqual((yield* catalog.loadTable(id)).metadata.properties["n"], String(MAX_RUNNING_REMOVALS + 3))
      }).pipe(Effect.provide(MaintenanceLayer.layer().pipe(Layer.provideMerge(Lakehouse.layerOn(storage)))), Effect.scoped)
    }))
})
