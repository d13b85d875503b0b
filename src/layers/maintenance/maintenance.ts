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
 */
import { Clock, Duration, Effect, Layer, Result } from "effect"
import { isMissingFile, TableFileError } from "../../domain/iceberg/errors.ts"
import { defaultMergePolicy } from "../../domain/iceberg/manifestPlan.ts"
import { currentSchema, currentSnapshot, dataDirectory, defaultSortOrder, defaultSpec, specById } from "../../domain/iceberg/metadata.ts"
import { partitionLabel } from "../../domain/iceberg/partitioning.ts"
import { readSchemaOf, writtenSchemaIds } from "../../domain/iceberg/readSchema.ts"
import { type DataFile, type ManifestEntry, ManifestEntryStatus, type Snapshot, type TableMetadata } from "../../domain/iceberg/spec.ts"
import { readMarker } from "../../domain/ingest/marker.ts"
import { Catalog, type LoadedTable, showIdentifier, type TableIdentifier } from "../../services/Catalog.ts"
import { FileIO } from "../../services/FileIO.ts"
import { FilesNoLongerLive } from "../../services/IcebergSink.ts"
import { UnsupportedTableFeature } from "../../services/TableScanner.ts"
import {
  CompactionFailed,
  type CompactOptions,
  type CompactResult,
  type ExpireOptions,
  type ExpireResult,
  Maintenance,
  type MaintenanceError,
  type MaintenanceOptions,
  MaintenanceRefused,
  type OrphanOptions,
  SharedTableLocation,
  type OrphanResult,
  type PartitionCompaction
} from "../../services/Maintenance.ts"
import { DuckDb } from "../duckdb/DuckDb.ts"
import { monotonicMillis } from "../elapsed.ts"
import { commitBackoff, commitChange, isRetryableCommit, removeUnlessMaybeLanded } from "../iceberg/commit.ts"
import { encryption, manifestListRefusal, manifestRefusal } from "../iceberg/fileio.ts"
import { otherTablesMetadata } from "../iceberg/otherTables.ts"
import { asStorageFailure } from "../iceberg/parquet.ts"
import { rewriteDataFiles } from "../iceberg/rewriteDataFiles.ts"
import { makeSnapshotFiles, type SnapshotFiles, MAINTENANCE_CACHE_ENTRIES } from "../iceberg/snapshotFiles.ts"
import {
  crcOf,
  metadataFiles,
  normalizeLocation,
  otherTablesDirectories,
  planCompaction,
  markerGroups,
  planExpiry,
  referencedSpellings,
  sideFiles
} from "./plan.ts"

export interface MaintenanceLayerOptions {
  /** Catalog attempts per maintenance commit (ingestion may commit every second meanwhile). */
  readonly maxCommitAttempts?: number
}

const DEFAULT_TARGET_FILE_SIZE = 128 * 1024 * 1024
const DEFAULT_MAX_SNAPSHOT_AGE_MS = 5 * 24 * 3_600_000
const DEFAULT_ORPHAN_GRACE_MS = 24 * 3_600_000

/** The table property Iceberg's writers size their data files by (Java's default: 512 MiB; ADR-99). */
const TARGET_FILE_SIZE_PROPERTY = "write.target-file-size-bytes"

/** The largest value of the Java type Iceberg's PropertyUtil reads a property as (propertyAsInt, propertyAsLong). */
const JAVA_MAX = { int: 2n ** 31n - 1n, long: 2n ** 63n - 1n } as const

/**
 * A numeric table property as Java's Iceberg reads it (PropertyUtil.propertyAsInt / propertyAsLong,
 * i.e. Integer.parseInt / Long.parseLong): an optional sign, then digits, within the Java type; no
 * space, unit, fraction, exponent or hex. K2 takes only a positive value. Unset: `fallback`. Anything
 * else is refused naming the table, the property and the value. Past 2^53 the number read is inexact,
 * which no age in milliseconds or size in bytes notices (Long.MAX_VALUE, Java's "never", stays never).
 * Java would also take other scripts' digits (Character.digit); K2 refuses them, by name.
 */
const positiveProperty = (
  identifier: TableIdentifier,
  m: TableMetadata,
  key: string,
  type: keyof typeof JAVA_MAX,
  fallback: number,
  refusal: { readonly unit?: string; readonly then?: string } = {}
): Effect.Effect<number, MaintenanceRefused> => {
  const text = m.properties[key]
  if (text === undefined) return Effect.succeed(fallback)
  const value = /^[+-]?[0-9]+$/.test(text) ? BigInt(text) : undefined
  return value !== undefined && value > 0n && value <= JAVA_MAX[type]
    ? Effect.succeed(Number(value))
    : Effect.fail(
      new MaintenanceRefused({
        table: showIdentifier(identifier),
        detail: `table property ${key} is not a positive whole number${refusal.unit ?? ""} ` +
          `(as Java's Iceberg reads it: digits, an optional +, at most ${JAVA_MAX[type]}): ${JSON.stringify(text)}${refusal.then ?? ""}`
      })
    )
}

/**
 * The table's `write.target-file-size-bytes`, else K2's default (128 MiB), read as Java's writers read
 * it (`positiveProperty`: no unit, no fraction): compacting by a guess at what was meant would write
 * a day as one huge file or as thousands of tiny ones.
 */
const targetFileSize = (identifier: TableIdentifier, m: TableMetadata): Effect.Effect<number, MaintenanceRefused> =>
  positiveProperty(identifier, m, TARGET_FILE_SIZE_PROPERTY, "long", DEFAULT_TARGET_FILE_SIZE, {
    unit: " of bytes",
    then: "; nothing compacted (set it to a size such as 134217728, remove it for the default, or give --target-file-size-mb)"
  })

/** Marks maintenance snapshots in their summary. */
const MAINTENANCE_KEY = "k2.maintenance"

type ManifestFile = Parameters<SnapshotFiles["manifestEntries"]>[0]

/**
 * A manifest's entries. One K2 does not read (on s3://, encrypted, of a partition spec whose values
 * K2 does not hold: another engine's identity(string), say) is refused by name, as the planner does
 * (`manifestRefusal`), rather than failing as a missing or corrupt file.
 */
const entriesOf = (snapshots: SnapshotFiles, identifier: TableIdentifier, m: TableMetadata) =>
(manifest: ManifestFile): Effect.Effect<ReadonlyArray<ManifestEntry>, TableFileError | UnsupportedTableFeature> => {
  const refused = manifestRefusal(manifest, specById(m, manifest.partitionSpecId), currentSchema(m))
  return refused === null
    ? snapshots.manifestEntries(manifest)
    : Effect.fail(new UnsupportedTableFeature({ table: showIdentifier(identifier), feature: refused }))
}

/** A snapshot's manifests; a list on storage K2 does not reach is refused by name (`manifestListRefusal`), as the planner does. */
const manifestsOf = (snapshots: SnapshotFiles, identifier: TableIdentifier) =>
(snapshot: Snapshot): Effect.Effect<ReadonlyArray<ManifestFile>, TableFileError | UnsupportedTableFeature> => {
  const refused = manifestListRefusal(snapshot)
  return refused === null
    ? snapshots.manifestList(snapshot)
    : Effect.fail(new UnsupportedTableFeature({ table: showIdentifier(identifier), feature: refused }))
}

/** Live data files of the current snapshot, with the spec each was written under. */
const liveFiles = (snapshots: SnapshotFiles, identifier: TableIdentifier, m: TableMetadata) =>
  Effect.gen(function*() {
    const current = currentSnapshot(m)
    if (current === undefined) return []
    const manifests = yield* manifestsOf(snapshots, identifier)(current)
    const entries = yield* Effect.forEach(manifests, entriesOf(snapshots, identifier, m), { concurrency: 8 })
    return manifests.flatMap((mf, i) =>
      entries[i]!.filter((e) => e.status !== ManifestEntryStatus.DELETED).map((e) => ({
        file: e.dataFile,
        specId: mf.partitionSpecId,
        content: mf.content
      }))
    )
  })

export const make = Effect.fnUntraced(function*(options: MaintenanceLayerOptions = {}) {
  const catalog = yield* Catalog
  const files = yield* FileIO
  const duckDb = yield* DuckDb
  const snapshots = yield* makeSnapshotFiles({ cacheEntries: MAINTENANCE_CACHE_ENTRIES })
  const commitOptions = {
    mergePolicy: defaultMergePolicy,
    maxAttempts: options.maxCommitAttempts ?? 30
  }

  // A metadata.json's length (0 when it cannot be read), for the expiry report. FileIO has no stat, and
  // `list` is no cheaper: it stats every file under the directory, one after another (`walk`), and the
  // metadata directory of a table whose metadata.json is large (a day of one-second commits, ADR-77)
  // holds a manifest list and a manifest per snapshot besides. A file never changes once written, so
  // one location is read once (`expireSnapshots`).
  const sizeOf = (location: string) =>
    files.read(location).pipe(Effect.map((b) => b.length), Effect.orElseSucceed(() => 0))

  // --- compaction --------------------------------------------------------------------------

  const compactPartition = Effect.fnUntraced(function*(
    identifier: TableIdentifier,
    table: LoadedTable,
    inputs: ReadonlyArray<DataFile>,
    compact: Required<Pick<CompactOptions, "targetFileSizeBytes">> & CompactOptions
  ) {
    const m = table.metadata
    const read = readSchemaOf(m.schemas, currentSchema(m), writtenSchemaIds(m, null, m["current-schema-id"]))
    if (Result.isFailure(read)) {
      return yield* new MaintenanceRefused({ table: showIdentifier(identifier), detail: `files cannot be read by field id: ${read.failure}` })
    }
    // Once the rewrite is done, the rest runs to its end: interrupted (SIGTERM, `--every` stopped)
    // before or while committing, the rewritten files would stay unreferenced for the orphan grace
    // beside the files they replace, or a REST commit in flight be cut at an unknown outcome.
    return yield* Effect.uninterruptibleMask((restore) => Effect.gen(function*() {
      const added = yield* restore(rewriteDataFiles(inputs.map((f) => f.filePath), read.success, {
        schema: currentSchema(m),
        spec: defaultSpec(m),
        sortOrder: defaultSortOrder(m),
        directory: dataDirectory(m),
        targetFileSizeBytes: compact.targetFileSizeBytes,
        fileNamePrefix: "k2-compacted",
        rowGroupSize: compact.rowGroupSize,
        table: showIdentifier(identifier),
        properties: m.properties
      }).pipe(
        Effect.provideService(DuckDb, duckDb),
        Effect.mapError(asStorageFailure(m.location)),
        // Another run (a second `compact`, an ingest's --maintain-every) compacted these files and
        // removed them as orphans while this one read them: its result stands, as when it commits first.
        Effect.catchTag("TableFileError", (e) =>
          Effect.gen(function*() {
            const now = yield* catalog.loadTable(identifier)
            const live = new Set((yield* liveFiles(snapshots, identifier, now.metadata)).map((l) => l.file.filePath))
            return inputs.filter((f) => !live.has(f.filePath)).map((f) => f.filePath)
          }).pipe(
            // Not known (the catalog failing): the day's own failure stands.
            Effect.orElseSucceed((): ReadonlyArray<string> => []),
            Effect.flatMap((gone): Effect.Effect<never, TableFileError | FilesNoLongerLive> =>
              gone.length === 0 ? Effect.fail(e) : Effect.fail(new FilesNoLongerLive({ table: showIdentifier(identifier), paths: gone })))
          ))
      ))
      const rowsIn = inputs.reduce((n, f) => n + f.recordCount, 0)
      const rowsOut = added.reduce((n, f) => n + f.recordCount, 0)
      const cleanup = Effect.forEach(added, (f) => files.remove(f.filePath), { discard: true }).pipe(Effect.ignore)
      if (rowsIn !== rowsOut) {
        yield* cleanup
        return yield* new MaintenanceRefused({
          table: showIdentifier(identifier),
          detail: `rewrite of ${inputs.length} files produced ${rowsOut} rows, expected ${rowsIn}`
        })
      }
      const committed = yield* commitChange(snapshots, identifier, {
        operation: "replace",
        added,
        addedSpecId: m["default-spec-id"],
        tableUuid: m["table-uuid"],
        removed: inputs,
        properties: { [MAINTENANCE_KEY]: "compaction" }
      }, commitOptions).pipe(
        Effect.provideService(Catalog, catalog),
        Effect.provideService(FileIO, files),
        Effect.tapError(removeUnlessMaybeLanded(files, added))
      )
      return { added, committed }
    }))
  })

  /** The days compacted, and the days that failed alone (each skipped: the others are compacted all the same). */
  const compactDays = Effect.fnUntraced(function*(identifier: TableIdentifier, compactOptions: CompactOptions = {}) {
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
      const outcome = yield* compactPartition(identifier, table, group.inputs, opts).pipe(
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
        // Anything else (the catalog) stops the run; the days committed before it stand and are reported.
        Effect.catch((e) => partitions.length === 0 ? Effect.fail(e) : Effect.sync(() => void (stoppedBy = e)))
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
    const failed: MaintenanceError | null = stoppedBy ??
      (failedDays.length === 0 ? null : new CompactionFailed({ table: showIdentifier(identifier), days: failedDays }))
    return { result, failed }
  })

  const compact = Effect.fn("Maintenance.compact")(function*(identifier: TableIdentifier, compactOptions: CompactOptions = {}) {
    const { failed, result } = yield* compactDays(identifier, compactOptions)
    if (failed !== null) return yield* failed
    return result
  })

  // --- expiry ------------------------------------------------------------------------------

  const expireSnapshots = Effect.fn("Maintenance.expireSnapshots")(function*(
    identifier: TableIdentifier,
    expireOptions: ExpireOptions = {}
  ) {
    const first = yield* catalog.loadTable(identifier)
    const metadataBytesBefore = yield* sizeOf(first.metadataLocation)
    const snapshotsBefore = first.metadata.snapshots.length
    // What every attempt planned: one whose commit landed unseen leaves its retry nothing to plan.
    const planned = new Set<bigint>()
    const plannedRefs = new Set<string>()
    const attempt = Effect.gen(function*() {
      const base = yield* catalog.loadTable(identifier)
      const m = base.metadata
      // As in every Iceberg engine, the table's history.expire.* properties are the defaults, read
      // as Java's RemoveSnapshots reads them (min-snapshots-to-keep an int, the ages longs).
      const setting = (key: string, type: keyof typeof JAVA_MAX, fallback: number) => positiveProperty(identifier, m, key, type, fallback)
      // A marker that does not decode is refused, not planned around: expiry would keep only the
      // chain to an older readable one, or none, and that snapshot is what a rollback repairs it with.
      for (const group of markerGroups(m)) {
        const read = readMarker(m, group, showIdentifier(identifier))
        if (Result.isFailure(read)) return yield* read.failure
      }
      const plan = planExpiry(m, {
        maxSnapshotAgeMs: expireOptions.maxSnapshotAgeMs ?? (yield* setting("history.expire.max-snapshot-age-ms", "long", DEFAULT_MAX_SNAPSHOT_AGE_MS)),
        retainLast: expireOptions.retainLast ?? (yield* setting("history.expire.min-snapshots-to-keep", "int", 1)),
        nowMs: expireOptions.nowMs ?? (yield* Clock.currentTimeMillis),
        // Unset, as in Java: refs never age out.
        maxRefAgeMs: yield* setting("history.expire.max-ref-age-ms", "long", Number.POSITIVE_INFINITY)
      })
      for (const id of plan.expire) planned.add(id)
      for (const ref of plan.expiredRefs) plannedRefs.add(ref)
      if (plan.expire.length === 0 && plan.expiredRefs.length === 0) return { table: base, plan }
      // Every ref the plan kept a snapshot for stays where it was: a ref moved meanwhile onto a
      // snapshot being removed would dangle (a REST server's builder drops it). A ref created
      // meanwhile no requirement can name: applyUpdates refuses removing its snapshot (stale).
      const refs = Object.entries(m.refs).filter(([name]) => name !== "main")
      const committed = yield* catalog.commitTable(identifier, [
        { type: "assert-table-uuid", uuid: m["table-uuid"] },
        { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": m["current-snapshot-id"] ?? null },
        ...refs.map(([ref, r]) => ({ type: "assert-ref-snapshot-id" as const, ref, "snapshot-id": r["snapshot-id"] }))
      ], [
        ...plan.expiredRefs.map((ref) => ({ action: "remove-snapshot-ref" as const, "ref-name": ref })),
        ...(plan.expire.length === 0 ? [] : [{ action: "remove-snapshots" as const, "snapshot-ids": plan.expire }])
      ])
      return { table: committed, plan }
    })
    // A conflict (ingestion committed meanwhile) or an unknown outcome: plan again on a fresh
    // base; removing snapshots that are already gone is a no-op in the plan.
    const { table, plan } = yield* attempt.pipe(
      Effect.retry({ schedule: commitBackoff(commitOptions.maxAttempts), while: isRetryableCommit })
    )
    const kept = new Set(table.metadata.snapshots.map((s) => s["snapshot-id"]))
    const result: ExpireResult = {
      table: identifier,
      snapshotsBefore,
      snapshotsAfter: table.metadata.snapshots.length,
      expired: [...planned].filter((id) => !kept.has(id)),
      refsRemoved: [...plannedRefs].filter((ref) => table.metadata.refs[ref] === undefined),
      markers: plan.markers,
      metadataBytesBefore,
      // Nothing committed meanwhile (nothing to expire on a quiet table): the same file, not read again.
      metadataBytesAfter: table.metadataLocation === first.metadataLocation ? metadataBytesBefore : yield* sizeOf(table.metadataLocation)
    }
    return result
  })

  // --- orphans -----------------------------------------------------------------------------

  /** Every file the table's retained state references, normalized (each spelling a reader may take it in: `referencedSpellings`). */
  const referencedFiles = Effect.fnUntraced(function*(table: LoadedTable) {
    const m = table.metadata
    const out = new Set<string>()
    const add = (location: string) => referencedSpellings(location).forEach((l) => out.add(l))
    for (const f of [...metadataFiles(m, table.metadataLocation), ...sideFiles(m.properties)]) add(f)
    const manifestPaths = new Map<string, ManifestFile>()
    for (const s of m.snapshots) {
      add(s["manifest-list"])
      for (const f of sideFiles(s.summary)) add(f)
      for (const mf of yield* manifestsOf(snapshots, table.identifier)(s)) manifestPaths.set(mf.manifestPath, mf)
    }
    const entries = yield* Effect.forEach([...manifestPaths.values()], entriesOf(snapshots, table.identifier, m), { concurrency: 8 })
    for (const [p] of manifestPaths) add(p)
    for (const list of entries) {
      for (const e of list) if (e.status !== ManifestEntryStatus.DELETED) add(e.dataFile.filePath)
    }
    return out
  })

  /**
   * Fails (SharedTableLocation) when a metadata file among those listed, off this table's metadata
   * log, names another table-uuid: that table shares the location, and every file of it would be
   * taken for an orphan (ADR-42). Same-uuid files off the log (a commit that lost the
   * compare-and-swap, one past write.metadata.previous-versions-max) are this table's orphans, and
   * an unreadable one (truncated by a crash) no table loads; a live table sharing the location has
   * a current metadata file that reads. Checked in dry runs too: their list would be the other table's files.
   */
  const refuseSharedLocation = Effect.fnUntraced(function*(table: LoadedTable, listed: ReadonlyArray<{ readonly location: string }>) {
    const m = table.metadata
    const chain = new Set([table.metadataLocation, ...m["metadata-log"].map((e) => e["metadata-file"])].map(normalizeLocation))
    const foreign = yield* otherTablesMetadata(files, listed.map((e) => e.location).filter((l) => !chain.has(normalizeLocation(l))), m["table-uuid"])
    if (foreign.length > 0) {
      return yield* new SharedTableLocation({
        table: showIdentifier(table.identifier),
        location: m.location,
        tableUuid: m["table-uuid"],
        foreign
      })
    }
  })

  const removeOrphans = Effect.fn("Maintenance.removeOrphans")(function*(
    identifier: TableIdentifier,
    orphanOptions: OrphanOptions = {}
  ) {
    // Compared with the files' modification times, which the file system stamps from the wall clock.
    const nowMs = orphanOptions.nowMs ?? Date.now()
    const grace = orphanOptions.olderThanMs ?? DEFAULT_ORPHAN_GRACE_MS
    // Listed before the table is loaded: a file committed in between is then referenced.
    const all = yield* files.list(yield* catalog.loadTable(identifier).pipe(Effect.map((t) => t.metadata.location)))
    // Another run (a second `compact`) may expire snapshots loaded here and remove their files before
    // they are read: then the table is loaded again, as it is now (the listing still comes before it).
    const { referenced, table } = yield* Effect.gen(function*() {
      const table = yield* catalog.loadTable(identifier)
      return { table, referenced: yield* referencedFiles(table) }
    }).pipe(Effect.retry({ times: 4, while: isMissingFile }))
    const others = otherTablesDirectories(table.metadata, table.metadataLocation, all.map((e) => e.location))
    const listed = all.filter((e) => !others.some((dir) => normalizeLocation(e.location).startsWith(`${dir}/`)))
    yield* refuseSharedLocation(table, listed)
    const isReferenced = (location: string) => {
      const local = normalizeLocation(location)
      if (referenced.has(local)) return true
      const crcFor = crcOf(local)
      return crcFor !== undefined && referenced.has(crcFor)
    }
    let tooYoung = 0
    let bytesRemoved = 0
    const removed: Array<string> = []
    for (const entry of listed) {
      if (isReferenced(entry.location)) continue
      if (entry.modifiedMs > nowMs - grace) {
        tooYoung++
        continue
      }
      if (orphanOptions.dryRun !== true) yield* files.remove(entry.location)
      removed.push(entry.location)
      bytesRemoved += entry.size
    }
    const result: OrphanResult = {
      table: identifier,
      filesScanned: listed.length,
      referenced: listed.length - removed.length - tooYoung,
      tooYoung,
      removed,
      bytesRemoved
    }
    return result
  })

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

/**
 * `self` again and again, each run `interval` after the previous one started: "--every 600" is
 * every 10 minutes, where Schedule.spaced waited 600 s after each run ended (drifting by the run
 * time). A run longer than `interval` is followed as it ends, never overlapped. Ends on a failure.
 */
export const repeatEvery = <A, E, R>(self: Effect.Effect<A, E, R>, interval: Duration.Input): Effect.Effect<never, E, R> =>
  Effect.gen(function*() {
    const period = Duration.toMillis(Duration.fromInputUnsafe(interval))
    while (true) {
      // Monotonic: a clock set back an hour during a run put the next one off by that hour.
      const started = yield* monotonicMillis
      yield* self
      const took = (yield* monotonicMillis) - started
      yield* Effect.sleep(Duration.millis(Math.max(0, period - took)))
    }
  })

/** Runs maintenance of `tables` every `interval` (from each run's start), logging each report; failures are logged, never fatal. */
export const runEvery = (
  tables: ReadonlyArray<TableIdentifier>,
  interval: Duration.Input,
  options: MaintenanceOptions = {}
) =>
  Effect.gen(function*() {
    const maintenance = yield* Maintenance
    for (const table of tables) {
      yield* maintenance.run(table, options).pipe(
        Effect.flatMap((r) => {
          // Not there yet (an ingest creates its tables beside the first run): skipped, as `compact`
          // skips a missing default table, rather than warned about as each step failed.
          const absent = [r.compactFailure, r.expireFailure, r.orphanFailure]
            .find((f) => f?._tag === "CatalogError" && f.reason._tag === "NoSuchTable")
          if (absent != null) return Effect.logInfo(`maintenance of ${showIdentifier(table)} skipped: ${absent.message}`)
          return Effect.all([
            Effect.logInfo(summaryLine(r)),
            r.compactFailure === null ? Effect.void : Effect.logWarning(`compaction of ${showIdentifier(table)} failed: ${r.compactFailure.message}`),
            r.expireFailure === null ? Effect.void : Effect.logWarning(`snapshot expiry of ${showIdentifier(table)} failed: ${r.expireFailure.message}`),
            r.orphanFailure === null ? Effect.void : Effect.logWarning(`orphan removal of ${showIdentifier(table)} failed: ${r.orphanFailure.message}`)
          ], { discard: true })
        }),
        Effect.catchCause((cause) => Effect.logWarning(`maintenance of ${showIdentifier(table)} failed`, cause))
      )
    }
  }).pipe((run) => repeatEvery(run, interval))

/** One line per table: files before → after, snapshots expired, orphans removed. */
const summaryLine = (r: {
  readonly table: TableIdentifier
  readonly compact: CompactResult | null
  readonly expire: ExpireResult | null
  readonly orphans: OrphanResult | null
}) =>
  [
    showIdentifier(r.table),
    r.compact === null
      ? null
      : `files ${r.compact.filesBefore} -> ${r.compact.filesAfter} (${r.compact.partitions.length} partitions rewritten)`,
    r.expire === null
      ? null
      : `snapshots ${r.expire.snapshotsBefore} -> ${r.expire.snapshotsAfter}, metadata.json ${r.expire.metadataBytesBefore} -> ${r.expire.metadataBytesAfter} bytes`,
    r.orphans === null
      ? null
      : `orphans removed ${r.orphans.removed.length} (${r.orphans.bytesRemoved} bytes, ${r.orphans.tooYoung} within grace)`
  ].filter((s) => s !== null).join("; ")

