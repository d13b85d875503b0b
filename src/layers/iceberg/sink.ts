/** IcebergSink: Parquet files through DuckDB, then one snapshot per call through the catalog. */
import { Effect, Layer } from "effect"
import type { ColumnBatch } from "../../domain/columnBatch.ts"
import { defaultMergePolicy, type MergePolicy } from "../../domain/iceberg/manifestPlan.ts"
import { currentSchema, dataDirectory, defaultSortOrder, defaultSpec, unwritableSchemaChange } from "../../domain/iceberg/metadata.ts"
import type { DataFile, SnapshotOperation } from "../../domain/iceberg/spec.ts"
import type { TableDefinition } from "../../domain/tables.ts"
import { Catalog, type LoadedTable, showIdentifier, type TableIdentifier } from "../../services/Catalog.ts"
import { FileIO } from "../../services/FileIO.ts"
import { IcebergSink, type WriteOptions } from "../../services/IcebergSink.ts"
import { UnsupportedTableFeature } from "../../services/TableScanner.ts"
import { DuckDb } from "../duckdb/DuckDb.ts"
import { commitChange, removeUnlessMaybeLanded } from "./commit.ts"
import { asStorageFailure, writeDataFiles } from "./parquet.ts"
import { makeSnapshotFiles, SINK_CACHE_ENTRIES } from "./snapshotFiles.ts"

export interface SinkOptions {
  readonly mergePolicy?: MergePolicy
  /** Catalog attempts per commit before a conflict is returned. */
  readonly maxCommitAttempts?: number
}

/** Data files larger than this are split (Java's write.target-file-size-bytes default is 512 MiB). */
const TARGET_FILE_SIZE = 256 * 1024 * 1024


export const layer = (options: SinkOptions = {}) =>
  Layer.effect(IcebergSink)(Effect.gen(function*() {
    const catalog = yield* Catalog
    const files = yield* FileIO
    const duckDb = yield* DuckDb
    const snapshots = yield* makeSnapshotFiles({ cacheEntries: SINK_CACHE_ENTRIES })
    const commitOptions = {
      mergePolicy: options.mergePolicy ?? defaultMergePolicy,
      maxAttempts: options.maxCommitAttempts ?? 10
    }

    const write = (table: LoadedTable, batch: ColumnBatch, onLoaded: (() => void) | undefined) => {
      const m = table.metadata
      // Refused before a file is written: values Java would read as null or K2 could not convert.
      const schemaChange = unwritableSchemaChange(m, Object.keys(batch.columns))
      if (schemaChange !== null) {
        return Effect.fail(new UnsupportedTableFeature({
          table: showIdentifier(table.identifier),
          feature: `schema evolution beyond adding columns (${schemaChange})`
        }))
      }
      return writeDataFiles(batch, {
        table: showIdentifier(table.identifier),
        schema: currentSchema(m),
        spec: defaultSpec(m),
        sortOrder: defaultSortOrder(m),
        directory: dataDirectory(m),
        targetFileSizeBytes: TARGET_FILE_SIZE,
        fileNamePrefix: "k2",
        properties: m.properties,
        ...(onLoaded === undefined ? {} : { onLoaded })
      }).pipe(Effect.provideService(DuckDb, duckDb), Effect.mapError(asStorageFailure(m.location)))
    }

    /**
     * Files written for a commit that then failed are deleted: nothing references them. Not
     * after an unknown outcome: the commit may have landed, and then they are the table's.
     */
    const writeAndCommit = (
      identifier: TableIdentifier,
      operation: SnapshotOperation,
      batch: ColumnBatch,
      removed: ReadonlyArray<DataFile>,
      writeOptions: WriteOptions
    ) =>
      Effect.gen(function*() {
        const table = yield* catalog.loadTable(identifier)
        const added = yield* write(table, batch, writeOptions.onLoaded)
        const committed = yield* commitChange(snapshots, identifier, {
          operation,
          added,
          addedSpecId: table.metadata["default-spec-id"],
          tableUuid: table.metadata["table-uuid"],
          removed,
          properties: writeOptions.properties ?? {},
          ...(writeOptions.prepare === undefined ? {} : { prepare: writeOptions.prepare })
        }, commitOptions).pipe(
          Effect.provideService(Catalog, catalog),
          Effect.provideService(FileIO, files),
          Effect.tapError(removeUnlessMaybeLanded(files, added))
        )
        if (committed.landedBefore) {
          // An earlier call with this commit id landed: its snapshot holds that call's files, and
          // nothing references the ones just written.
          yield* Effect.forEach(added, (f) => files.remove(f.filePath), { discard: true }).pipe(Effect.ignore)
          return { table: committed.table, snapshot: committed.snapshot, attempts: committed.attempts, conflicts: committed.conflicts, files: [] }
        }
        return { table: committed.table, snapshot: committed.snapshot, attempts: committed.attempts, conflicts: committed.conflicts, files: added }
      })

    return IcebergSink.of({
      ensureTable: Effect.fn("IcebergSink.ensureTable")(function*(definition: TableDefinition) {
        const identifier = { namespace: definition.namespace, name: definition.name }
        if (!(yield* catalog.namespaceExists(definition.namespace))) {
          yield* catalog.createNamespace(definition.namespace).pipe(
            // Another process may have created it in between.
            Effect.catchReason("CatalogError", "AlreadyExists", () => Effect.void)
          )
        }
        if (yield* catalog.tableExists(identifier)) {
          // A property the table lacks (made by an earlier K2: ADR-33's retention) is added; one it
          // sets, to whatever value, is the operator's and stays.
          const withProperties = Effect.gen(function*() {
            const table = yield* catalog.loadTable(identifier)
            const missing = Object.entries(definition.properties ?? {}).filter(([key]) => table.metadata.properties[key] === undefined)
            if (missing.length === 0) return table
            return yield* catalog.commitTable(identifier, [{ type: "assert-table-uuid", uuid: table.metadata["table-uuid"] }], [
              { action: "set-properties", updates: Object.fromEntries(missing) }
            ])
          })
          // Another process committed first (an ingest's data, maybe an earlier K2's, which adds none):
          // looked at again, and added unless that process added them.
          return yield* withProperties.pipe(
            Effect.retry({ times: 5, while: (e) => e.reason._tag === "CommitConflict" })
          )
        }
        return yield* catalog.createTable(identifier, definition).pipe(
          Effect.catchReason("CatalogError", "AlreadyExists", () => catalog.loadTable(identifier))
        )
      }),

      append: Effect.fn("IcebergSink.append")(function*(identifier, batch, writeOptions = {}) {
        return yield* writeAndCommit(identifier, "append", batch, [], writeOptions)
      }),

      replace: Effect.fn("IcebergSink.replace")(function*(identifier, removed, batch, writeOptions = {}) {
        return yield* writeAndCommit(identifier, "replace", batch, removed, writeOptions)
      })
    })
  }))
