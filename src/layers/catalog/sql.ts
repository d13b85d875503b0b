/**
 * The SQL catalog: the `iceberg_tables` / `iceberg_namespace_properties` layout of
 * Iceberg's JdbcCatalog (schema V1) and PyIceberg's SqlCatalog, so those engines open
 * our tables through the same database. A commit writes a new metadata file and then
 * compare-and-swaps `metadata_location`; losing the swap is a CommitConflict.
 */
import { Effect, Layer } from "effect"
import { metadataCache } from "../../domain/iceberg/metadata.ts"
import { Catalog, CatalogUnavailable, catalogError, NoSuchTable, showIdentifier } from "../../services/Catalog.ts"
import { FileIO } from "../../services/FileIO.ts"
import { postgresDriver, type SqlDriver, sqliteDriver } from "./drivers.ts"
import { failureText } from "./failureText.ts"
import { makeCommitTable } from "./sqlCommit.ts"
import { makeCreateTable } from "./sqlCreateTable.ts"
import { db } from "./sqlErrors.ts"
import { makeMetadataFiles } from "./sqlMetadataFiles.ts"
import { makeNamespaces } from "./sqlNamespaces.ts"
import type { SqlCatalogOptions } from "./sqlOptions.ts"
import { makeRemoveRetired } from "./sqlRemovals.ts"
import { createCatalogTables, tableRows } from "./sqlSchema.ts"
import { makeLoadTable, makePointer } from "./sqlTablePointer.ts"
import { makeUncertainCreates } from "./sqlUncertainCreates.ts"

export type { SqlCatalogOptions } from "./sqlOptions.ts"
export { MAX_RUNNING_REMOVALS, REMOVALS_CLOSE_WAIT } from "./sqlRemovals.ts"

export const make = Effect.fnUntraced(function*(driver: SqlDriver, options: SqlCatalogOptions) {
  const files = yield* FileIO
  // Decoded metadata by file location: metadata files never change once written.
  const cache = metadataCache()
  const warehouse = options.warehouse.replace(/\/+$/, "")
  const removeRetired = yield* makeRemoveRetired(files)
  yield* createCatalogTables(driver)
  const { IS_TABLE, v1 } = yield* tableRows(driver)

  const { readMetadata, rememberMetadata, writeMetadata } = makeMetadataFiles(files, cache)
  const pointer = makePointer(driver, options, IS_TABLE)
  const { createNamespace, dropNamespace, listNamespaces, namespaceExists, requireNamespace } = makeNamespaces(driver, options)
  const loadTable = makeLoadTable(pointer, readMetadata)
  const uncertain = makeUncertainCreates(files, pointer)
  const { uncertainCreates } = uncertain

  return Catalog.of({
    name: options.name,

    createNamespace,
    listNamespaces,
    namespaceExists,
    dropNamespace,

    createTable: makeCreateTable({ driver, options, v1, warehouse, files, requireNamespace, pointer, readMetadata, rememberMetadata, writeMetadata, ...uncertain }),

    listTables: Effect.fn("Catalog.listTables")(function*(namespace) {
      yield* requireNamespace(namespace)
      const rows = yield* db(() =>
        driver.query(
          `SELECT table_name FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2 AND ${IS_TABLE}
           ORDER BY table_name`,
          [options.name, namespace]
        )
      )
      return rows.map((r) => ({ namespace, name: r.table_name as string }))
    }),

    loadTable,

    tableExists: (identifier) => pointer(identifier).pipe(Effect.map((l) => l !== undefined)),

    dropTable: Effect.fn("Catalog.dropTable")(function*(identifier) {
      // Only a table row: a view of the same name (JdbcCatalog V1) is another engine's, and stays.
      const changed = yield* db(() =>
        driver.execute(
          `DELETE FROM iceberg_tables
           WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3 AND ${IS_TABLE}`,
          [options.name, identifier.namespace, identifier.name]
        )
      )
      if (changed === 0) return yield* catalogError(new NoSuchTable({ table: showIdentifier(identifier) }))
      // A create of it whose outcome was unknown is settled: had it landed, its files are the dropped table's now.
      uncertainCreates.delete(showIdentifier(identifier))
    }),

    commitTable: makeCommitTable({ driver, files, loadTable, options, rememberMetadata, removeRetired, writeMetadata })
  })
})

/** The catalog on the database `open` reaches. A SQLite driver's failures name its file (`sqliteDriver`): SQLite's own words ("unable to open database file") name none. */
const layerFor = (open: () => SqlDriver, options: SqlCatalogOptions) =>
  Layer.effect(Catalog)(
    Effect.acquireRelease(
      Effect.try({
        try: open,
        catch: (cause) => catalogError(new CatalogUnavailable({ detail: `cannot open the catalog: ${failureText(cause)}` }))
      }),
      (driver) => Effect.promise(() => driver.close().catch(() => undefined))
    ).pipe(
      Effect.flatMap((driver) => make(driver, options))
    )
  )

/** The embedded default: a SQLite file beside the warehouse. */
export const layerSqlite = (options: SqlCatalogOptions & { readonly path: string }) =>
  layerFor(() => sqliteDriver(options.path), options)

export const layerPostgres = (options: SqlCatalogOptions & { readonly url: string; readonly queryTimeoutMs?: number }) =>
  layerFor(() => postgresDriver(options.url, options.queryTimeoutMs === undefined ? {} : { queryTimeoutMs: options.queryTimeoutMs }), options)

/** The same catalog on an in-memory SQLite database: for unit tests. */
export const layerMemory = (options: SqlCatalogOptions) => layerFor(() => sqliteDriver(":memory:"), options)
