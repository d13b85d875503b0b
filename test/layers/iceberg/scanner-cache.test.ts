/**
 * The scanner's cache of decoded manifests under live ingestion: every commit rewrites a day's
 * merged manifest with one more entry, and a read at the latest snapshot decodes the new copy, so
 * the cache fills with superseded near-copies (~11 KB of heap an entry). It must let them go past
 * about one day's merged manifest (a 1-hour soak: serve's live heap grew ~6 MB a minute towards
 * the old 100,000-entry bound, ~1.1 GB).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as FileIOLayers from "../../../src/layers/iceberg/fileio.ts"
import { decodeManifest, decodeManifestList, encodeManifest, encodeManifestList } from "../../../src/layers/iceberg/manifests.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"

const trades = { namespace: "market_data", name: "trades" }

/** Local files, counting the reads of each location. */
const reads = new Map<string, number>()
const countingFileIO = Layer.effect(FileIO)(Effect.gen(function*() {
  const io = yield* FileIO
  return FileIO.of({
    ...io,
    read: (location) => Effect.suspend(() => {
      reads.set(location, (reads.get(location) ?? 0) + 1)
      return io.read(location)
    })
  })
})).pipe(Layer.provide(FileIOLayers.layer))

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-scanner-cache-"))
const layer = Lakehouse.layerOn(
  Lakehouse.catalogLayer({ warehouse: dir, catalog: { _tag: "memory" } }).pipe(Layer.provideMerge(countingFileIO))
)

describe("TableScanner's manifest cache", () => {
  it.effect("lets a superseded manifest go once later reads decoded more than about a day's merged manifest", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const files = yield* FileIO
      const scanner = yield* TableScanner
      yield* sink.ensureTable(tables.trades)
      const snapshots = [
        (yield* sink.append(trades, tradeColumns(makeTrades({ count: 1, idPrefix: "a" })))).snapshot,
        (yield* sink.append(trades, tradeColumns(makeTrades({ count: 1, idPrefix: "b", offsetBase: 1 })))).snapshot
      ]
      // Each snapshot's list is made to name one manifest of 15,000 entries (two successive copies
      // of a live day's manifest, as a read every few seconds meets them).
      const size = 15_000
      const big: Array<string> = []
      for (const [i, snapshot] of snapshots.entries()) {
        const list = yield* decodeManifestList(yield* files.read(snapshot["manifest-list"]), "list")
        const [entry] = yield* decodeManifest(yield* files.read(list[0]!.manifestPath), "manifest")
        const manifestPath = `${list[0]!.manifestPath}.big-${i}.avro`
        const entries = Array.from({ length: size }, (_, n) => ({ ...entry!, dataFile: { ...entry!.dataFile, filePath: `${entry!.dataFile.filePath}.${n}` } }))
        const bytes = encodeManifest(entries, { schema: tables.trades.schema, spec: tables.trades.spec })
        yield* files.write(manifestPath, bytes)
        // Files are written once (exclusive create): this list is replaced before anything read it.
        fs.rmSync(FileIOLayers.localPath(snapshot["manifest-list"]))
        yield* files.write(snapshot["manifest-list"], encodeManifestList([{
          ...list[0]!,
          manifestPath,
          manifestLength: bytes.length,
          addedFilesCount: size,
          existingFilesCount: 0,
          addedRowsCount: size
        }], {
          snapshotId: snapshot["snapshot-id"],
          parentSnapshotId: snapshot["parent-snapshot-id"] ?? null,
          sequenceNumber: snapshot["sequence-number"]
        }))
        big.push(manifestPath)
      }
      const planAt = (i: number) => scanner.plan(trades, { snapshot: { _tag: "ById", snapshotId: snapshots[i]!["snapshot-id"] } })
      assert.strictEqual((yield* planAt(0)).files.length, size)
      assert.strictEqual((yield* planAt(1)).files.length, size)
      assert.strictEqual(reads.get(big[0]!), 1)
      // 30,000 entries decoded: more than a day's merged manifest, so the first copy is gone.
      assert.strictEqual((yield* planAt(0)).files.length, size)
      assert.strictEqual(reads.get(big[0]!), 2)
    }).pipe(Effect.provide(layer)), 120_000)
})
