/**
 * Warehouse directories whose names hold characters that mean something in a URI or a glob
 * (`%`, space, `#`, `?`, `[`, `*`, braces, quotes, non-ASCII): K2 writes, compacts, expires and
 * removes orphans there without losing a live file; and a `file:` location another engine wrote
 * unencoded (Hadoop paths: `#`, `?` and a lone `%` are characters of the path) is read as the
 * directory it names, not cut short at a parent. (Beside directories its glob characters match:
 * test/layers/duckdb/globPaths.test.ts, test/programs/warehouse-glob.test.ts.)
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import { fileLocation, localPath } from "../../../src/layers/iceberg/fileio.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as MaintenanceLayer from "../../../src/layers/maintenance/maintenance.ts"
import { normalizeLocation } from "../../../src/layers/maintenance/plan.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { lakehouseWrapping, maintainedLakehouse, ODD_NAME, warehouseOptions } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }

/** A warehouse directory named `name` inside a fresh directory. */
const namedWarehouse = (name: string) => {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "k2-paths-")), name)
  fs.mkdirSync(dir)
  return dir
}


/** Three appends of 50 trades (three small files in one day). */
const appendThree = Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.ensureTable(tables.quotes)
  for (let i = 0; i < 3; i++) {
    yield* sink.append(trades, tradeColumns(makeTrades({ count: 50, days: 1, offsetBase: i * 50, idPrefix: "p" })))
  }
})

/** Rows of the table, read through its metadata, manifest list, manifests and data files. */
const rows = Effect.gen(function*() {
  const plan = yield* (yield* TableScanner).plan(trades)
  const [r] = yield* selectPlanned(plan, "count(*)::INTEGER AS n")
  return { n: r!.n, files: plan.files.length }
})

const files = (dir: string) =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)).sort()

const names = ["a%41b", "100%", "a b", "a#b", "a?b", "a[b]c", "a*b", "a'b", "a\"b", "a{b,c}", "é", "日本", ODD_NAME]

describe("a warehouse whose path holds URI or glob characters", () => {
  for (const name of names) {
    it.live(`${JSON.stringify(name)}: orphan removal with no grace removes no live file, before or after compaction and expiry`, () => {
      const dir = namedWarehouse(name)
      return Effect.gen(function*() {
        const maintenance = yield* Maintenance
        yield* appendThree
        const before = files(dir)
        const first = yield* maintenance.removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })
        assert.deepStrictEqual(first.removed, [])
        assert.deepStrictEqual(files(dir), before)
        assert.deepStrictEqual(yield* rows, { n: 150, files: 3 })

        const compacted = yield* maintenance.compact(trades)
        assert.strictEqual(compacted.filesAfter, 1)
        yield* maintenance.expireSnapshots(trades, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1000 })
        const second = yield* maintenance.removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })
        // Only the three compacted files and the expired snapshots' manifests, lists and metadata went.
        assert.strictEqual(second.removed.filter((l) => l.endsWith(".parquet")).length, 3)
        for (const l of second.removed) assert.isTrue(localPath(l).startsWith(`${dir}/market_data/trades/`), l)
        assert.deepStrictEqual(yield* rows, { n: 150, files: 1 })
        assert.deepStrictEqual((yield* maintenance.removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })).removed, [])
      }).pipe(Effect.provide(maintainedLakehouse(warehouseOptions("sqlite", dir))))
    }, 60_000)
  }
})

describe("the file: locations K2 writes", () => {
  it("name the path as Java's Hadoop paths and PyIceberg read it, literally: a space, non-ASCII, # and ? unencoded", () => {
    // Both take the path of a `file:` location as written, never decoding an escape: `my%20wh`
    // is a directory of that name to them, and Java failed to open the metadata of every table
    // in a warehouse such as `/home/José/my warehouse`.
    for (const p of ["/w/a b/x.parquet", "/w/é/日本.parquet", "/w/a#b/x?y.parquet", "/w/100%/x", "/w/a'b/x"]) {
      assert.strictEqual(fileLocation(p), `file://${p}`)
    }
  })

  it("name a `%2F` (a namespace's or table's own characters) literally, as the catalog puts the name into the table's location", () => {
    // localPath decodes no `%2F` (Node refuses an encoded slash): escaped as `%252F`, a data file's
    // location named another directory than its table's `a%2Fb` to Java and PyIceberg.
    for (const p of ["/w/a%2Fb/t/data/x.parquet", "/w/ns/t%2fu/data/x.parquet"]) {
      assert.strictEqual(fileLocation(p), `file://${p}`)
      assert.strictEqual(localPath(fileLocation(p)), p)
    }
  })

  it.live("of a table in a namespace holding `%2F`: its data files under the table's own location, as the catalog spelled it", () => {
    const dir = namedWarehouse("wh")
    const definition = { ...tables.trades, namespace: "a%2Fb" }
    const id = { namespace: "a%2Fb", name: "trades" }
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(definition)
      yield* sink.append(id, tradeColumns(makeTrades({ count: 10, days: 1, idPrefix: "s" })))
      const table = yield* (yield* Catalog).loadTable(id)
      const plan = yield* (yield* TableScanner).plan(id)
      assert.strictEqual(table.metadata.location, `file://${dir}/a%2Fb/trades`)
      assert.isAbove(plan.files.length, 0)
      for (const f of plan.files) assert.isTrue(f.filePath.startsWith(`${table.metadata.location}/`), f.filePath)
    }).pipe(Effect.provide(Lakehouse.layer(warehouseOptions("sqlite", dir))))
  }, 60_000)

  it("read back as the path written, a % that would read as an escape included", () => {
    for (const name of [...names, "a%2541b", "a\\b", "tab\there", "%", "%%41"]) {
      const p = `/w/${name}/x.parquet`
      assert.strictEqual(localPath(fileLocation(p)), p)
      assert.strictEqual(normalizeLocation(fileLocation(p)), p)
    }
  })

  it.live("of a table in a warehouse whose path holds a space and non-ASCII letters: its metadata, manifests and data files", () => {
    const dir = namedWarehouse("my wh é")
    return Effect.gen(function*() {
      yield* appendThree
      const table = yield* (yield* Catalog).loadTable(trades)
      const plan = yield* (yield* TableScanner).plan(trades)
      for (const location of [table.metadataLocation, table.metadata.location, table.metadata.snapshots[0]!["manifest-list"], ...plan.files.map((f) => f.filePath)]) {
        assert.isTrue(`${location}/`.startsWith(`file://${dir}/market_data/trades/`), location)
      }
      assert.deepStrictEqual(yield* rows, { n: 150, files: 3 })
    }).pipe(Effect.provide(Lakehouse.layer(warehouseOptions("sqlite", dir))))
  }, 60_000)
})

describe("a file: location written unencoded, as Java engines write Hadoop paths", () => {
  it("names the path with its #, ? and lone %, and the same file as K2's own location", () => {
    // Any character but a `%` and two hex digits, which reads as an escape (ADR-25).
    for (const p of ["/w/a#b/x.parquet", "/w/a?b/x.parquet", "/w/100%/x.parquet", "/w/a b/é.parquet", "/w/wh[1] *?{a} 'q\" #é日/x.parquet"]) {
      assert.strictEqual(localPath(`file:${p}`), p)
      assert.strictEqual(normalizeLocation(`file:${p}`), p)
      assert.strictEqual(normalizeLocation(`file://${p}`), normalizeLocation(fileLocation(p)))
    }
    // A valid escape is decoded: tables K2 wrote before it wrote paths unencoded hold encoded URIs.
    assert.strictEqual(localPath("file:///w/a%2541b/x"), "/w/a%41b/x")
  })

  it.live("orphan removal lists the table's directory, not the parent its `#` would cut it to", () => {
    const dir = namedWarehouse("wh#1")
    // Another warehouse beside it, at the path `wh#1` cut at its `#` names.
    const sibling = path.join(path.dirname(dir), "wh")
    fs.mkdirSync(sibling)
    fs.writeFileSync(path.join(sibling, "catalog.db"), "another warehouse's catalog")
    const options = warehouseOptions("sqlite", dir)
    const unencoded = lakehouseWrapping(options, (catalog) =>
      Catalog.of({
        ...catalog,
        loadTable: (id) =>
          Effect.map(catalog.loadTable(id), (t) => ({ ...t, metadata: { ...t.metadata, location: `file:${localPath(t.metadata.location)}` } }))
      }))
    return Effect.gen(function*() {
      yield* appendThree.pipe(Effect.provide(Lakehouse.layer(options)))
      const before = files(dir)
      const result = yield* (yield* Maintenance).removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1000 })
      assert.deepStrictEqual(result.removed, [])
      assert.strictEqual(result.filesScanned, before.filter((f) => f.startsWith(`${dir}/market_data/trades/`)).length)
      assert.isTrue(fs.existsSync(path.join(sibling, "catalog.db")))
      assert.deepStrictEqual(files(dir), before)
    }).pipe(Effect.provide(MaintenanceLayer.layer().pipe(Layer.provideMerge(unencoded))))
  }, 60_000)
})
