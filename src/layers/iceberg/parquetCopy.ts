/**
 * Writes one partition's rows, the result of a query, as Parquet data files with `COPY ... TO`
 * (zstd, Iceberg field ids, RETURN_STATS), split at the target size and synced, and describes
 * each as a `DataFile` (parquetStats.ts).
 */
import { type DuckDBConnection, type DuckDBType, type DuckDBValue, VARCHAR } from "@duckdb/node-api"
import { Effect } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import type { DataFile, PartitionValues } from "../../domain/iceberg/spec.ts"
import { makeDirectory } from "../directories.ts"
import { attempt, executeOne } from "../duckdb/DuckDb.ts"
import { exactFiles } from "../duckdb/sqlText.ts"
import { DurabilityRef, syncDirectories, syncFile } from "./durable.ts"
import { localPath, storageFailure } from "./fileio.ts"
import { fieldIds, leaves, metricsModes, type StatsRow, toDataFile } from "./parquetStats.ts"
import type { WriteOptions } from "./writeOptions.ts"

// Measured (100k trades, 2 cores, loaded machine): no slower than DuckDB's 122880, and prunes 4x finer.
const DEFAULT_ROW_GROUP_SIZE = 32_768

/** A query whose rows, in order, make a partition's files; its parameters start at $2 ($1 is the target). */
export interface PartitionSource {
  readonly select: string
  readonly params: ReadonlyArray<DuckDBValue>
  readonly types: ReadonlyArray<DuckDBType>
}

const storageError = (target: string) => (cause: unknown) => storageFailure(target, cause)

/** Removes files (paths or `file:` locations) nobody will commit, as far as it can: a failure is already being reported. */
const removeQuietly = (files: ReadonlyArray<string>) =>
  Effect.forEach(files, (f) => Effect.tryPromise(() => fs.rm(localPath(f), { force: true })).pipe(Effect.ignore), { discard: true })

/**
 * Writes the files of each part in turn. When one fails, the files written before it are
 * nobody's (nothing will commit them): they are removed with the failure.
 */
export const writeEach = <P, E, R>(parts: ReadonlyArray<P>, write: (part: P, i: number) => Effect.Effect<ReadonlyArray<DataFile>, E, R>) => {
  const written: Array<DataFile> = []
  return Effect.forEach(parts, (part, i) => Effect.map(write(part, i), (files) => void written.push(...files)), { discard: true }).pipe(
    Effect.as(written as ReadonlyArray<DataFile>),
    Effect.onError(() => removeQuietly(written.map((f) => f.filePath)))
  )
}

/**
 * Writes one partition's rows with `COPY ... TO`, one file per COPY: DuckDB keeps the rows'
 * order only when it writes a single file (with FILE_SIZE_BYTES several threads fill the files
 * and rows interleave). A file over the target size is rewritten as equal runs of its rows.
 * `started` is called once the first COPY runs.
 */
export const writePartition = (
  connection: DuckDBConnection,
  source: PartitionSource,
  partition: { readonly values: PartitionValues; readonly path: string },
  options: WriteOptions,
  started?: () => void
) =>
  Effect.gen(function*() {
    const { schema } = options
    const root = options.directory.startsWith("file:")
      ? localPath(options.directory)
      : path.resolve(options.directory)
    const target = path.join(root, partition.path)
    const copyOptions = [
      "FORMAT parquet",
      "COMPRESSION zstd",
      `ROW_GROUP_SIZE ${Math.max(1, Math.floor(options.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE))}`,
      `FIELD_IDS ${fieldIds(schema)}`,
      "RETURN_STATS true"
    ].join(", ")
    // Every file a COPY of this partition writes, named before it runs: when a later step fails,
    // they are nobody's (the pieces so far, the file being split, one left part way).
    const made: Array<string> = []
    // The partition directory may hold earlier files; uuid names never collide with them.
    let starting = started
    const copy = (s: PartitionSource) => {
      const file = path.join(target, `${options.fileNamePrefix}-${crypto.randomUUID()}.parquet`)
      made.push(file)
      return attempt("write parquet", async () => {
        const result = await executeOne(
          connection,
          `COPY (${s.select}) TO $1 (${copyOptions})`,
          [file, ...s.params],
          (statement) => {
            const running = statement.runAndReadAll()
            starting?.()
            starting = undefined
            return running
          },
          [VARCHAR, ...s.types]
        )
        return result.getRowObjectsJson() as unknown as ReadonlyArray<StatsRow>
      })
    }
    // Made before the COPY (DuckDB makes none), not after a COPY that failed for want of it: two
    // writers of one table (two groups, compaction beside ingest) racing into a new day's directory
    // could not tell a COPY that failed for another reason from one whose directory the other made.
    const created = yield* Effect.tryPromise({ try: () => makeDirectory(target), catch: storageError(target) })
    const durability = yield* DurabilityRef
    const written: Array<StatsRow> = []
    yield* Effect.onError(Effect.gen(function*() {
      for (const row of yield* copy(source)) {
        const count = Number(row.count)
        const pieces = Math.min(count, Math.ceil(Number(row.file_size_bytes) / Math.max(1, options.targetFileSizeBytes)))
        if (pieces <= 1) {
          written.push(row)
          continue
        }
        const per = Math.ceil(count / pieces)
        for (let from = 0; from < count; from += per) {
          written.push(...yield* copy({
            // Hive partitioning off: the file's partition directory would come back as a column.
            select: `SELECT * EXCLUDE (file_row_number) FROM read_parquet(${exactFiles("[$2]")}, file_row_number = true, hive_partitioning = false) ` +
              `WHERE file_row_number >= ${from} AND file_row_number < ${from + per}`,
            params: [row.filename],
            types: [VARCHAR]
          }))
        }
        yield* Effect.tryPromise({ try: () => fs.rm(row.filename), catch: storageError(row.filename) })
      }
      // On the disk before the caller commits them (ADR-43): DuckDB's COPY does not sync.
      for (const row of written) {
        yield* Effect.tryPromise({ try: () => syncFile(durability, row.filename), catch: storageError(row.filename) })
      }
      yield* Effect.tryPromise({ try: () => syncDirectories(durability, target, created), catch: storageError(target) })
    }), () => removeQuietly(made))
    const fileLeaves = leaves(schema)
    const sortOrderId = options.sortOrder?.["order-id"] ?? null
    const sortColumns = (options.sortOrder?.fields ?? []).flatMap((f) => schema.fields.find((c) => c.id === f["source-id"])?.name ?? [])
    const modeOf = metricsModes(options.properties ?? {}, sortColumns)
    return written.map((row) => toDataFile(row, fileLeaves, partition.values, sortOrderId, modeOf))
  })
