/**
 * A table's creation in the SQL catalog: its first metadata file written and its row inserted as
 * one step, a location holding another table's metadata refused (ADR-47), and a create whose
 * INSERT's outcome is unknown kept until the table's row settles it (sqlUncertainCreates.ts).
 */
import { Clock, Effect, Result } from "effect"
import { defaultTableLocation, newTableMetadata } from "../../domain/iceberg/metadata.ts"
import { AlreadyExists, type Catalog, catalogError, type CreateTableRequest, type LoadedTable, showIdentifier } from "../../services/Catalog.ts"
import type { FileIO } from "../../services/FileIO.ts"
import { changedNothing, type SqlDriver } from "./drivers.ts"
import { insertError } from "./sqlErrors.ts"
import type { makeMetadataFiles } from "./sqlMetadataFiles.ts"
import type { makeNamespaces } from "./sqlNamespaces.ts"
import { nameTooLong, type SqlCatalogOptions } from "./sqlOptions.ts"
import type { makePointer } from "./sqlTablePointer.ts"
import type { makeUncertainCreates } from "./sqlUncertainCreates.ts"

export interface CreateTableDeps {
  readonly driver: SqlDriver
  readonly options: SqlCatalogOptions
  /** Whether `iceberg_tables` has JdbcCatalog V1's `iceberg_type` column (sqlSchema.ts `tableRows`). */
  readonly v1: boolean
  /** The warehouse location without its trailing slashes. */
  readonly warehouse: string
  readonly files: FileIO["Service"]
  readonly requireNamespace: ReturnType<typeof makeNamespaces>["requireNamespace"]
  readonly pointer: ReturnType<typeof makePointer>
  readonly readMetadata: ReturnType<typeof makeMetadataFiles>["readMetadata"]
  readonly writeMetadata: ReturnType<typeof makeMetadataFiles>["writeMetadata"]
  readonly rememberMetadata: ReturnType<typeof makeMetadataFiles>["rememberMetadata"]
  readonly uncertainCreates: ReturnType<typeof makeUncertainCreates>["uncertainCreates"]
  readonly settleCreates: ReturnType<typeof makeUncertainCreates>["settleCreates"]
  readonly refuseLocationInUse: ReturnType<typeof makeUncertainCreates>["refuseLocationInUse"]
}

export const makeCreateTable = (deps: CreateTableDeps): Catalog["Service"]["createTable"] => {
  const { driver, files, options, pointer, readMetadata, rememberMetadata, requireNamespace, v1, warehouse, writeMetadata } = deps
  const { refuseLocationInUse, settleCreates, uncertainCreates } = deps
  return Effect.fn("Catalog.createTable")(function*(identifier, request: CreateTableRequest) {
    const tooLong = nameTooLong("table name", identifier.name)
    if (tooLong !== undefined) return yield* tooLong
    yield* requireNamespace(identifier.namespace)
    const name = showIdentifier(identifier)
    const registered = yield* pointer(identifier)
    if (registered !== undefined) {
      if (uncertainCreates.has(name)) {
        // Its table-uuid tells a create of ours that landed (whose file it keeps) from one that did not.
        const current = yield* Effect.result(readMetadata(name, registered))
        if (Result.isSuccess(current)) yield* settleCreates(name, current.success["table-uuid"])
      }
      return yield* catalogError(new AlreadyExists({ name }))
    }
    const metadata = newTableMetadata({
      uuid: crypto.randomUUID(),
      // JdbcCatalog stores a namespace's levels joined by `.`, and places its tables one directory a level.
      location: request.location ?? defaultTableLocation(warehouse, identifier.namespace.split("."), identifier.name),
      schema: request.schema,
      spec: request.spec,
      sortOrder: request.sortOrder,
      nowMs: yield* Clock.currentTimeMillis,
      ...(request.properties === undefined ? {} : { properties: request.properties })
    })
    yield* refuseLocationInUse(identifier, metadata)
    // The file and its row as one step: a stop between them left a file no row names, where every
    // later create was refused as another table's location (ADR-47). Both are bounded (the disk's
    // write, the database's statement timeout).
    const location = yield* Effect.uninterruptible(Effect.gen(function*() {
      const location = yield* writeMetadata(name, metadata, null)
      yield* Effect.tryPromise(() =>
        driver.execute(
          v1
            ? `INSERT INTO iceberg_tables
                   (catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location, iceberg_type)
                 VALUES ($1, $2, $3, $4, NULL, 'TABLE')`
            : `INSERT INTO iceberg_tables
                   (catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location)
                 VALUES ($1, $2, $3, $4, NULL)`,
          [options.name, identifier.namespace, identifier.name, location]
        )
      ).pipe(
        // Only an INSERT refused (the name taken) or not run (SQLite locked, read-only, full) surely
        // registered nothing. After a broken connection the row may have landed, pointing at this
        // file: it stays until the table's row is known (settleCreates).
        Effect.tapError((e) =>
          changedNothing(e.cause)
            ? files.remove(location).pipe(Effect.ignore)
            : Effect.sync(() => void uncertainCreates.set(name, [...uncertainCreates.get(name) ?? [], { location, uuid: metadata["table-uuid"] }]))
        ),
        Effect.mapError(insertError(name))
      )
      yield* rememberMetadata(name, location, metadata)
      return location
    }))
    yield* settleCreates(name, metadata["table-uuid"])
    return { identifier, metadataLocation: location, metadata } satisfies LoadedTable
  })
}
