/**
 * Maintenance on a SQLite warehouse: compaction rewrites small files per day and keeps every
 * row and query answer; it survives appends committed meanwhile; expiry keeps each group's
 * marker snapshot; orphan removal deletes only unreferenced, old-enough files.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Ref } from "effect"
import { TestClock } from "effect/testing"
import { currentSchema, currentSnapshot, defaultSpec, type TableUpdate } from "../../../src/domain/iceberg/metadata.ts"
import { ManifestEntryStatus, type Schema, type TableMetadata } from "../../../src/domain/iceberg/spec.ts"
import { fence, markerKey } from "../../../src/domain/ingest/marker.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { dayText } from "../../../src/domain/time.ts"
import { DuckDb, query } from "../../../src/layers/duckdb/DuckDb.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import { decodeManifest, decodeManifestList, encodeManifest, encodeManifestList } from "../../../src/layers/iceberg/manifests.ts"
import { makeSnapshotFiles } from "../../../src/layers/iceberg/snapshotFiles.ts"
import * as MaintenanceLayer from "../../../src/layers/maintenance/maintenance.ts"
import { normalizeLocation, planExpiry } from "../../../src/layers/maintenance/plan.ts"
import { Catalog, type CatalogError, catalogError, CatalogRejected, CatalogUnavailable, CommitStateUnknown, type TableIdentifier } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { markerIn } from "../../support/marker.ts"
import { evolvingLakehouse, expireAsAnotherEngine, importWithoutFieldIds, lakehouseWrapping, maintainedLakehouse, swappingLakehouse } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }

/**
 * A SQLite warehouse in a fresh directory whose catalog is `wrap` of the real one: faults, and
 * other engines' commits, injected where a test says.
 */
const wrappedWarehouse = (
  wrap: (catalog: Catalog["Service"]) => Catalog["Service"],
  options?: Parameters<typeof MaintenanceLayer.layer>[0]
) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-maint-"))
  const lake = lakehouseWrapping({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }, wrap)
  return { dir, layer: MaintenanceLayer.layer(options).pipe(Layer.provideMerge(lake)) }
}

/**
 * A wrapped warehouse where, once armed, another engine's commit (`commit`, straight to the
 * catalog) lands just before the first of K2's commits whose updates `before` matches.
 */
const anotherEngineCommitsOnce = (
  before: (updates: ReadonlyArray<TableUpdate>) => boolean,
  commit: (catalog: Catalog["Service"], id: TableIdentifier) => Effect.Effect<unknown, CatalogError>
) => {
  const state = { armed: false }
  const { dir, layer } = wrappedWarehouse((catalog) =>
    Catalog.of({
      ...catalog,
      commitTable: (id, requirements, updates) =>
        Effect.gen(function*() {
          if (state.armed && before(updates)) {
            state.armed = false
            yield* commit(catalog, id)
          }
          return yield* catalog.commitTable(id, requirements, updates)
        })
    }))
  return { dir, layer, arm: () => void (state.armed = true), landed: () => !state.armed }
}

/** `commits` appends of `perCommit` trades over `days` days, each carrying group g1's marker. */
const appendMany = (commits: number, perCommit: number, days: number, offsetBase = 0) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    for (let i = 0; i < commits; i++) {
      const base = offsetBase + i * perCommit
      const rows = makeTrades({ count: perCommit, days, offsetBase: base, idPrefix: "m" })
      yield* sink.append(trades, tradeColumns(rows), {
        properties: { [markerKey("g1")]: JSON.stringify({ t: { "0": base + perCommit } }) }
      })
    }
  })

const snapshotOfQueries = Effect.gen(function*() {
  const plan = yield* (yield* TableScanner).plan(trades)
  const [counts] = yield* selectPlanned(plan, "count(*)::INTEGER AS n, count(DISTINCT message_id)::INTEGER AS ids")
  const bars = yield* selectPlanned(
    plan,
    `symbol, date_trunc('hour', exchange_timestamp)::VARCHAR AS h, count(*)::INTEGER AS n,
     sum(quantity)::VARCHAR AS v, min(price)::VARCHAR AS lo, max(price)::VARCHAR AS hi,
     arg_min(price, (exchange_timestamp, kafka_offset))::VARCHAR AS o, arg_max(price, (exchange_timestamp, kafka_offset))::VARCHAR AS c`,
    "GROUP BY ALL ORDER BY ALL"
  )
  return { counts, bars: JSON.stringify(bars), files: plan.files }
})

const filesPerDay = (files: ReadonlyArray<{ partition: Record<string, number | null> }>) => {
  const out: Record<string, number> = {}
  for (const f of files) {
    const k = String(f.partition.exchange_timestamp_day)
    out[k] = (out[k] ?? 0) + 1
  }
  return out
}

describe("Maintenance", () => {
  it.effect("compacts small files per day into sorted files; rows and query answers unchanged", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      yield* sink.ensureTable(tables.trades)
      yield* appendMany(12, 300, 3)
      const before = yield* snapshotOfQueries
      assert.deepStrictEqual(Object.values(filesPerDay(before.files)), [12, 12, 12])

      const result = yield* maintenance.compact(trades, { targetFileSizeBytes: 64 * 1024 * 1024 })
      assert.strictEqual(result.filesBefore, 36)
      assert.strictEqual(result.filesAfter, 3)
      assert.strictEqual(result.partitions.length, 3)
      for (const p of result.partitions) {
        assert.match(p.label, /^exchange_timestamp_day=\d{4}-\d{2}-\d{2}$/)
        assert.strictEqual(p.filesBefore, 12)
        assert.strictEqual(p.filesAfter, 1)
      }

      const after = yield* snapshotOfQueries
      assert.deepStrictEqual(after.counts, before.counts)
      assert.strictEqual(after.counts!.n, 3_600)
      assert.strictEqual(after.bars, before.bars)
      assert.deepStrictEqual(Object.values(filesPerDay(after.files)), [1, 1, 1])

      // Sorted by (symbol, exchange_timestamp) inside each rewritten file.
      const duckDb = yield* DuckDb
      for (const f of after.files) {
        const [row] = yield* duckDb.withConnection((c) =>
          query(c, "check order", `SELECT count(*)::INTEGER AS bad FROM (
            SELECT symbol, exchange_timestamp,
              lag(symbol) OVER (ORDER BY file_row_number) AS ps,
              lag(exchange_timestamp) OVER (ORDER BY file_row_number) AS pt
            FROM read_parquet('${localPath(f.filePath)}', file_row_number = true))
            WHERE ps > symbol OR (ps = symbol AND pt > exchange_timestamp)`)
        )
        assert.strictEqual(row!.bad, 0)
      }

      // The replace snapshot carries the ingestion marker forward.
      const m = (yield* (yield* Catalog).loadTable(trades)).metadata
      assert.strictEqual(currentSnapshot(m)!.summary.operation, "replace")
      assert.strictEqual(markerIn(m, "g1")!.offsets.get("t")!.get(0), 3_600n)

      // A second pass has nothing to do.
      const again = yield* maintenance.compact(trades, { targetFileSizeBytes: 64 * 1024 * 1024 })
      assert.strictEqual(again.partitions.length, 0)
      assert.strictEqual(again.snapshotId, null)
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.live("never loses a file appended while compaction runs", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      yield* sink.ensureTable(tables.trades)
      yield* appendMany(10, 200, 2)
      // Appends keep landing (on the same days) while compaction rewrites.
      const writer = yield* Effect.forkChild(appendMany(15, 100, 2, 100_000))
      const result = yield* maintenance.compact(trades, { targetFileSizeBytes: 64 * 1024 * 1024 })
      yield* Fiber.join(writer)
      const after = yield* snapshotOfQueries
      assert.strictEqual(after.counts!.n, 2_000 + 1_500)
      assert.strictEqual(after.counts!.ids, 3_500)
      assert.isAtLeast(result.partitions.length, 1)
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.live("a compaction whose commit outcome stays unknown keeps its files: the commit may have landed", () => {
    // Once `outage.on`, the catalog applies a commit, answers CommitStateUnknown (the connection
    // dropped after the swap), then cannot be reached: the attempts run out on an unknown outcome.
    const outage = { on: false, committed: false }
    const down = Effect.fail(catalogError(new CatalogUnavailable({ detail: "connection refused" })))
    const { layer } = wrappedWarehouse((catalog) =>
      Catalog.of({
        ...catalog,
        loadTable: (id) => outage.on && outage.committed ? down : catalog.loadTable(id),
        commitTable: (id, requirements, updates) =>
          !outage.on ? catalog.commitTable(id, requirements, updates) : catalog.commitTable(id, requirements, updates).pipe(
            Effect.andThen(() => {
              outage.committed = true
              return Effect.fail(catalogError(new CommitStateUnknown({ table: id.name, detail: "connection reset" })))
            })
          )
      }), { maxCommitAttempts: 3 })
    return Effect.gen(function*() {
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(6, 100, 1)
      outage.on = true
      const failed = yield* Effect.flip((yield* Maintenance).compact(trades, { targetFileSizeBytes: 64 * 1024 * 1024 }))
      assert.strictEqual(failed._tag, "CatalogError")
      outage.on = false
      // The replace landed: the table reads the compacted files, which are all still there.
      const plan = yield* (yield* TableScanner).plan(trades)
      const loaded = yield* (yield* Catalog).loadTable(trades)
      assert.strictEqual(currentSnapshot(loaded.metadata)?.summary.operation, "replace")
      assert.isTrue(plan.files.every((f) => fs.existsSync(localPath(f.filePath))), "every planned file exists")
      assert.strictEqual((yield* snapshotOfQueries).counts!.n, 600)
    }).pipe(Effect.provide(layer))
  })

  it.live("fenced writers of two groups racing compaction and expiry: every marker exact, every row once", () =>
    Effect.gen(function*() {
      // Each writer fences its commits as the ingestor does (ADR-6): a replace or an expiry in
      // between that dropped, rolled back or advanced a marker would fail its next commit.
      const writer = (group: string, partition: number, commits: number, per: number) =>
        Effect.gen(function*() {
          const sink = yield* IcebergSink
          let from = 0n
          for (let i = 0; i < commits; i++) {
            const start = from
            const to = start + BigInt(per)
            yield* sink.append(trades, tradeColumns(makeTrades({ count: per, days: 2, offsetBase: Number(start), idPrefix: group })), {
              prepare: (base) => fence(base, group, [{ topic: "t", partition, from: start, to }], "trades")
            })
            from = to
          }
          return from
        })
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      const maintenance = yield* Maintenance
      const stop = yield* Ref.make(false)
      const maintainer = yield* Effect.forkChild(Effect.gen(function*() {
        while (!(yield* Ref.get(stop))) {
          yield* maintenance.compact(trades, { targetFileSizeBytes: 64 * 1024 * 1024 })
          yield* maintenance.expireSnapshots(trades, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1000 })
        }
      }))
      const a = yield* Effect.forkChild(writer("g1", 0, 20, 40))
      const b = yield* Effect.forkChild(writer("g2", 1, 20, 30))
      const ends = [yield* Fiber.join(a), yield* Fiber.join(b)]
      yield* Ref.set(stop, true)
      yield* Fiber.join(maintainer)
      const m = (yield* (yield* Catalog).loadTable(trades)).metadata
      assert.strictEqual(markerIn(m, "g1")!.offsets.get("t")!.get(0), ends[0])
      assert.strictEqual(markerIn(m, "g2")!.offsets.get("t")!.get(1), ends[1])
      assert.deepStrictEqual((yield* snapshotOfQueries).counts, { n: 20 * 70, ids: 20 * 70 })
    }).pipe(Effect.provide(maintainedLakehouse())), 60_000)

  it.live("a compaction whose retry finds delete files another engine committed meanwhile is refused", () => {
    // Files rewritten from their originals would bring the rows those deletes remove back (and
    // position deletes would name files no longer live). Planning refuses such a table; a retry
    // on a new base must too. Just before the replace's swap: a snapshot adding a delete manifest (of one live delete file by its counts).
    const deletes = anotherEngineCommitsOnce(() => true, (catalog, id) =>
      Effect.gen(function*() {
        const m = (yield* catalog.loadTable(id)).metadata
        const parent = currentSnapshot(m)!
        const bytes = encodeManifest([], { schema: currentSchema(m), spec: defaultSpec(m) })
        const manifestPath = `${m.location}/metadata/foreign-deletes-m0.avro`
        fs.writeFileSync(localPath(manifestPath), bytes)
        const snapshotId = 4_242n
        const sequenceNumber = m["last-sequence-number"] + 1n
        const list = [...(yield* Effect.orDie(decodeManifestList(fs.readFileSync(localPath(parent["manifest-list"])), "list"))), {
          manifestPath, manifestLength: bytes.length, partitionSpecId: 0, content: 1 as const, sequenceNumber,
          minSequenceNumber: sequenceNumber, addedSnapshotId: snapshotId, addedFilesCount: 1, existingFilesCount: 0,
          deletedFilesCount: 0, addedRowsCount: 1, existingRowsCount: 0, deletedRowsCount: 0, partitions: []
        }]
        const listPath = `${m.location}/metadata/snap-foreign-deletes.avro`
        fs.writeFileSync(localPath(listPath), encodeManifestList(list, { snapshotId, parentSnapshotId: parent["snapshot-id"], sequenceNumber }))
        yield* catalog.commitTable(id, [], [
          {
            action: "add-snapshot",
            snapshot: {
              "snapshot-id": snapshotId, "parent-snapshot-id": parent["snapshot-id"], "sequence-number": sequenceNumber,
              "timestamp-ms": Date.now(), "manifest-list": listPath, summary: { operation: "delete" }, "schema-id": 0
            }
          },
          { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": snapshotId }
        ])
      }))
    return Effect.gen(function*() {
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(4, 50, 1)
      deletes.arm()
      const failed = yield* Effect.flip((yield* Maintenance).compact(trades))
      assert.strictEqual(failed._tag, "CommitRejected")
      const m = (yield* (yield* Catalog).loadTable(trades)).metadata
      assert.strictEqual(currentSnapshot(m)!.summary.operation, "delete", "no replace on top of the delete files")
      // It certainly did not land: its files are gone.
      const compacted = fs.readdirSync(deletes.dir, { recursive: true, encoding: "utf8" }).filter((f) => f.includes("k2-compacted"))
      assert.deepStrictEqual(compacted, [])
    }).pipe(Effect.provide(deletes.layer))
  })

  it.effect("a compaction that fails does not hold back expiry: the run expires, and reports the compaction's error beside it", () =>
    Effect.gen(function*() {
      const maintenance = yield* Maintenance
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(6, 100, 1)
      // A data file gone from under the table: its day cannot be rewritten.
      const plan = yield* (yield* TableScanner).plan(trades)
      fs.rmSync(localPath(plan.files[0]!.filePath))
      const r = yield* maintenance.run(trades, {
        compact: { targetFileSizeBytes: 64 * 1024 * 1024 },
        expire: { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1000 },
        orphans: false
      })
      assert.strictEqual(r.compactFailure?._tag, "CompactionFailed")
      assert.deepStrictEqual(r.compact?.partitions, [], "its only day skipped")
      assert.strictEqual(r.expire?.snapshotsAfter, 1)
      assert.strictEqual((yield* (yield* Catalog).loadTable(trades)).metadata.snapshots.length, 1, "expired all the same")
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("a day that cannot be rewritten is reported and skipped: the other days are compacted, and the run names the failed day", () =>
    Effect.gen(function*() {
      const maintenance = yield* Maintenance
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(6, 100, 2)
      // A data file of the first day gone from under the table: that day cannot be rewritten.
      const plan = yield* (yield* TableScanner).plan(trades)
      const days = Object.keys(filesPerDay(plan.files)).sort()
      assert.strictEqual(days.length, 2)
      const lost = plan.files.find((f) => String(f.partition.exchange_timestamp_day) === days[0])!
      fs.rmSync(localPath(lost.filePath))
      const r = yield* maintenance.run(trades, {
        compact: { targetFileSizeBytes: 64 * 1024 * 1024 },
        expire: false,
        orphans: false
      })
      assert.deepStrictEqual(r.compact?.partitions.map((p) => String(p.partition.exchange_timestamp_day)), [days[1]])
      assert.deepStrictEqual(filesPerDay((yield* (yield* TableScanner).plan(trades)).files), { [days[0]!]: 6, [days[1]!]: 1 })
      assert.strictEqual(r.compactFailure?._tag, "CompactionFailed")
      const label = (day: string) => `exchange_timestamp_day=${dayText(Number(day))}:`
      assert.include(r.compactFailure!.message, label(days[0]!))
      assert.include(r.compactFailure!.message, localPath(lost.filePath))
      assert.notInclude(r.compactFailure!.message, label(days[1]!))
      // compact() alone fails too, naming the day; the good day has nothing left to do.
      const failed = yield* Effect.flip(maintenance.compact(trades, { targetFileSizeBytes: 64 * 1024 * 1024 }))
      assert.strictEqual(failed._tag, "CompactionFailed")
      assert.include(failed.message, label(days[0]!))
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("expiry keeps each group's newest marker snapshot and the chain to it", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      const catalog = yield* Catalog
      yield* sink.ensureTable(tables.trades)
      yield* appendMany(8, 50, 1)
      // Another engine's snapshots on top carry no marker.
      for (let i = 0; i < 3; i++) {
        yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 900_000 + i * 10, idPrefix: "x" })))
      }
      const before = (yield* catalog.loadTable(trades)).metadata
      // Every K2 commit carries markers forward, so the marker is on the current snapshot:
      // strip it from a synthetic copy to test the chain rule purely.
      const stripped = {
        ...before,
        snapshots: before.snapshots.map((s, i) =>
          i >= 8 ? { ...s, summary: { operation: s.summary.operation } as typeof s.summary } : s
        )
      }
      const plan = planExpiry(stripped, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1000 })
      assert.strictEqual(plan.markers.g1, before.snapshots[7]!["snapshot-id"])
      assert.strictEqual(plan.keep.size, 4) // marker snapshot + 3 after it up to current
      assert.strictEqual(plan.expire.length, 7)

      const result = yield* maintenance.expireSnapshots(trades, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1000 })
      assert.strictEqual(result.snapshotsBefore, 11)
      assert.strictEqual(result.snapshotsAfter, 1)
      assert.isBelow(result.metadataBytesAfter, result.metadataBytesBefore)
      const m = (yield* catalog.loadTable(trades)).metadata
      assert.strictEqual(markerIn(m, "g1")!.offsets.get("t")!.get(0), 400n)
      // The table reads the same after expiry.
      const after = yield* snapshotOfQueries
      assert.strictEqual(after.counts!.n, 430)
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("expiry refuses a table whose newest marker does not decode, rather than keeping only the chain to an older one", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const catalog = yield* Catalog
      yield* sink.ensureTable(tables.trades)
      yield* appendMany(4, 50, 1)
      // The newest snapshot's marker garbled (another tool's, or a later K2's encoding).
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 900_000, idPrefix: "x" })), {
        properties: { [markerKey("g1")]: `{"t":{"0":"two hundred"}}` }
      })
      const before = (yield* catalog.loadTable(trades)).metadata
      const error = yield* Effect.flip((yield* Maintenance).expireSnapshots(trades, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1000 }))
      assert.strictEqual(error._tag, "MarkerUnreadable")
      assert.include(error.message, "market_data.trades")
      assert.include(error.message, String(before["current-snapshot-id"]))
      assert.strictEqual((yield* catalog.loadTable(trades)).metadata.snapshots.length, before.snapshots.length, "nothing expired")
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("orphan removal keeps the sequence checkpoint the table properties name once another engine expired its snapshot", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      const io = yield* FileIO
      yield* sink.ensureTable(tables.trades)
      const location = (yield* (yield* Catalog).loadTable(trades)).metadata.location
      const checkpoint = `${location}/metadata/k2-sequence-test.json`
      yield* io.write(checkpoint, new TextEncoder().encode("{}"))
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })), {
        properties: { [markerKey("g1")]: `{"t":{"0":10}}`, "k2.sequence.checkpoint.g1.t:0": checkpoint }
      })
      yield* expireAsAnotherEngine(trades)
      const removed = yield* maintenance.removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })
      assert.notInclude(removed.removed.map(normalizeLocation), normalizeLocation(checkpoint))
      assert.isTrue(fs.existsSync(localPath(checkpoint)))
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("orphan removal keeps a sequence checkpoint a retained snapshot's summary names, after a later commit named another", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      const io = yield* FileIO
      yield* sink.ensureTable(tables.trades)
      const location = (yield* (yield* Catalog).loadTable(trades)).metadata.location
      const [older, newer] = [`${location}/metadata/k2-sequence-a.json`, `${location}/metadata/k2-sequence-b.json`]
      for (const [i, checkpoint] of [older, newer].entries()) {
        yield* io.write(checkpoint, new TextEncoder().encode("{}"))
        yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })), {
          properties: { [markerKey("g1")]: `{"t":{"0":${10 * (i + 1)}}}`, "k2.sequence.checkpoint.g1.t:0": checkpoint }
        })
      }
      const removed = yield* maintenance.removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })
      for (const checkpoint of [older, newer]) {
        assert.notInclude(removed.removed.map(normalizeLocation), normalizeLocation(checkpoint))
        assert.isTrue(fs.existsSync(localPath(checkpoint)))
      }
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("orphan removal keeps the data files merged manifests carry as EXISTING entries", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      const catalog = yield* Catalog
      const snapshots = yield* makeSnapshotFiles({ cacheEntries: 1_000 })
      yield* sink.ensureTable(tables.trades)
      // Past the merge policy's 100 manifests, the next commit merges them: their files become EXISTING entries.
      yield* appendMany(102, 1, 1)
      const loaded = yield* catalog.loadTable(trades)
      const manifests = yield* snapshots.manifestList(currentSnapshot(loaded.metadata)!)
      const entries = (yield* Effect.forEach(manifests, snapshots.manifestEntries)).flat()
      const live = entries.filter((e) => e.status !== ManifestEntryStatus.DELETED).map((e) => e.dataFile.filePath)
      assert.isTrue(entries.some((e) => e.status === ManifestEntryStatus.EXISTING), "a merged manifest")
      yield* maintenance.expireSnapshots(trades, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1000 })
      yield* maintenance.removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })
      assert.strictEqual(live.length, 102)
      for (const f of live) assert.isTrue(fs.existsSync(localPath(f)), f)
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("orphan removal leaves alone a table nested under the table's location (a namespace named like the table)", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      const catalog = yield* Catalog
      const io = yield* FileIO
      yield* sink.ensureTable(tables.trades)
      yield* appendMany(1, 10, 1)
      const location = (yield* catalog.loadTable(trades)).metadata.location
      // Table market_data.trades.x of another engine lives at <location>/x: none of its files is ours to judge.
      const nested = [`${location}/x/metadata/00000-0b1c.metadata.json`, `${location}/x/data/part-0.parquet`]
      const old = new Date(Date.now() - 3 * 86_400_000)
      for (const f of nested) {
        yield* io.write(f, new Uint8Array([1, 2, 3]))
        fs.utimesSync(localPath(f), old, old)
      }
      const removed = yield* maintenance.removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })
      assert.deepStrictEqual(removed.removed, [])
      for (const f of nested) assert.isTrue(fs.existsSync(localPath(f)), f)
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("orphan removal deletes unreferenced old files only, never a referenced one", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      const catalog = yield* Catalog
      const io = yield* FileIO
      yield* sink.ensureTable(tables.trades)
      yield* appendMany(6, 100, 2)
      yield* maintenance.compact(trades, { targetFileSizeBytes: 64 * 1024 * 1024 })
      const location = (yield* catalog.loadTable(trades)).metadata.location
      // A stray file nobody references, and a young one (an in-flight write).
      const stray = `${location}/data/stray.parquet`
      const young = `${location}/data/young.parquet`
      yield* io.write(stray, new Uint8Array([1, 2, 3]))
      yield* io.write(young, new Uint8Array([1]))
      const old = new Date(Date.now() - 3 * 86_400_000)
      fs.utimesSync(localPath(stray), old, old)

      // A dry run names the stray file and removes nothing.
      const dry = yield* maintenance.removeOrphans(trades, { olderThanMs: 86_400_000, dryRun: true })
      assert.deepStrictEqual(dry.removed.map(normalizeLocation), [normalizeLocation(stray)])
      assert.isTrue(fs.existsSync(localPath(stray)), "a dry run removes nothing")

      // With snapshots retained, the compacted-away files are still referenced by old snapshots.
      const first = yield* maintenance.removeOrphans(trades, { olderThanMs: 86_400_000 })
      assert.deepStrictEqual(first.removed.map(normalizeLocation), [normalizeLocation(stray)])
      assert.strictEqual(first.tooYoung, 1)

      // After expiry the replaced small files are unreferenced: with no grace they go.
      yield* maintenance.expireSnapshots(trades, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1000 })
      const before = yield* snapshotOfQueries
      const second = yield* maintenance.removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })
      assert.isAbove(second.removed.length, 12) // 12 small data files + old manifests and lists
      // Every file the current state references is still there, and reads are unchanged.
      const after = yield* snapshotOfQueries
      assert.deepStrictEqual(after.counts, before.counts)
      assert.strictEqual(after.bars, before.bars)
      for (const f of after.files) assert.isTrue(fs.existsSync(localPath(f.filePath)))
      const loaded = yield* catalog.loadTable(trades)
      assert.isTrue(fs.existsSync(localPath(loaded.metadataLocation)))
    }).pipe(Effect.provide(maintainedLakehouse())))
})

describe("Maintenance: compaction and schema evolution", () => {
  /** A warehouse whose catalog, once `evolve.schema` is set, loads its tables with that schema current (another engine's change). */
  const evolvingWarehouse = (evolve: { schema?: Schema }) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-maint-"))
    return { dir, layer: MaintenanceLayer.layer().pipe(Layer.provideMerge(evolvingLakehouse(dir, () => evolve.schema))) }
  }

  /** Compacts, and counts the non-null values of each of `columns` in the files compaction wrote. */
  const compactedCount = (dir: string, ...columns: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const result = yield* (yield* Maintenance).compact(trades, { targetFileSizeBytes: 64 * 1024 * 1024 })
      assert.strictEqual(result.partitions.length, 1)
      const compacted = fs.readdirSync(dir, { recursive: true, encoding: "utf8" })
        .filter((f) => f.includes("k2-compacted"))
        .map((f) => path.join(dir, f))
      const duckDb = yield* DuckDb
      const counts = columns.map((c) => `count(${c})::INTEGER AS ${c}`).join(", ")
      const [row] = yield* duckDb.withConnection((c) =>
        query(c, "count", `SELECT ${counts}, count(*)::INTEGER AS rows FROM read_parquet([${compacted.map((f) => `'${f}'`).join(", ")}])`)
      )
      return row!
    })

  /** source_sequence (id 12) renamed seq by another engine. */
  const seqSchema: Schema = {
    type: "struct",
    "schema-id": 1,
    fields: tables.trades.schema.fields.map((f) => f.name === "source_sequence" ? { ...f, name: "seq" } : f)
  }

  /** Ten trades appended under the new name: the files then name field 12 two ways. */
  const appendUnderSeq = Effect.gen(function*() {
    const batch = tradeColumns(makeTrades({ count: 10, offsetBase: 20 }))
    const { source_sequence, ...columns } = batch.columns
    yield* (yield* IcebergSink).append(trades, { rowCount: batch.rowCount, columns: { ...columns, seq: source_sequence! } })
  })

  const evolve: { schema?: Schema } = {}
  const dropped = evolvingWarehouse(evolve)
  it.effect("a column dropped and added again under its old name: compaction reads by field id, never copies the old column's values", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))
      // Another engine drops source_sequence (id 12) and adds it back as id 21: by Iceberg's rules
      // the rows of the files written before hold no source_sequence (id 21) at all.
      evolve.schema = {
        type: "struct",
        "schema-id": 1,
        fields: [
          ...tables.trades.schema.fields.filter((f) => f.name !== "source_sequence"),
          { id: 21, name: "source_sequence", required: false, type: "long" }
        ]
      }
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 20 })))
      assert.deepStrictEqual(yield* compactedCount(dropped.dir, "source_sequence"), { source_sequence: 10, rows: 30 })
    }).pipe(Effect.provide(dropped.layer)))

  const renamed: { schema?: Schema } = {}
  const renaming = evolvingWarehouse(renamed)
  it.effect("a renamed column: compaction reads it by field id from the files of both names, and writes it under the new one", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))
      renamed.schema = seqSchema
      yield* appendUnderSeq
      assert.deepStrictEqual(yield* compactedCount(renaming.dir, "seq"), { seq: 30, rows: 30 })
      const m = (yield* (yield* Catalog).loadTable(trades)).metadata
      assert.strictEqual(currentSnapshot(m)!.summary.operation, "replace")
    }).pipe(Effect.provide(renaming.layer)))

  const imported: { schema?: Schema } = {}
  const importDir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-maint-"))
  // Java's name mapping after the rename: source_sequence (id 12) also answers to seq.
  const mapping = JSON.stringify(tables.trades.schema.fields.map((f) => ({ "field-id": f.id, names: f.name === "source_sequence" ? [f.name, "seq"] : [f.name] })))
  const importing = MaintenanceLayer.layer().pipe(
    Layer.provideMerge(evolvingLakehouse(importDir, () => imported.schema, () => ({ "schema.name-mapping.default": mapping })))
  )
  it.effect("an imported file (add_files): compaction reads it by the name mapping, not as null, after a rename", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      yield* importWithoutFieldIds(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))
      imported.schema = seqSchema
      yield* appendUnderSeq
      assert.deepStrictEqual(yield* compactedCount(importDir, "seq", "symbol"), { seq: 30, symbol: 30, rows: 30 })
    }).pipe(Effect.provide(importing)))
})

describe("Maintenance: expiry racing another engine's tag", () => {
  // Live: the conflict is retried after a backoff.
  it.live("a snapshot tagged between expiry's plan and its commit is kept, and so is the tag", () => {
    // Another engine tags the oldest snapshot just before expiry's commit: the commit, planned
    // without the tag, must not remove the tagged snapshot (which would leave the tag dangling).
    let tagged: bigint | undefined
    const tagging = anotherEngineCommitsOnce((updates) => updates.some((u) => u.action === "remove-snapshots"), (catalog, id) =>
      Effect.gen(function*() {
        tagged = (yield* catalog.loadTable(id)).metadata.snapshots[0]!["snapshot-id"]
        yield* catalog.commitTable(id, [], [{ action: "set-snapshot-ref", "ref-name": "audit", type: "tag", "snapshot-id": tagged }])
      }))
    return Effect.gen(function*() {
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(4, 20, 1)
      tagging.arm()
      yield* (yield* Maintenance).expireSnapshots(trades, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1_000 })
      assert.isTrue(tagging.landed(), "the tag was committed before expiry's commit")
      const m = (yield* (yield* Catalog).loadTable(trades)).metadata
      assert.strictEqual(m.refs.audit?.["snapshot-id"], tagged)
      assert.isTrue(m.snapshots.some((s) => s["snapshot-id"] === tagged), "the tagged snapshot is kept")
    }).pipe(Effect.provide(tagging.layer))
  }, 60_000)

  it.live("expiry whose commit landed unseen reports the snapshots it removed, not the empty plan of its retry", () => {
    // The first remove-snapshots commit lands, but its answer is lost (CommitStateUnknown): the
    // retry plans again on a table whose old snapshots are already gone.
    const lost = { armed: true }
    const { layer } = wrappedWarehouse((catalog) =>
      Catalog.of({
        ...catalog,
        commitTable: (id, requirements, updates) =>
          Effect.flatMap(catalog.commitTable(id, requirements, updates), (t) => {
            if (!lost.armed || !updates.some((u) => u.action === "remove-snapshots")) return Effect.succeed(t)
            lost.armed = false
            return Effect.fail(catalogError(new CommitStateUnknown({ table: id.name, detail: "connection reset" })))
          })
      }))
    return Effect.gen(function*() {
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(4, 20, 1)
      const before = (yield* (yield* Catalog).loadTable(trades)).metadata.snapshots.map((s) => s["snapshot-id"])
      const r = yield* (yield* Maintenance).expireSnapshots(trades, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1_000 })
      assert.isFalse(lost.armed, "the first commit's answer was lost")
      assert.strictEqual(r.snapshotsBefore, 4)
      assert.strictEqual(r.snapshotsAfter, 1)
      assert.deepStrictEqual([...r.expired].sort(), before.slice(0, 3).sort())
    }).pipe(Effect.provide(layer))
  }, 60_000)

  it.live("a tag moved between expiry's plan and its commit, no longer aged, is kept and not reported removed", () => {
    // Another engine moves the aged tag onto the current snapshot, with no age of its own, just
    // before expiry's commit: the commit conflicts, the retry keeps the tag.
    const moving = anotherEngineCommitsOnce((updates) => updates.some((u) => u.action === "remove-snapshot-ref"), (catalog, id) =>
      Effect.flatMap(catalog.loadTable(id), ({ metadata }) =>
        catalog.commitTable(id, [], [
          { action: "set-snapshot-ref", "ref-name": "hourly", type: "tag", "snapshot-id": metadata["current-snapshot-id"]! }
        ])))
    return Effect.gen(function*() {
      const catalog = yield* Catalog
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(3, 20, 1)
      const first = (yield* catalog.loadTable(trades)).metadata.snapshots[0]!["snapshot-id"]
      yield* catalog.commitTable(trades, [], [
        { action: "set-snapshot-ref", "ref-name": "hourly", type: "tag", "snapshot-id": first, "max-ref-age-ms": 1 }
      ])
      moving.arm()
      const r = yield* (yield* Maintenance).expireSnapshots(trades, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1_000 })
      assert.isTrue(moving.landed(), "the tag was moved before expiry's commit")
      const m = (yield* catalog.loadTable(trades)).metadata
      assert.strictEqual(m.refs.hourly?.["snapshot-id"], m["current-snapshot-id"])
      assert.deepStrictEqual(r.refsRemoved, [])
      assert.include(r.expired, first)
    }).pipe(Effect.provide(moving.layer))
  }, 60_000)

  it.live("snapshots another expiry removed while this one's commit conflicted are not reported as this one's", () => {
    // Another engine expires the oldest snapshot and drops a tag just before expiry's commit: the
    // commit conflicts (the tag it asserted is gone), and the retry plans without that snapshot.
    let oldest: bigint | undefined
    const other = anotherEngineCommitsOnce((updates) => updates.some((u) => u.action === "remove-snapshots"), (catalog, id) =>
      catalog.commitTable(id, [], [
        { action: "remove-snapshots", "snapshot-ids": [oldest!] },
        { action: "remove-snapshot-ref", "ref-name": "audit" }
      ]))
    return Effect.gen(function*() {
      const catalog = yield* Catalog
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(4, 20, 1)
      const m = (yield* catalog.loadTable(trades)).metadata
      const ids = m.snapshots.map((s) => s["snapshot-id"])
      oldest = ids[0]!
      yield* catalog.commitTable(trades, [], [{ action: "set-snapshot-ref", "ref-name": "audit", type: "tag", "snapshot-id": m["current-snapshot-id"]! }])
      other.arm()
      const r = yield* (yield* Maintenance).expireSnapshots(trades, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1_000 })
      assert.isTrue(other.landed())
      assert.strictEqual(r.snapshotsAfter, 1)
      assert.deepStrictEqual([...r.expired].sort(), ids.slice(1, 3).sort(), "the oldest was the other's")
    }).pipe(Effect.provide(other.layer))
  }, 60_000)

  it.live("a compaction the catalog stops part way reports the days it compacted beside the failure", () => {
    // The second day's compaction commit is refused for good: the first day's stands.
    const commits = { compactions: 0 }
    const { layer } = wrappedWarehouse((catalog) =>
      Catalog.of({
        ...catalog,
        commitTable: (id, requirements, updates) =>
          Effect.suspend(() => {
            const compaction = updates.some((u) => u.action === "add-snapshot" && u.snapshot.summary.operation === "replace")
            if (compaction && ++commits.compactions === 2) {
              return Effect.fail(catalogError(new CatalogRejected({ detail: "injected refusal" })))
            }
            return catalog.commitTable(id, requirements, updates)
          })
      }))
    return Effect.gen(function*() {
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(6, 100, 2)
      const days = Object.keys(filesPerDay((yield* (yield* TableScanner).plan(trades)).files)).sort()
      const r = yield* (yield* Maintenance).run(trades, { compact: { targetFileSizeBytes: 64 * 1024 * 1024 }, expire: false, orphans: false })
      assert.strictEqual(commits.compactions, 2)
      assert.strictEqual(r.compactFailure?._tag, "CatalogError")
      assert.include(r.compactFailure!.message, "injected refusal")
      const after = filesPerDay((yield* (yield* TableScanner).plan(trades)).files)
      const compacted = days.filter((d) => after[d] === 1)
      assert.strictEqual(compacted.length, 1, "one day compacted before the refusal")
      assert.deepStrictEqual(r.compact?.partitions.map((p) => String(p.partition.exchange_timestamp_day)), compacted)
      assert.strictEqual(r.compact?.filesBefore, 12)
      assert.strictEqual(r.compact?.filesAfter, 7)
    }).pipe(Effect.provide(layer))
  }, 60_000)

  it.live("a compaction the catalog stops before any day was committed still reports the days that had failed alone", () => {
    // The first day's rewrite fails on a missing file; the second day's commit is refused for good.
    const { layer } = wrappedWarehouse((catalog) =>
      Catalog.of({
        ...catalog,
        commitTable: (id, requirements, updates) =>
          updates.some((u) => u.action === "add-snapshot" && u.snapshot.summary.operation === "replace")
            ? Effect.fail(catalogError(new CatalogRejected({ detail: "injected refusal" })))
            : catalog.commitTable(id, requirements, updates)
      }))
    return Effect.gen(function*() {
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(6, 100, 2)
      const files = (yield* (yield* TableScanner).plan(trades)).files
      const firstDay = Object.keys(filesPerDay(files)).sort()[0]!
      fs.rmSync(localPath(files.find((f) => String(f.partition.exchange_timestamp_day) === firstDay)!.filePath))
      const r = yield* (yield* Maintenance).run(trades, { compact: { targetFileSizeBytes: 64 * 1024 * 1024 }, expire: false, orphans: false })
      assert.isNotNull(r.compactFailure)
      assert.include(r.compactFailure!.message, "injected refusal")
      assert.include(r.compactFailure!.message, new Date(Number(firstDay) * 86_400_000).toISOString().slice(0, 10), "the day that failed alone is named")
      assert.deepStrictEqual(r.compact?.partitions, [])
      assert.strictEqual(r.compact?.filesBefore, 12)
      assert.strictEqual(r.compact?.filesAfter, 12)
    }).pipe(Effect.provide(layer))
  }, 60_000)

  it.live("a catalog outage that stops a compaction part way still reports the days it compacted (the count after cannot be loaded)", () => {
    // From the second day's compaction commit on, the catalog cannot be reached: neither commits nor loads.
    const outage = { compactions: 0, down: false }
    const down = Effect.fail(catalogError(new CatalogUnavailable({ detail: "injected outage" })))
    const { layer } = wrappedWarehouse((catalog) =>
      Catalog.of({
        ...catalog,
        loadTable: (id) => Effect.suspend(() => outage.down ? down : catalog.loadTable(id)),
        commitTable: (id, requirements, updates) =>
          Effect.suspend(() => {
            const compaction = updates.some((u) => u.action === "add-snapshot" && u.snapshot.summary.operation === "replace")
            if (compaction && ++outage.compactions === 2) outage.down = true
            return outage.down ? down : catalog.commitTable(id, requirements, updates)
          })
      }), { maxCommitAttempts: 2 })
    return Effect.gen(function*() {
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(6, 100, 2)
      const r = yield* (yield* Maintenance).run(trades, { compact: { targetFileSizeBytes: 64 * 1024 * 1024 }, expire: false, orphans: false })
      assert.strictEqual(r.compactFailure?._tag, "CatalogError")
      assert.include(r.compactFailure!.message, "injected outage")
      assert.strictEqual(r.compact?.partitions.length, 1, "the day committed before the outage is reported")
      assert.strictEqual(r.compact?.filesBefore, 12)
      assert.strictEqual(r.compact?.filesAfter, 7)
      outage.down = false
      assert.deepStrictEqual(Object.values(filesPerDay((yield* (yield* TableScanner).plan(trades)).files)).sort(), [1, 6])
    }).pipe(Effect.provide(layer))
  }, 60_000)

  it.live("expiry's commit asserts every ref it saw stays put (a REST server drops a ref left dangling)", () => {
    const seen: Array<unknown> = []
    const { layer } = wrappedWarehouse((catalog) =>
      Catalog.of({
        ...catalog,
        commitTable: (id, requirements, updates) => {
          if (updates.some((u) => u.action === "remove-snapshots")) seen.push(...requirements)
          return catalog.commitTable(id, requirements, updates)
        }
      }))
    return Effect.gen(function*() {
      const catalog = yield* Catalog
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(4, 20, 1)
      const second = (yield* catalog.loadTable(trades)).metadata.snapshots[1]!["snapshot-id"]
      yield* catalog.commitTable(trades, [], [{ action: "set-snapshot-ref", "ref-name": "audit", type: "tag", "snapshot-id": second }])
      yield* (yield* Maintenance).expireSnapshots(trades, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1_000 })
      assert.deepInclude(seen, { type: "assert-ref-snapshot-id", ref: "audit", "snapshot-id": second })
      const m = (yield* catalog.loadTable(trades)).metadata
      assert.isTrue(m.snapshots.some((s) => s["snapshot-id"] === second), "the tagged snapshot is kept")
    }).pipe(Effect.provide(layer))
  }, 60_000)
})

describe("Maintenance: the table's own expiry settings", () => {
  // Iceberg's table properties history.expire.* are the defaults of every engine's expiry.
  const setProperties = (updates: Record<string, string>) =>
    Effect.gen(function*() {
      yield* (yield* Catalog).commitTable(trades, [], [{ action: "set-properties", updates }])
    })

  it.effect("without options, expiry keeps what history.expire.min-snapshots-to-keep and max-snapshot-age-ms ask", () =>
    Effect.gen(function*() {
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(6, 10, 1)
      yield* setProperties({ "history.expire.min-snapshots-to-keep": "4" })
      // Snapshots are stamped by the TestClock, at 0: a month later all are past the default 5 days.
      const far = 30 * 86_400_000
      const byCount = yield* (yield* Maintenance).expireSnapshots(trades, { nowMs: far })
      assert.strictEqual(byCount.snapshotsAfter, 4)
      // A year of age keeps all that remain; an option given still decides over the property.
      yield* setProperties({ "history.expire.max-snapshot-age-ms": String(365 * 86_400_000) })
      assert.strictEqual((yield* (yield* Maintenance).expireSnapshots(trades, { nowMs: far, retainLast: 1 })).snapshotsAfter, 4)
      assert.strictEqual((yield* (yield* Maintenance).expireSnapshots(trades, { nowMs: far, maxSnapshotAgeMs: 0, retainLast: 2 })).snapshotsAfter, 2)
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("a tag or branch past its max-ref-age-ms (its own, else history.expire.max-ref-age-ms) is removed with its snapshot", () =>
    Effect.gen(function*() {
      const catalog = yield* Catalog
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(4, 10, 1)
      const [first, second, third] = (yield* catalog.loadTable(trades)).metadata.snapshots.map((s) => s["snapshot-id"])
      // As another engine sets them: a tag aging in an hour, a branch with no age of its own, a tag kept for ever.
      yield* catalog.commitTable(trades, [], [
        { action: "set-snapshot-ref", "ref-name": "hourly", type: "tag", "snapshot-id": first!, "max-ref-age-ms": 3_600_000 },
        { action: "set-snapshot-ref", "ref-name": "audit", type: "branch", "snapshot-id": second! },
        { action: "set-snapshot-ref", "ref-name": "release", type: "tag", "snapshot-id": third!, "max-ref-age-ms": 365 * 86_400_000 }
      ])
      const day = 86_400_000
      const expire = (yield* Maintenance).expireSnapshots(trades, { nowMs: 2 * day, maxSnapshotAgeMs: 0, retainLast: 1 })
      const once = yield* expire
      assert.deepStrictEqual(once.refsRemoved, ["hourly"])
      let m = (yield* catalog.loadTable(trades)).metadata
      assert.deepStrictEqual(Object.keys(m.refs).sort(), ["audit", "main", "release"])
      assert.deepStrictEqual(m.snapshots.map((s) => s["snapshot-id"]).sort(), [second!, third!, m["current-snapshot-id"]!].sort())
      // The table's setting ages the branch that sets none; the tag's own year still holds it.
      yield* setProperties({ "history.expire.max-ref-age-ms": String(day) })
      const twice = yield* expire
      assert.deepStrictEqual(twice.refsRemoved, ["audit"])
      assert.deepStrictEqual(twice.expired, [second!])
      m = (yield* catalog.loadTable(trades)).metadata
      assert.deepStrictEqual(Object.keys(m.refs).sort(), ["main", "release"])
      // Nothing past its age now: no commit, nothing removed.
      const last = yield* expire
      assert.deepStrictEqual([last.refsRemoved, last.expired], [[], []])
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("an aged tag on a snapshot kept anyway is removed alone: a commit with no snapshot to remove", () =>
    Effect.gen(function*() {
      const catalog = yield* Catalog
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(2, 10, 1)
      const current = (yield* catalog.loadTable(trades)).metadata["current-snapshot-id"]!
      yield* catalog.commitTable(trades, [], [
        { action: "set-snapshot-ref", "ref-name": "hourly", type: "tag", "snapshot-id": current, "max-ref-age-ms": 3_600_000 }
      ])
      // Both snapshots within the table's age: only the tag has aged.
      const r = yield* (yield* Maintenance).expireSnapshots(trades, { nowMs: 2 * 3_600_000, maxSnapshotAgeMs: 365 * 86_400_000 })
      assert.deepStrictEqual([r.refsRemoved, r.expired], [["hourly"], []])
      const m = (yield* catalog.loadTable(trades)).metadata
      assert.deepStrictEqual(Object.keys(m.refs), ["main"])
      assert.strictEqual(m.snapshots.length, 2)
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("K2 creates its tables keeping an hour of snapshots: one-second commits would otherwise keep five days of them", () =>
    Effect.gen(function*() {
      const created = yield* (yield* IcebergSink).ensureTable(tables.trades)
      assert.strictEqual(created.metadata.properties["history.expire.max-snapshot-age-ms"], "3600000")
      yield* appendMany(6, 10, 1)
      // Stamped by the TestClock at 0: half an hour later all stay, two hours later the newest (g1's marker) alone.
      assert.strictEqual((yield* (yield* Maintenance).expireSnapshots(trades, { nowMs: 1_800_000 })).snapshotsAfter, 6)
      assert.strictEqual((yield* (yield* Maintenance).expireSnapshots(trades, { nowMs: 7_200_000 })).snapshotsAfter, 1)
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("after an idle night, the morning's first commit leaves the night's state readable as of minutes ago", () =>
    Effect.gen(function*() {
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(3, 10, 1)
      const night = (yield* (yield* Catalog).loadTable(trades)).metadata["current-snapshot-id"]
      // Eighteen hours idle, then a commit; expiry half an hour after it.
      yield* TestClock.adjust("18 hours")
      yield* appendMany(1, 10, 1, 30)
      const morning = 18 * 3_600_000
      const r = yield* (yield* Maintenance).expireSnapshots(trades, { nowMs: morning + 1_800_000 })
      assert.strictEqual(r.snapshotsAfter, 2, "the night's snapshot and the morning's")
      const plan = yield* (yield* TableScanner).plan(trades, { snapshot: { _tag: "AsOf", timestampMs: morning - 300_000 } })
      assert.strictEqual(plan.snapshot?.["snapshot-id"], night)
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("a history.expire property that is not a positive whole number is refused, naming it", () =>
    Effect.gen(function*() {
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(2, 10, 1)
      yield* setProperties({ "history.expire.max-snapshot-age-ms": "5 days" })
      const error = yield* Effect.flip((yield* Maintenance).expireSnapshots(trades, { nowMs: 30 * 86_400_000 }))
      assert.strictEqual(error._tag, "MaintenanceRefused")
      assert.include(error.message, "history.expire.max-snapshot-age-ms")
      assert.strictEqual((yield* (yield* Catalog).loadTable(trades)).metadata.snapshots.length, 2)
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("an expiry refused after a compaction committed: the run reports both, and orphan removal still runs", () =>
    Effect.gen(function*() {
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(4, 10, 1)
      yield* setProperties({ "history.expire.min-snapshots-to-keep": "none" })
      const r = yield* (yield* Maintenance).run(trades, { compact: {}, expire: {}, orphans: { olderThanMs: 0 } })
      assert.strictEqual(r.compact?.filesBefore, 4, "the compaction that committed is reported")
      assert.strictEqual(r.compact?.filesAfter, 1)
      assert.isNull(r.expire)
      assert.strictEqual(r.expireFailure?._tag, "MaintenanceRefused")
      assert.include(r.expireFailure!.message, "history.expire.min-snapshots-to-keep")
      assert.isNotNull(r.orphans, "orphan removal ran")
      assert.isNull(r.compactFailure)
    }).pipe(Effect.provide(maintainedLakehouse())))
})

describe("Maintenance: compaction of a table K2 cannot write", () => {
  it.effect("a sort order by a transform (another engine's bucket) is refused naming the table, and nothing is committed", () => {
    // The catalog loads the table as if another engine had set a sort order by bucket(16, symbol).
    const armed = { on: false }
    const bucketed = (m: TableMetadata): TableMetadata => {
      if (!armed.on) return m
      const symbol = currentSchema(m).fields.find((f) => f.name === "symbol")!
      return {
        ...m,
        "sort-orders": [...m["sort-orders"], {
          "order-id": 7,
          fields: [{ transform: "bucket[16]", "source-id": symbol.id, direction: "asc", "null-order": "nulls-first" }]
        }],
        "default-sort-order-id": 7
      }
    }
    const { layer } = wrappedWarehouse((catalog) =>
      Catalog.of({ ...catalog, loadTable: (id) => Effect.map(catalog.loadTable(id), (t) => ({ ...t, metadata: bucketed(t.metadata) })) }))
    return Effect.gen(function*() {
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(3, 10, 1)
      armed.on = true
      const snapshots = (yield* (yield* Catalog).loadTable(trades)).metadata.snapshots.length
      const error = yield* Effect.flip((yield* Maintenance).compact(trades))
      assert.strictEqual(error._tag, "UnsupportedTableFeature")
      assert.match(error.message, /^market_data\.trades uses sort order 7/)
      assert.strictEqual((yield* (yield* Catalog).loadTable(trades)).metadata.snapshots.length, snapshots)
    }).pipe(Effect.provide(layer))
  })
})

describe("Maintenance: orphan removal and files other catalogs need", () => {
  it.effect("keeps metadata/version-hint.text (a Hadoop catalog's pointer to the table), as Java's orphan removal does", () =>
    Effect.gen(function*() {
      const io = yield* FileIO
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* appendMany(1, 10, 1)
      const location = (yield* (yield* Catalog).loadTable(trades)).metadata.location
      const hint = `${location}/metadata/version-hint.text`
      yield* io.write(hint, new TextEncoder().encode("1"))
      const result = yield* (yield* Maintenance).removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })
      assert.notInclude(result.removed.map(normalizeLocation), normalizeLocation(hint))
      assert.isTrue(fs.existsSync(localPath(hint)))
    }).pipe(Effect.provide(maintainedLakehouse())))
})

describe("Maintenance: a table partitioned by values K2 does not hold", () => {
  // The table as another engine left it: every snapshot's list names one manifest of spec 1,
  // identity(symbol), whose partition values are strings.
  const { swap, layer: lake } = swappingLakehouse()
  const symbolId = tables.trades.schema.fields.find((f) => f.name === "symbol")!.id
  const bySymbol = { "spec-id": 1, fields: [{ "source-id": symbolId, "field-id": 1000, name: "symbol", transform: "identity" }] }
  swap.spec = bySymbol
  const swapIn = Effect.gen(function*() {
    const files = yield* FileIO
    yield* (yield* IcebergSink).ensureTable(tables.trades)
    yield* appendMany(1, 10, 1)
    const snapshot = currentSnapshot((yield* (yield* Catalog).loadTable(trades)).metadata)!
    const list = yield* decodeManifestList(yield* files.read(snapshot["manifest-list"]), "list")
    const entries = yield* decodeManifest(yield* files.read(list[0]!.manifestPath), "manifest")
    // Written as void of the string column, so that the Avro type of the value is a string.
    const manifestPath = `${list[0]!.manifestPath}.by-symbol.avro`
    yield* files.write(manifestPath, encodeManifest(
      entries.map((e) => ({ ...e, dataFile: { ...e.dataFile, partition: { symbol: "AAPL" as unknown as number } } })),
      { schema: tables.trades.schema, spec: { ...bySymbol, fields: [{ ...bySymbol.fields[0]!, transform: "void" }] } }
    ))
    swap.list = `${snapshot["manifest-list"]}.by-symbol.avro`
    yield* files.write(swap.list, encodeManifestList([{ ...list[0]!, manifestPath, partitionSpecId: 1, partitions: null }], {
      snapshotId: snapshot["snapshot-id"],
      parentSnapshotId: null,
      sequenceNumber: snapshot["sequence-number"]
    }))
  })

  it.effect("compaction and orphan removal are refused as UnsupportedTableFeature naming table and field, not as a corrupt manifest", () =>
    Effect.gen(function*() {
      yield* swapIn
      const maintenance = yield* Maintenance
      for (const failed of [yield* Effect.flip(maintenance.compact(trades)), yield* Effect.flip(maintenance.removeOrphans(trades, { olderThanMs: 0 }))]) {
        assert.strictEqual(failed._tag, "UnsupportedTableFeature", failed.message)
        assert.include(failed.message, "market_data.trades")
        assert.include(failed.message, "identity(symbol)")
      }
    }).pipe(Effect.provide(MaintenanceLayer.layer().pipe(Layer.provideMerge(lake))), Effect.ensuring(Effect.sync(() => (swap.list = undefined)))))
})
