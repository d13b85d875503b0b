/** The manifests and manifest lists a commit writes for attempts that did not land are removed, as its data files are. */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { metadataDirectory } from "../../../src/domain/iceberg/metadata.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as FileIOLayers from "../../../src/layers/iceberg/fileio.ts"
import { decodeManifestList } from "../../../src/layers/iceberg/manifests.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { makeTrades, START_MICROS } from "../../support/fixtures.ts"
import { lakehouseWrapping, warehouseOptions } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }
const DAY = 86_400_000_000

/** A SQLite lakehouse that, once `rival` is set, runs it just before the next commit reaches the catalog: that commit loses the swap. */
const rivalled = () => {
  const state: { rival: Effect.Effect<unknown, unknown> | null } = { rival: null }
  const layer = lakehouseWrapping(
    { ...warehouseOptions("sqlite"), sink: { mergePolicy: { minCountToMerge: 3, targetManifestBytes: 8 << 20 } } },
    (catalog) =>
      Catalog.of({
        ...catalog,
        commitTable: (id, requirements, updates) =>
          Effect.suspend(() => {
            const rival = state.rival
            state.rival = null
            return rival === null
              ? catalog.commitTable(id, requirements, updates)
              : Effect.andThen(Effect.orDie(rival), catalog.commitTable(id, requirements, updates))
          })
      })
  )
  return { state, layer }
}

/** Manifest lists and manifests under the table's metadata directory that no snapshot of the table names. */
const unreferencedAvro = Effect.gen(function*() {
  const files = yield* FileIO
  const m = (yield* (yield* Catalog).loadTable(trades)).metadata
  const referenced = new Set<string>()
  for (const s of m.snapshots) {
    referenced.add(FileIOLayers.localPath(s["manifest-list"]))
    const list = yield* decodeManifestList(yield* files.read(s["manifest-list"]), s["manifest-list"])
    for (const mf of list) referenced.add(FileIOLayers.localPath(mf.manifestPath))
  }
  const dir = FileIOLayers.localPath(metadataDirectory(m))
  return fs.readdirSync(dir).filter((f) => f.endsWith(".avro")).map((f) => path.join(dir, f)).filter((f) => !referenced.has(f))
})

describe("commitChange: files of attempts that did not land", () => {
  // Live: the retry after the conflict waits out a real (20 ms) backoff.
  it.live("a commit that lost the swap to another writer leaves no manifest list or merged manifest of its lost attempt", () => {
    const { state, layer } = rivalled()
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      for (let i = 0; i < 3; i++) {
        yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: i * 10, startMicros: START_MICROS + (i % 2) * DAY })))
      }
      assert.deepStrictEqual(yield* unreferencedAvro, [])
      state.rival = sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 100 })))
      const committed = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 200 })))
      assert.strictEqual(committed.conflicts, 1)
      assert.strictEqual(committed.snapshot.summary["total-records"], "50")
      assert.deepStrictEqual(yield* unreferencedAvro, [])
    }).pipe(Effect.provide(layer))
  })

  it.live("a commit fenced off after a conflict (ADR-6) leaves none of its files: no data file, manifest or manifest list", () => {
    const { state, layer } = rivalled()
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      const table = yield* sink.ensureTable(tables.trades)
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      const started = (yield* (yield* Catalog).loadTable(trades)).metadata["current-snapshot-id"]
      // The new owner of the partition commits first; this writer's next attempt finds its marks moved.
      state.rival = sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 100 })))
      const fenced = yield* Effect.flip(sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })), {
        prepare: (base) => base["current-snapshot-id"] === started ? Result.succeed({}) : Result.fail("marks moved")
      }))
      assert.strictEqual(fenced._tag, "CommitRejected")
      assert.deepStrictEqual(yield* unreferencedAvro, [])
      const dataDir = FileIOLayers.localPath(table.metadata.location)
      const parquet = fs.readdirSync(dataDir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".parquet"))
      assert.strictEqual(parquet.length, 2)
    }).pipe(Effect.provide(layer))
  })
})
