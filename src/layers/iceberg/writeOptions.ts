/**
 * What a write of data files is given (a batch's, or a rewrite's), and the layout it writes by,
 * checked before anything is written.
 */
import { Effect, Result } from "effect"
import { partitioning } from "../../domain/iceberg/partitioning.ts"
import { sortKeys } from "../../domain/iceberg/rowOrder.ts"
import type { PartitionSpec, Schema, SortOrder } from "../../domain/iceberg/spec.ts"
import { UnsupportedTableFeature } from "../../services/TableScanner.ts"
import { unwritableColumn } from "./duckColumns.ts"
import { foreignStorage, isLocalLocation } from "./fileio.ts"

export interface WriteOptions {
  readonly schema: Schema
  readonly spec: PartitionSpec
  readonly sortOrder: SortOrder | null
  /**
   * The table's data directory (`dataDirectory`), an absolute path or a `file://` URI: files go
   * under `<directory>/<partition path>/`.
   */
  readonly directory: string
  /** A partition larger than this is split into several files (equal runs of its sorted rows). */
  readonly targetFileSizeBytes: number
  /** File names are `<prefix>-<uuid>.parquet`; letters, digits, `.`, `_` and `-` only. */
  readonly fileNamePrefix: string
  /** Rows per Parquet row group; smaller groups prune finer and split files closer to the target. */
  readonly rowGroupSize?: number | undefined
  /** Names the table in errors (default: `directory`). */
  readonly table?: string
  /** The table's properties: `write.metadata.metrics.*` choose the statistics each file's entry carries (Java's default: truncate(16)). */
  readonly properties?: Readonly<Record<string, string>>
  /** Called once every row is loaded and the last partition's COPY runs (off the JS thread). */
  readonly onLoaded?: (() => void) | undefined
}

/**
 * The table's partitioning and sort keys; UnsupportedTableFeature when another engine set a spec,
 * sort order or column K2 cannot write, before anything is. A file name prefix that is not a
 * plain name (it becomes part of each file's path) is a defect: the writes die.
 */
export const layoutOf = (options: WriteOptions) => {
  if (!/^[A-Za-z0-9._-]+$/.test(options.fileNamePrefix)) {
    return Effect.die(new Error(`invalid file name prefix: ${options.fileNamePrefix}`))
  }
  const table = options.table ?? options.directory
  if (!isLocalLocation(options.directory)) return Effect.fail(new UnsupportedTableFeature({ table, feature: foreignStorage(options.directory) }))
  const unwritable = unwritableColumn(options.schema)
  if (unwritable !== null) return Effect.fail(new UnsupportedTableFeature({ table, feature: unwritable }))
  const byPartition = partitioning(options.schema, options.spec)
  if (Result.isFailure(byPartition)) return Effect.fail(new UnsupportedTableFeature({ table, feature: byPartition.failure }))
  const sortBy = sortKeys(options.schema, options.sortOrder)
  if (Result.isFailure(sortBy)) return Effect.fail(new UnsupportedTableFeature({ table, feature: sortBy.failure }))
  return Effect.succeed({ partitioning: byPartition.success, sortBy: sortBy.success })
}
