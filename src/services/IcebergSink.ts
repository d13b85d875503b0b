import { Context, type Effect, type Result, Schema } from "effect"
import type { ColumnBatch } from "../domain/columnBatch.ts"
import type { TableFileError } from "../domain/iceberg/errors.ts"
import type { DataFile, Snapshot, TableMetadata } from "../domain/iceberg/spec.ts"
import type { TableDefinition } from "../domain/tables.ts"
import type { CatalogError, LoadedTable, TableIdentifier } from "./Catalog.ts"
import type { UnsupportedTableFeature } from "./TableScanner.ts"

export interface CommitOutcome {
  readonly table: LoadedTable
  readonly snapshot: Snapshot
  readonly files: ReadonlyArray<DataFile>
  /** Catalog attempts the commit took (more than 1 when other writers committed in between, or the catalog failed). */
  readonly attempts: number
  /** Attempts lost to another writer's commit (compare-and-swap conflicts), not to catalog faults. */
  readonly conflicts: number
}

export interface WriteOptions {
  /** Snapshot summary properties; `k2.commit-id` makes the commit idempotent across unknown outcomes. */
  readonly properties?: Readonly<Record<string, string>>
  /**
   * Runs on every commit attempt with the table as it then stands: returns more summary
   * properties (e.g. a marker merged with the base's), or a reason to abandon the commit
   * (e.g. another writer already ingested these offsets).
   */
  readonly prepare?: (base: TableMetadata) => Result.Result<Readonly<Record<string, string>>, string>
  /**
   * Called once the batch's rows are loaded into the writer and its last file is being written off
   * the JS thread (ingest gives back the buffer room the rows held). Not called when the write
   * fails before, nor for an empty batch.
   */
  readonly onLoaded?: () => void
}

/** The table as it stood refused the commit (`prepare` said why, or it is another table of the same name): abandoned, nothing written to it. */
export class CommitRejected extends Schema.TaggedError<CommitRejected>()("CommitRejected", {
  table: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `commit to ${this.table} abandoned: ${this.detail}`
  }
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

/**
 * UnsupportedTableFeature: another engine gave the table a partition spec or sort order K2 cannot
 * write (e.g. bucket[16]); nothing was written, and asking again will not help.
 */
export type SinkError = CatalogError | TableFileError | FilesNoLongerLive | CommitRejected | UnsupportedTableFeature

/** Writes rows into Iceberg tables: sorted Parquet files, then one snapshot per call. */
export class IcebergSink extends Context.Service<IcebergSink, {
  /** Creates the namespace and table when missing, or adds the definition's properties an existing table lacks; returns the table. */
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
