/**
 * `write.data.path` (Java's TableProperties.WRITE_DATA_LOCATION, else the legacy
 * `write.folder-storage.path`): where appends and compaction put data files. Orphan removal
 * never deletes another table's file: not in a directory outside the table location two tables
 * share, nor of a table nested inside the location.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import * as FileIOs from "../../../src/layers/iceberg/fileio.ts"
import { decodeManifestList } from "../../../src/layers/iceberg/manifests.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as MaintenanceLayer from "../../../src/layers/maintenance/maintenance.ts"
import { Catalog, type TableIdentifier } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"

const trades = { namespace: "market_data", name: "trades" }

const warehouseIn = (dir: string) =>
  MaintenanceLayer.layer().pipe(
    Layer.provideMerge(Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }))
  )
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "k2-data-path-"))

/** As `ALTER TABLE ... SET TBLPROPERTIES` in another engine. */
const setProperties = (id: TableIdentifier, updates: Record<string, string>) =>
  Effect.gen(function*() {
    yield* (yield* Catalog).commitTable(id, [], [{ action: "set-properties", updates }])
  })

/** Three small appends of one day, each a file, then a compaction rewriting them. */
const appendThreeAndCompact = (id: TableIdentifier) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    const appended = []
    for (let i = 0; i < 3; i++) {
      appended.push(...(yield* sink.append(id, tradeColumns(makeTrades({ count: 100, offsetBase: 100 * i })))).files)
    }
    const compacted = yield* (yield* Maintenance).compact(id)
    assert.strictEqual(compacted.partitions.length, 1)
    return appended.map((f) => f.filePath)
  })

const plannedFiles = (id: TableIdentifier) =>
  Effect.gen(function*() {
    const plan = yield* (yield* TableScanner).plan(id)
    const [row] = yield* selectPlanned(plan, "count(*)::INTEGER AS n")
    return { rows: row!.n, files: plan.files.map((f) => f.filePath) }
  })

/** Every file the table's current state needs: its metadata file, manifest lists, manifests, live data files. */
const currentFiles = (id: TableIdentifier) =>
  Effect.gen(function*() {
    const io = yield* FileIO
    const table = yield* (yield* Catalog).loadTable(id)
    const out = [table.metadataLocation, ...(yield* plannedFiles(id)).files]
    for (const s of table.metadata.snapshots) {
      out.push(s["manifest-list"])
      for (const mf of yield* decodeManifestList(yield* io.read(s["manifest-list"]), s["manifest-list"])) out.push(mf.manifestPath)
    }
    return out
  })

const under = (dir: string, files: ReadonlyArray<string>) => {
  for (const f of files) assert.isTrue(f.startsWith(`${dir}/`), `${f} is not under ${dir}`)
}

describe("write.data.path", () => {
  it.effect("when set, appended and compacted data files go there, and the table reads every row back", () => {
    const dir = tempDir()
    return Effect.gen(function*() {
      const created = yield* (yield* IcebergSink).ensureTable(tables.trades)
      const elsewhere = FileIOs.fileLocation(path.join(dir, "elsewhere", "trades-data"))
      // A trailing slash is dropped, as Java does.
      yield* setProperties(trades, { "write.data.path": `${elsewhere}/` })
      const appended = yield* appendThreeAndCompact(trades)
      const read = yield* plannedFiles(trades)
      assert.strictEqual(read.rows, 300)
      assert.strictEqual(read.files.length, 1)
      under(elsewhere, [...appended, ...read.files])
      assert.isFalse(fs.existsSync(path.join(FileIOs.localPath(created.metadata.location), "data")))
    }).pipe(Effect.provide(warehouseIn(dir)))
  })

  it.effect("the legacy write.folder-storage.path places them when write.data.path is not set; write.data.path wins", () => {
    const dir = tempDir()
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      const folder = FileIOs.fileLocation(path.join(dir, "folder-storage"))
      const data = FileIOs.fileLocation(path.join(dir, "data-path"))
      yield* setProperties(trades, { "write.folder-storage.path": folder })
      under(folder, (yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))).files.map((f) => f.filePath))
      yield* setProperties(trades, { "write.data.path": data })
      under(data, (yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))).files.map((f) => f.filePath))
      assert.strictEqual((yield* plannedFiles(trades)).rows, 20)
    }).pipe(Effect.provide(warehouseIn(dir)))
  })

  it.effect("two tables sharing one data and metadata directory outside their locations: neither's orphan removal deletes a file the other needs", () => {
    const dir = tempDir()
    const copy = { namespace: "market_data", name: "trades_copy" }
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      const sharedData = FileIOs.fileLocation(path.join(dir, "shared", "data"))
      const sharedMetadata = FileIOs.fileLocation(path.join(dir, "shared", "metadata"))
      for (const [definition, id] of [[tables.trades, trades], [{ ...tables.trades, name: copy.name }, copy]] as const) {
        yield* sink.ensureTable(definition)
        yield* setProperties(id, { "write.data.path": sharedData, "write.metadata.path": sharedMetadata })
        yield* appendThreeAndCompact(id)
      }
      const needed = [...(yield* currentFiles(trades)), ...(yield* currentFiles(copy))]
      under(sharedData, [...(yield* plannedFiles(trades)).files, ...(yield* plannedFiles(copy)).files])

      // Everything old enough and unreferenced by the table at hand would go, if it were scanned.
      const now = Date.now() + 1000
      for (const id of [trades, copy]) {
        yield* maintenance.expireSnapshots(id, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: now })
        yield* maintenance.removeOrphans(id, { olderThanMs: 0, nowMs: now })
      }
      for (const f of needed) assert.isTrue(fs.existsSync(FileIOs.localPath(f)), `${f} was deleted`)
      assert.strictEqual((yield* plannedFiles(trades)).rows, 300)
      assert.strictEqual((yield* plannedFiles(copy)).rows, 300)
    }).pipe(Effect.provide(warehouseIn(dir)))
  })
})

describe("orphan removal and other tables under the table location", () => {
  it.effect("a table nested under another's location (namespace `market_data.trades`) keeps every file through the outer table's orphan removal", () => {
    const dir = tempDir()
    const nested = { namespace: "market_data.trades", name: "nested" }
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      yield* sink.ensureTable(tables.trades)
      yield* sink.ensureTable({ ...tables.trades, namespace: nested.namespace, name: nested.name })
      const outer = (yield* (yield* Catalog).loadTable(trades)).metadata.location
      const inner = (yield* (yield* Catalog).loadTable(nested)).metadata.location
      assert.isTrue(inner.startsWith(`${outer}/`), inner)
      yield* appendThreeAndCompact(trades)
      yield* appendThreeAndCompact(nested)
      const needed = yield* currentFiles(nested)
      // The outer table's own orphans still go.
      const stray = `${outer}/data/stray.parquet`
      yield* (yield* FileIO).write(stray, new Uint8Array([1]))
      const result = yield* maintenance.removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })
      assert.include(result.removed, stray)
      for (const f of needed) assert.isTrue(fs.existsSync(FileIOs.localPath(f)), `${f} was deleted`)
      assert.strictEqual((yield* plannedFiles(nested)).rows, 300)
    }).pipe(Effect.provide(warehouseIn(dir)))
  })
})
