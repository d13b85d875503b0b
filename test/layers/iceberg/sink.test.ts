import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { toUnscaled } from "../../../src/domain/decimal.ts"
import { markerKey, mirroredCarry } from "../../../src/domain/ingest/marker.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import * as FileIOLayers from "../../../src/layers/iceberg/fileio.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { decodeManifest, decodeManifestList, encodeManifest, encodeManifestList } from "../../../src/layers/iceberg/manifests.ts"
import { ManifestEntryStatus } from "../../../src/domain/iceberg/spec.ts"
import { Catalog, type CatalogError, catalogError, CatalogUnavailable, CommitConflict, CommitStateUnknown } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades, START_MICROS } from "../../support/fixtures.ts"
import { markerIn } from "../../support/marker.ts"
import { expireAsAnotherEngine, lakehouseWrapping } from "../../support/warehouse.ts"

const DAY = 86_400_000_000

/** An unscaled decimal(18, 8) as DuckDB prints it: all eight places. */
const fixed8 = (unscaled: bigint) => {
  const digits = (unscaled < 0n ? -unscaled : unscaled).toString().padStart(9, "0")
  return `${unscaled < 0n ? "-" : ""}${digits.slice(0, -8)}.${digits.slice(-8)}`
}
const trades = { namespace: "market_data", name: "trades" }

const warehouse = (sink?: Lakehouse.LakehouseOptions["sink"]) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sink-"))
  return Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") }, ...(sink ? { sink } : {}) })
}

/**
 * A warehouse whose catalog, once `outage.on`, applies a commit but answers CommitStateUnknown
 * (the connection dropped after the swap), then cannot be reached at all: what a catalog
 * outage in the middle of a commit looks like to the writer.
 */
const warehouseWithOutage = (outage: { on: boolean }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sink-"))
  let committedDuringOutage = false
  const down = () => Effect.fail(catalogError(new CatalogUnavailable({ detail: "connection refused" })))
  return lakehouseWrapping({
    warehouse: dir,
    catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") },
    sink: { maxCommitAttempts: 3 }
  }, (catalog) =>
    Catalog.of({
      ...catalog,
      loadTable: (id) => outage.on && committedDuringOutage ? down() : catalog.loadTable(id),
      commitTable: (id, requirements, updates) =>
        outage.on
          ? catalog.commitTable(id, requirements, updates).pipe(
            Effect.andThen(() => {
              committedDuringOutage = true
              return Effect.fail(catalogError(new CommitStateUnknown({ table: "trades", detail: "connection reset" })))
            })
          )
          : catalog.commitTable(id, requirements, updates)
    }))
}

const parquetFiles = (dir: string) =>
  fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".parquet"))

describe("IcebergSink.ensureTable", () => {
  it.effect("gives a K2 table made before without its retention property the property, and leaves one that sets it alone", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const catalog = yield* Catalog
      // As an earlier K2 made them: no history.expire property.
      const { properties: _, ...older } = tables.trades
      yield* sink.ensureTable(older)
      assert.isUndefined((yield* catalog.loadTable(trades)).metadata.properties["history.expire.max-snapshot-age-ms"])
      const upgraded = yield* sink.ensureTable(tables.trades)
      assert.strictEqual(upgraded.metadata.properties["history.expire.max-snapshot-age-ms"], "3600000")
      assert.strictEqual((yield* catalog.loadTable(trades)).metadata.properties["history.expire.max-snapshot-age-ms"], "3600000")
      // An operator's own setting stays.
      yield* catalog.commitTable(trades, [], [{ action: "set-properties", updates: { "history.expire.max-snapshot-age-ms": "86400000" } }])
      const kept = yield* sink.ensureTable(tables.trades)
      assert.strictEqual(kept.metadata.properties["history.expire.max-snapshot-age-ms"], "86400000")
    }).pipe(Effect.provide(warehouse())))

  it.effect("adds the retention property even when another process's commit (a data commit, an earlier K2's) wins the race", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sink-"))
    let raced = false
    const layer = lakehouseWrapping({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }, (catalog) =>
      Catalog.of({
        ...catalog,
        commitTable: (id, requirements, updates) =>
          Effect.suspend(() => {
            if (raced || !updates.some((u) => u.action === "set-properties")) return catalog.commitTable(id, requirements, updates)
            raced = true
            // Another process commits first, adding none of K2's properties: this commit's swap fails.
            return catalog.commitTable(id, [], [{ action: "set-properties", updates: { "commit.other": "x" } }]).pipe(
              Effect.andThen(Effect.fail(catalogError(new CommitConflict({ table: id.name, detail: "metadata_location changed since it was read" }))))
            )
          })
      }))
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      const catalog = yield* Catalog
      const { properties: _, ...older } = tables.trades
      yield* sink.ensureTable(older)
      const upgraded = yield* sink.ensureTable(tables.trades)
      assert.isTrue(raced)
      assert.strictEqual(upgraded.metadata.properties["history.expire.max-snapshot-age-ms"], "3600000")
      assert.strictEqual((yield* catalog.loadTable(trades)).metadata.properties["history.expire.max-snapshot-age-ms"], "3600000")
    }).pipe(Effect.provide(layer))
  })
  it.effect("a K2 table keeps its current metadata file and the 10 before it on disk, however many commits", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sink-"))
    return Effect.gen(function*() {
      const logged = yield* Effect.gen(function*() {
        const sink = yield* IcebergSink
        const catalog = yield* Catalog
        yield* sink.ensureTable(tables.trades)
        for (let i = 0; i < 25; i++) {
          yield* catalog.commitTable(trades, [], [{ action: "set-properties", updates: { "k2.test.commit": String(i) } }])
        }
        return (yield* catalog.loadTable(trades)).metadata["metadata-log"].length
      }).pipe(Effect.provide(Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } })))
      // Counted once the lakehouse has closed: the removals run beside the commits' answers (ADR-84).
      const onDisk = fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".metadata.json"))
      assert.strictEqual(logged, 10)
      assert.strictEqual(onDisk.length, 11)
    })
  })
})

describe("IcebergSink and TableScanner", () => {
  it.effect("appends one sorted file per day and plans a one-day read to that day's file", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      yield* sink.ensureTable(tables.trades)
      const rows = makeTrades({ count: 3_000, days: 3 })
      const outcome = yield* sink.append(trades, tradeColumns(rows), { properties: { "k2.test": "yes" } })
      assert.strictEqual(outcome.files.length, 3)
      assert.strictEqual(outcome.snapshot.summary["total-records"], "3000")
      assert.strictEqual(outcome.snapshot.summary["k2.test"], "yes")
      assert.strictEqual(outcome.snapshot.summary.operation, "append")

      const all = yield* scanner.plan(trades)
      assert.strictEqual(all.stats.filesPlanned, 3)
      const day2 = yield* scanner.plan(trades, {
        filter: { time: { column: "exchange_timestamp", from: START_MICROS + DAY, to: START_MICROS + 2 * DAY } }
      })
      assert.strictEqual(day2.stats.filesPlanned, 1)
      assert.strictEqual(day2.stats.filesTotal, 3)
      const counted = yield* selectPlanned(day2, "count(*)::INTEGER AS n")
      assert.strictEqual(counted[0]!.n, 1_000)

      const bySymbol = yield* scanner.plan(trades, { filter: { values: [{ column: "symbol", values: ["ZZZ"] }] } })
      assert.strictEqual(bySymbol.stats.filesPlanned, 0)
    }).pipe(Effect.provide(warehouse())))

  it.effect("reads back every value exactly", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      yield* sink.ensureTable(tables.trades)
      const rows = makeTrades({ count: 500, days: 2 })
      yield* sink.append(trades, tradeColumns(rows))
      const plan = yield* scanner.plan(trades)
      const read = yield* selectPlanned(
        plan,
        "message_id, price::VARCHAR AS price, epoch_us(exchange_timestamp)::VARCHAR AS ts, kafka_offset::VARCHAR AS o",
        "ORDER BY kafka_offset"
      )
      assert.strictEqual(read.length, 500)
      rows.forEach((r, i) => {
        const got = read[i]!
        assert.strictEqual(got.message_id, r.message_id)
        assert.strictEqual(got.ts, String(r.exchange_timestamp))
        assert.strictEqual(got.o, String(r.kafka_offset))
        assert.strictEqual(got.price, fixed8(toUnscaled(r.price)!))
      })
    }).pipe(Effect.provide(warehouse())))

  it.live("time travels by snapshot id and by timestamp", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      yield* sink.ensureTable(tables.trades)
      const first = yield* sink.append(trades, tradeColumns(makeTrades({ count: 100 })))
      yield* Effect.sleep("5 millis")
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 50, offsetBase: 100 })))
      const now = yield* scanner.plan(trades)
      assert.strictEqual(now.snapshot?.summary["total-records"], "150")
      const byId = yield* scanner.plan(trades, { snapshot: { _tag: "ById", snapshotId: first.snapshot["snapshot-id"] } })
      assert.strictEqual((yield* selectPlanned(byId, "count(*)::INTEGER AS n"))[0]!.n, 100)
      const asOf = yield* scanner.plan(trades, {
        snapshot: { _tag: "AsOf", timestampMs: first.snapshot["timestamp-ms"] }
      })
      assert.strictEqual(asOf.snapshot?.["snapshot-id"], first.snapshot["snapshot-id"])
      const missing = yield* Effect.flip(scanner.plan(trades, { snapshot: { _tag: "ById", snapshotId: 42n } }))
      assert.strictEqual(missing._tag, "SnapshotNotFound")
    }).pipe(Effect.provide(warehouse())))

  it.effect("merges manifests by day once their count passes the threshold", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      yield* sink.ensureTable(tables.trades)
      for (let i = 0; i < 12; i++) {
        yield* sink.append(trades, tradeColumns(makeTrades({ count: 20, days: 1, startMicros: START_MICROS + (i % 4) * DAY, offsetBase: i * 20 })))
      }
      const plan = yield* scanner.plan(trades)
      assert.strictEqual(plan.stats.filesPlanned, 12)
      assert.isAtMost(plan.stats.manifestsTotal, 8)
      const oneDay = yield* scanner.plan(trades, {
        filter: { time: { column: "exchange_timestamp", from: START_MICROS + DAY, to: START_MICROS + 2 * DAY } }
      })
      assert.strictEqual(oneDay.stats.filesPlanned, 3)
      assert.isAtMost(oneDay.stats.manifestsRead, 3)
      assert.strictEqual(plan.snapshot?.summary["total-records"], "240")
    }).pipe(Effect.provide(warehouse({ mergePolicy: { minCountToMerge: 5, targetManifestBytes: 8 * 1024 * 1024 } }))))

  it.effect("merges manifests one partition spec at a time, and rewrites each with its own spec", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const catalog = yield* Catalog
      const files = yield* FileIO
      yield* sink.ensureTable(tables.trades)
      const batch = (i: number) => tradeColumns(makeTrades({ count: 10, days: 1, startMicros: START_MICROS + (i % 2) * DAY, offsetBase: i * 10 }))
      const written = []
      for (let i = 0; i < 4; i++) written.push(...(yield* sink.append(trades, batch(i))).files)
      const before = written.map((f) => f.filePath)
      // Another engine evolves the spec (to the same fields under a new id, so K2 can go on writing).
      const loaded = yield* catalog.loadTable(trades)
      const spec = loaded.metadata["partition-specs"][0]!
      yield* catalog.commitTable(trades, [{ type: "assert-table-uuid", uuid: loaded.metadata["table-uuid"] }], [
        { action: "add-spec", spec: { ...spec, "spec-id": 1 } },
        { action: "set-default-spec", "spec-id": 1 }
      ])
      for (let i = 4; i < 8; i++) yield* sink.append(trades, batch(i))
      // A replace of an old file rewrites its manifest too.
      const replaced = yield* sink.replace(trades, [written[0]!], batch(0))
      const list = yield* decodeManifestList(yield* files.read(replaced.snapshot["manifest-list"]), "list")
      assert.sameMembers([...new Set(list.map((mf) => mf.partitionSpecId))], [0, 1])
      for (const mf of list) {
        const entries = yield* decodeManifest(yield* files.read(mf.manifestPath), mf.manifestPath)
        for (const e of entries) {
          const old = before.includes(e.dataFile.filePath)
          assert.strictEqual(mf.partitionSpecId, old ? 0 : 1, `${e.dataFile.filePath} (${old ? "before" : "after"} the spec changed)`)
        }
      }
    }).pipe(Effect.provide(warehouse({ mergePolicy: { minCountToMerge: 3, targetManifestBytes: 8 * 1024 * 1024 } }))))

  it.effect("merging leaves alone the manifests of an older spec K2 cannot write (another engine's identity(symbol)), rather than refusing every append", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const catalog = yield* Catalog
      const files = yield* FileIO
      yield* sink.ensureTable(tables.trades)
      const first = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      // Another engine: a spec by symbol (kept, not the default), and a snapshot with two manifests of it.
      const symbolId = tables.trades.schema.fields.find((f) => f.name === "symbol")!.id
      const bySymbol = { "spec-id": 1, fields: [{ "source-id": symbolId, "field-id": 1001, name: "symbol", transform: "identity" }] }
      const m0 = (yield* catalog.loadTable(trades)).metadata
      yield* catalog.commitTable(trades, [{ type: "assert-table-uuid", uuid: m0["table-uuid"] }], [{ action: "add-spec", spec: bySymbol }])
      const list = yield* decodeManifestList(yield* files.read(first.snapshot["manifest-list"]), "list")
      const [entry] = yield* decodeManifest(yield* files.read(list[0]!.manifestPath), "manifest")
      // Written as void of symbol: the manifest K2 cannot write itself (string values), byte for byte as Java writes it.
      const asVoid = { "spec-id": 1, fields: [{ ...bySymbol.fields[0]!, transform: "void" }] }
      const foreign = []
      for (const symbol of ["AAPL", "MSFT"]) {
        const manifestPath = `${m0.location}/metadata/foreign-${symbol}-m0.avro`
        const bytes = encodeManifest([{ ...entry!, dataFile: { ...entry!.dataFile, filePath: `${m0.location}/data/symbol=${symbol}/f.parquet`, partition: { symbol: symbol as never } } }], {
          schema: tables.trades.schema,
          spec: asVoid
        })
        yield* files.write(manifestPath, bytes)
        foreign.push({ ...list[0]!, manifestPath, manifestLength: bytes.length, partitionSpecId: 1, partitions: null })
      }
      const m = (yield* catalog.loadTable(trades)).metadata
      const snapshotId = 4_242n
      const listPath = `${m.location}/metadata/snap-foreign.avro`
      yield* files.write(listPath, encodeManifestList([...foreign, ...list], { snapshotId, parentSnapshotId: first.snapshot["snapshot-id"], sequenceNumber: m["last-sequence-number"] + 1n }))
      yield* catalog.commitTable(trades, [{ type: "assert-table-uuid", uuid: m["table-uuid"] }], [
        {
          action: "add-snapshot",
          snapshot: {
            "snapshot-id": snapshotId,
            "parent-snapshot-id": first.snapshot["snapshot-id"],
            "sequence-number": m["last-sequence-number"] + 1n,
            "timestamp-ms": 1,
            "manifest-list": listPath,
            summary: { operation: "append" },
            "schema-id": 0
          }
        },
        { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": snapshotId }
      ])
      const appended = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))
      const after = yield* decodeManifestList(yield* files.read(appended.snapshot["manifest-list"]), "list")
      assert.sameMembers(after.filter((mf) => mf.partitionSpecId === 1).map((mf) => mf.manifestPath), foreign.map((mf) => mf.manifestPath))
      assert.strictEqual(after.filter((mf) => mf.partitionSpecId === 0).length, 2)
    }).pipe(Effect.provide(warehouse({ mergePolicy: { minCountToMerge: 3, targetManifestBytes: 8 * 1024 * 1024 } }))))

  it.effect("a replace that merges manifests still lists the files it removed as DELETED", () =>
    Effect.gen(function*() {
      // Java keeps a snapshot's own deletes when it merges; its RowDelta finds by them that the
      // files its deletes name were removed meanwhile. They were dropped with the older deletes.
      const sink = yield* IcebergSink
      const files = yield* FileIO
      yield* sink.ensureTable(tables.trades)
      const written = []
      for (let i = 0; i < 2; i++) written.push(...(yield* sink.append(trades, tradeColumns(makeTrades({ count: 20, offsetBase: i * 20 })))).files)
      const replaced = yield* sink.replace(trades, written, tradeColumns(makeTrades({ count: 40 })))
      const deleted: Array<string> = []
      for (const mf of yield* decodeManifestList(yield* files.read(replaced.snapshot["manifest-list"]), "list")) {
        for (const e of yield* decodeManifest(yield* files.read(mf.manifestPath), mf.manifestPath)) {
          if (e.status === ManifestEntryStatus.DELETED) {
            assert.strictEqual(e.snapshotId, replaced.snapshot["snapshot-id"])
            deleted.push(e.dataFile.filePath)
          }
        }
      }
      assert.sameMembers(deleted, written.map((f) => f.filePath))
      assert.strictEqual((yield* (yield* TableScanner).plan(trades)).files.length, 1)
    }).pipe(Effect.provide(warehouse({ mergePolicy: { minCountToMerge: 2, targetManifestBytes: 8 * 1024 * 1024 } }))))

  it.effect("a commit leaves out the manifests of earlier snapshots that list no live file, as Java does", () =>
    Effect.gen(function*() {
      // Java's expiry deletes the files a snapshot removed by the DELETED entries of the manifests
      // it added, once no retained snapshot lists those manifests; carried on forever, they never are.
      const sink = yield* IcebergSink
      const files = yield* FileIO
      yield* sink.ensureTable(tables.trades)
      const a = yield* sink.append(trades, tradeColumns(makeTrades({ count: 20 })))
      const replaced = yield* sink.replace(trades, a.files, tradeColumns(makeTrades({ count: 20 })))
      const listOf = (s: { readonly "manifest-list": string }) =>
        Effect.flatMap(files.read(s["manifest-list"]), (b) => decodeManifestList(b, s["manifest-list"]))
      const dead = (yield* listOf(replaced.snapshot)).filter((mf) => mf.addedFilesCount + mf.existingFilesCount === 0)
      assert.strictEqual(dead.length, 1, "the replace lists what it removed")
      const next = yield* sink.append(trades, tradeColumns(makeTrades({ count: 5, offsetBase: 20 })))
      const list = yield* listOf(next.snapshot)
      assert.deepStrictEqual(
        list.filter((mf) => mf.addedFilesCount + mf.existingFilesCount === 0).map((mf) => mf.manifestPath),
        []
      )
      assert.strictEqual(list.length, 2)
      assert.strictEqual(next.snapshot.summary["total-records"], "25")
    }).pipe(Effect.provide(warehouse())))

  it.effect("tells once that a batch's rows are loaded, as its last file is written, and not for an empty batch", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      let loaded = 0
      const onLoaded = () => void loaded++
      // Three days: three partitions loaded and written in turn, told after the last one's load.
      const outcome = yield* sink.append(trades, tradeColumns(makeTrades({ count: 300, days: 3 })), { onLoaded })
      assert.strictEqual(outcome.files.length, 3)
      assert.strictEqual(loaded, 1)
      yield* sink.append(trades, tradeColumns([]), { onLoaded })
      assert.strictEqual(loaded, 1)
      const refused = yield* Effect.flip(sink.append(trades, tradeColumns(makeTrades({ count: 5, offsetBase: 300 })), {
        onLoaded,
        prepare: () => Result.fail("not this one")
      }))
      assert.strictEqual(refused._tag, "CommitRejected")
      assert.strictEqual(loaded, 2, "a commit refused after the write: the rows were loaded")
    }).pipe(Effect.provide(warehouse())))

  it.effect("a table whose data or metadata lives on other storage (s3://) is refused by name, and nothing is written for it", () => {
    // K2 reaches the local file system only: an s3:// path taken for a local one put the files under
    // ./s3:/ and committed locations no engine could read.
    const foreign: { properties: Record<string, string> | undefined } = { properties: undefined }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sink-"))
    const lake = lakehouseWrapping({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }, (catalog) =>
      Catalog.of({
        ...catalog,
        loadTable: (id) =>
          Effect.map(catalog.loadTable(id), (t) =>
            foreign.properties === undefined ? t : { ...t, metadata: { ...t.metadata, properties: { ...t.metadata.properties, ...foreign.properties } } })
      }))
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      const catalog = yield* Catalog
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 5 })))
      const before = (yield* catalog.loadTable(trades)).metadata["current-snapshot-id"]
      for (const key of ["write.data.path", "write.metadata.path"]) {
        foreign.properties = { [key]: "s3://bucket/market_data/trades/elsewhere" }
        const failed = yield* Effect.flip(sink.append(trades, tradeColumns(makeTrades({ count: 5, offsetBase: 5 }))))
        assert.strictEqual(failed._tag, "UnsupportedTableFeature", key)
        assert.include(failed.message, "s3://bucket/market_data/trades/elsewhere")
        assert.isFalse(fs.existsSync("s3:"), `nothing written under ./s3: (${key})`)
        assert.strictEqual((yield* catalog.loadTable(trades)).metadata["current-snapshot-id"], before)
      }
      foreign.properties = undefined
      assert.deepStrictEqual(parquetFiles(dir).length, 1, "the data files of the refused commit are removed")
    }).pipe(Effect.ensuring(Effect.sync(() => fs.rmSync("s3:", { recursive: true, force: true }))), Effect.provide(lake))
  })

  it.effect("files are committed under the spec they were written with when another engine changes it in between", () => {
    const hook = { armed: false, loads: 0 }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sink-"))
    const lake = lakehouseWrapping({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }, (catalog) =>
      Catalog.of({
        ...catalog,
        loadTable: (id) =>
          Effect.gen(function*() {
            // The sink's first load is for writing the files; before its commit loads the table,
            // another engine evolves the spec (a new field id and name over the same day).
            if (hook.armed && ++hook.loads === 2) {
              const loaded = yield* catalog.loadTable(id)
              const spec = loaded.metadata["partition-specs"][0]!
              yield* catalog.commitTable(id, [{ type: "assert-table-uuid", uuid: loaded.metadata["table-uuid"] }], [
                { action: "add-spec", spec: { "spec-id": 1, fields: spec.fields.map((f) => ({ ...f, name: "ts_day", "field-id": 1001 })) } },
                { action: "set-default-spec", "spec-id": 1 }
              ])
            }
            return yield* catalog.loadTable(id)
          })
      }))
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      const files = yield* FileIO
      yield* sink.ensureTable(tables.trades)
      hook.armed = true
      const appended = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      hook.armed = false
      assert.strictEqual((yield* (yield* Catalog).loadTable(trades)).metadata["default-spec-id"], 1)
      for (const mf of yield* decodeManifestList(yield* files.read(appended.snapshot["manifest-list"]), "list")) {
        for (const e of yield* decodeManifest(yield* files.read(mf.manifestPath), mf.manifestPath)) {
          assert.strictEqual(mf.partitionSpecId, 0, `${e.dataFile.filePath} was written under spec 0`)
          assert.deepStrictEqual(Object.keys(e.dataFile.partition), ["exchange_timestamp_day"])
        }
      }
    }).pipe(Effect.provide(lake))
  })

  // Live: the retry waits out a real (20 ms) backoff.
  it.live("a snapshot another engine staged meanwhile (no ref moved) makes the commit retry on a new number, never share its number", () => {
    const hook = { armed: false }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sink-"))
    const lake = lakehouseWrapping({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }, (catalog) =>
      Catalog.of({
        ...catalog,
        commitTable: (id, requirements, updates) =>
          Effect.gen(function*() {
            if (hook.armed) {
              // Between K2's load and its commit, a write-audit-publish engine stages a snapshot on main's head.
              hook.armed = false
              const m = (yield* catalog.loadTable(id)).metadata
              yield* catalog.commitTable(id, [], [{
                action: "add-snapshot",
                snapshot: {
                  "snapshot-id": 42n,
                  "parent-snapshot-id": m["current-snapshot-id"]!,
                  "sequence-number": m["last-sequence-number"] + 1n,
                  "timestamp-ms": m["last-updated-ms"],
                  "manifest-list": `${m.location}/metadata/staged.avro`,
                  summary: { operation: "append" }
                }
              }])
            }
            return yield* catalog.commitTable(id, requirements, updates)
          })
      }))
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      hook.armed = true
      const appended = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))
      const m = (yield* (yield* Catalog).loadTable(trades)).metadata
      const numbers = m.snapshots.map((s) => s["sequence-number"])
      assert.deepStrictEqual(numbers, [1n, 2n, 3n])
      assert.strictEqual(appended.snapshot["sequence-number"], 3n)
      assert.strictEqual(appended.attempts, 2)
      assert.strictEqual(m["last-sequence-number"], 3n)
    }).pipe(Effect.provide(lake))
  })

  it.effect("replaces files in one snapshot and keeps the rows", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      yield* sink.ensureTable(tables.trades)
      const a = yield* sink.append(trades, tradeColumns(makeTrades({ count: 100 })))
      const b = yield* sink.append(trades, tradeColumns(makeTrades({ count: 100, offsetBase: 100 })))
      const rows = [...makeTrades({ count: 100 }), ...makeTrades({ count: 100, offsetBase: 100 })]
      const replaced = yield* sink.replace(trades, [...a.files, ...b.files], tradeColumns(rows))
      assert.strictEqual(replaced.snapshot.summary.operation, "replace")
      assert.strictEqual(replaced.snapshot.summary["total-data-files"], "1")
      assert.strictEqual(replaced.snapshot.summary["total-records"], "200")
      const plan = yield* scanner.plan(trades)
      assert.strictEqual(plan.files.length, 1)
      const again = yield* Effect.flip(sink.replace(trades, a.files, tradeColumns(rows)))
      assert.strictEqual(again._tag, "FilesNoLongerLive")
    }).pipe(Effect.provide(warehouse())))

  it.effect("a commit id lands once even when asked twice", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const catalog = yield* Catalog
      yield* sink.ensureTable(tables.trades)
      const batch = tradeColumns(makeTrades({ count: 10 }))
      const first = yield* sink.append(trades, batch, { properties: { "k2.commit-id": "c-1" } })
      const second = yield* sink.append(trades, batch, { properties: { "k2.commit-id": "c-1" } })
      assert.strictEqual(second.snapshot["snapshot-id"], first.snapshot["snapshot-id"])
      assert.strictEqual((yield* catalog.loadTable(trades)).metadata.snapshots.length, 1)
    }).pipe(Effect.provide(warehouse())))

  // ADR-21: the table properties must mirror exactly what the snapshot naming them carries. Keys a
  // commit no longer carries (gone with a rollback) must not linger in them.
  /** A K2 commit carrying no marker (a backfill), group b's commit of t:0 up to 100 on it, then a rollback to the backfill: b's rows are gone. */
  const rolledBackB = Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    const base = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
    yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })), {
      properties: { [markerKey("b")]: `{"t":{"0":100}}`, "k2.sequence.checkpoint.b.t:0": "/gone/k2-sequence-b.json" }
    })
    yield* (yield* Catalog).commitTable(trades, [], [
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": base.snapshot["snapshot-id"] }
    ])
  })

  it.effect("a rollback's discarded markers and checkpoints do not survive in the table properties", () =>
    Effect.gen(function*() {
      yield* rolledBackB
      // Group a ingests on top of the rollback; its snapshot carries a's marker only.
      const a = yield* (yield* IcebergSink).append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 20 })), {
        properties: { [markerKey("a")]: `{"t":{"1":50}}` }
      })
      assert.isUndefined(a.snapshot.summary[markerKey("b")])
      // Another engine rewrites and expires every other snapshot (expire_snapshots retain_last 1).
      yield* expireAsAnotherEngine(trades)
      const m = (yield* (yield* Catalog).loadTable(trades)).metadata
      assert.strictEqual(markerIn(m, "a")?.offsets.get("t")?.get(1), 50n)
      // b's marker was rolled back with its rows: b must read t:0 from the start again, not from 100.
      assert.isUndefined(markerIn(m, "b"), "a marker the current data does not hold")
      assert.isUndefined(mirroredCarry(m)?.["k2.sequence.checkpoint.b.t:0"], "a checkpoint the current data does not hold")
    }).pipe(Effect.provide(warehouse())))

  it.effect("a K2 commit carrying nothing after a rollback clears the mirror, so a later expiry cannot revive it", () =>
    Effect.gen(function*() {
      yield* rolledBackB
      // A K2 commit with no marker on the rolled-back table (a backfill, a compaction).
      yield* (yield* IcebergSink).append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 20 })))
      yield* expireAsAnotherEngine(trades)
      const m = (yield* (yield* Catalog).loadTable(trades)).metadata
      assert.isUndefined(markerIn(m, "b"), "b's rows were rolled back: it must read t:0 from the start")
    }).pipe(Effect.provide(warehouse())))

  it.effect("a commit's own marker wins over the one it carries forward from the snapshot before", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const catalog = yield* Catalog
      yield* sink.ensureTable(tables.trades)
      const markAt = Effect.map(catalog.loadTable(trades), (t) => markerIn(t.metadata, "a")?.offsets.get("t")?.get(0))
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })), { properties: { [markerKey("a")]: `{"t":{"0":10}}` } })
      assert.strictEqual(yield* markAt, 10n)
      // As the ingestor sets it: by the fence, on the base the attempt read.
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })), {
        prepare: () => Result.succeed({ [markerKey("a")]: `{"t":{"0":20}}` })
      })
      assert.strictEqual(yield* markAt, 20n)
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 20 })), { properties: { [markerKey("a")]: `{"t":{"0":30}}` } })
      assert.strictEqual(yield* markAt, 30n)
    }).pipe(Effect.provide(warehouse())))

  /**
   * A warehouse whose catalog applies the next commit but answers it with `answer` (the answer lost,
   * or a proxy's resent copy refused), once `landing.left` is set.
   */
  const landedButAnswered = (answer: CatalogError["reason"], landing: { left: number }, maxCommitAttempts = 3) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sink-"))
    return lakehouseWrapping({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") }, sink: { maxCommitAttempts } }, (catalog) =>
      Catalog.of({
        ...catalog,
        commitTable: (id, requirements, updates) =>
          Effect.andThen(
            catalog.commitTable(id, requirements, updates),
            (committed) => landing.left-- > 0 ? Effect.fail(catalogError(answer)) : Effect.succeed(committed)
          )
      }))
  }

  // Live: the retry waits out a real (20 ms) backoff.
  it.live("a commit whose outcome stayed unknown is asked again, found landed, and succeeds: one snapshot", () => {
    const landing = { left: 0 }
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      landing.left = 1
      const appended = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      assert.strictEqual(appended.attempts, 2)
      assert.strictEqual(appended.files.length > 0, true, "its files are the table's")
      const m = (yield* (yield* Catalog).loadTable(trades)).metadata
      assert.strictEqual(m.snapshots.length, 1)
      assert.strictEqual(m["current-snapshot-id"], appended.snapshot["snapshot-id"])
    }).pipe(Effect.provide(landedButAnswered(new CommitStateUnknown({ table: "trades", detail: "connection reset" }), landing)))
  })

  /**
   * A commit that lands but is answered as a conflict (a proxy resent the POST, its copy refused),
   * with `maxCommitAttempts`: found by the next attempt, or (the last) by one more load.
   */
  const landedAnsweredConflict = (maxCommitAttempts: number) => {
    const landing = { left: 0 }
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      yield* sink.ensureTable(tables.trades)
      landing.left = 1
      const appended = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      assert.strictEqual(appended.attempts, Math.min(2, maxCommitAttempts))
      const plan = yield* scanner.plan(trades)
      assert.strictEqual(plan.snapshot?.["snapshot-id"], appended.snapshot["snapshot-id"])
      assert.strictEqual((yield* selectPlanned(plan, "count(*)::INTEGER AS n"))[0]!.n, 10, "the snapshot's data files are still there")
      assert.deepStrictEqual(appended.files.map((f) => f.filePath), plan.files.map((f) => f.filePath), "reported as this call's")
    }).pipe(Effect.provide(landedButAnswered(new CommitConflict({ table: "trades", detail: "ref main has changed" }), landing, maxCommitAttempts)))
  }

  // Live: the retry waits out a real (20 ms) backoff.
  it.live("a commit that landed but was answered as a conflict (a proxy resent the POST, its copy refused) is this call's: its files stay and are reported", () =>
    landedAnsweredConflict(3))

  it.effect("a LAST attempt that landed but was answered as a conflict is found by one more load: its files stay and are reported", () =>
    landedAnsweredConflict(1))

  it.effect("a LAST attempt answered as a conflict that did not land still fails as the conflict, its files removed", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sink-"))
    const layer = lakehouseWrapping({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") }, sink: { maxCommitAttempts: 1 } }, (catalog) =>
      Catalog.of({ ...catalog, commitTable: () => Effect.fail(catalogError(new CommitConflict({ table: "trades", detail: "ref main has changed" }))) }))
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      const failed = yield* Effect.flip(sink.append(trades, tradeColumns(makeTrades({ count: 10 }))))
      assert.strictEqual(failed._tag === "CatalogError" ? failed.reason._tag : failed._tag, "CommitConflict")
      const data = path.join(dir, "market_data", "trades", "data")
      assert.isTrue(fs.existsSync(data), "the files were written there")
      assert.deepStrictEqual(fs.readdirSync(data, { recursive: true }).filter((f) => String(f).endsWith(".parquet")), [])
    }).pipe(Effect.provide(layer))
  })

  // Live: the retry waits out a real (20 ms) backoff.
  it.live("a rollback between an attempt's read and its commit conflicts: the retry builds on the rolled-back table", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sink-"))
    let rollBackTo: bigint | undefined
    const layer = lakehouseWrapping({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }, (catalog) =>
      Catalog.of({
        ...catalog,
        commitTable: (id, requirements, updates) => {
          const to = rollBackTo
          rollBackTo = undefined
          // Another engine rolls main back after the attempt read the table (no snapshot added).
          const rollback = to === undefined
            ? Effect.void
            : Effect.asVoid(catalog.commitTable(id, [], [{ action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": to }]))
          return Effect.andThen(rollback, catalog.commitTable(id, requirements, updates))
        }
      }))
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      const base = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))
      rollBackTo = base.snapshot["snapshot-id"]
      const appended = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 20 })))
      assert.strictEqual(appended.snapshot["parent-snapshot-id"], base.snapshot["snapshot-id"])
      assert.strictEqual(appended.snapshot.summary["total-records"], "20", "the rolled-back rows stay out")
    }).pipe(Effect.provide(layer))
  })

  const outage = { on: false }
  const withOutage = warehouseWithOutage(outage)

  // Live: the commit's retries wait out real (20 ms) backoffs.
  it.live("keeps the data files of a commit whose outcome stayed unknown: it may have landed", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      yield* sink.ensureTable(tables.trades)
      outage.on = true
      const failed = yield* Effect.flip(sink.append(trades, tradeColumns(makeTrades({ count: 10 }))))
      outage.on = false
      assert.strictEqual(failed._tag, "CatalogError")
      assert.strictEqual(failed._tag === "CatalogError" ? failed.reason._tag : "", "CommitStateUnknown")
      // It had landed: the table references the files, which are still there.
      const plan = yield* scanner.plan(trades)
      assert.strictEqual(plan.snapshot?.summary["total-records"], "10")
      assert.strictEqual((yield* selectPlanned(plan, "count(*)::INTEGER AS n"))[0]!.n, 10)
    }).pipe(Effect.provide(withOutage)))

  it.effect("deletes the data files of a commit that certainly did not land", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const table = yield* sink.ensureTable(tables.trades)
      const dir = FileIOLayers.localPath(table.metadata.location)
      const rejected = yield* Effect.flip(
        sink.append(trades, tradeColumns(makeTrades({ count: 10 })), { prepare: () => Result.fail("not ours") })
      )
      assert.strictEqual(rejected._tag, "CommitRejected")
      assert.deepStrictEqual(fs.existsSync(dir) ? parquetFiles(dir) : [], [])
    }).pipe(Effect.provide(warehouse())))
})
