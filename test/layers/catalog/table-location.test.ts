/**
 * Creating a table where another table's metadata lies (ADR-47): a second catalog on the same
 * warehouse directory, or a table dropped (its files stay) and created again under its name, would
 * put two tables' files at one location, which orphan removal then refuses for good (ADR-42).
 * The creation is refused instead, naming the location and the other table-uuid.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { type Rows, type SqlDriver, sqliteDriver } from "../../../src/layers/catalog/drivers.ts"
import * as Catalogs from "../../../src/layers/catalog/sql.ts"
import * as FileIOs from "../../../src/layers/iceberg/fileio.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { Catalog, type CatalogError, LocationInUse, otherTables } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { SharedTableLocation } from "../../../src/services/Maintenance.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { tempWarehouse } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }

/** Every file below `dir`, sorted; none when it does not exist. */
const filesUnder = (dir: string): Array<string> =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)).sort()
    : []

const sqliteLakehouse = (dir: string, catalogFile: string) =>
  Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, catalogFile) } })

/** The table ensured, as ingest does at start, with one append of `count` trades. */
const tableWithRows = (count: number, idPrefix: string) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    yield* sink.append(trades, tradeColumns(makeTrades({ count, idPrefix })))
    return yield* (yield* Catalog).loadTable(trades)
  })

/** The failure's reason when `exit` failed with a CatalogError, else what it was. */
const reasonOf = <A>(exit: Exit.Exit<A, CatalogError>) => {
  if (Exit.isSuccess(exit)) return "succeeded"
  const failure = exit.cause.reasons.find((r) => r._tag === "Fail") as { error: CatalogError } | undefined
  return failure?.error.reason ?? "no failure"
}

describe("creating a table where another table's metadata lies", () => {
  it.live("a second catalog on the same warehouse: ensureTable is refused, naming the location and the other table; nothing written", () =>
    Effect.gen(function*() {
      const dir = tempWarehouse()
      const first = yield* tableWithRows(10, "a").pipe(Effect.provide(sqliteLakehouse(dir, "catalog.db")))
      const location = localPath(first.metadata.location)
      const before = filesUnder(location)
      const { exit, registered } = yield* Effect.gen(function*() {
        const exit = yield* Effect.exit((yield* IcebergSink).ensureTable(tables.trades))
        return { exit, registered: yield* (yield* Catalog).tableExists(trades) }
      }).pipe(Effect.provide(sqliteLakehouse(dir, "other-catalog.db")))
      const reason = reasonOf(exit)
      assert.strictEqual(typeof reason === "object" ? reason._tag : reason, "LocationInUse")
      const message = (reason as { message: string }).message
      assert.include(message, "market_data.trades")
      assert.include(message, first.metadata.location)
      assert.include(message, first.metadata["table-uuid"])
      assert.include(message, path.basename(first.metadataLocation))
      assert.include(message, "its own warehouse")
      assert.isFalse(registered, "the second catalog registered nothing")
      assert.deepStrictEqual(filesUnder(location), before, "nothing written at the location")
      // The first catalog's table is untouched and reads whole.
      const again = yield* Effect.gen(function*() {
        return yield* (yield* Catalog).loadTable(trades)
      }).pipe(Effect.provide(sqliteLakehouse(dir, "catalog.db")))
      assert.strictEqual(again.metadataLocation, first.metadataLocation)
    }), 60_000)

  const dropAndCreate = (name: string, layer: () => Layer.Layer<Catalog | FileIO, unknown>) =>
    it.live(`${name}: a table dropped and created again at its location is refused until the dropped table's metadata is deleted`, () =>
      Effect.gen(function*() {
        const catalog = yield* Catalog
        const files = yield* FileIO
        yield* catalog.createNamespace("market_data")
        const old = yield* catalog.createTable(trades, tables.trades)
        yield* catalog.dropTable(trades)
        // No purge: the dropped table's metadata stays (a reader may still pin it).
        assert.isTrue(yield* files.exists(old.metadataLocation))
        const refused = reasonOf(yield* Effect.exit(catalog.createTable(trades, tables.trades)))
        assert.strictEqual(typeof refused === "object" ? refused._tag : refused, "LocationInUse")
        assert.include((refused as { message: string }).message, old.metadata["table-uuid"])
        assert.isFalse(yield* catalog.tableExists(trades))
        assert.deepStrictEqual((yield* files.list(`${old.metadata.location}/metadata`)).map((f) => f.location), [old.metadataLocation])
        // As the message says: nothing reads the dropped table, its files are deleted; the table is then made at the same place.
        yield* files.remove(old.metadataLocation)
        const made = yield* catalog.createTable(trades, tables.trades)
        assert.strictEqual(made.metadata.location, old.metadata.location)
        assert.notStrictEqual(made.metadata["table-uuid"], old.metadata["table-uuid"])
      }).pipe(Effect.provide(layer())))

  dropAndCreate("in-memory catalog and files", () =>
    Catalogs.layerMemory({ name: "k2", warehouse: "file:///warehouse" }).pipe(Layer.provideMerge(FileIOs.layerMemory)))
  dropAndCreate("SQLite file, local files", () => {
    const dir = tempWarehouse()
    return Catalogs.layerSqlite({ name: "k2", path: path.join(dir, "catalog.db"), warehouse: FileIOs.fileLocation(dir) })
      .pipe(Layer.provideMerge(FileIOs.layer))
  })

  it.effect("what is not another table's metadata does not refuse: data files, a truncated metadata file, a table nested below", () =>
    Effect.gen(function*() {
      const catalog = yield* Catalog
      const files = yield* FileIO
      const location = "file:///warehouse/market_data/trades"
      // A dropped table's data files whose metadata was deleted (the new table's orphan removal takes them).
      yield* files.write(`${location}/data/exchange_timestamp_day=2024-01-02/old.parquet`, new Uint8Array([1]))
      // A metadata file cut short by a crash: no table loads it.
      yield* files.write(`${location}/metadata/00001-cut.metadata.json`, new TextEncoder().encode(`{"format-version": 2, "table-uu`))
      // A table named `metadata` in namespace market_data.trades: its metadata is one level further down.
      yield* catalog.createNamespace("market_data.trades")
      const nested = yield* catalog.createTable({ namespace: "market_data.trades", name: "metadata" }, tables.trades)
      assert.strictEqual(nested.metadata.location, `${location}/metadata`)
      yield* catalog.createNamespace("market_data")
      const made = yield* catalog.createTable(trades, tables.trades)
      assert.strictEqual(made.metadata.location, location)
    }).pipe(Effect.provide(Catalogs.layerMemory({ name: "k2", warehouse: "file:///warehouse" }).pipe(Layer.provideMerge(FileIOs.layerMemory)))))

  it.live("another process of the same catalog creating the table meanwhile: AlreadyExists, as before, not a location in use", () =>
    Effect.gen(function*() {
      const dir = tempWarehouse()
      const options = { name: "k2", warehouse: FileIOs.fileLocation(dir) }
      const catalogFile = path.join(dir, "catalog.db")
      const io = yield* FileIO
      // The other process, on the same catalog file, starts once this one's metadata file is written and
      // looks for the table after reading that file, before this one registers it.
      let otherRead = false
      let lookedInVain = () => {}
      const otherLookedInVain = new Promise<void>((resolve) => lookedInVain = resolve)
      const sqlite = sqliteDriver(catalogFile)
      const otherDriver: SqlDriver = {
        ...sqlite,
        query: (sql, params) => {
          const rows = sqlite.query(sql, params) as Rows
          if (otherRead && sql.includes("SELECT metadata_location") && rows.length === 0) lookedInVain()
          return rows
        }
      }
      const reading: FileIO["Service"] = { ...io, read: (l) => io.read(l).pipe(Effect.tap(() => Effect.sync(() => void (otherRead = true)))) }
      const other = yield* Catalogs.make(otherDriver, options).pipe(Effect.provideService(FileIO, reading))
      yield* other.createNamespace("market_data")
      const otherOutcome = yield* Deferred.make<Exit.Exit<unknown, CatalogError>>()
      const startOther = Effect.exit(other.createTable(trades, tables.trades)).pipe(
        Effect.flatMap((exit) => Deferred.succeed(otherOutcome, exit))
      )
      const writing: FileIO["Service"] = {
        ...io,
        write: (location, bytes) =>
          io.write(location, bytes).pipe(
            Effect.tap(() =>
              Effect.forkDetach(startOther).pipe(
                Effect.andThen(Effect.raceFirst(Effect.promise(() => otherLookedInVain), Effect.asVoid(Deferred.await(otherOutcome))))
              )
            )
          )
      }
      const mine = yield* Catalogs.make(sqliteDriver(catalogFile), options).pipe(Effect.provideService(FileIO, writing))
      const created = yield* mine.createTable(trades, tables.trades)
      const reason = reasonOf(yield* Deferred.await(otherOutcome))
      assert.strictEqual(typeof reason === "object" ? reason._tag : reason, "AlreadyExists")
      assert.strictEqual((yield* other.loadTable(trades)).metadataLocation, created.metadataLocation)
    }).pipe(Effect.provide(FileIOs.layer)), 30_000)
})

describe("how LocationInUse and SharedTableLocation name the other tables", () => {
  const foreign = (files: number, uuids: number) =>
    Array.from({ length: files }, (_, i) => ({ metadataFile: `m${i}.metadata.json`, tableUuid: `u${i % uuids}` }))

  it("one table: its uuid and up to five files, then how many more; several: how many and each uuid once", () => {
    assert.deepStrictEqual(otherTables(foreign(7, 1)), {
      tables: "another table",
      uuids: "u0",
      files: "m0.metadata.json, m1.metadata.json, m2.metadata.json, m3.metadata.json, m4.metadata.json and 2 more"
    })
    assert.deepStrictEqual(otherTables(foreign(3, 2)), { tables: "2 other tables", uuids: "u0, u1", files: "m0.metadata.json, m1.metadata.json, m2.metadata.json" })
    assert.include(
      new LocationInUse({ table: "market_data.trades", location: "/w/t", foreign: foreign(2, 2) }).message,
      "cannot create market_data.trades at /w/t: it holds the metadata of 2 other tables (table-uuid u0, u1: m0.metadata.json, m1.metadata.json). "
    )
    assert.include(
      new SharedTableLocation({ table: "market_data.trades", location: "/w/t", tableUuid: "mine", foreign: foreign(6, 1) }).message,
      "also holds another table (table-uuid u0; this table's is mine), whose files it does not reference and would delete as orphans: " +
        "m0.metadata.json, m1.metadata.json, m2.metadata.json, m3.metadata.json, m4.metadata.json and 1 more. "
    )
  })
})
