import { Context, type Effect, Schema } from "effect"
import type { ColumnBatch } from "../domain/columnBatch.ts"
import type { TableFileError } from "../domain/iceberg/errors.ts"
import type { DataFile, Snapshot } from "../domain/iceberg/spec.ts"
import type { TableDefinition } from "../domain/tables.ts"
import type { CatalogError, LoadedTable, TableIdentifier } from "./Catalog.ts"

export interface CommitOutcome {
  readonly table: LoadedTable
  readonly snapshot: Snapshot
  readonly files: ReadonlyArray<DataFile>
  /** Catalog attempts the commit took (more than 1 when other writers committed in between). */
  readonly attempts: number
}

export interface WriteOptions {
  /** Snapshot summary properties; `k2.commit-id` makes the commit idempotent across unknown outcomes. */
  readonly properties?: Readonly<Record<string, string>>
}

/** A replace named files that a concurrent commit already removed: rebuild the change from the new state. */
export class FilesNoLongerLive extends Schema.TaggedError<FilesNoLongerLive>()("FilesNoLongerLive", {
  table: Schema.String,
  paths: Schema.Array(Schema.String)
}) {
  override get message() {
    return `${this.paths.length} file(s) to replace are no longer in ${this.table}, e.g. ${this.paths[0]}`
  }
}

export type SinkError = CatalogError | TableFileError | FilesNoLongerLive

/** Writes rows into Iceberg tables: sorted Parquet files, then one snapshot per call. */
export class IcebergSink extends Context.Service<IcebergSink, {
  /** Creates the namespace and table when missing; returns the table either way. */
  ensureTable(definition: TableDefinition): Effect.Effect<LoadedTable, CatalogError>
  append(table: TableIdentifier, batch: ColumnBatch, options?: WriteOptions): Effect.Effect<CommitOutcome, SinkError>
  /** Replaces live files by the rows of `batch` in one snapshot (compaction). */
  replace(
    table: TableIdentifier,
    removed: ReadonlyArray<DataFile>,
    batch: ColumnBatch,
    options?: WriteOptions
  ): Effect.Effect<CommitOutcome, SinkError>
}>()("k2/services/IcebergSink") {}
