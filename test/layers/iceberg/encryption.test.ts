/**
 * Tables another engine encrypts (Iceberg table encryption): a data file's key_metadata says how to
 * get its key, an encrypted manifest's says the same of it. K2 decrypts nothing: it refuses to read
 * or compact such files, and every manifest and manifest list it writes keeps the keys it found.
 */
import * as fs from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { currentSchema, currentSnapshot, specById } from "../../../src/domain/iceberg/metadata.ts"
import type { ManifestFile, TableMetadata } from "../../../src/domain/iceberg/spec.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import { decodeManifestList, decodeManifestSync, encodeManifest, encodeManifestList } from "../../../src/layers/iceberg/manifests.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { maintainedLakehouse, warehouseOptions } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }
const KEY = new Uint8Array([7, 1, 2, 3])

const lakehouse = (sink: Lakehouse.LakehouseOptions["sink"] = {}) => maintainedLakehouse({ ...warehouseOptions("sqlite"), sink })

const read = (location: string) => new Uint8Array(fs.readFileSync(localPath(location)))

/** The manifests of the current snapshot. */
const manifestsOf = (m: TableMetadata) => Effect.orDie(decodeManifestList(read(currentSnapshot(m)!["manifest-list"]), "list"))

/**
 * Another engine's snapshot of the same files: those `encrypt` picks (by path) given key_metadata in
 * manifests written again, and the manifest at `encryptManifest` (an index) marked encrypted in the list.
 */
const encryptAsAnotherEngine = (encrypt: (path: string) => boolean, encryptManifest?: number) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    const m = (yield* catalog.loadTable(trades)).metadata
    const parent = currentSnapshot(m)!
    const list = (yield* manifestsOf(m)).map((mf, i): ManifestFile => {
      const entries = decodeManifestSync(read(mf.manifestPath), mf.manifestPath).map((e) =>
        encrypt(e.dataFile.filePath) ? { ...e, dataFile: { ...e.dataFile, keyMetadata: KEY } } : e
      )
      const bytes = encodeManifest(entries, { schema: currentSchema(m), spec: specById(m, mf.partitionSpecId)! })
      const manifestPath = mf.manifestPath.replace(/\.avro$/, "-encrypted.avro")
      fs.writeFileSync(localPath(manifestPath), bytes)
      return { ...mf, manifestPath, manifestLength: bytes.length, ...(i === encryptManifest ? { keyMetadata: KEY } : {}) }
    })
    const snapshotId = 4_242n
    const sequenceNumber = m["last-sequence-number"] + 1n
    const listPath = `${m.location}/metadata/snap-encrypted.avro`
    fs.writeFileSync(localPath(listPath), encodeManifestList(list, { snapshotId, parentSnapshotId: parent["snapshot-id"], sequenceNumber }))
    yield* catalog.commitTable(trades, [], [
      {
        action: "add-snapshot",
        snapshot: { ...parent, "snapshot-id": snapshotId, "parent-snapshot-id": parent["snapshot-id"], "sequence-number": sequenceNumber, "manifest-list": listPath, summary: { operation: "overwrite" } }
      },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": snapshotId }
    ])
  })

const appendDays = (count: number, offsetBase = 0) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    yield* sink.append(trades, tradeColumns(makeTrades({ count, days: 1, offsetBase })))
  })

describe("encrypted data files (key_metadata)", () => {
  it.effect("a read that would take an encrypted file is refused by name (UnsupportedTableFeature), not handed to DuckDB", () =>
    Effect.gen(function*() {
      yield* appendDays(20)
      yield* appendDays(20, 20)
      const encrypted = (yield* (yield* TableScanner).plan(trades)).files[0]!.filePath
      yield* encryptAsAnotherEngine((p) => p === encrypted)
      const refused = yield* Effect.flip((yield* TableScanner).plan(trades))
      assert.strictEqual(refused._tag, "UnsupportedTableFeature")
      assert.include(refused.message, "key_metadata")
      assert.include(refused.message, encrypted)
    }).pipe(Effect.provide(lakehouse())))

  it.effect("compaction refuses the table (UnsupportedTableFeature): no file rewritten, no key lost", () =>
    Effect.gen(function*() {
      yield* appendDays(20)
      yield* appendDays(20, 20)
      const encrypted = (yield* (yield* TableScanner).plan(trades)).files[0]!.filePath
      yield* encryptAsAnotherEngine((p) => p === encrypted)
      const refused = yield* Effect.flip((yield* Maintenance).compact(trades, { targetFileSizeBytes: 64 * 1024 * 1024 }))
      assert.strictEqual(refused._tag, "UnsupportedTableFeature")
      assert.include(refused.message, "key_metadata")
      const m = (yield* (yield* Catalog).loadTable(trades)).metadata
      assert.strictEqual(currentSnapshot(m)!["snapshot-id"], 4_242n, "nothing committed on top")
    }).pipe(Effect.provide(lakehouse())))

  it.effect("an append that merges the manifests (rewriting every entry) keeps each file's key", () =>
    Effect.gen(function*() {
      yield* appendDays(20)
      yield* appendDays(20, 20)
      yield* encryptAsAnotherEngine(() => true)
      // Two manifests so far: the third append's commit merges them into one, beside its own.
      yield* appendDays(20, 40)
      const manifests = yield* manifestsOf((yield* (yield* Catalog).loadTable(trades)).metadata)
      assert.strictEqual(manifests.length, 2, "merged")
      const entries = manifests.flatMap((mf) => decodeManifestSync(read(mf.manifestPath), mf.manifestPath))
      const keys = entries.map((e) => e.dataFile.keyMetadata === undefined ? null : [...e.dataFile.keyMetadata])
      assert.deepStrictEqual(keys.filter((k) => k !== null), [[...KEY], [...KEY]], "the two encrypted files keep their key")
      assert.strictEqual(keys.filter((k) => k === null).length, 1, "K2's own file has none")
    }).pipe(Effect.provide(lakehouse({ mergePolicy: { minCountToMerge: 3, targetManifestBytes: 8 * 1024 * 1024 } }))))
})

describe("encrypted manifests (key_metadata in the manifest list)", () => {
  it.effect("an append lists an encrypted manifest as it found it, key and all, without merging it; a read refuses it", () =>
    Effect.gen(function*() {
      yield* appendDays(20)
      yield* appendDays(20, 20)
      yield* encryptAsAnotherEngine(() => false, 0)
      yield* appendDays(20, 40)
      const manifests = yield* manifestsOf((yield* (yield* Catalog).loadTable(trades)).metadata)
      const keyed = manifests.filter((mf) => mf.keyMetadata !== undefined)
      assert.strictEqual(keyed.length, 1)
      assert.deepStrictEqual([...keyed[0]!.keyMetadata!], [...KEY])
      const refused = yield* Effect.flip((yield* TableScanner).plan(trades))
      assert.strictEqual(refused._tag, "UnsupportedTableFeature")
      assert.include(refused.message, keyed[0]!.manifestPath)
    }).pipe(Effect.provide(lakehouse({ mergePolicy: { minCountToMerge: 3, targetManifestBytes: 8 * 1024 * 1024 } }))))

  it.effect("compaction, and a replace of files, refuse a table with an encrypted manifest by its name: nothing committed", () =>
    Effect.gen(function*() {
      yield* appendDays(20)
      yield* appendDays(20, 20)
      yield* encryptAsAnotherEngine(() => false, 0)
      const manifests = yield* manifestsOf((yield* (yield* Catalog).loadTable(trades)).metadata)
      const compacted = yield* Effect.flip((yield* Maintenance).compact(trades, { targetFileSizeBytes: 64 * 1024 * 1024 }))
      assert.strictEqual(compacted._tag, "UnsupportedTableFeature")
      assert.include(compacted.message, manifests[0]!.manifestPath)
      // The sink's own replace, as a compaction commits: the manifests it would rewrite include the encrypted one.
      const plain = decodeManifestSync(read(manifests[1]!.manifestPath), manifests[1]!.manifestPath).map((e) => e.dataFile)
      const replaced = yield* Effect.flip((yield* IcebergSink).replace(trades, plain, tradeColumns(makeTrades({ count: 20, days: 1, offsetBase: 20 }))))
      assert.strictEqual(replaced._tag, "UnsupportedTableFeature")
      assert.include(replaced.message, manifests[0]!.manifestPath)
      // Orphan removal reads every manifest the table keeps: it refuses too, rather than call the manifest corrupt.
      const orphans = yield* Effect.flip((yield* Maintenance).removeOrphans(trades, { dryRun: true }))
      assert.strictEqual(orphans._tag, "UnsupportedTableFeature")
      assert.include(orphans.message, manifests[0]!.manifestPath)
      const m = (yield* (yield* Catalog).loadTable(trades)).metadata
      assert.strictEqual(currentSnapshot(m)!["snapshot-id"], 4_242n, "nothing committed on top")
    }).pipe(Effect.provide(lakehouse())))
})
