/**
 * Orphan removal at a location another table shares: two catalogs on one warehouse directory put
 * same-named tables at one place (as Iceberg Java's catalogs do), and a table dropped and created
 * again leaves the old one's files there. Neither table's metadata references the other's files,
 * so orphan removal in one deleted the other's live data once past the grace period. It is refused
 * instead, naming the foreign metadata, and deletes nothing. K2 itself no longer creates a table
 * there (ADR-47): the second table is made as an engine that does not look would (`sharingLocation`).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { maintainedLakehouse, sharingLocation } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }
const DAY_MS = 86_400_000

/** The lakehouse, with maintenance, over `dir` with its SQLite catalog in the file `catalogFile` there. */
const lakehouse = (dir: string, catalogFile = "catalog.db") =>
  maintainedLakehouse({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, catalogFile) } })

const freshDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "k2-shared-"))

/** `body` over a fresh warehouse with one catalog. */
const onOneCatalog = <A, E, R>(body: Effect.Effect<A, E, R>) => Effect.suspend(() => Effect.provide(body, lakehouse(freshDir())))

/** A table with one append of `count` trades, through whichever catalog is provided. */
const tableWithRows = (count: number, idPrefix: string) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    yield* sink.append(trades, tradeColumns(makeTrades({ count, idPrefix })))
    return (yield* (yield* Catalog).loadTable(trades)).metadata
  })

const loaded = Effect.gen(function*() {
  return yield* (yield* Catalog).loadTable(trades)
})

/** The text of the table's current metadata file. */
const currentMetadataText = Effect.gen(function*() {
  const loaded = yield* (yield* Catalog).loadTable(trades)
  return new TextDecoder().decode(yield* (yield* FileIO).read(loaded.metadataLocation))
})

/** Every file below `dir`, as local paths. */
const filesUnder = (dir: string): Array<string> =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name))

/** Every file below `dir` made `days` old: past any grace period. */
const age = (dir: string, days: number) => {
  const old = new Date(Date.now() - days * DAY_MS)
  for (const f of filesUnder(dir)) fs.utimesSync(f, old, old)
}

const orphanRemoval = (options: { readonly dryRun?: boolean } = {}) =>
  Effect.gen(function*() {
    return yield* (yield* Maintenance).removeOrphans(trades, { olderThanMs: DAY_MS, ...options }).pipe(Effect.result)
  })

describe("orphan removal at a shared table location", () => {
  it.effect("two catalogs on one warehouse: refused, naming the other table's metadata; the other's files stay", () =>
    Effect.gen(function*() {
      const dir = freshDir()
      const a = lakehouse(dir, "catalog-a.db")
      const b = lakehouse(dir, "catalog-b.db")
      const ma = yield* tableWithRows(10, "a").pipe(Effect.provide(a))
      const mb = yield* sharingLocation(ma.location, tableWithRows(20, "b").pipe(Effect.provide(b)))
      assert.strictEqual(ma.location, mb.location, "the same place, as Iceberg Java's catalogs put them")
      const location = localPath(ma.location)
      age(location, 3)
      const before = filesUnder(location).sort()
      for (const dryRun of [true, false]) {
        const r = yield* orphanRemoval({ dryRun }).pipe(Effect.provide(a))
        assert.isTrue(r._tag === "Failure", `refused (dryRun ${dryRun})`)
        if (r._tag !== "Failure") continue
        assert.strictEqual(r.failure._tag, "SharedTableLocation")
        assert.include(r.failure.message, "market_data.trades")
        assert.include(r.failure.message, mb["table-uuid"])
        assert.include(r.failure.message, path.basename((yield* loaded.pipe(Effect.provide(b))).metadataLocation))
      }
      assert.deepStrictEqual(filesUnder(location).sort(), before, "nothing deleted")
      // Both tables still read whole.
      for (const [layer, n] of [[a, 10], [b, 20]] as const) {
        const m = (yield* loaded.pipe(Effect.provide(layer))).metadata
        const current = m.snapshots.find((s) => s["snapshot-id"] === m["current-snapshot-id"])!
        assert.strictEqual(current.summary["total-records"], String(n))
      }
      // A run reports it as the orphan step's failure, beside what the other steps did.
      const report = yield* Effect.gen(function*() {
        return yield* (yield* Maintenance).run(trades, { compact: false, orphans: { olderThanMs: DAY_MS } })
      }).pipe(Effect.provide(a))
      assert.strictEqual(report.orphanFailure?._tag, "SharedTableLocation")
      assert.isNotNull(report.expire)
      assert.deepStrictEqual(filesUnder(location).sort().filter((f) => !f.endsWith(".metadata.json")), before.filter((f) => !f.endsWith(".metadata.json")))
    }), { timeout: 120_000 })

  it.effect("a table dropped and created again at its location: the old table's metadata refuses it too", () =>
    onOneCatalog(Effect.gen(function*() {
      const old = yield* tableWithRows(10, "old")
      const parquet = () => filesUnder(localPath(old.location)).filter((f) => f.endsWith(".parquet"))
      const oldFiles = parquet()
      assert.isAbove(oldFiles.length, 0, "the dropped table wrote data files at the location")
      yield* (yield* Catalog).dropTable(trades)
      const now = yield* sharingLocation(old.location, tableWithRows(5, "new"))
      assert.notStrictEqual(now["table-uuid"], old["table-uuid"])
      age(localPath(now.location), 3)
      const r = yield* orphanRemoval()
      assert.isTrue(r._tag === "Failure" && r.failure._tag === "SharedTableLocation")
      if (r._tag !== "Failure" || r.failure._tag !== "SharedTableLocation") return
      assert.include(r.failure.message, old["table-uuid"])
      // As the message says: nothing reads the dropped table, so its metadata files go; the next
      // run then removes its other files as orphans, and the table as it is now keeps every row.
      for (const f of r.failure.foreign) fs.rmSync(localPath(f.metadataFile))
      const removed = yield* (yield* Maintenance).removeOrphans(trades, { olderThanMs: DAY_MS })
      assert.isAbove(removed.removed.length, 0)
      const left = parquet()
      for (const f of oldFiles) assert.notInclude(left, f)
      assert.isAbove(left.length, 0, "the table's own data files stay")
      const m = (yield* loaded).metadata
      const current = m.snapshots.find((s) => s["snapshot-id"] === m["current-snapshot-id"])!
      assert.strictEqual(current.summary["total-records"], "5")
    })), { timeout: 120_000 })

  it.effect("gzip metadata of another table is read too", () =>
    onOneCatalog(Effect.gen(function*() {
      const m = yield* tableWithRows(10, "a")
      const io = yield* FileIO
      const foreign = (yield* currentMetadataText).replace(m["table-uuid"], "00000000-0000-4000-8000-000000000001")
      yield* io.write(`${m.location}/metadata/00000-other.gz.metadata.json`, zlib.gzipSync(foreign))
      age(localPath(m.location), 3)
      const r = yield* orphanRemoval()
      assert.isTrue(r._tag === "Failure" && r.failure._tag === "SharedTableLocation")
    })), { timeout: 120_000 })

  it.effect("the table's own metadata files off its log, and a truncated one, are still removed", () =>
    onOneCatalog(Effect.gen(function*() {
      const m = yield* tableWithRows(10, "a")
      const io = yield* FileIO
      // A commit that lost the compare-and-swap leaves a metadata file of the same table; a crash mid-write a truncated one.
      const lost = `${m.location}/metadata/00009-lost.metadata.json`
      const truncated = `${m.location}/metadata/00010-truncated.metadata.json`
      const text = yield* currentMetadataText
      yield* io.write(lost, new TextEncoder().encode(text))
      yield* io.write(truncated, new TextEncoder().encode(text.slice(0, 40)))
      age(localPath(m.location), 3)
      const r = yield* (yield* Maintenance).removeOrphans(trades, { olderThanMs: DAY_MS })
      assert.sameMembers(r.removed.map(localPath), [lost, truncated].map(localPath))
    })), { timeout: 120_000 })
})
