/**
 * A table's row in `iceberg_tables`: the pointer to its current metadata file (`metadata_location`),
 * and the table loaded through it.
 */
import { Effect, Result } from "effect"
import type { TableMetadata } from "../../domain/iceberg/spec.ts"
import { type CatalogError, catalogError, type LoadedTable, NoSuchTable, showIdentifier, type TableIdentifier } from "../../services/Catalog.ts"
import type { SqlDriver } from "./drivers.ts"
import { db } from "./sqlErrors.ts"
import type { SqlCatalogOptions } from "./sqlOptions.ts"

/** `IS_TABLE`: the condition picking the rows that are tables (sqlSchema.ts `tableRows`). */
export const makePointer = (driver: SqlDriver, options: SqlCatalogOptions, IS_TABLE: string) => (id: TableIdentifier) =>
  db(() =>
    driver.query(
      `SELECT metadata_location FROM iceberg_tables
         WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3 AND ${IS_TABLE}`,
      [options.name, id.namespace, id.name]
    )
  ).pipe(Effect.map((rows) => rows[0]?.metadata_location as string | undefined))

export const makeLoadTable = (
  pointer: (id: TableIdentifier) => Effect.Effect<string | undefined, CatalogError>,
  readMetadata: (table: string, location: string) => Effect.Effect<TableMetadata, CatalogError>
) =>
  Effect.fn("Catalog.loadTable")(function*(identifier: TableIdentifier) {
    let location = yield* pointer(identifier)
    // Commits that land between reading the pointer and reading its file can delete the file (it
    // left the metadata log, write.metadata.delete-after-commit): then the pointer has moved, and
    // the file it names now is read. A file missing under a pointer that stayed is a damaged table.
    for (let attempt = 1; ; attempt++) {
      if (location === undefined) return yield* catalogError(new NoSuchTable({ table: showIdentifier(identifier) }))
      const read = yield* Effect.result(readMetadata(showIdentifier(identifier), location))
      if (Result.isSuccess(read)) return { identifier, metadataLocation: location, metadata: read.success } satisfies LoadedTable
      const missing = read.failure.reason._tag === "TableFileError" && read.failure.reason.reason._tag === "MissingFile"
      const moved = missing && attempt < 5 ? yield* pointer(identifier) : location
      if (moved === location) return yield* read.failure
      location = moved
    }
  })
