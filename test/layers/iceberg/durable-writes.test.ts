/**
 * A commit references only files that are on the disk (ADR-43): each data file, manifest, manifest
 * list and metadata.json is synced, with the directory entry naming it, before the catalog's pointer
 * moves; a sync the disk fails (its writeback lost) fails the commit by the file's name and leaves
 * the file nowhere.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { type Durability, DurabilityRef } from "../../../src/layers/iceberg/durable.ts"
import * as FileIOLayers from "../../../src/layers/iceberg/fileio.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { decodeManifestList } from "../../../src/layers/iceberg/manifests.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { lakehouseWrapping, warehouseOptions } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }

/** A lakehouse whose catalog notes, at each commit it is asked for, what was synced by then. */
const recording = (fail: (file: string) => boolean = () => false) => {
  const synced = new Set<string>()
  const atCommit: Array<ReadonlySet<string>> = []
  const durability: Durability = {
    sync: async (handle, file) => {
      if (fail(file)) throw Object.assign(new Error(`ENOSPC: no space left on device, fsync '${file}'`), { code: "ENOSPC" })
      synced.add(path.resolve(file))
      await handle.sync()
    }
  }
  const options = warehouseOptions("sqlite")
  const layer = lakehouseWrapping(options, (catalog) =>
    Catalog.of({
      ...catalog,
      commitTable: (id, requirements, updates) =>
        Effect.suspend(() => {
          atCommit.push(new Set(synced))
          return catalog.commitTable(id, requirements, updates)
        })
    }))
  return { synced, atCommit, durability, layer, warehouse: options.warehouse }
}

/** The leaf of a failure: the file error's reason, whatever wraps it. */
const leaf = (error: unknown): { _tag: string; path?: string; detail?: string } => {
  let e = error as { _tag: string; reason?: unknown; path?: string }
  while (e.reason !== undefined && e.path === undefined) e = e.reason as typeof e
  return e
}

const filesUnder = (dir: string) =>
  fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile())

describe("durable writes", () => {
  it.effect("every file a commit references is synced, with the directories naming it, before the pointer moves", () => {
    const { atCommit, durability, layer, synced } = recording()
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      // Two days: two new partition directories.
      const committed = yield* sink.append(trades, tradeColumns(makeTrades({ count: 100, days: 2 })))
      const before = atCommit.at(-1)!
      const list = committed.snapshot["manifest-list"]
      const manifests = (yield* decodeManifestList(yield* (yield* FileIO).read(list), list)).map((m) => m.manifestPath)
      const dataFiles = (yield* (yield* TableScanner).plan(trades)).files.map((f) => f.filePath)
      assert.strictEqual(dataFiles.length, 2)
      for (const f of [...dataFiles, ...manifests, list].map(localPath)) {
        assert.isTrue(before.has(f), `${f} synced before the commit`)
        assert.isTrue(before.has(path.dirname(f)), `${path.dirname(f)} synced before the commit`)
      }
      // Each new partition directory's name is in the data directory.
      assert.isTrue(before.has(path.dirname(path.dirname(localPath(dataFiles[0]!)))))
      const metadata = localPath(committed.table.metadataLocation)
      assert.isTrue(synced.has(metadata))
      assert.isTrue(synced.has(path.dirname(metadata)))
    }).pipe(Effect.provide(layer), Effect.provideService(DurabilityRef, durability))
  })

  it.effect("the added files' manifest and the manifest list are written side by side, both done before the pointer moves", () => {
    const events: Array<string> = []
    const kind = (location: string) => /\/snap-[^/]*\.avro$/.test(location) ? "list" : /-m0\.avro$/.test(location) ? "manifest" : undefined
    // Each write of a manifest gives way a few times before it goes on: a list written beside it starts meanwhile.
    const files = Layer.effect(FileIO)(Effect.gen(function*() {
      const inner = yield* FileIO
      return FileIO.of({
        ...inner,
        write: (location, bytes) =>
          Effect.gen(function*() {
            const k = kind(location)
            if (k !== undefined) events.push(`${k} started`)
            if (k === "manifest") for (let i = 0; i < 10; i++) yield* Effect.yieldNow
            yield* inner.write(location, bytes)
            if (k !== undefined) events.push(`${k} done`)
          })
      })
    })).pipe(Layer.provide(FileIOLayers.layer))
    const options = warehouseOptions("sqlite")
    const layer = Lakehouse.layerOn(
      Layer.effect(Catalog)(Effect.gen(function*() {
        const catalog = yield* Catalog
        return Catalog.of({
          ...catalog,
          commitTable: (id, requirements, updates) => Effect.suspend(() => (events.push("pointer moved"), catalog.commitTable(id, requirements, updates)))
        })
      })).pipe(Layer.provideMerge(Lakehouse.catalogLayer(options).pipe(Layer.provideMerge(files))))
    )
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      events.length = 0
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      // One sync's round trip less a commit: the list does not wait for the manifest to be on the disk, the swap waits for both.
      assert.deepStrictEqual(events.slice(0, 2), ["manifest started", "list started"])
      assert.sameMembers(events.slice(2, 4), ["manifest done", "list done"])
      assert.deepStrictEqual(events.slice(4), ["pointer moved"])
    }).pipe(Effect.provide(layer))
  })

  // A table's directories are made only when a file cannot be opened for want of one (ADR-84):
  // one removed since the last write (by hand, by another engine) is made again, and its name synced.
  it.effect("a file written in a directory removed since the last write: the directory is made again, its name synced", () => {
    const { durability, synced } = recording()
    return Effect.gen(function*() {
      const files = yield* FileIO
      const dir = yield* Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "k2-dirs-")))
      const table = path.join(dir, "t", "metadata")
      yield* files.write(FileIOLayers.fileLocation(path.join(table, "a.avro")), new Uint8Array([1]))
      fs.rmSync(path.join(dir, "t"), { recursive: true })
      synced.clear()
      yield* files.write(FileIOLayers.fileLocation(path.join(table, "b.avro")), new Uint8Array([2]))
      assert.deepStrictEqual([...fs.readFileSync(path.join(table, "b.avro"))], [2])
      for (const d of [table, path.dirname(table), dir]) assert.isTrue(synced.has(d), `${d} synced`)
      fs.rmSync(dir, { recursive: true })
    }).pipe(Effect.provide(FileIOLayers.layer), Effect.provideService(DurabilityRef, durability))
  })

  it.effect("an append after the table's data directory was removed makes it again, synced before the pointer moves", () => {
    const { atCommit, durability, layer, warehouse } = recording()
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      const first = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      const data = path.join(localPath(first.table.metadata.location), "data")
      // Gone, as a whole table's files go when another engine purges them or by hand.
      fs.rmSync(data, { recursive: true })
      const second = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))
      assert.strictEqual(second.files.length, 1)
      const file = localPath(second.files[0]!.filePath)
      assert.isTrue(fs.existsSync(file))
      const before = atCommit.at(-1)!
      for (const d of [file, path.dirname(file), data, path.dirname(data)]) assert.isTrue(before.has(d), `${d} synced before the commit`)
      assert.isTrue(filesUnder(warehouse).includes(file))
    }).pipe(Effect.provide(layer), Effect.provideService(DurabilityRef, durability))
  })

  for (
    const [what, pattern] of [
      ["a data file", /\.parquet$/],
      ["a manifest", /-m0\.avro$/],
      ["the manifest list", /\/snap-[^/]*\.avro$/],
      ["the metadata.json", /\.metadata\.json$/]
    ] as const
  ) {
    it.effect(`a sync of ${what} the disk fails: the commit fails naming it, the pointer stays, the file is gone; a retry lands`, () => {
      let failing = false
      const { durability, layer, warehouse } = recording((f) => failing && pattern.test(f))
      return Effect.gen(function*() {
        const sink = yield* IcebergSink
        yield* sink.ensureTable(tables.trades)
        yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
        const before = (yield* (yield* Catalog).loadTable(trades)).metadataLocation
        const filesBefore = new Set(filesUnder(warehouse))
        failing = true
        const failure = leaf(yield* Effect.flip(sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))))
        failing = false
        assert.strictEqual(failure._tag, "StorageFailure")
        assert.match(localPath(failure.path ?? ""), pattern)
        assert.match(failure.detail ?? "", /ENOSPC/)
        assert.strictEqual((yield* (yield* Catalog).loadTable(trades)).metadataLocation, before)
        // Nothing of the failed commit stays: not the file that failed, nor any other it wrote.
        assert.deepStrictEqual(filesUnder(warehouse).filter((f) => !filesBefore.has(f) && !f.endsWith("catalog.db-wal") && !f.endsWith("catalog.db-shm")), [])
        const retried = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))
        assert.strictEqual(retried.snapshot.summary["total-records"], "20")
      }).pipe(Effect.provide(layer), Effect.provideService(DurabilityRef, durability))
    })
  }
})
