/**
 * A commit to a table in the SQL catalog: the requirements checked and the updates applied on the
 * current metadata, a new metadata file written, and `metadata_location` compare-and-swapped
 * (losing the swap is a CommitConflict); the metadata files the commit retired removed beside its answer.
 */
import { Clock, Effect } from "effect"
import { applyUpdates, type TableRequirement, type TableUpdate, unmetRequirement, UpdateRefused } from "../../domain/iceberg/metadata.ts"
import type { TableMetadata } from "../../domain/iceberg/spec.ts"
import {
  type Catalog,
  catalogError,
  CatalogRejected,
  CommitConflict,
  CommitStateUnknown,
  type LoadedTable,
  showIdentifier
} from "../../services/Catalog.ts"
import type { FileIO } from "../../services/FileIO.ts"
import { changedNothing, type SqlDriver } from "./drivers.ts"
import { failureText } from "./failureText.ts"
import { sqlFailure } from "./sqlErrors.ts"
import type { makeMetadataFiles } from "./sqlMetadataFiles.ts"
import type { SqlCatalogOptions } from "./sqlOptions.ts"
import type { makeRemoveRetired } from "./sqlRemovals.ts"
import type { makeLoadTable } from "./sqlTablePointer.ts"

export interface CommitTableDeps {
  readonly driver: SqlDriver
  readonly options: SqlCatalogOptions
  readonly files: FileIO["Service"]
  readonly loadTable: ReturnType<typeof makeLoadTable>
  readonly writeMetadata: ReturnType<typeof makeMetadataFiles>["writeMetadata"]
  readonly rememberMetadata: ReturnType<typeof makeMetadataFiles>["rememberMetadata"]
  readonly removeRetired: Effect.Success<ReturnType<typeof makeRemoveRetired>>
}

export const makeCommitTable = (deps: CommitTableDeps): Catalog["Service"]["commitTable"] => {
  const { driver, files, loadTable, options, rememberMetadata, removeRetired, writeMetadata } = deps
  return Effect.fn("Catalog.commitTable")(function*(
    identifier,
    requirements: ReadonlyArray<TableRequirement>,
    updates: ReadonlyArray<TableUpdate>
  ) {
    const table = showIdentifier(identifier)
    const base = yield* loadTable(identifier)
    const unmet = unmetRequirement(base.metadata, requirements)
    if (unmet !== null) return yield* catalogError(new CommitConflict({ table, detail: unmet }))
    const now = yield* Clock.currentTimeMillis
    let metadata: TableMetadata
    try {
      metadata = applyUpdates(base.metadata, base.metadataLocation, updates, now)
    } catch (e) {
      if (!(e instanceof UpdateRefused)) throw e
      // As a REST server answers: a change built on a stale base conflicts, an invalid one is refused.
      return yield* catalogError(
        e.stale ? new CommitConflict({ table, detail: e.detail }) : new CatalogRejected({ detail: `commit ${table}: ${e.detail}` })
      )
    }
    const location = yield* writeMetadata(table, metadata, base.metadataLocation)
    const swapped = yield* Effect.tryPromise(() =>
      driver.execute(
        `UPDATE iceberg_tables SET metadata_location = $1, previous_metadata_location = $2
           WHERE catalog_name = $3 AND table_namespace = $4 AND table_name = $5 AND metadata_location = $2`,
        [location, base.metadataLocation, options.name, identifier.namespace, identifier.name]
      )
    ).pipe(
      // The statement may have run before the connection broke: the caller must look before
      // retrying. One the database refused (a location longer than its column) changed nothing,
      // nor did one SQLite would not run (locked by another process, read-only, disk full): its metadata file is nobody's.
      Effect.mapError((e) =>
        changedNothing(e.cause) ? sqlFailure(e.cause) : catalogError(new CommitStateUnknown({ table, detail: failureText(e.cause ?? e) }))
      ),
      Effect.tapError((e) => e.reason._tag === "CommitStateUnknown" ? Effect.void : files.remove(location).pipe(Effect.ignore))
    )
    if (swapped === 0) {
      yield* files.remove(location).pipe(Effect.ignore)
      return yield* catalogError(new CommitConflict({ table, detail: "metadata_location changed since it was read" }))
    }
    yield* rememberMetadata(table, location, metadata)
    // As Java's catalogs do when the table asks: the files that left the metadata log are
    // deleted (K2's tables ask, ADR-33: a commit a second kept them until orphan removal).
    // Read as Java's Boolean.parseBoolean reads it: another engine may have set `TRUE`.
    // Only once the swap landed, and not waited for: no reader needs them (a reader whose file
    // went reads the moved pointer again, `loadTable`), and the commit's answer sets freshness (ADR-84).
    if (metadata.properties["write.metadata.delete-after-commit.enabled"]?.toLowerCase() === "true") {
      const logged = new Set(metadata["metadata-log"].map((e) => e["metadata-file"]))
      const dropped = base.metadata["metadata-log"].map((e) => e["metadata-file"]).filter((f) => !logged.has(f))
      if (dropped.length > 0) {
        yield* removeRetired(dropped)
      }
    }
    return { identifier, metadataLocation: location, metadata } satisfies LoadedTable
  })
}
