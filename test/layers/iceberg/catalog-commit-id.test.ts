/** A write asked again under a commit id that already landed: the table and the disk hold it once. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as FileIOLayers from "../../../src/layers/iceberg/fileio.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { Catalog, catalogError, CatalogUnavailable } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { lakehouseWrapping } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }

const warehouse = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-commit-id-"))
  return Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } })
}

const parquetFiles = (dir: string) =>
  fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".parquet")).map((f) => path.join(dir, f)).sort()

describe("IcebergSink: a commit id asked again", () => {
  it.effect("leaves no data files the table does not reference, and reports none it does not hold", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      const table = yield* sink.ensureTable(tables.trades)
      const batch = tradeColumns(makeTrades({ count: 10 }))
      const first = yield* sink.append(trades, batch, { properties: { "k2.commit-id": "c-1" } })
      // Asked again (the caller saw CommitStateUnknown, say): the first landed.
      const second = yield* sink.append(trades, batch, { properties: { "k2.commit-id": "c-1" } })
      assert.strictEqual(second.snapshot["snapshot-id"], first.snapshot["snapshot-id"])
      const referenced = (yield* scanner.plan(trades)).files.map((f) => FileIOLayers.localPath(f.filePath)).sort()
      assert.deepStrictEqual(parquetFiles(FileIOLayers.localPath(table.metadata.location)), referenced)
      for (const f of second.files) assert.include(referenced, FileIOLayers.localPath(f.filePath))
    }).pipe(Effect.provide(warehouse())))

  it.live("also when an attempt before the one that finds it could not reach the catalog: the files just written are removed, none reported", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-commit-id-"))
    // Once armed, the next table load but one fails: the sink's own load passes, the commit's first attempt does not.
    const blip = { loadsUntilFailure: -1 }
    const layer = lakehouseWrapping({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }, (catalog) =>
      Catalog.of({
        ...catalog,
        loadTable: (id) =>
          Effect.suspend(() =>
            blip.loadsUntilFailure >= 0 && blip.loadsUntilFailure-- === 0
              ? Effect.fail(catalogError(new CatalogUnavailable({ detail: "connection refused" })))
              : catalog.loadTable(id)
          )
      }))
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      const table = yield* sink.ensureTable(tables.trades)
      const batch = tradeColumns(makeTrades({ count: 10 }))
      const first = yield* sink.append(trades, batch, { properties: { "k2.commit-id": "c-1" } })
      blip.loadsUntilFailure = 1
      const second = yield* sink.append(trades, batch, { properties: { "k2.commit-id": "c-1" } })
      assert.strictEqual(blip.loadsUntilFailure, -1, "the blip happened")
      assert.strictEqual(second.snapshot["snapshot-id"], first.snapshot["snapshot-id"])
      const referenced = (yield* scanner.plan(trades)).files.map((f) => FileIOLayers.localPath(f.filePath)).sort()
      assert.deepStrictEqual(parquetFiles(FileIOLayers.localPath(table.metadata.location)), referenced)
      for (const f of second.files) assert.include(referenced, FileIOLayers.localPath(f.filePath))
    }).pipe(Effect.provide(layer))
  })
})
