/**
 * Writes a column batch as Iceberg data files: sorted, zstd Parquet with Iceberg field ids, one or
 * more files per partition, each described by a `DataFile` (counts, sizes and bounds keyed by
 * field id) ready for a manifest.
 *
 * JS orders the rows (domain/iceberg/rowOrder.ts: partition, then sort order, over row numbers,
 * cheaper than DuckDB sorting whole rows) and decides how each column loads (batchLoadPlan.ts);
 * DuckDB does the rest: each partition's rows go into a temp table through the appender in that
 * order (batchTable.ts), then one `COPY ... TO` writes them as they are and returns the file's
 * statistics (parquetCopy.ts, parquetStats.ts). Rewriting existing files is rewriteDataFiles.ts.
 */
import { Effect } from "effect"
import type { ColumnBatch } from "../../domain/columnBatch.ts"
import { StorageFailure, TableFileError } from "../../domain/iceberg/errors.ts"
import { writeLayout } from "../../domain/iceberg/rowOrder.ts"
import type { DataFile } from "../../domain/iceberg/spec.ts"
import type { UnsupportedTableFeature } from "../../services/TableScanner.ts"
import { DuckDb, type DuckDbError } from "../duckdb/DuckDb.ts"
import { loadPlan } from "./batchLoadPlan.ts"
import { withBatchTable } from "./batchTable.ts"
import { writeEach, writePartition } from "./parquetCopy.ts"
import { layoutOf, type WriteOptions } from "./writeOptions.ts"

/**
 * A write's DuckDB failure as the table's storage failing at `location` (the table's): what
 * callers retry or report as a file error, as they do the writes' own `TableFileError`s.
 */
export const asStorageFailure = (location: string) => (e: DuckDbError | TableFileError | UnsupportedTableFeature) =>
  e._tag === "DuckDbError" ? new TableFileError({ reason: new StorageFailure({ path: location, detail: e.message }) }) : e

/**
 * Writes `batch` as sorted Parquet data files, at least one per partition value, and
 * describes each as an Iceberg `DataFile`. Nothing is committed: the caller adds the
 * files to a snapshot (and deletes them if that fails).
 */
export const writeDataFiles = Effect.fn("parquet.writeDataFiles")(function*(
  batch: ColumnBatch,
  options: WriteOptions
): Effect.fn.Return<ReadonlyArray<DataFile>, DuckDbError | TableFileError | UnsupportedTableFeature, DuckDb> {
  const layout = yield* layoutOf(options)
  if (batch.rowCount === 0) return []
  const partitions = writeLayout(layout.partitioning, layout.sortBy, batch)
  const plan = loadPlan(options.schema, batch)
  const duckDb = yield* DuckDb
  return yield* duckDb.withConnection((connection) =>
    writeEach(partitions, (p, i) =>
      withBatchTable(connection, options.schema, plan, p.rows, (source) =>
        writePartition(connection, source, p, options, i === partitions.length - 1 ? options.onLoaded : undefined)))
  )
})
