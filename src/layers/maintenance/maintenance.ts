/**
 * Table maintenance (docs/maintenance.md): compaction, snapshot expiry, orphan-file removal.
 *
 * - Compaction rewrites, per partition, the small live files into files near a target size,
 *   sorted by the table's sort order (DuckDB reads and writes; no row passes through JS), and
 *   commits a `replace` snapshot through `commitChange`: on a conflict it is rebuilt on the new
 *   base, where files appended meanwhile stay live (only the rewritten ones are removed).
 * - Expiry removes old snapshots (`remove-snapshots`) but keeps, per consumer group, the newest
 *   snapshot carrying its ingestion marker and the chain from it to the current snapshot.
 * - Orphan removal deletes files under the table location that no retained snapshot references
 *   (data files, manifests, manifest lists, metadata files, sequence checkpoints) and that are
 *   older than a grace period, so in-flight writes are never touched. A location that also holds
 *   another table's metadata (another catalog's, a dropped table's) is refused, nothing removed. A data or metadata
 *   directory outside the location is not scanned, nor another table nested inside it
 *   (`otherTablesDirectories`): their files would look like orphans.
 *
 * - Compaction: day by day (compactDays.ts), one partition rewritten and committed
 *   (compactPartition.ts), from the live files (liveFiles.ts, manifestReads.ts), near the target
 *   size (targetFileSize.ts, propertyNumbers.ts).
 * - Expiry (expireSnapshots.ts).
 * - Orphan removal (removeOrphans.ts): what the table references (referencedFiles.ts), a location
 *   shared with another table refused (sharedLocation.ts).
 * - Runs on a period: repeatEvery.ts, runEvery.ts. Pure planning: plan.ts.
 */
import { Effect, Layer, Result } from "effect"
import { defaultMergePolicy } from "../../domain/iceberg/manifestPlan.ts"
import { Catalog, type TableIdentifier } from "../../services/Catalog.ts"
import { FileIO } from "../../services/FileIO.ts"
import { type CompactOptions, Maintenance, type MaintenanceOptions } from "../../services/Maintenance.ts"
import { DuckDb } from "../duckdb/DuckDb.ts"
import { MAINTENANCE_CACHE_ENTRIES, makeSnapshotFiles } from "../iceberg/snapshotFiles.ts"
import { makeCompactDays } from "./compactDays.ts"
import { makeCompactPartition } from "./compactPartition.ts"
import { makeExpireSnapshots } from "./expireSnapshots.ts"
import { makeRemoveOrphans } from "./removeOrphans.ts"

export { repeatEvery } from "./repeatEvery.ts"
export { runEvery } from "./runEvery.ts"

export interface MaintenanceLayerOptions {
  /** Catalog attempts per maintenance commit (ingestion may commit every second meanwhile). */
  readonly maxCommitAttempts?: number
}

export const make = Effect.fnUntraced(function*(options: MaintenanceLayerOptions = {}) {
  const catalog = yield* Catalog
  const files = yield* FileIO
  const duckDb = yield* DuckDb
  const snapshots = yield* makeSnapshotFiles({ cacheEntries: MAINTENANCE_CACHE_ENTRIES })
  const commitOptions = {
    mergePolicy: defaultMergePolicy,
    maxAttempts: options.maxCommitAttempts ?? 30
  }
  const compactPartition = makeCompactPartition(catalog, files, duckDb, snapshots, commitOptions)
  const compactDays = makeCompactDays(catalog, snapshots, compactPartition)

  const compact = Effect.fn("Maintenance.compact")(function*(identifier: TableIdentifier, compactOptions: CompactOptions = {}) {
    const { failed, result } = yield* compactDays(identifier, compactOptions)
    if (failed !== null) return yield* failed
    return result
  })

  const expireSnapshots = makeExpireSnapshots(catalog, files, commitOptions)

  const removeOrphans = makeRemoveOrphans(catalog, files, snapshots)

  const run = Effect.fn("Maintenance.run")(function*(identifier: TableIdentifier, runOptions: MaintenanceOptions = {}) {
    // A compaction that fails or is refused does not hold back expiry and orphan removal (the
    // metadata would grow with every commit); its error is reported beside what they did.
    // Days that failed alone are reported beside the days that were compacted.
    const compacted = runOptions.compact === false
      ? null
      : yield* Effect.result(compactDays(identifier, runOptions.compact).pipe(Effect.withSpan("Maintenance.compact")))
    // Nor does an expiry that fails: its snapshots stay, and with them every file they reference.
    const expired = runOptions.expire === false ? null : yield* Effect.result(expireSnapshots(identifier, runOptions.expire))
    // Nor does an orphan removal that fails hide what they committed: it is reported beside them.
    const orphans = runOptions.orphans === false ? null : yield* Effect.result(removeOrphans(identifier, runOptions.orphans))
    return {
      table: identifier,
      compact: compacted === null || Result.isFailure(compacted) ? null : compacted.success.result,
      expire: expired === null || Result.isFailure(expired) ? null : expired.success,
      orphans: orphans === null || Result.isFailure(orphans) ? null : orphans.success,
      compactFailure: compacted === null ? null : Result.isFailure(compacted) ? compacted.failure : compacted.success.failed,
      expireFailure: expired !== null && Result.isFailure(expired) ? expired.failure : null,
      orphanFailure: orphans !== null && Result.isFailure(orphans) ? orphans.failure : null
    }
  })

  return Maintenance.of({ compact, expireSnapshots, removeOrphans, run })
})

export const layer = (options: MaintenanceLayerOptions = {}) => Layer.effect(Maintenance)(make(options))
