import { constants } from "node:buffer"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as zlib from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Logger, Result, Scope } from "effect"
import { TestClock } from "effect/testing"
import { encodeTableMetadata } from "../../../src/domain/iceberg/metadataFile.ts"
import type { Snapshot } from "../../../src/domain/iceberg/spec.ts"
import { tables } from "../../../src/domain/tables.ts"
import { postgresDriver, type SqlDriver, sqliteDriver } from "../../../src/layers/catalog/drivers.ts"
import * as Catalogs from "../../../src/layers/catalog/sql.ts"
import * as FileIOs from "../../../src/layers/iceberg/fileio.ts"
import { Catalog, type CatalogUnavailable } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { catalogContract } from "./catalogContract.ts"
import { tempDir } from "../../support/tempDir.ts"

catalogContract("in-memory SQLite, in-memory files", () =>
  Catalogs.layerMemory({ name: "k2", warehouse: "file:///warehouse" }).pipe(Layer.provide(FileIOs.layerMemory)))

catalogContract("SQLite file, local files", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-catalog-"))
  return Catalogs.layerSqlite({ name: "k2", path: path.join(dir, "catalog.db"), warehouse: FileIOs.fileLocation(dir) })
    .pipe(Layer.provide(FileIOs.layer))
})

describe("SQL catalog: a failing database", () => {
  type Mode = "none" | "throw" | "reject"
  /** In-memory SQLite whose reads fail once `failing` is set: by throwing (as SQLite does) or rejecting (as pg does). */
  const flaky = (failing: { mode: Mode }): SqlDriver => {
    const sqlite = sqliteDriver(":memory:")
    return {
      ...sqlite,
      query: (sql, params) => {
        if (failing.mode === "throw") throw new Error("disk I/O error")
        if (failing.mode === "reject") return Promise.reject(new Error("Connection terminated"))
        return sqlite.query(sql, params)
      }
    }
  }

  for (const mode of ["throw", "reject"] as const) {
    it.effect(`a read that fails (${mode}) is CatalogUnavailable with the driver's message`, () =>
      Effect.gen(function*() {
        const failing: { mode: Mode } = { mode: "none" }
        const catalog = yield* Catalogs.make(flaky(failing), { name: "k2", warehouse: "file:///warehouse" })
        yield* catalog.createNamespace("market_data")
        yield* catalog.createTable({ namespace: "market_data", name: "trades" }, tables.trades)
        failing.mode = mode
        const error = yield* Effect.flip(catalog.loadTable({ namespace: "market_data", name: "trades" }))
        assert.strictEqual(error.reason._tag, "CatalogUnavailable")
        assert.include((error.reason as CatalogUnavailable).detail, mode === "throw" ? "disk I/O error" : "Connection terminated")
        failing.mode = "none"
        const loaded = yield* catalog.loadTable({ namespace: "market_data", name: "trades" })
        assert.strictEqual(loaded.identifier.name, "trades")
      }).pipe(Effect.provide(FileIOs.layerMemory)))
  }
})

describe("SQL catalog: a database that cannot be reached", () => {
  /**
   * As pg-pool rejects when nothing listens on a host that resolves to ::1 and 127.0.0.1 (`localhost`):
   * Node's AggregateError, whose message is empty.
   */
  const refused = () =>
    Object.assign(
      new AggregateError([new Error("connect ECONNREFUSED ::1:5432"), new Error("connect ECONNREFUSED 127.0.0.1:5432")]),
      { code: "ECONNREFUSED" }
    )

  it.effect("a refused connection is named in the error (its AggregateError has an empty message)", () =>
    Effect.gen(function*() {
      let down = false
      const sqlite = sqliteDriver(":memory:")
      const driver: SqlDriver = {
        ...sqlite,
        query: (sql, params) => down ? Promise.reject(refused()) : sqlite.query(sql, params),
        execute: (sql, params) => down ? Promise.reject(refused()) : sqlite.execute(sql, params)
      }
      const catalog = yield* Catalogs.make(driver, { name: "k2", warehouse: "file:///warehouse" })
      yield* catalog.createNamespace("market_data")
      const table = yield* catalog.createTable({ namespace: "market_data", name: "trades" }, tables.trades)
      down = true
      const read = yield* Effect.flip(catalog.loadTable({ namespace: "market_data", name: "trades" }))
      assert.strictEqual(read.reason._tag, "CatalogUnavailable")
      assert.include(read.message, "connect ECONNREFUSED 127.0.0.1:5432")
      const created = yield* Effect.flip(catalog.createNamespace("reference_data"))
      assert.include(created.message, "ECONNREFUSED")
      down = false
      // The swap itself failing: the commit's outcome is unknown, and says why.
      const base = yield* catalog.loadTable({ namespace: "market_data", name: "trades" })
      assert.strictEqual(base.metadataLocation, table.metadataLocation)
      const swap: SqlDriver = { ...driver, execute: (sql, params) => sql.startsWith("UPDATE") ? Promise.reject(refused()) : driver.execute(sql, params) }
      const committing = yield* Catalogs.make(swap, { name: "k2", warehouse: "file:///warehouse" }).pipe(
        Effect.flatMap((c) => Effect.flip(c.commitTable({ namespace: "market_data", name: "trades" }, [], [])))
      )
      assert.strictEqual(committing.reason._tag, "CommitStateUnknown")
      assert.include(committing.message, "ECONNREFUSED")
      // Opening the catalog (its tables' DDL) on a database that refuses.
      const opening = yield* Effect.flip(Catalogs.make({ ...driver, execute: () => Promise.reject(refused()) }, { name: "k2", warehouse: "file:///warehouse" }))
      assert.include(opening.message, "ECONNREFUSED")
    }).pipe(Effect.provide(FileIOs.layerMemory)))
})

describe("SQL catalog: a table's registration whose connection broke", () => {
  /**
   * A SQLite file catalog whose next INSERT into iceberg_tables, once `breakNext` is set, loses its
   * connection as pg reports it: before the row landed, or after.
   */
  const breaking = (file: string) => {
    const sqlite = sqliteDriver(file)
    const state: { breakNext: "before" | "after" | undefined } = { breakNext: undefined }
    const driver: SqlDriver = {
      ...sqlite,
      execute: async (sql, params) => {
        const when = sql.trimStart().startsWith("INSERT INTO iceberg_tables") ? state.breakNext : undefined
        if (when === undefined) return sqlite.execute(sql, params)
        state.breakNext = undefined
        if (when === "after") await sqlite.execute(sql, params)
        throw new Error("Connection terminated unexpectedly")
      }
    }
    return { driver, state }
  }
  const id = { namespace: "market_data", name: "trades" }
  const metadataFiles = (dir: string) => fs.readdirSync(path.join(dir, "market_data", "trades", "metadata")).filter((f) => f.endsWith(".metadata.json"))
  /** A catalog in a new directory whose first create of the table lost its connection `when`; the create's failure. */
  const createBroken = (when: "before" | "after") =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const file = path.join(dir, "catalog.db")
      const { driver, state } = breaking(file)
      const catalog = yield* Catalogs.make(driver, { name: "k2", warehouse: FileIOs.fileLocation(dir) })
      yield* catalog.createNamespace(id.namespace)
      state.breakNext = when
      const failed = yield* Effect.flip(catalog.createTable(id, tables.trades))
      return { dir, file, catalog, failed }
    })

  // Live: refused, LocationInUse waits a second for the other table's row to show.
  it.live("not landed: created again by the next try, not refused as another table's location (LocationInUse), and the first file is removed", () =>
    Effect.gen(function*() {
      const { catalog, dir, failed } = yield* createBroken("before")
      assert.strictEqual(failed.reason._tag, "CatalogUnavailable")
      assert.include(failed.message, "Connection terminated unexpectedly")
      // Its outcome unknown, its metadata file stays meanwhile: the row may point at it.
      assert.strictEqual(metadataFiles(dir).length, 1)
      const created = yield* catalog.createTable(id, tables.trades)
      assert.strictEqual((yield* catalog.loadTable(id)).metadataLocation, created.metadataLocation)
      // Only the registered table's file is left: another table-uuid there would have orphan removal refuse the location.
      assert.deepStrictEqual(metadataFiles(dir), [path.basename(FileIOs.localPath(created.metadataLocation))])
    }).pipe(Effect.provide(FileIOs.layer), Effect.scoped))

  it.effect("landed: the next try finds the table (AlreadyExists), and its file is kept", () =>
    Effect.gen(function*() {
      const { catalog, dir } = yield* createBroken("after")
      const again = yield* Effect.flip(catalog.createTable(id, tables.trades))
      assert.strictEqual(again.reason._tag, "AlreadyExists")
      const loaded = yield* catalog.loadTable(id)
      assert.deepStrictEqual(metadataFiles(dir), [path.basename(FileIOs.localPath(loaded.metadataLocation))])
    }).pipe(Effect.provide(FileIOs.layer), Effect.scoped))

  // Two fibers ensuring the table: one's create landed unseen and was committed to, the other's
  // create then meets the row. The first file is in the table's metadata log, not garbage.
  it.effect("landed and committed to since: a later create (AlreadyExists) keeps the table's first metadata file", () =>
    Effect.gen(function*() {
      const { catalog } = yield* createBroken("after")
      const first = (yield* catalog.loadTable(id)).metadataLocation
      const committed = yield* catalog.commitTable(id, [], [{ action: "set-properties", updates: { owner: "k2" } }])
      assert.include(committed.metadata["metadata-log"].map((e) => e["metadata-file"]), first)
      const again = yield* Effect.flip(catalog.createTable(id, tables.trades))
      assert.strictEqual(again.reason._tag, "AlreadyExists")
      assert.isTrue(fs.existsSync(FileIOs.localPath(first)), "the table's first metadata file was removed")
    }).pipe(Effect.provide(FileIOs.layer), Effect.scoped))

  // Live: refused, LocationInUse waits a second for the other table's row to show.
  it.live("landed, committed to, dropped by another process: created again there is refused (LocationInUse), as any dropped table's place", () =>
    Effect.gen(function*() {
      const { catalog, dir, file } = yield* createBroken("after")
      yield* catalog.commitTable(id, [], [{ action: "set-properties", updates: { owner: "k2" } }])
      const other = yield* Catalogs.make(sqliteDriver(file), { name: "k2", warehouse: FileIOs.fileLocation(dir) })
      yield* other.dropTable(id)
      const again = yield* Effect.flip(catalog.createTable(id, tables.trades))
      assert.strictEqual(again.reason._tag, "LocationInUse")
    }).pipe(Effect.provide(FileIOs.layer), Effect.scoped))
})

describe("SQL catalog: a create interrupted", () => {
  // A stop (a revoke, a drain) between the metadata file's write and its row's INSERT left a file no
  // row names: every later create there was refused as another table's location (ADR-47), for good.
  it.live("after its metadata file was written, still registers it: the next create finds the table (AlreadyExists), not another's location", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const file = path.join(dir, "catalog.db")
      const options = { name: "k2", warehouse: FileIOs.fileLocation(dir) }
      const id = { namespace: "market_data", name: "trades" }
      const real = yield* FileIO
      const written = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      // The metadata file is on the disk; its write has not returned yet.
      const slow = FileIO.of({
        ...real,
        write: (location, bytes) =>
          location.endsWith(".metadata.json")
            ? real.write(location, bytes).pipe(Effect.andThen(Deferred.succeed(written, undefined)), Effect.andThen(Deferred.await(gate)))
            : real.write(location, bytes)
      })
      const catalog = yield* Catalogs.make(sqliteDriver(file), options).pipe(Effect.provideService(FileIO, slow))
      yield* catalog.createNamespace(id.namespace)
      const creating = yield* Effect.forkChild(catalog.createTable(id, tables.trades))
      yield* Deferred.await(written)
      const interrupting = yield* Effect.forkChild(Fiber.interrupt(creating))
      // The interruption is delivered while the write has not returned.
      yield* Effect.sleep("50 millis")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(interrupting)
      const other = yield* Catalogs.make(sqliteDriver(file), options)
      const again = yield* Effect.flip(other.createTable(id, tables.trades))
      assert.strictEqual(again.reason._tag, "AlreadyExists")
    }).pipe(Effect.provide(FileIOs.layer), Effect.scoped))
})

describe("SQL catalog: a PostgreSQL swap that never reached the server", () => {
  // No connection could be had for the swap (the server down, the pool's wait for a connection over,
  // a login refused): the UPDATE was never sent, so nothing changed. Not an unknown outcome, whose
  // files stay for good and whose commit is looked for before every retry.
  it.effect("a swap whose connection could not be made is CatalogUnavailable and leaves no metadata file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const sqlite = sqliteDriver(path.join(dir, "catalog.db"))
      // Port 1: nothing listens, the connection is refused.
      const down = postgresDriver("postgresql://k2@127.0.0.1:1/k2")
      const driver: SqlDriver = { ...sqlite, execute: (sql, params) => sql.trimStart().startsWith("UPDATE") ? down.execute(sql, params) : sqlite.execute(sql, params) }
      const catalog = yield* Catalogs.make(driver, { name: "k2", warehouse: FileIOs.fileLocation(dir) })
      yield* catalog.createNamespace("market_data")
      const id = { namespace: "market_data", name: "trades" }
      const created = yield* catalog.createTable(id, tables.trades)
      const error = yield* Effect.flip(catalog.commitTable(id, [], [{ action: "set-properties", updates: { owner: "k2" } }]))
      assert.strictEqual(error.reason._tag, "CatalogUnavailable")
      assert.include(error.message, "ECONNREFUSED")
      const metadataDir = path.dirname(FileIOs.localPath(created.metadataLocation))
      assert.deepStrictEqual(fs.readdirSync(metadataDir), [path.basename(created.metadataLocation)])
      yield* Effect.promise(() => down.close())
    }).pipe(Effect.provide(FileIOs.layer), Effect.scoped))
})

describe("SQL catalog: rows other engines own", () => {
  it.effect("dropping a table leaves a view of the same name alone (JdbcCatalog V1 keeps views in iceberg_tables)", () =>
    Effect.gen(function*() {
      const driver = sqliteDriver(":memory:")
      const catalog = yield* Catalogs.make(driver, { name: "k2", warehouse: "file:///warehouse" })
      yield* catalog.createNamespace("market_data")
      // A view as Spark or Trino through JdbcCatalog V1 registers it.
      yield* Effect.promise(() =>
        driver.execute(
          `INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location, iceberg_type)
           VALUES ('k2', 'market_data', 'daily_vwap', 'file:///warehouse/market_data/daily_vwap/metadata/00000-v.metadata.json', NULL, 'VIEW')`
        )
      )
      const id = { namespace: "market_data", name: "daily_vwap" }
      assert.isFalse(yield* catalog.tableExists(id))
      const dropped = yield* Effect.result(catalog.dropTable(id))
      assert.strictEqual(Result.isFailure(dropped) ? dropped.failure.reason._tag : "dropped", "NoSuchTable")
      const rows = yield* Effect.promise(async () => await driver.query(`SELECT iceberg_type FROM iceberg_tables WHERE table_name = 'daily_vwap'`))
      assert.deepStrictEqual(rows.map((r) => r.iceberg_type), ["VIEW"])
    }).pipe(Effect.provide(FileIOs.layerMemory)))
})

describe("SQL catalog: a namespace's creation that fails part way", () => {
  it.effect("leaves no namespace (none of its rows), and a retry creates it with every property", () =>
    Effect.gen(function*() {
      const sqlite = sqliteDriver(":memory:")
      const failing = { on: true }
      // The database refuses a row holding the "owner" property (a full disk, a broken connection).
      const driver: SqlDriver = {
        ...sqlite,
        execute: (sql, params) =>
          failing.on && sql.includes("iceberg_namespace_properties") && params?.includes("owner")
            ? Promise.reject(new Error("disk I/O error"))
            : sqlite.execute(sql, params)
      }
      const catalog = yield* Catalogs.make(driver, { name: "k2", warehouse: "file:///warehouse" })
      const properties = { comment: "market data", owner: "k2", retention: "30d" }
      const failed = yield* Effect.flip(catalog.createNamespace("market_data", properties))
      assert.strictEqual(failed.reason._tag, "CatalogUnavailable")
      assert.isFalse(yield* catalog.namespaceExists("market_data"))
      failing.on = false
      yield* catalog.createNamespace("market_data", properties)
      const rows = yield* Effect.promise(async () =>
        await sqlite.query(`SELECT property_key AS k, property_value AS v FROM iceberg_namespace_properties ORDER BY property_key`)
      )
      assert.deepStrictEqual(rows.map((r) => [r.k, r.v]), [["comment", "market data"], ["exists", "true"], ["owner", "k2"], ["retention", "30d"]])
    }).pipe(Effect.provide(FileIOs.layerMemory)))
})

describe("SQL catalog: a registration whose outcome is unknown", () => {
  it.effect("a table INSERT that ran before the connection broke keeps its metadata file: the table stays loadable", () =>
    Effect.gen(function*() {
      const sqlite = sqliteDriver(":memory:")
      // As PostgreSQL can: the statement commits, then the connection drops before the answer.
      const driver: SqlDriver = {
        ...sqlite,
        execute: async (sql, params) => {
          const changed = await sqlite.execute(sql, params)
          if (sql.includes("INSERT INTO iceberg_tables")) throw new Error("Connection terminated unexpectedly")
          return changed
        }
      }
      const catalog = yield* Catalogs.make(driver, { name: "k2", warehouse: "file:///warehouse" })
      yield* catalog.createNamespace("market_data")
      const id = { namespace: "market_data", name: "trades" }
      const created = yield* Effect.result(catalog.createTable(id, tables.trades))
      assert.strictEqual(Result.isFailure(created) ? created.failure.reason._tag : "created", "CatalogUnavailable")
      // The row landed: the table must load (in another process too, without this one's cache),
      // not point at a removed file.
      const other = yield* Catalogs.make(sqlite, { name: "k2", warehouse: "file:///warehouse" })
      const loaded = yield* Effect.result(other.loadTable(id))
      assert.strictEqual(Result.isFailure(loaded) ? loaded.failure.message : "loaded", "loaded")
    }).pipe(Effect.provide(FileIOs.layerMemory)))
})

describe("SQL catalog: a commit whose outcome is unknown", () => {
  it.effect("an UPDATE that ran before the connection broke is CommitStateUnknown and keeps its metadata file: the table stays loadable", () =>
    Effect.gen(function*() {
      const sqlite = sqliteDriver(":memory:")
      let breakAfterSwap = false
      const driver: SqlDriver = {
        ...sqlite,
        execute: async (sql, params) => {
          const changed = await sqlite.execute(sql, params)
          if (breakAfterSwap && sql.includes("UPDATE iceberg_tables")) throw new Error("Connection terminated unexpectedly")
          return changed
        }
      }
      const catalog = yield* Catalogs.make(driver, { name: "k2", warehouse: "file:///warehouse" })
      yield* catalog.createNamespace("market_data")
      const id = { namespace: "market_data", name: "trades" }
      yield* catalog.createTable(id, tables.trades)
      breakAfterSwap = true
      const error = yield* Effect.flip(catalog.commitTable(id, [], [{ action: "set-properties", updates: { owner: "k2" } }]))
      assert.strictEqual(error.reason._tag, "CommitStateUnknown")
      // The swap landed: the table must load (in another process too) with the change.
      const other = yield* Catalogs.make(sqlite, { name: "k2", warehouse: "file:///warehouse" })
      const loaded = yield* Effect.result(other.loadTable(id))
      assert.strictEqual(Result.isSuccess(loaded) ? loaded.success.metadata.properties["owner"] : loaded.failure.message, "k2")
    }).pipe(Effect.provide(FileIOs.layerMemory)))
})

describe("SQL catalog: writers racing the swap", () => {
  it.effect("a commit whose base another writer swapped away meanwhile is a CommitConflict, and the other's change stays", () =>
    Effect.gen(function*() {
      const sqlite = sqliteDriver(":memory:")
      const options = { name: "k2", warehouse: "file:///warehouse" }
      const other = yield* Catalogs.make(sqlite, options)
      const id = { namespace: "market_data", name: "trades" }
      let race = false
      const driver: SqlDriver = {
        ...sqlite,
        execute: async (sql, params) => {
          // Another writer commits after this one read its base, before its swap.
          if (race && sql.includes("UPDATE iceberg_tables")) {
            race = false
            await Effect.runPromise(other.commitTable(id, [], [{ action: "set-properties", updates: { by: "other" } }]).pipe(Effect.provide(FileIOs.layerMemory)))
          }
          return sqlite.execute(sql, params)
        }
      }
      const catalog = yield* Catalogs.make(driver, options)
      yield* catalog.createNamespace("market_data")
      yield* catalog.createTable(id, tables.trades)
      race = true
      const error = yield* Effect.flip(catalog.commitTable(id, [], [{ action: "set-properties", updates: { by: "me" } }]))
      assert.strictEqual(error.reason._tag, "CommitConflict")
      const loaded = yield* other.loadTable(id)
      assert.strictEqual(loaded.metadata.properties["by"], "other")
    }).pipe(Effect.provide(FileIOs.layerMemory)))

  it.effect("a commit that loses the swap to another of the same catalog leaves the winner's file cached: the next load parses nothing", () =>
    Effect.gen(function*() {
      const id = { namespace: "market_data", name: "trades" }
      const real = yield* FileIO
      const parsed: Array<string> = []
      let race: (() => Effect.Effect<unknown, unknown>) | undefined
      // The other commit lands once this one's metadata file is written, before its swap.
      const files = FileIO.of({
        ...real,
        read: (location) => {
          if (location.endsWith(".metadata.json")) parsed.push(location)
          return real.read(location)
        },
        write: (location, bytes) => {
          const other = location.endsWith(".metadata.json") ? race : undefined
          race = undefined
          return other === undefined ? real.write(location, bytes) : real.write(location, bytes).pipe(Effect.andThen(Effect.orDie(other())))
        }
      })
      const catalog = yield* Catalogs.make(sqliteDriver(":memory:"), { name: "k2", warehouse: "file:///warehouse" }).pipe(
        Effect.provideService(FileIO, files)
      )
      yield* catalog.createNamespace("market_data")
      yield* catalog.createTable(id, tables.trades)
      race = () => catalog.commitTable(id, [], [{ action: "set-properties", updates: { by: "other" } }])
      const error = yield* Effect.flip(catalog.commitTable(id, [], [{ action: "set-properties", updates: { by: "me" } }]))
      assert.strictEqual(error.reason._tag, "CommitConflict")
      parsed.length = 0
      const loaded = yield* catalog.loadTable(id)
      assert.strictEqual(loaded.metadata.properties["by"], "other")
      assert.deepStrictEqual(parsed, [])
    }).pipe(Effect.provide(FileIOs.layerMemory)))
})

/**
 * Another engine's commit: the trades table's metadata file replaced by `make` of what K2 wrote,
 * named `name` beside it. `reopened` opens another catalog on it (another process, nothing cached).
 */
const committedByAnother = (name: string, make: (written: Uint8Array) => Uint8Array) =>
  Effect.gen(function*() {
    const files = yield* FileIO
    const driver = sqliteDriver(":memory:")
    const options = { name: "k2", warehouse: "file:///warehouse" }
    const catalog = yield* Catalogs.make(driver, options)
    yield* catalog.createNamespace("market_data")
    const id = { namespace: "market_data", name: "trades" }
    const created = yield* catalog.createTable(id, tables.trades)
    const replaced = created.metadataLocation.replace(/\/00000-[^/]*$/, `/${name}`)
    yield* files.write(replaced, make(yield* files.read(created.metadataLocation)))
    yield* Effect.promise(() =>
      driver.execute(`UPDATE iceberg_tables SET metadata_location = $1, previous_metadata_location = $2`, [replaced, created.metadataLocation])
    )
    return { id, created, replaced, catalog, reopened: Catalogs.make(driver, options) }
  })

describe("SQL catalog: metadata files other engines wrote", () => {
  it.effect("loads and commits on gzip-compressed metadata (write.metadata.compression-codec=gzip)", () =>
    Effect.gen(function*() {
      // The same metadata, gzipped, named as Iceberg Java names it.
      const { created, id, reopened } = yield* committedByAnother("00001-6a1c.gz.metadata.json", (written) => zlib.gzipSync(written))
      const other = yield* reopened
      const loaded = yield* Effect.result(other.loadTable(id))
      assert.strictEqual(Result.isFailure(loaded) ? loaded.failure.message : loaded.success.metadata["table-uuid"], created.metadata["table-uuid"])
      const committed = yield* other.commitTable(id, [], [{ action: "set-properties", updates: { owner: "k2" } }])
      assert.match(committed.metadataLocation, /\/00002-[^/]*\.metadata\.json$/)
    }).pipe(Effect.provide(FileIOs.layerMemory)))
})

describe("SQL catalog: a database another engine created", () => {
  // Iceberg Java's JdbcCatalog creates this layout unless jdbc.schema-version=V1; PyIceberg's
  // SqlCatalog never adds iceberg_type either.
  const V0_DDL = `CREATE TABLE iceberg_tables (catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL,
    table_name VARCHAR(255) NOT NULL, metadata_location VARCHAR(1000), previous_metadata_location VARCHAR(1000),
    PRIMARY KEY (catalog_name, table_namespace, table_name))`

  it.effect("works on the JdbcCatalog V0 / PyIceberg layout (no iceberg_type column)", () =>
    Effect.gen(function*() {
      const driver = sqliteDriver(":memory:")
      yield* Effect.promise(() => driver.execute(V0_DDL))
      const attempt = yield* Effect.result(Effect.gen(function*() {
        const catalog = yield* Catalogs.make(driver, { name: "k2", warehouse: "file:///warehouse" })
        yield* catalog.createNamespace("market_data")
        const id = { namespace: "market_data", name: "trades" }
        yield* catalog.createTable(id, tables.trades)
        assert.isTrue(yield* catalog.tableExists(id))
        assert.deepStrictEqual(yield* catalog.listTables("market_data"), [id])
        const committed = yield* catalog.commitTable(id, [], [{ action: "set-properties", updates: { owner: "k2" } }])
        assert.strictEqual((yield* catalog.loadTable(id)).metadataLocation, committed.metadataLocation)
        yield* catalog.dropTable(id)
        assert.isFalse(yield* catalog.tableExists(id))
      }))
      assert.strictEqual(Result.isFailure(attempt) ? attempt.failure.message : "worked", "worked")
    }).pipe(Effect.provide(FileIOs.layerMemory)))
})

describe("SQL catalog: a role that may not create tables", () => {
  // PostgreSQL checks CREATE on the schema before it looks for the table, so `CREATE TABLE IF NOT
  // EXISTS` is refused to a role without it (since PostgreSQL 15 no role but the owner has it on
  // `public`) even when the tables are there and the role may read and write them.
  const denied = () => Object.assign(new Error("permission denied for schema public"), { code: "42501" })
  const withoutCreate = (driver: SqlDriver): SqlDriver => ({
    ...driver,
    execute: (sql, params) => sql.trimStart().startsWith("CREATE") ? Promise.reject(denied()) : driver.execute(sql, params)
  })

  it.effect("opens a database whose tables exist (made by the owner, Iceberg Java or an earlier K2) and works on it", () =>
    Effect.gen(function*() {
      const driver = sqliteDriver(":memory:")
      yield* Catalogs.make(driver, { name: "setup", warehouse: "file:///warehouse" })
      const opened = yield* Effect.result(Catalogs.make(withoutCreate(driver), { name: "k2", warehouse: "file:///warehouse" }))
      assert.strictEqual(Result.isFailure(opened) ? opened.failure.message : "opened", "opened")
      const catalog = Result.getOrThrow(opened)
      yield* catalog.createNamespace("market_data")
      const id = { namespace: "market_data", name: "trades" }
      yield* catalog.createTable(id, tables.trades)
      yield* catalog.commitTable(id, [], [{ action: "set-properties", updates: { owner: "k2" } }])
      assert.strictEqual((yield* catalog.loadTable(id)).metadata.properties.owner, "k2")
    }).pipe(Effect.provide(FileIOs.layerMemory)))

  it.effect("a swap the role may not make (no UPDATE on iceberg_tables) is refused for good, not an unknown outcome, and leaves no metadata file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const sqlite = sqliteDriver(path.join(dir, "catalog.db"))
      const noUpdate: SqlDriver = {
        ...sqlite,
        execute: (sql, params) =>
          sql.trimStart().startsWith("UPDATE")
            ? Promise.reject(Object.assign(new Error("permission denied for table iceberg_tables"), { code: "42501" }))
            : sqlite.execute(sql, params)
      }
      const catalog = yield* Catalogs.make(noUpdate, { name: "k2", warehouse: FileIOs.fileLocation(dir) })
      yield* catalog.createNamespace("market_data")
      const id = { namespace: "market_data", name: "trades" }
      const created = yield* catalog.createTable(id, tables.trades)
      const error = yield* Effect.flip(catalog.commitTable(id, [], [{ action: "set-properties", updates: { owner: "k2" } }]))
      assert.strictEqual(error.reason._tag, "CatalogRejected")
      assert.include(error.message, "permission denied for table iceberg_tables")
      const metadataDir = path.dirname(FileIOs.localPath(created.metadataLocation))
      assert.deepStrictEqual(fs.readdirSync(metadataDir), [path.basename(created.metadataLocation)])
    }).pipe(Effect.provide(FileIOs.layer), Effect.scoped))

  it.effect("on a database without the tables, the refusal is the error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Catalogs.make(withoutCreate(sqliteDriver(":memory:")), { name: "k2", warehouse: "file:///warehouse" }))
      assert.include(error.message, "permission denied for schema public")
    }).pipe(Effect.provide(FileIOs.layerMemory)))
})

describe("SQL catalog: metadata files a commit leaves behind", () => {
  // A table committing every second writes a metadata.json a second: kept until orphan removal
  // (24 h), an hour of snapshots in each made gigabytes an hour.
  // `TRUE`: another engine's spelling, which Java's Boolean.parseBoolean takes.
  for (const [value, deletes] of [["true", true], ["TRUE", true], ["false", false]] as const) {
    it.effect(`write.metadata.delete-after-commit.enabled=${value}: ${deletes ? "the files that leave the metadata log are deleted" : "every file stays (Java's default)"}`, () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const id = { namespace: "market_data", name: "trades" }
        const onDisk = () => fs.readdirSync(path.join(dir, "market_data", "trades", "metadata")).filter((f) => f.endsWith(".metadata.json")).sort()
        const namedBy = (t: { metadataLocation: string; metadata: { "metadata-log": ReadonlyArray<{ "metadata-file": string }> } }) =>
          [t.metadataLocation, ...t.metadata["metadata-log"].map((e) => e["metadata-file"])].map((l) => path.basename(FileIOs.localPath(l))).sort()
        // The removals run beside the commits' answers (ADR-84): all done once the catalog has closed.
        const t = yield* Effect.scoped(Effect.gen(function*() {
          const catalog = yield* Catalogs.make(sqliteDriver(path.join(dir, "catalog.db")), { name: "k2", warehouse: FileIOs.fileLocation(dir) })
          yield* catalog.createNamespace("market_data")
          yield* catalog.createTable(id, {
            ...tables.trades,
            properties: { "write.metadata.delete-after-commit.enabled": value, "write.metadata.previous-versions-max": "2" }
          })
          for (let i = 0; i < 5; i++) {
            const committed = yield* catalog.commitTable(id, [], [{ action: "set-properties", updates: { n: String(i) } }])
            // Never a file the table still names, whatever a removal has done by then.
            const present = new Set(onDisk())
            for (const f of namedBy(committed)) assert.isTrue(present.has(f), `${f} is on the disk after commit ${i}`)
          }
          return yield* catalog.loadTable(id)
        }))
        assert.strictEqual(t.metadata["metadata-log"].length, 2)
        if (deletes) assert.deepStrictEqual(onDisk(), namedBy(t))
        else assert.strictEqual(onDisk().length, 6)
      }).pipe(Effect.provide(FileIOs.layer), Effect.scoped))
  }
})

describe("SQL catalog: a metadata file's removal is not waited for (ADR-84)", () => {
  /** In-memory files whose removals wait for `release` once `holding`, noting each when it starts. */
  const holdingRemovals = Effect.gen(function*() {
    const release = yield* Deferred.make<void>()
    const started: Array<string> = []
    const state = { holding: false }
    const layer = Layer.effect(FileIO)(Effect.gen(function*() {
      const inner = yield* FileIO
      return FileIO.of({
        ...inner,
        remove: (location) =>
          Effect.suspend(() => {
            if (!state.holding) return inner.remove(location)
            started.push(location)
            return Effect.andThen(Deferred.await(release), inner.remove(location))
          })
      })
    })).pipe(Layer.provide(FileIOs.layerMemory))
    return { release, started, state, layer }
  })
  const id = { namespace: "market_data", name: "trades" }
  const properties = { "write.metadata.delete-after-commit.enabled": "true", "write.metadata.previous-versions-max": "1" }

  it.effect("a commit answers while the file that left the metadata log is still being removed; the catalog's closing waits for the removal", () =>
    Effect.gen(function*() {
      const { layer, release, started, state } = yield* holdingRemovals
      yield* Effect.gen(function*() {
        const files = yield* FileIO
        const dropped = yield* Effect.scoped(Effect.gen(function*() {
          const catalog = yield* Catalogs.make(sqliteDriver(":memory:"), { name: "k2", warehouse: "file:///warehouse" })
          yield* catalog.createNamespace("market_data")
          const created = yield* catalog.createTable(id, { ...tables.trades, properties })
          yield* catalog.commitTable(id, [], [{ action: "set-properties", updates: { n: "0" } }])
          state.holding = true
          // The table's first file leaves the log with this commit.
          const commit = yield* Effect.forkChild(catalog.commitTable(id, [], [{ action: "set-properties", updates: { n: "1" } }]))
          for (let i = 0; i < 100 && commit.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
          assert.deepStrictEqual(started, [created.metadataLocation])
          assert.isDefined(commit.pollUnsafe(), "the commit answered with its removal still held")
          const committed = yield* Fiber.join(commit)
          assert.strictEqual(committed.metadata.properties["n"], "1")
          assert.isTrue(yield* files.exists(created.metadataLocation))
          // Readers meanwhile: the table loads, and the files it names are there.
          const loaded = yield* catalog.loadTable(id)
          for (const f of [loaded.metadataLocation, ...loaded.metadata["metadata-log"].map((e) => e["metadata-file"])]) {
            assert.isTrue(yield* files.exists(f), `${f} is there`)
          }
          yield* Effect.forkDetach(Effect.andThen(Effect.yieldNow, Deferred.succeed(release, undefined)))
          return created.metadataLocation
        }))
        // Closed: the held removal was waited for, not interrupted.
        assert.isFalse(yield* files.exists(dropped))
      }).pipe(Effect.provide(layer))
    }))

  it.effect("removals that never return: at most MAX_RUNNING_REMOVALS run, the closing waits REMOVALS_CLOSE_WAIT and says what it left for orphan removal", () =>
    Effect.gen(function*() {
      const { layer, started, state } = yield* holdingRemovals
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        const catalog = yield* Catalogs.make(sqliteDriver(":memory:"), { name: "k2", warehouse: "file:///warehouse" }).pipe(Scope.provide(scope))
        yield* catalog.createNamespace("market_data")
        yield* catalog.createTable(id, { ...tables.trades, properties })
        yield* catalog.commitTable(id, [], [{ action: "set-properties", updates: { n: "0" } }])
        // Each commit retires one file; its removal never returns (`release` is never completed).
        state.holding = true
        const commits = Catalogs.MAX_RUNNING_REMOVALS + 3
        for (let i = 1; i <= commits; i++) yield* catalog.commitTable(id, [], [{ action: "set-properties", updates: { n: String(i) } }])
        yield* Effect.yieldNow
        assert.strictEqual(started.length, Catalogs.MAX_RUNNING_REMOVALS, "no more removals than the bound running")
        const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow
        assert.isUndefined(closing.pollUnsafe(), "the closing waits for the removals")
        yield* TestClock.adjust(Catalogs.REMOVALS_CLOSE_WAIT)
        yield* Fiber.join(closing)
        const warning = logged.find((l) => l.startsWith("catalog closed leaving"))
        assert.include(warning, `catalog closed leaving ${commits} retired metadata files for orphan removal (maintenance): ${Catalogs.MAX_RUNNING_REMOVALS} still being removed after 5s`)
        assert.include(warning, `; 3 of commits that found ${Catalogs.MAX_RUNNING_REMOVALS} removals running`)
        assert.isDefined(logged.find((l) => l.startsWith("metadata file removals run behind the commits")))
      }).pipe(Effect.provide(layer), Effect.provide(Logger.layer([capture])))
    }))

  it.effect("a commit that loses the swap removes no file of the metadata log", () =>
    Effect.gen(function*() {
      const { layer, started, state } = yield* holdingRemovals
      yield* Effect.scoped(Effect.gen(function*() {
        const catalog = yield* Catalogs.make(sqliteDriver(":memory:"), { name: "k2", warehouse: "file:///warehouse" })
        yield* catalog.createNamespace("market_data")
        const created = yield* catalog.createTable(id, { ...tables.trades, properties })
        yield* catalog.commitTable(id, [], [{ action: "set-properties", updates: { n: "0" } }])
        state.holding = true
        const stale = yield* Effect.flip(catalog.commitTable(id, [{ type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": 1n }], [
          { action: "set-properties", updates: { n: "1" } }
        ]))
        assert.strictEqual(stale.reason._tag, "CommitConflict")
        assert.deepStrictEqual(started, [])
        assert.isTrue(yield* (yield* FileIO).exists(created.metadataLocation))
      }).pipe(Effect.provide(layer)))
    }))
})

describe("SQL catalog: a reader racing commits", () => {
  it.effect("a metadata file deleted between reading the pointer and the file is read again from the moved pointer", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const file = path.join(dir, "catalog.db")
      const options = { name: "k2", warehouse: FileIOs.fileLocation(dir) }
      const writer = yield* Catalogs.make(sqliteDriver(file), options)
      yield* writer.createNamespace("market_data")
      const id = { namespace: "market_data", name: "trades" }
      yield* writer.createTable(id, {
        ...tables.trades,
        properties: { "write.metadata.delete-after-commit.enabled": "true", "write.metadata.previous-versions-max": "1" }
      })
      // Between the reader's pointer read and its file read, three commits: the file it was
      // pointed at has left the metadata log and is deleted.
      const commits = Effect.forEach([0, 1, 2], (i) => writer.commitTable(id, [], [{ action: "set-properties", updates: { n: String(i) } }]))
      const driver = sqliteDriver(file)
      let raced = false
      const racing: SqlDriver = {
        ...driver,
        query: async (sql, params) => {
          const rows = await driver.query(sql, params)
          if (!raced && sql.includes("SELECT metadata_location")) {
            raced = true
            await Effect.runPromise(commits)
          }
          return rows
        }
      }
      const reader = yield* Catalogs.make(racing, options)
      const loaded = yield* reader.loadTable(id)
      assert.isTrue(raced)
      assert.strictEqual(loaded.metadata.properties["n"], "2")
      assert.strictEqual(loaded.metadataLocation, (yield* writer.loadTable(id)).metadataLocation)
    }).pipe(Effect.provide(FileIOs.layer), Effect.scoped))
})

describe("SQL catalog: table locations", () => {
  it.effect("places a table of a nested namespace as JdbcCatalog does: a directory a level, no .db", () =>
    Effect.gen(function*() {
      const catalog = yield* Catalogs.make(sqliteDriver(":memory:"), { name: "k2", warehouse: "file:///warehouse/" })
      yield* catalog.createNamespace("exchange.binance")
      const nested = yield* catalog.createTable({ namespace: "exchange.binance", name: "trades" }, tables.trades)
      assert.strictEqual(nested.metadata.location, "file:///warehouse/exchange/binance/trades")
      yield* catalog.createNamespace("market_data")
      const flat = yield* catalog.createTable({ namespace: "market_data", name: "trades" }, tables.trades)
      assert.strictEqual(flat.metadata.location, "file:///warehouse/market_data/trades")
    }).pipe(Effect.provide(FileIOs.layerMemory)))
})

describe("SQL catalog: a PostgreSQL server that stops answering", () => {
  /**
   * A server that completes PostgreSQL's startup handshake (AuthenticationOk, ReadyForQuery) and then
   * never answers a query: a database host gone silent without closing its connections.
   */
  const silentServer = Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ server: net.Server; sockets: Set<net.Socket> }>((resolve) => {
        const sockets = new Set<net.Socket>()
        const server = net.createServer((socket) => {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
          socket.once("data", () => socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49])))
          socket.on("error", () => {})
        })
        server.listen(0, "127.0.0.1", () => resolve({ server, sockets }))
      })
    ),
    ({ server, sockets }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resolve())
        })
      )
  )

  it.live("a catalog query without an answer fails as CatalogUnavailable instead of waiting for ever", () =>
    Effect.gen(function*() {
      const { server, sockets } = yield* silentServer
      const { port } = server.address() as net.AddressInfo
      const error = yield* Effect.flip(Layer.build(
        Catalogs.layerPostgres({ name: "k2", url: `postgres://k2@127.0.0.1:${port}/k2`, warehouse: "file:///warehouse", queryTimeoutMs: 300 })
          .pipe(Layer.provide(FileIOs.layerMemory))
      ))
      assert.strictEqual(error.reason._tag, "CatalogUnavailable")
      assert.match(error.message, /timeout/i)
      // The connection that waited was given up, not left to wait.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 100)))
      assert.strictEqual(sockets.size, 0)
    }).pipe(Effect.scoped), 10_000)
})

describe("SQL catalog: storage K2 does not reach", () => {
  it.effect("metadata bound for s3:// (table location or write.metadata.path) is refused naming the table and the place, never written", () =>
    Effect.gen(function*() {
      const files = yield* FileIO
      const catalog = yield* Catalogs.make(sqliteDriver(":memory:"), { name: "k2", warehouse: "file:///warehouse" })
      yield* catalog.createNamespace("market_data")
      const id = { namespace: "market_data", name: "trades" }
      const refusals = [
        yield* Effect.flip(catalog.createTable(id, { ...tables.trades, location: "s3://bucket/market_data/trades" })),
        yield* Effect.flip(catalog.createTable(id, { ...tables.trades, properties: { "write.metadata.path": "s3://bucket/meta" } }))
      ]
      yield* catalog.createTable(id, tables.trades)
      // As another engine's `ALTER TABLE ... SET TBLPROPERTIES` through K2's catalog.
      refusals.push(yield* Effect.flip(catalog.commitTable(id, [], [{ action: "set-properties", updates: { "write.metadata.path": "s3://bucket/meta" } }])))
      for (const error of refusals) {
        assert.strictEqual(error.reason._tag, "CatalogRejected")
        assert.include(error.message, "market_data.trades")
        assert.match(error.message, /storage at s3:\/\/bucket\/(market_data\/trades\/metadata|meta) /)
      }
      assert.deepStrictEqual(yield* files.list("s3://bucket"), [])
      assert.strictEqual((yield* catalog.loadTable(id)).metadata.properties["write.metadata.path"], undefined)
    }).pipe(Effect.provide(FileIOs.layerMemory)))
})

describe("SQL catalog: format versions K2 does not read", () => {
  it.effect("a table another engine made format version 3 fails to load as UnsupportedFormatVersion naming it, not as a corrupt file", () =>
    Effect.gen(function*() {
      // Another engine's upgrade: `ALTER TABLE ... SET TBLPROPERTIES ('format-version'='3')`.
      const { catalog, id } = yield* committedByAnother("00001-upgraded.metadata.json", (written) =>
        new TextEncoder().encode(new TextDecoder().decode(written).replace(/"format-version": ?2/, `"format-version": 3`)))
      const error = yield* Effect.flip(catalog.loadTable(id))
      assert.strictEqual(error.reason._tag, "TableFileError")
      assert.strictEqual(error.reason._tag === "TableFileError" ? error.reason.reason._tag : undefined, "UnsupportedFormatVersion")
      assert.include(error.message, "market_data.trades is Iceberg format version 3")
    }).pipe(Effect.provide(FileIOs.layerMemory)))
})

describe("SQL catalog: a SQLite file that refuses the swap", () => {
  // Both real SQLite refusals: the file locked by another process's write transaction (what the
  // catalog's connection meets once its 10 s of retries run out), and a catalog.db that is read-only.
  const cases = [
    { name: "locked by another process", message: "database is locked", open: (file: string) => new DatabaseSync(file), lock: true },
    { name: "read-only", message: "readonly database", open: (file: string) => new DatabaseSync(file, { readOnly: true }), lock: false }
  ]
  /** A catalog whose statements starting `refused` go through a connection that refuses them as `c` does. */
  const refusingCatalog = (c: (typeof cases)[number], refused: string) =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const file = path.join(dir, "catalog.db")
      const sqlite = sqliteDriver(file)
      const refusing = c.open(file)
      const driver: SqlDriver = {
        ...sqlite,
        execute: async (sql, params = []) =>
          sql.trimStart().startsWith(refused)
            ? Number(refusing.prepare(sql.replace(/\$(\d+)/g, "?$1")).run(...params).changes)
            : sqlite.execute(sql, params)
      }
      const catalog = yield* Catalogs.make(driver, { name: "k2", warehouse: FileIOs.fileLocation(dir) })
      return { dir, file, refusing, catalog }
    })
  for (const c of cases) {
    it.effect(`a commit on a catalog ${c.name} is CatalogUnavailable, not an unknown outcome, and leaves no metadata file behind`, () =>
      Effect.gen(function*() {
        const { file, refusing, catalog } = yield* refusingCatalog(c, "UPDATE")
        yield* catalog.createNamespace("market_data")
        const id = { namespace: "market_data", name: "trades" }
        const created = yield* catalog.createTable(id, tables.trades)
        const holder = new DatabaseSync(file)
        if (c.lock) holder.exec("BEGIN IMMEDIATE")
        const error = yield* Effect.flip(catalog.commitTable(id, [], [{ action: "set-properties", updates: { owner: "k2" } }]))
        if (c.lock) holder.exec("ROLLBACK")
        holder.close()
        refusing.close()
        assert.strictEqual(error.reason._tag, "CatalogUnavailable")
        assert.include(error.message, c.message)
        // SQLite ran none of it: the new metadata file is nobody's.
        const metadataDir = path.dirname(FileIOs.localPath(created.metadataLocation))
        assert.deepStrictEqual(fs.readdirSync(metadataDir), [path.basename(created.metadataLocation)])
        assert.strictEqual((yield* catalog.loadTable(id)).metadataLocation, created.metadataLocation)
      }).pipe(Effect.provide(FileIOs.layer), Effect.scoped))

    it.effect(`a table created on a catalog ${c.name} is CatalogUnavailable and leaves no metadata file behind`, () =>
      Effect.gen(function*() {
        const { dir, file, refusing, catalog } = yield* refusingCatalog(c, "INSERT INTO iceberg_tables")
        yield* catalog.createNamespace("market_data")
        const holder = new DatabaseSync(file)
        if (c.lock) holder.exec("BEGIN IMMEDIATE")
        const error = yield* Effect.flip(catalog.createTable({ namespace: "market_data", name: "trades" }, tables.trades))
        if (c.lock) holder.exec("ROLLBACK")
        holder.close()
        refusing.close()
        assert.strictEqual(error.reason._tag, "CatalogUnavailable")
        assert.include(error.message, c.message)
        const metadataDir = path.join(dir, "market_data", "trades", "metadata")
        assert.deepStrictEqual(fs.existsSync(metadataDir) ? fs.readdirSync(metadataDir) : [], [])
        assert.isFalse(yield* catalog.tableExists({ namespace: "market_data", name: "trades" }))
      }).pipe(Effect.provide(FileIOs.layer), Effect.scoped))
  }
})

describe("SQL catalog: a SQLite file that cannot be opened", () => {
  it.effect("the failure names the file (SQLite's own words name none)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      // A directory where the catalog file should be (as for a warehouse whose catalog.db was made a folder).
      const file = path.join(dir, "catalog.db")
      fs.mkdirSync(file)
      const error = yield* Effect.flip(
        Effect.asVoid(Effect.service(Catalog)).pipe(
          Effect.provide(Catalogs.layerSqlite({ name: "k2", path: file, warehouse: FileIOs.fileLocation(dir) }).pipe(Layer.provide(FileIOs.layer)))
        )
      )
      assert.strictEqual(error.reason._tag, "CatalogUnavailable")
      assert.include(error.message, file)
    }).pipe(Effect.scoped))
})

describe("SQL catalog: names longer than the catalog holds", () => {
  const layer = () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("k2-long-names-")
      return Catalogs.layerSqlite({ name: "k2", path: path.join(dir, "catalog.db"), warehouse: FileIOs.fileLocation(dir) })
        .pipe(Layer.provide(FileIOs.layer))
    })
  const create = { schema: tables.trades.schema, spec: tables.trades.spec, sortOrder: null }

  it.effect("a namespace or table name past 255 characters is CatalogRejected naming the limit, and nothing is registered", () =>
    Effect.gen(function*() {
      const long = "n".repeat(300)
      yield* Effect.gen(function*() {
        const catalog = yield* Catalog
        // SQLite keeps any length, PostgreSQL refuses past the column's 255: refused alike, before anything is written.
        const namespace = yield* Effect.flip(catalog.createNamespace(long))
        assert.strictEqual(namespace.reason._tag, "CatalogRejected")
        assert.include(namespace.message, "namespace is 300 characters, more than the 255 the catalog holds")
        assert.isBelow(namespace.message.length, 200)
        assert.isFalse(yield* catalog.namespaceExists(long))

        yield* catalog.createNamespace("ok")
        const table = yield* Effect.flip(catalog.createTable({ namespace: "ok", name: "t".repeat(256) }, create))
        assert.strictEqual(table.reason._tag, "CatalogRejected")
        assert.include(table.message, "table name is 256 characters, more than the 255 the catalog holds")
        assert.deepStrictEqual(yield* catalog.listTables("ok"), [])
        // 255 is the limit, not past it.
        yield* catalog.createTable({ namespace: "ok", name: "t".repeat(255) }, create)
      }).pipe(Effect.provide(yield* layer()))
    }).pipe(Effect.scoped))

  it.effect("a name the file system refuses (past 255 bytes: 200 two-byte characters) fails as PathTooLong, not as a storage failure to retry", () =>
    Effect.gen(function*() {
      yield* Effect.gen(function*() {
        const catalog = yield* Catalog
        yield* catalog.createNamespace("ok")
        const e = yield* Effect.flip(catalog.createTable({ namespace: "ok", name: "é".repeat(200) }, create))
        assert.strictEqual(e.reason._tag, "TableFileError")
        assert.strictEqual(e.reason._tag === "TableFileError" ? e.reason.reason._tag : undefined, "PathTooLong")
        assert.include(e.message, "each name in it at most 255 bytes")
        assert.isBelow(e.message.length, 400)
        assert.deepStrictEqual(yield* catalog.listTables("ok"), [])
      }).pipe(Effect.provide(yield* layer()))
    }).pipe(Effect.scoped))
})

describe("SQL catalog: a name holding an encoded slash", () => {
  const create = { schema: tables.trades.schema, spec: tables.trades.spec, sortOrder: null }

  it.effect("a name holding `%2F` is a directory of that name, as Java reads the location (not a defect of an encoded slash)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("k2-names-")
      yield* Effect.gen(function*() {
        const catalog = yield* Catalog
        yield* catalog.createNamespace("a%2Fb")
        const created = yield* catalog.createTable({ namespace: "a%2Fb", name: "t%2fu" }, create)
        assert.strictEqual(FileIOs.localPath(created.metadata.location), path.join(dir, "a%2Fb", "t%2fu"))
        assert.isTrue(fs.existsSync(path.join(dir, "a%2Fb", "t%2fu", "metadata")))
        assert.strictEqual((yield* catalog.loadTable({ namespace: "a%2Fb", name: "t%2fu" })).metadata["table-uuid"], created.metadata["table-uuid"])
      }).pipe(
        Effect.provide(Catalogs.layerSqlite({ name: "k2", path: path.join(dir, "catalog.db"), warehouse: FileIOs.fileLocation(dir) })
          .pipe(Layer.provide(FileIOs.layer)))
      )
    }).pipe(Effect.scoped))
})

describe("SQL catalog: the metadata of tables with long histories", () => {
  /** Each table's history set to `count` snapshots in one metadata file, as days of one-second commits leave it. */
  const withHistory = (driver: SqlDriver, catalog: Catalog["Service"], files: FileIO["Service"], name: string, count: number) =>
    Effect.gen(function*() {
      const id = { namespace: "market_data", name }
      yield* catalog.createTable(id, name === "trades" ? tables.trades : tables.quotes)
      const { metadata, metadataLocation } = yield* catalog.loadTable(id)
      const snapshots: Array<Snapshot> = []
      for (let i = 1; i <= count; i++) {
        snapshots.push({
          "snapshot-id": BigInt(i),
          ...(i > 1 ? { "parent-snapshot-id": BigInt(i - 1) } : {}),
          "sequence-number": BigInt(i),
          "timestamp-ms": 1_700_000_000_000 + i * 1000,
          "manifest-list": `${metadata.location}/metadata/snap-${i}.avro`,
          summary: { operation: "append" },
          "schema-id": 0
        })
      }
      const location = metadataLocation.replace(/[^/]*$/, "00001-history.metadata.json")
      yield* files.write(location, encodeTableMetadata({
        ...metadata,
        snapshots,
        "snapshot-log": snapshots.map((s) => ({ "snapshot-id": s["snapshot-id"], "timestamp-ms": s["timestamp-ms"] })),
        "current-snapshot-id": BigInt(count),
        "last-sequence-number": BigInt(count),
        refs: { main: { "snapshot-id": BigInt(count), type: "branch" } }
      }))
      yield* Effect.promise(async () => await driver.query("UPDATE iceberg_tables SET metadata_location = $1 WHERE table_name = $2", [location, name]))
    })

  /**
   * A SQLite catalog over the memory FileIO whose tables have `histories` snapshots each, counting
   * the metadata files read from then on (`beforeRead` runs before each read).
   */
  const countingMetadataReads = (histories: Readonly<Record<string, number>>, beforeRead: Effect.Effect<void> = Effect.void) =>
    Effect.gen(function*() {
      const memory = yield* FileIO
      let reads = 0
      const files = FileIO.of({
        ...memory,
        read: (location) => {
          if (location.endsWith(".metadata.json")) reads++
          return Effect.andThen(beforeRead, memory.read(location))
        }
      })
      const driver = sqliteDriver(":memory:")
      const catalog = yield* Catalogs.make(driver, { name: "k2", warehouse: "file:///warehouse" }).pipe(Effect.provideService(FileIO, files))
      yield* catalog.createNamespace("market_data")
      for (const [name, count] of Object.entries(histories)) yield* withHistory(driver, catalog, files, name, count)
      reads = 0
      return { catalog, metadataReads: () => reads }
    })

  // A table keeping more than a few hours of one-second commits holds over 10,000 snapshots: a
  // cache bounded by snapshots kept one such table, so reads of trades and quotes in turn (or one
  // read of both) parsed each table's file again, seconds for a day of history, at every request.
  it.effect("each table's current metadata is parsed once, however long the tables' histories", () =>
    Effect.gen(function*() {
      const { catalog, metadataReads } = yield* countingMetadataReads({ trades: 12_000, quotes: 12_000 })
      for (let i = 0; i < 3; i++) {
        for (const name of ["trades", "quotes"]) {
          const { metadata } = yield* catalog.loadTable({ namespace: "market_data", name })
          assert.strictEqual(metadata.snapshots.length, 12_000)
        }
      }
      assert.strictEqual(metadataReads(), 2)
    }).pipe(Effect.provide(FileIOs.layerMemory)))

  // After each commit every request at the latest state meets a metadata file not parsed yet: 16
  // at once parsed a day's 88 MB file 16 times, 3 GB of heap and a minute, most timing out.
  it.effect("requests meeting a new metadata file at once parse it once", () =>
    Effect.gen(function*() {
      // Each read yields first, so that the 16 loads meet the file while it is being read.
      const { catalog, metadataReads } = yield* countingMetadataReads({ trades: 1_000 }, Effect.yieldNow)
      const loads = yield* Effect.forEach(Array.from({ length: 16 }), () => catalog.loadTable({ namespace: "market_data", name: "trades" }), {
        concurrency: "unbounded"
      })
      for (const l of loads) assert.strictEqual(l.metadata.snapshots.length, 1_000)
      assert.strictEqual(metadataReads(), 1)
    }).pipe(Effect.provide(FileIOs.layerMemory)))
})

describe("SQL catalog: a metadata file longer than a JavaScript string", () => {
  // Past 2^29 - 24 characters (~512 MiB: a week of one-second snapshots kept) the file could not be
  // made one string, and the load died with Node's untyped ERR_STRING_TOO_LONG. Padded here with
  // whitespace (which Java's pretty-printing adds too) so that the test holds no week of snapshots.
  it.effect("one longer than a string holds loads, parsed piece by piece", () =>
    Effect.gen(function*() {
      const { created, id, reopened } = yield* committedByAnother("00001-long.metadata.json", (written) => {
        const padded = Buffer.alloc(constants.MAX_STRING_LENGTH + 1024, 0x20)
        padded[0] = written[0]!
        padded.set(written.subarray(1), padded.length - written.length + 1)
        return padded
      })
      const loaded = yield* Effect.result((yield* reopened).loadTable(id))
      assert.strictEqual(Result.isSuccess(loaded) ? loaded.success.metadata["table-uuid"] : String(loaded.failure), created.metadata["table-uuid"])
    }).pipe(Effect.provide(FileIOs.layerMemory)), 60_000)

  it.effect("one whose single member is longer than a string holds fails as MetadataTooLarge naming the table, the file and the member", () =>
    Effect.gen(function*() {
      const { id, reopened, replaced } = yield* committedByAnother("00001-long.metadata.json", (written) => {
        const head = Buffer.from(`{"properties":{"huge":"`)
        const tail = Buffer.from(`"},${new TextDecoder().decode(written.subarray(1))}`)
        const file = Buffer.alloc(head.length + constants.MAX_STRING_LENGTH + tail.length, 0x61)
        head.copy(file, 0)
        tail.copy(file, file.length - tail.length)
        return file
      })
      const loaded = yield* Effect.result((yield* reopened).loadTable(id))
      assert.isTrue(Result.isFailure(loaded))
      const reason = Result.isFailure(loaded) && loaded.failure.reason._tag === "TableFileError" ? loaded.failure.reason.reason : undefined
      assert.strictEqual(reason?._tag, "MetadataTooLarge")
      assert.include(reason?.message ?? "", `table market_data.trades: metadata file ${replaced} is 512 MiB`)
      assert.include(reason?.message ?? "", "its member /properties/huge alone is 512 MiB")
    }).pipe(Effect.provide(FileIOs.layerMemory)), 60_000)
})
