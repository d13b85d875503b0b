/**
 * Orphan removal never deletes a file the table may still need because of how its location is
 * spelled: a nested table whose metadata is gzip (`*.metadata.json.gz`, Java's older name) is
 * skipped like any nested table rather than refusing the step; and a `file:` location written as
 * Java writes Hadoop paths (literally, a directory named `a%41b` not decoded) keeps its file.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { defaultMergePolicy } from "../../../src/domain/iceberg/manifestPlan.ts"
import { currentSnapshot } from "../../../src/domain/iceberg/metadata.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { commitChange } from "../../../src/layers/iceberg/commit.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import { makeSnapshotFiles } from "../../../src/layers/iceberg/snapshotFiles.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { maintainedLakehouse, warehouseOptions } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }
const old = () => new Date(Date.now() - 3 * 86_400_000)

const tableWithRows = Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, days: 1 })))
  return yield* (yield* Catalog).loadTable(trades)
})

describe("orphan removal and location spellings", () => {
  it.effect("a nested table with gzip metadata (*.metadata.json.gz) is left alone, not taken for one sharing the location", () =>
    Effect.gen(function*() {
      const io = yield* FileIO
      const maintenance = yield* Maintenance
      const table = yield* tableWithRows
      const location = table.metadata.location
      // Table market_data.trades.x of another engine at <location>/x, its metadata gzip (legacy name).
      const text = new TextDecoder().decode(yield* io.read(table.metadataLocation))
        .replace(table.metadata["table-uuid"], "00000000-0000-4000-8000-0000000000aa")
      const nested = [`${location}/x/metadata/v1.metadata.json.gz`, `${location}/x/data/part-0.parquet`]
      yield* io.write(nested[0]!, zlib.gzipSync(text))
      yield* io.write(nested[1]!, new Uint8Array([1, 2, 3]))
      for (const f of nested) fs.utimesSync(localPath(f), old(), old())
      const removed = yield* maintenance.removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })
      assert.deepStrictEqual(removed.removed, [])
      for (const f of nested) assert.isTrue(fs.existsSync(localPath(f)), f)
    }).pipe(Effect.provide(maintainedLakehouse())), { timeout: 120_000 })

  it.effect("a data file named by a literal file: path (Java's Hadoop spelling of a directory a%41b) is not removed", () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "k2-spell-")), "a%41b")
    fs.mkdirSync(dir)
    return Effect.gen(function*() {
      const maintenance = yield* Maintenance
      const table = yield* tableWithRows
      const snapshots = yield* makeSnapshotFiles({ cacheEntries: 100 })
      const [manifest] = yield* snapshots.manifestList(currentSnapshot(table.metadata)!)
      const [entry] = yield* snapshots.manifestEntries(manifest!)
      // Another engine appends a copy of the file, naming it as Hadoop does: `file:` and the path as it is.
      const literal = path.join(dir, "market_data", "trades", "data", "java-0.parquet")
      fs.copyFileSync(localPath(entry!.dataFile.filePath), literal)
      const added = { ...entry!.dataFile, filePath: `file:${literal}` }
      yield* commitChange(snapshots, trades, { operation: "append", added: [added], removed: [], properties: {} }, {
        mergePolicy: defaultMergePolicy,
        maxAttempts: 3
      })
      fs.utimesSync(literal, old(), old())
      yield* maintenance.removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })
      assert.isTrue(fs.existsSync(literal), "the file the table names stays")
    }).pipe(Effect.provide(maintainedLakehouse(warehouseOptions("sqlite", dir))))
  }, { timeout: 120_000 })

  it.effect("a data file named by a relative path (read against the working directory, as FileIO reads it) is not removed", () =>
    Effect.gen(function*() {
      const maintenance = yield* Maintenance
      const table = yield* tableWithRows
      const snapshots = yield* makeSnapshotFiles({ cacheEntries: 100 })
      const [manifest] = yield* snapshots.manifestList(currentSnapshot(table.metadata)!)
      const [entry] = yield* snapshots.manifestEntries(manifest!)
      const copy = localPath(entry!.dataFile.filePath).replace(/\.parquet$/, "-relative.parquet")
      fs.copyFileSync(localPath(entry!.dataFile.filePath), copy)
      const added = { ...entry!.dataFile, filePath: path.relative(process.cwd(), copy) }
      yield* commitChange(snapshots, trades, { operation: "append", added: [added], removed: [], properties: {} }, {
        mergePolicy: defaultMergePolicy,
        maxAttempts: 3
      })
      fs.utimesSync(copy, old(), old())
      yield* maintenance.removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })
      assert.isTrue(fs.existsSync(copy), "the file the table names stays")
    }).pipe(Effect.provide(maintainedLakehouse())), { timeout: 120_000 })
})
