/**
 * Manifests K2 does not read (on storage it does not reach, encrypted, of a partition spec whose
 * values it does not hold) are refused by name, the same way by every reader of manifests: the
 * planner, maintenance (compaction, orphan removal) and a commit that rewrites manifests (a replace);
 * never reported as a missing or corrupt file. A merge leaves them listed as they are and merges the rest.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { currentSnapshot } from "../../../src/domain/iceberg/metadata.ts"
import { type ManifestFile, ManifestEntryStatus, type PartitionSpec, type TableMetadata } from "../../../src/domain/iceberg/spec.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { localPath, manifestListRefusal, manifestRefusal } from "../../../src/layers/iceberg/fileio.ts"
import { decodeManifestList, decodeManifestSync, encodeManifest, encodeManifestList } from "../../../src/layers/iceberg/manifests.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { maintainedLakehouse, warehouseOptions } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }
const ANOTHER_ENGINES = 4_242n

const lakehouse = (sink: Lakehouse.LakehouseOptions["sink"] = {}) => maintainedLakehouse({ ...warehouseOptions("sqlite"), sink })

const read = (location: string) => new Uint8Array(fs.readFileSync(localPath(location)))

/** The manifests of the current snapshot. */
const manifestsOf = (m: TableMetadata) => Effect.orDie(decodeManifestList(read(currentSnapshot(m)!["manifest-list"]), "list"))

const appendDay = (offsetBase = 0) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    yield* sink.append(trades, tradeColumns(makeTrades({ count: 20, days: 1, offsetBase })))
  })

/**
 * Another engine's snapshot of the same files whose list is `change` of the current one (a spec
 * `addSpec` added first); the list itself at `listPath` when given (not written: storage K2 does not reach).
 */
const asAnotherEngine = (
  change: (list: ReadonlyArray<ManifestFile>) => ReadonlyArray<ManifestFile>,
  options: { readonly addSpec?: PartitionSpec; readonly listPath?: string } = {}
) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    const m = (yield* catalog.loadTable(trades)).metadata
    const parent = currentSnapshot(m)!
    const sequenceNumber = m["last-sequence-number"] + 1n
    const listPath = options.listPath ?? `${m.location}/metadata/snap-another-engine.avro`
    const list = change(yield* manifestsOf(m))
    if (options.listPath === undefined) {
      fs.writeFileSync(localPath(listPath), encodeManifestList(list, { snapshotId: ANOTHER_ENGINES, parentSnapshotId: parent["snapshot-id"], sequenceNumber }))
    }
    const addSpec = options.addSpec
    yield* catalog.commitTable(trades, [], [
      ...(addSpec === undefined ? [] : [{ action: "add-spec" as const, spec: addSpec }]),
      {
        action: "add-snapshot",
        snapshot: { ...parent, "snapshot-id": ANOTHER_ENGINES, "parent-snapshot-id": parent["snapshot-id"], "sequence-number": sequenceNumber, "manifest-list": listPath, summary: { operation: "overwrite" } }
      },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": ANOTHER_ENGINES }
    ])
    return list
  })

/** The first manifest listed on s3:// (another engine's write.metadata.path), the others as they were. */
const firstOnS3 = (list: ReadonlyArray<ManifestFile>) =>
  list.map((mf, i) => i === 0 ? { ...mf, manifestPath: `s3://bucket/trades/metadata/${path.basename(mf.manifestPath)}` } : mf)

const symbolId = tables.trades.schema.fields.find((f) => f.name === "symbol")!.id
const bySymbol: PartitionSpec = { "spec-id": 1, fields: [{ "source-id": symbolId, "field-id": 1000, name: "symbol", transform: "identity" }] }

/** The first manifest rewritten as another engine's of spec 1, identity(symbol): its values are strings. */
const firstBySymbol = (list: ReadonlyArray<ManifestFile>) =>
  list.map((mf, i) => {
    if (i !== 0) return mf
    const entries = decodeManifestSync(read(mf.manifestPath), mf.manifestPath)
    // Written as void of the string column, so that the Avro type of the value is a string.
    const bytes = encodeManifest(
      entries.map((e) => ({ ...e, dataFile: { ...e.dataFile, partition: { symbol: "AAPL" as unknown as number } } })),
      { schema: tables.trades.schema, spec: { ...bySymbol, fields: [{ ...bySymbol.fields[0]!, transform: "void" }] } }
    )
    const manifestPath = mf.manifestPath.replace(/\.avro$/, "-by-symbol.avro")
    fs.writeFileSync(localPath(manifestPath), bytes)
    return { ...mf, manifestPath, manifestLength: bytes.length, partitionSpecId: 1, partitions: null }
  })

/** The live files of the table's second manifest (K2's own, readable): what a replace would take. */
const filesOfSecond = (list: ReadonlyArray<ManifestFile>) =>
  decodeManifestSync(read(list[1]!.manifestPath), list[1]!.manifestPath).map((e) => e.dataFile)

const assertRefused = (failed: { readonly _tag: string; readonly message: string }, ...named: ReadonlyArray<string>) => {
  assert.strictEqual(failed._tag, "UnsupportedTableFeature", failed.message)
  assert.include(failed.message, "market_data.trades")
  for (const n of named) assert.include(failed.message, n)
}

const unchanged = Effect.gen(function*() {
  const m = (yield* (yield* Catalog).loadTable(trades)).metadata
  assert.strictEqual(currentSnapshot(m)!["snapshot-id"], ANOTHER_ENGINES, "nothing committed on top")
})

describe("a manifest on storage K2 does not reach (s3://)", () => {
  it.effect("compaction, orphan removal and a replace refuse it by name, not as a missing file: nothing committed", () =>
    Effect.gen(function*() {
      yield* appendDay()
      yield* appendDay(20)
      const list = yield* asAnotherEngine(firstOnS3)
      const foreign = list[0]!.manifestPath
      const maintenance = yield* Maintenance
      assertRefused(yield* Effect.flip((yield* TableScanner).plan(trades)), `storage at ${foreign}`)
      assertRefused(yield* Effect.flip(maintenance.compact(trades, { targetFileSizeBytes: 64 * 1024 * 1024 })), `storage at ${foreign}`)
      assertRefused(yield* Effect.flip(maintenance.removeOrphans(trades, { dryRun: true })), `storage at ${foreign}`)
      const replaced = yield* Effect.flip((yield* IcebergSink).replace(trades, filesOfSecond(list), tradeColumns(makeTrades({ count: 20, days: 1, offsetBase: 20 }))))
      assertRefused(replaced, `storage at ${foreign}`)
      yield* unchanged
    }).pipe(Effect.provide(lakehouse())))

  it.effect("an append whose merge would take it lists it as it found it, unmerged, and commits", () =>
    Effect.gen(function*() {
      yield* appendDay()
      yield* appendDay(20)
      const list = yield* asAnotherEngine(firstOnS3)
      // Three manifests of one spec with this one: the append's commit would merge the two listed.
      yield* appendDay(40)
      const manifests = yield* manifestsOf((yield* (yield* Catalog).loadTable(trades)).metadata)
      assert.deepStrictEqual(manifests.filter((mf) => mf.manifestPath.startsWith("s3:")), [list[0]!], "listed as it was")
      assert.strictEqual(manifests.length, 3, "nothing merged")
    }).pipe(Effect.provide(lakehouse({ mergePolicy: { minCountToMerge: 3, targetManifestBytes: 8 * 1024 * 1024 } }))))
})

/** The first manifest marked encrypted in the list (another engine's key_metadata, field 519). */
const KEY = new Uint8Array([7, 1, 2, 3])
const firstEncrypted = (list: ReadonlyArray<ManifestFile>) => list.map((mf, i) => i === 0 ? { ...mf, keyMetadata: KEY } : mf)

describe("merging around a manifest K2 does not read, in the default spec's group", () => {
  for (const [kind, change] of [["on s3://", firstOnS3], ["encrypted", firstEncrypted]] as const) {
    it.effect(`${kind}: appends go on merging the manifests K2 reads, so the list stays bounded; that one stays listed unchanged`, () =>
      Effect.gen(function*() {
        yield* appendDay()
        yield* appendDay(20)
        const [unread] = yield* asAnotherEngine(change)
        const catalog = yield* Catalog
        const counts: Array<number> = []
        for (let i = 0; i < 8; i++) {
          yield* appendDay(40 + i * 20)
          counts.push((yield* manifestsOf((yield* catalog.loadTable(trades)).metadata)).length)
        }
        // Before: nothing of the spec was merged again, one more manifest a commit (4, 5, ... 11).
        assert.isAtMost(Math.max(...counts), 3, `manifests after each append: ${counts.join(", ")}`)
        const m = (yield* catalog.loadTable(trades)).metadata
        const manifests = yield* manifestsOf(m)
        assert.deepStrictEqual(manifests.filter((mf) => mf.manifestPath === unread!.manifestPath), [unread!], "listed as it was, key and all")
        // Every file of the ten appends is still listed once: one in that manifest, nine in K2's.
        const readable = manifests.filter((mf) => mf !== manifests.find((x) => x.manifestPath === unread!.manifestPath))
        const live = readable.flatMap((mf) => decodeManifestSync(read(mf.manifestPath), mf.manifestPath)).filter((e) => e.status !== ManifestEntryStatus.DELETED)
        assert.strictEqual(new Set(live.map((e) => e.dataFile.filePath)).size, 9)
        assert.strictEqual(live.length, 9)
        assert.strictEqual(readable.reduce((n, mf) => n + mf.addedFilesCount + mf.existingFilesCount, 0), 9, "the list's counts")
        // The merge adds and removes no data file: the summary says the append's one file only.
        assert.strictEqual(currentSnapshot(m)!.summary["added-data-files"], "1")
        assert.isUndefined(currentSnapshot(m)!.summary["deleted-data-files"])
      }).pipe(Effect.provide(lakehouse({ mergePolicy: { minCountToMerge: 3, targetManifestBytes: 8 * 1024 * 1024 } }))))
  }
})

describe("a manifest list on storage K2 does not reach (s3://)", () => {
  it.effect("compaction, orphan removal and an append refuse it by name, not as a missing file: nothing committed", () =>
    Effect.gen(function*() {
      yield* appendDay()
      const foreign = "s3://bucket/trades/metadata/snap-another-engine.avro"
      yield* asAnotherEngine((list) => list, { listPath: foreign })
      const maintenance = yield* Maintenance
      assertRefused(yield* Effect.flip((yield* TableScanner).plan(trades)), `storage at ${foreign}`)
      assertRefused(yield* Effect.flip(maintenance.compact(trades, { targetFileSizeBytes: 64 * 1024 * 1024 })), `storage at ${foreign}`)
      assertRefused(yield* Effect.flip(maintenance.removeOrphans(trades, { dryRun: true })), `storage at ${foreign}`)
      assertRefused(yield* Effect.flip(appendDay(20)), `storage at ${foreign}`)
      yield* unchanged
    }).pipe(Effect.provide(lakehouse())))
})

describe("a manifest of a partition spec whose values K2 does not hold (identity of a string)", () => {
  it.effect("compaction, orphan removal and a replace of K2's own files refuse it naming the spec, not as a corrupt manifest", () =>
    Effect.gen(function*() {
      yield* appendDay()
      yield* appendDay(20)
      const list = yield* asAnotherEngine(firstBySymbol, { addSpec: bySymbol })
      const maintenance = yield* Maintenance
      assertRefused(yield* Effect.flip((yield* TableScanner).plan(trades)), "partition spec 1", "identity(symbol)")
      assertRefused(yield* Effect.flip(maintenance.compact(trades, { targetFileSizeBytes: 64 * 1024 * 1024 })), "partition spec 1", "identity(symbol)")
      assertRefused(yield* Effect.flip(maintenance.removeOrphans(trades, { dryRun: true })), "partition spec 1", "identity(symbol)")
      const replaced = yield* Effect.flip((yield* IcebergSink).replace(trades, filesOfSecond(list), tradeColumns(makeTrades({ count: 20, days: 1, offsetBase: 20 }))))
      assertRefused(replaced, "partition spec 1", "identity(symbol)")
      yield* unchanged
    }).pipe(Effect.provide(lakehouse())))
})

describe("manifestRefusal, manifestListRefusal", () => {
  const schema = tables.trades.schema
  const local = { manifestPath: "file:///wh/t/metadata/m0.avro", partitions: null }
  const s3 = "s3://bucket/t/metadata/m0.avro"

  it("reads K2's own manifest (local, unencrypted, day partitions) and list", () => {
    assert.isNull(manifestRefusal(local, tables.trades.spec, schema))
    assert.isNull(manifestRefusal({ ...local, manifestPath: "/wh/t/metadata/m0.avro" }, tables.trades.spec, schema))
    assert.isNull(manifestListRefusal({ "manifest-list": "file:///wh/t/metadata/snap-1.avro" }))
  })

  it("names the first reason of: foreign storage, then encryption, then partition values", () => {
    const everything = { manifestPath: s3, keyMetadata: new Uint8Array([1]), partitions: null }
    assert.include(manifestRefusal(everything, bySymbol, schema), `storage at ${s3}`)
    assert.include(manifestRefusal({ ...everything, manifestPath: local.manifestPath }, bySymbol, schema), "key_metadata")
    assert.include(manifestRefusal(local, bySymbol, schema), "identity(symbol)")
    assert.include(manifestListRefusal({ "manifest-list": s3 }), `storage at ${s3}`)
  })

  it("leaves a spec the table lacks to its caller (a CorruptFile or CommitRejected there)", () => {
    assert.isNull(manifestRefusal(local, undefined, schema))
    assert.include(manifestRefusal({ ...local, manifestPath: s3 }, undefined, schema), "storage at")
  })
})
