/** `write.metadata.path` (Java's TableProperties.WRITE_METADATA_LOCATION): where metadata-class files go. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import * as FileIOs from "../../../src/layers/iceberg/fileio.ts"
import { decodeManifestList } from "../../../src/layers/iceberg/manifests.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"

const trades = { namespace: "market_data", name: "trades" }

/** Appends twice and replaces the first append's files (a rewritten manifest): every kind of file a commit writes. */
const appendAndReplace = Effect.gen(function*() {
  const sink = yield* IcebergSink
  const first = yield* sink.append(trades, tradeColumns(makeTrades({ count: 100 })))
  yield* sink.append(trades, tradeColumns(makeTrades({ count: 100, offsetBase: 100 })))
  yield* sink.replace(trades, first.files, tradeColumns(makeTrades({ count: 100 })))
})

/** The metadata files after the first, and every snapshot's manifest list and manifests. */
const writtenSinceCreation = Effect.gen(function*() {
  const files = yield* FileIO
  const table = yield* (yield* Catalog).loadTable(trades)
  const out = [table.metadataLocation, ...table.metadata["metadata-log"].slice(1).map((e) => e["metadata-file"])]
  for (const s of table.metadata.snapshots) {
    out.push(s["manifest-list"])
    for (const mf of yield* decodeManifestList(yield* files.read(s["manifest-list"]), s["manifest-list"])) out.push(mf.manifestPath)
  }
  return { table, written: out }
})

const rowCount = Effect.gen(function*() {
  const plan = yield* (yield* TableScanner).plan(trades)
  return (yield* selectPlanned(plan, "count(*)::INTEGER AS n"))[0]!.n
})

const warehouseIn = (dir: string) => Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } })
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "k2-metadata-path-"))

describe("write.metadata.path", () => {
  it.effect("when set, new metadata files, manifest lists and manifests go there, and the table stays readable", () => {
    const dir = tempDir()
    return Effect.gen(function*() {
      const files = yield* FileIO
      const created = yield* (yield* IcebergSink).ensureTable(tables.trades)
      const elsewhere = FileIOs.fileLocation(path.join(dir, "elsewhere", "trades-metadata"))
      // As `ALTER TABLE ... SET TBLPROPERTIES` in another engine; a trailing slash is dropped, as Java does.
      yield* (yield* Catalog).commitTable(trades, [], [{ action: "set-properties", updates: { "write.metadata.path": `${elsewhere}/` } }])
      yield* appendAndReplace
      const { table, written } = yield* writtenSinceCreation
      assert.isAbove(written.length, 8)
      for (const f of written) assert.isTrue(f.startsWith(`${elsewhere}/`) && !f.slice(elsewhere.length + 1).includes("/"), f)
      // The table location's metadata directory holds only the file the table was created with.
      const left = (yield* files.list(`${table.metadata.location}/metadata`)).map((e) => path.basename(e.location))
      assert.deepStrictEqual(left, [path.basename(created.metadataLocation)])
      assert.strictEqual(yield* rowCount, 200)
    }).pipe(Effect.provide(warehouseIn(dir)))
  })

  it.effect("when not set, they go to <location>/metadata", () =>
    Effect.gen(function*() {
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendAndReplace
      const { table, written } = yield* writtenSinceCreation
      for (const f of written) assert.isTrue(f.startsWith(`${table.metadata.location}/metadata/`), f)
      assert.strictEqual(yield* rowCount, 200)
    }).pipe(Effect.provide(warehouseIn(tempDir()))))
})
