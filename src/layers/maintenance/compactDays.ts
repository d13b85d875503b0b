/**
 * Compaction of a table, day by day: its live files loaded, the table checked (no delete files, no
 * encrypted file, files readable by field id), the partitions to rewrite planned (`planCompaction`)
 * and each compacted (`compactPartition`), logging its progress. A day that fails alone is skipped
 * and reported; anything else stops the run, the days committed before it standing.
 */
import { Effect, Result } from "effect"
import { isMissingFile } from "../../domain/iceberg/errors.ts"
import { currentSchema, defaultSpec } from "../../domain/iceberg/metadata.ts"
import { partitionLabel } from "../../domain/iceberg/partitioning.ts"
import { readSchemaOf, writtenSchemaIds } from "../../domain/iceberg/readSchema.ts"
import type { DataFile } from "../../domain/iceberg/spec.ts"
import { type Catalog, showIdentifier, type TableIdentifier } from "../../services/Catalog.ts"
import {
  CompactionFailed,
  type CompactOptions,
  type CompactResult,
  type MaintenanceError,
  MaintenanceRefused,
  type PartitionCompaction
} from "../../services/Maintenance.ts"
import { UnsupportedTableFeature } from "../../services/TableScanner.ts"
import { encryption } from "../iceberg/fileio.ts"
import type { SnapshotFiles } from "../iceberg/snapshotFiles.ts"
import type { makeCompactPartition } from "./compactPartition.ts"
import { liveFiles } from "./liveFiles.ts"
import { planCompaction } from "./plan.ts"
import { targetFileSize } from "./targetFileSize.ts"

/** The days compacted, and the days that failed alone (each skipped: the others are compacted all the same). */
export const makeCompactDays = (
  catalog: Catalog["Service"],
  snapshots: SnapshotFiles,
  compactPartition: ReturnType<typeof makeCompactPartition>
) =>
  Effect.fnUntraced(function*(identifier: TableIdentifier, compactOptions: CompactOptions = {}) {
    // Another run (a second `compact`) may expire the snapshot loaded here and remove its manifests
    // before they are read: then the table is loaded again, as it is now.
    const { live, table } = yield* Effect.gen(function*() {
      const table = yield* catalog.loadTable(identifier)
      return { table, live: yield* liveFiles(snapshots, identifier, table.metadata) }
    }).pipe(Effect.retry({ times: 4, while: isMissingFile }))
    const m = table.metadata
    // A target given (--target-file-size-mb) decides; else the table's write.target-file-size-bytes, as
    // every Iceberg engine's writers read it; else K2's default (ADR-99). Checked before anything is written.
    const target = compactOptions.targetFileSizeBytes ?? (yield* targetFileSize(identifier, m))
    const opts = { ...compactOptions, targetFileSizeBytes: target }
    if (live.some((l) => l.content !== 0)) {
      return yield* new MaintenanceRefused({ table: showIdentifier(identifier), detail: "table has delete files" })
    }
    // DuckDB cannot decrypt a file, and a rewrite would lose its key (or be a plaintext copy of
    // what the table keeps encrypted).
    const encrypted = live.find((l) => l.file.keyMetadata !== undefined)
    if (encrypted !== undefined) {
      return yield* new UnsupportedTableFeature({ table: showIdentifier(identifier), feature: encryption(encrypted.file.filePath) })
    }
    // The rewrite reads the files as the current schema, by field id once another engine renamed,
    // dropped or retyped a column (ADR-2), and writes them with its field ids: a later change leaves them right.
    const read = readSchemaOf(m.schemas, currentSchema(m), writtenSchemaIds(m, null, m["current-schema-id"]))
    if (Result.isFailure(read)) {
      return yield* new MaintenanceRefused({ table: showIdentifier(identifier), detail: `files cannot be read by field id: ${read.failure}` })
    }
    const groups = planCompaction(live.filter((l) => l.specId === m["default-spec-id"]), {
      // Files below 3/4 of the target are compacted.
      smallFileBytes: Math.floor(target * 0.75),
      minInputFiles: compactOptions.minInputFiles ?? 2,
      targetFileSizeBytes: target
    })
    const label = (partition: PartitionCompaction["partition"]) => partitionLabel(currentSchema(m), defaultSpec(m), partition)
    const partitions: Array<PartitionCompaction> = []
    const failedDays: Array<{ partition: string; detail: string }> = []
    let snapshotId: bigint | null = null
    let attempts = 0
    let stoppedBy: MaintenanceError | null = null
    // Where a long run is (a year of days took minutes, silent until the report): each day as it is done.
    if (groups.length > 0) {
      yield* Effect.logInfo(`compacting ${showIdentifier(identifier)}: ${groups.length} partition${groups.length === 1 ? "" : "s"} to rewrite`)
    }
    for (const [index, group] of groups.entries()) {
      const at = `${showIdentifier(identifier)} ${label(group.partition) || "(unpartitioned)"}`
      const progress = `(${index + 1}/${groups.length})`
      const failedDay = (detail: string) =>
        Effect.sync(() => void failedDays.push({ partition: label(group.partition), detail })).pipe(
          Effect.andThen(Effect.logInfo(`compaction of ${at} failed ${progress}: ${detail}`))
        )
      const outcome = yield* compactPartition(identifier, table, group.inputs, read.success, opts).pipe(
        // Another compaction removed some of these files first: its result stands, skip ours.
        Effect.catchTag("FilesNoLongerLive", (e) =>
          Effect.logWarning(`compaction of ${at} skipped ${progress}: ${e.message}`)
            .pipe(Effect.as(undefined))),
        // A day's own files (missing, corrupt, too big for DuckDB's memory) fail that day alone:
        // aborting would leave every later day uncompacted on every run.
        Effect.catchTags({
          TableFileError: (e) => failedDay(e.message),
          MaintenanceRefused: (e) => failedDay(e.detail)
        }),
        // Anything else (the catalog) stops the run; the days committed or failed alone before it are reported.
        Effect.catch((e) => partitions.length === 0 && failedDays.length === 0 ? Effect.fail(e) : Effect.sync(() => void (stoppedBy = e)))
      )
      if (stoppedBy !== null) break
      if (outcome === undefined) continue
      snapshotId = outcome.committed.snapshot["snapshot-id"]
      attempts += outcome.committed.attempts
      const bytes = (fs: ReadonlyArray<DataFile>) => fs.reduce((n, f) => n + f.fileSizeInBytes, 0)
      const kept = group.files.length - group.inputs.length
      partitions.push({
        partition: group.partition,
        label: label(group.partition),
        filesBefore: group.files.length,
        filesAfter: kept + outcome.added.length,
        bytesBefore: bytes(group.files),
        bytesAfter: bytes(group.files) - bytes(group.inputs) + bytes(outcome.added),
        rows: group.inputs.reduce((n, f) => n + f.recordCount, 0)
      })
      const done = partitions[partitions.length - 1]!
      yield* Effect.logInfo(`compacted ${at} ${progress}: ${done.filesBefore} -> ${done.filesAfter} files, ${done.rows} rows rewritten`)
    }
    // The catalog down (as when it stopped the days above): the count from what this run committed,
    // rather than failing the step and hiding the days that were committed.
    const committedCount = live.length + partitions.reduce((n, p) => n + p.filesAfter - p.filesBefore, 0)
    const filesAfter = yield* catalog.loadTable(identifier).pipe(
      Effect.flatMap((after) => liveFiles(snapshots, identifier, after.metadata)),
      Effect.map((l) => l.length),
      Effect.retry({ times: 4, while: isMissingFile }),
      Effect.catch((e) => partitions.length === 0 && stoppedBy === null && failedDays.length === 0 ? Effect.fail(e) : Effect.succeed(committedCount))
    )
    const result: CompactResult = {
      table: identifier,
      filesBefore: live.length,
      filesAfter,
      partitions,
      snapshotId,
      attempts
    }
    yield* Effect.annotateCurrentSpan({ table: showIdentifier(identifier), partitions: partitions.length })
    // Set in the loop's callbacks, which TypeScript's narrowing does not see.
    const stopped = stoppedBy as MaintenanceError | null
    const failed: MaintenanceError | null = failedDays.length === 0
      ? stopped
      : new CompactionFailed({ table: showIdentifier(identifier), days: failedDays, ...(stopped === null ? {} : { stoppedBy: stopped.message }) })
    return { result, failed }
  })
