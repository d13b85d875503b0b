/**
 * Committing a change (files added, files removed) to a table as one snapshot.
 *
 * Optimistic concurrency: build the snapshot on the current metadata, ask the catalog
 * to swap it in under `assert-ref-snapshot-id`, and on a conflict rebuild on the new
 * base. Every snapshot carries `k2.commit-id`; an attempt first looks for its own id,
 * so a commit whose outcome was unknown is never applied twice. When the attempts run out
 * after any of them had an unknown outcome, the error is CommitStateUnknown: that commit may
 * still have landed (or land later), so its data files must stay (orphan removal takes them
 * if it did not). When they run out on a conflict, the table is loaded once more for the commit id
 * (a commit that landed may be answered 409: ADR-103, ADR-108).
 */
import { Clock, Context, Duration, Effect, Result, Schedule } from "effect"
import {
  addedEntries,
  deletedEntry,
  describeManifest,
  groupForMerge,
  hasLiveFiles,
  type MergePolicy,
  manifestsToMerge
} from "../../domain/iceberg/manifestPlan.ts"
import { carriedOf, mirrorCarry, mirroredCarry } from "../../domain/ingest/marker.ts"
import {
  ancestors,
  currentSchema,
  currentSnapshot,
  defaultSpec,
  freshSnapshotId,
  metadataDirectory,
  newSnapshotId,
  snapshotSummary,
  specById
} from "../../domain/iceberg/metadata.ts"
import type { TableFileError } from "../../domain/iceberg/errors.ts"
import { unheldPartitionValues } from "../../domain/iceberg/partitioning.ts"
import {
  type DataFile,
  type ManifestEntry,
  ManifestEntryStatus,
  type ManifestFile,
  type PartitionSpec,
  type Snapshot,
  type SnapshotOperation,
  type SnapshotRef,
  type TableMetadata
} from "../../domain/iceberg/spec.ts"
import {
  Catalog,
  type CatalogError,
  catalogError,
  CommitStateUnknown,
  type LoadedTable,
  showIdentifier,
  type TableIdentifier
} from "../../services/Catalog.ts"
import { FileIO } from "../../services/FileIO.ts"
import { CommitRejected, FilesNoLongerLive } from "../../services/IcebergSink.ts"
import { UnsupportedTableFeature } from "../../services/TableScanner.ts"
import { foreignStorage, isLocalLocation, manifestListRefusal, manifestRefusal } from "./fileio.ts"
import { encodeManifest, encodeManifestList } from "./manifests.ts"
import type { SnapshotFiles } from "./snapshotFiles.ts"

export const COMMIT_ID = "k2.commit-id"

export interface TableChange {
  readonly operation: SnapshotOperation
  readonly added: ReadonlyArray<DataFile>
  /**
   * The partition spec `added` were written under (default: each attempt's default spec). Another
   * engine may change the default between the write and a commit attempt; the files keep theirs.
   */
  readonly addedSpecId?: number
  /** Files to remove (matched by path); each must still be live in the table. */
  readonly removed: ReadonlyArray<DataFile>
  /** Extra snapshot summary properties; `k2.commit-id` is added when absent. */
  readonly properties: Readonly<Record<string, string>>
  /**
   * The uuid of the table `added` were written for (default: the table as the first attempt loads
   * it). A table dropped and created again under its name is another table: never committed to.
   */
  readonly tableUuid?: string
  /** Per attempt, on the current base: more properties, or why to abandon (see WriteOptions.prepare). */
  readonly prepare?: (base: TableMetadata) => Result.Result<Readonly<Record<string, string>>, string>
}

interface Committed {
  readonly table: LoadedTable
  readonly snapshot: Snapshot
  /** Attempts it took, 1 when nobody else was writing. */
  readonly attempts: number
  /** Attempts lost to another writer (CommitConflict); the other retries were the catalog's faults. */
  readonly conflicts: number
  /**
   * The commit id had landed by another call with the same id (its manifest list is none this call
   * wrote): the snapshot holds that call's files, not the ones this change names.
   */
  readonly landedBefore: boolean
}

export interface CommitOptions {
  readonly mergePolicy: MergePolicy
  /** Attempts before a conflict or unknown outcome is returned to the caller. */
  readonly maxAttempts: number
}

/** A commit that another attempt on a fresh base may land: lost to another writer, outcome unknown, or catalog away. */
export const isRetryableCommit = (e: { readonly _tag: string; readonly reason?: { readonly _tag: string } }) =>
  e._tag === "CatalogError" &&
  (e.reason?._tag === "CommitConflict" || e.reason?._tag === "CommitStateUnknown" ||
    e.reason?._tag === "CatalogUnavailable")

/** Capped, jittered exponential backoff between a commit's attempts. */
export const commitBackoff = (maxAttempts: number) =>
  Schedule.min([Schedule.exponential(Duration.millis(20)), Schedule.spaced(Duration.seconds(2))]).pipe(
    Schedule.jittered,
    Schedule.upTo({ times: Math.max(0, maxAttempts - 1) })
  )

const MANIFEST_MAX_ENTRIES = 20_000

/** Where new snapshot ids are drawn from: random (Java's way), or a sequence a test forces a collision with. */
export const SnapshotIdSource = Context.Reference<() => bigint>("k2/iceberg/SnapshotIdSource", {
  defaultValue: () => newSnapshotId
})

/**
 * A ref's retention fields, which its next set-snapshot-ref must repeat: the update replaces the
 * ref (as Java's does; its commits carry them from the ref they move).
 */
const retentionOf = (ref: SnapshotRef | undefined) =>
  Object.fromEntries(
    (["min-snapshots-to-keep", "max-snapshot-age-ms", "max-ref-age-ms"] as const)
      .filter((key) => ref?.[key] !== undefined)
      .map((key) => [key, ref![key]])
  )

/**
 * What to do with a failed commit's new data files: remove them, unless the commit may have
 * landed (its outcome stayed unknown). Those stay; orphan removal takes them if it did not land.
 */
export const removeUnlessMaybeLanded = (files: FileIO["Service"], added: ReadonlyArray<{ readonly filePath: string }>) =>
(error: { readonly _tag: string; readonly reason?: { readonly _tag: string } }): Effect.Effect<void> =>
  error._tag === "CatalogError" && error.reason?._tag === "CommitStateUnknown"
    ? Effect.void
    : Effect.forEach(added, (f) => files.remove(f.filePath), { discard: true }).pipe(Effect.ignore)

export const commitChange = Effect.fnUntraced(function*(
  snapshots: SnapshotFiles,
  identifier: TableIdentifier,
  change: TableChange,
  options: CommitOptions
) {
  const catalog = yield* Catalog
  const files = yield* FileIO
  const commitId = change.properties[COMMIT_ID] ?? crypto.randomUUID()
  const properties = { ...change.properties, [COMMIT_ID]: commitId }
  const table = showIdentifier(identifier)

  // Every manifest and manifest list this call writes, and what each attempt that reached the
  // catalog referenced (by its manifest list): the files of attempts that did not land are nobody's.
  const written: Array<string> = []
  const referencedBy = new Map<string, ReadonlySet<string>>()

  /** A manifest's bytes and the path it is to be written at (noted as written: a failed commit discards it). */
  const encodeEntries = (m: TableMetadata, spec: PartitionSpec, entries: ReadonlyArray<ManifestEntry>) => {
    const bytes = encodeManifest(entries, { schema: currentSchema(m), spec })
    const path = `${metadataDirectory(m)}/${crypto.randomUUID()}-m0.avro`
    written.push(path)
    return { path, bytes }
  }

  const writeEntries = Effect.fnUntraced(function*(m: TableMetadata, spec: PartitionSpec, entries: ReadonlyArray<ManifestEntry>) {
    const { bytes, path } = encodeEntries(m, spec, entries)
    yield* files.write(path, bytes)
    return { path, length: bytes.length }
  })

  /** Removes what this call wrote that `keep` does not hold. */
  const discardWritten = (keep: ReadonlySet<string>) =>
    Effect.forEach(written.filter((p) => !keep.has(p)), (p) => files.remove(p), { discard: true }).pipe(Effect.ignore)

  const writeManifest = (
    m: TableMetadata,
    spec: PartitionSpec,
    entries: ReadonlyArray<ManifestEntry>,
    snapshotId: bigint,
    sequenceNumber: bigint
  ) =>
    writeEntries(m, spec, entries).pipe(
      Effect.map((written) => describeManifest(written, spec, entries, snapshotId, sequenceNumber))
    )

  /** A spec K2 writes a manifest of: refused when its partition values are of a type K2 does not hold (ADR-2). */
  const held = (m: TableMetadata, spec: PartitionSpec) => {
    const unheld = unheldPartitionValues(spec, currentSchema(m), "write")
    return unheld === null ? Effect.succeed(spec) : Effect.fail(new UnsupportedTableFeature({ table, feature: unheld }))
  }

  /** The spec a manifest's files are partitioned by; metadata without it is refused, never guessed. */
  const specOf = (m: TableMetadata, manifest: ManifestFile) => {
    const spec = specById(m, manifest.partitionSpecId)
    return spec === undefined
      ? Effect.fail(new CommitRejected({ table, detail: `${manifest.manifestPath} names partition spec ${manifest.partitionSpecId}, which the table does not have` }))
      : held(m, spec)
  }

  // The manifest of added files inherits its snapshot id and sequence number, so it is written
  // once and reused by every attempt.
  let addedManifest: { readonly path: string; readonly length: number; readonly entries: ReadonlyArray<ManifestEntry> } | undefined

  let attempts = 0
  let conflicts = 0
  let maybeLanded = false
  /** The attempt that failed last had sent its commit, answered as a conflict. */
  let lastAnsweredConflict = false
  let tableUuid = change.tableUuid

  /**
   * This change's snapshot in `base`, when it holds one: told by its manifest list, one this call
   * wrote or not, never by how the attempts failed: a catalog may answer a commit that landed as
   * refused (a proxy resending the POST gets 409 for the copy), and the files of a snapshot that
   * landed taken for another call's would be deleted.
   */
  const landedIn = (base: LoadedTable): Committed | undefined => {
    const mine = base.metadata.snapshots.find((s) => s.summary[COMMIT_ID] === commitId)
    return mine === undefined
      ? undefined
      : { table: base, snapshot: mine, attempts, conflicts, landedBefore: !referencedBy.has(mine["manifest-list"]) }
  }

  const attempt = Effect.gen(function*() {
    attempts++
    lastAnsweredConflict = false
    const base = yield* catalog.loadTable(identifier)
    const m = base.metadata
    // As Java's commits assert the uuid of the table they began on: after a drop and create, a
    // retry would put this change (and the markers it carries) into the new table.
    tableUuid ??= m["table-uuid"]
    if (m["table-uuid"] !== tableUuid) {
      return yield* new CommitRejected({
        table,
        detail: `the table was dropped and created again (uuid ${tableUuid}, now ${m["table-uuid"]})`
      })
    }
    const landed = landedIn(base)
    if (landed !== undefined) return landed

    if (!isLocalLocation(metadataDirectory(m))) {
      return yield* new UnsupportedTableFeature({ table, feature: foreignStorage(metadataDirectory(m)) })
    }
    const parent = currentSnapshot(m)
    const prepared = change.prepare === undefined ? Result.succeed({}) : change.prepare(m)
    if (Result.isFailure(prepared)) return yield* new CommitRejected({ table, detail: prepared.failure })
    // Markers of every consumer group ride along on every snapshot K2 commits. Another engine's
    // snapshot in between carries none, so they come from the newest snapshot K2 committed, or
    // from the table properties once another engine expired all of those.
    // Walked lazily: it is mostly the current snapshot, and the whole history is long (30k snapshots: ~10 ms).
    let lastOurs: Snapshot | undefined
    for (const s of ancestors(m)) if (s.summary[COMMIT_ID] !== undefined) { lastOurs = s; break }
    const carried = lastOurs === undefined
      ? mirroredCarry(m) ?? {}
      : carriedOf(lastOurs.summary)
    // Drawn per attempt against the base it builds on: a retry's base may hold another engine's
    // snapshots, and an id they took would make the add refused (or, unchecked, two snapshots of one id).
    const snapshotId = freshSnapshotId(m, yield* SnapshotIdSource)
    const sequenceNumber = m["last-sequence-number"] + 1n
    const addedSpec = change.addedSpecId === undefined ? defaultSpec(m) : specById(m, change.addedSpecId)
    if (addedSpec === undefined) {
      return yield* new CommitRejected({ table, detail: `the files were written under partition spec ${change.addedSpecId}, which the table no longer has` })
    }
    const spec = yield* held(m, addedSpec)

    // As Java's MergingSnapshotProducer: a manifest an earlier snapshot left with no live file (its
    // files all removed) is not carried on, or every later snapshot lists it and every scan and
    // commit reads it again (and a delete manifest left so would refuse removals below for deletes none live).
    const unlisted = parent === undefined ? null : manifestListRefusal(parent)
    if (unlisted !== null) return yield* new UnsupportedTableFeature({ table, feature: unlisted })
    let manifests: Array<ManifestFile> = parent === undefined ? [] : (yield* snapshots.manifestList(parent)).filter(hasLiveFiles)

    if (change.removed.length > 0) {
      // Rows another engine deleted meanwhile (row-level deletes) would live again in files
      // rewritten from the originals; compaction refuses such tables when it plans, and again here.
      if (manifests.some((mf) => mf.content !== 0)) {
        return yield* new CommitRejected({ table, detail: "the table has delete files: files rewritten from their originals would bring deleted rows back" })
      }
      manifests = yield* removeFiles(manifests, snapshotId, sequenceNumber, m)
    }

    const newManifests: Array<ManifestFile> = []
    // The manifest of added files is written beside the manifest list (below), not before it: the
    // list needs only its path and length, and neither file is reachable before the catalog's swap,
    // which waits for both to be on the disk (ADR-43). One sync's round trip less a commit.
    let writingAdded: Effect.Effect<void, TableFileError> = Effect.void
    if (change.added.length > 0) {
      let added = addedManifest
      if (added === undefined) {
        const entries = addedEntries(change.added)
        const { bytes, path } = encodeEntries(m, spec, entries)
        const manifest = added = { path, length: bytes.length, entries }
        // Reused by later attempts only once it is on the disk.
        writingAdded = Effect.andThen(files.write(path, bytes), Effect.sync(() => void (addedManifest = manifest)))
      }
      newManifests.push(describeManifest(added, spec, added.entries, snapshotId, sequenceNumber))
    }

    // The new manifest counts towards the threshold but is written as it is. Manifests K2 does not
    // read (encrypted, on s3://, of values it does not hold) count too, but stay listed as they are,
    // key and all, while the others of their spec are merged: skipping the whole spec left every
    // later commit one manifest more to list, plan and read, for good.
    const schema = currentSchema(m)
    const foldable = (mf: ManifestFile) =>
      !newManifests.includes(mf) && manifestRefusal(mf, specById(m, mf.partitionSpecId), schema) === null
    for (const toMerge of manifestsToMerge([...newManifests, ...manifests], options.mergePolicy, foldable)) {
      // Manifests of another engine's spec whose values K2 cannot write stay as they are: merging is
      // an optimisation, never a reason to refuse the commit.
      const groupSpec = specById(m, toMerge[0]!.partitionSpecId)
      if (groupSpec !== undefined && unheldPartitionValues(groupSpec, schema, "write") !== null) continue
      const merging = new Set(toMerge.map((mf) => mf.manifestPath))
      const mergeSpec = yield* specOf(m, toMerge[0]!)
      const entries = (yield* Effect.forEach(manifests.filter((mf) => merging.has(mf.manifestPath)), snapshots.manifestEntries, { concurrency: 8 })).flat()
      const merged = yield* Effect.forEach(
        groupForMerge(entries, MANIFEST_MAX_ENTRIES, snapshotId),
        (group) => writeManifest(m, mergeSpec, group, snapshotId, sequenceNumber)
      )
      manifests = [...merged, ...manifests.filter((mf) => !merging.has(mf.manifestPath))]
    }

    const listed = [...newManifests, ...manifests]
    const listBytes = encodeManifestList(listed, {
      snapshotId,
      parentSnapshotId: parent?.["snapshot-id"] ?? null,
      sequenceNumber
    })
    const manifestList = `${metadataDirectory(m)}/snap-${snapshotId}-${attempts}-${crypto.randomUUID()}.avro`
    written.push(manifestList)
    referencedBy.set(manifestList, new Set([manifestList, ...listed.map((mf) => mf.manifestPath)]))
    // Both run to their end, so a failed commit discards whatever either left.
    const writes = yield* Effect.all([writingAdded, files.write(manifestList, listBytes)], { concurrency: "unbounded", mode: "result" })
    for (const w of writes) if (Result.isFailure(w)) return yield* Effect.fail(w.failure)

    const snapshot: Snapshot = {
      "snapshot-id": snapshotId,
      ...(parent === undefined ? {} : { "parent-snapshot-id": parent["snapshot-id"] }),
      "sequence-number": sequenceNumber,
      // Never before the last snapshot-log entry: a clock behind the last committer's (another
      // host's, or stepped back) would put the log out of order, and Iceberg Java refuses to load
      // a table whose log goes back more than a minute ("Expected sorted snapshot log entries").
      // Nor before the base's last update (a REST server stamps a creation, an expiry, a property
      // change with its own clock): the snapshot's time becomes the new metadata's, and Iceberg's
      // REST server refuses for good (400) one over a minute before the metadata log's last entry.
      "timestamp-ms": m["snapshot-log"].reduce((t, e) => Math.max(t, e["timestamp-ms"]), Math.max(m["last-updated-ms"], yield* Clock.currentTimeMillis)),
      "manifest-list": manifestList,
      summary: snapshotSummary(change.operation, parent, change.added, change.removed, {
        ...carried,
        ...properties,
        ...prepared.success
      }),
      "schema-id": m["current-schema-id"]
    }
    const committed = yield* catalog.commitTable(identifier, [
      { type: "assert-table-uuid", uuid: tableUuid },
      { type: "assert-ref-snapshot-id", ref: "main", "snapshot-id": parent?.["snapshot-id"] ?? null }
    ], [
      { action: "add-snapshot", snapshot },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": snapshotId, ...retentionOf(m.refs["main"]) },
      ...mirrorCarry(snapshot, m.properties)
    ]).pipe(Effect.tapError((e) =>
      Effect.sync(() => {
        maybeLanded ||= e.reason._tag === "CommitStateUnknown"
        if (e.reason._tag === "CommitConflict") conflicts++
        lastAnsweredConflict = e.reason._tag === "CommitConflict"
      })
    ))
    return { table: committed, snapshot, attempts, conflicts, landedBefore: false } satisfies Committed
  })

  /** Rewrites the manifests holding removed files: those entries become DELETED, the rest EXISTING. */
  const removeFiles = Effect.fnUntraced(function*(
    manifests: ReadonlyArray<ManifestFile>,
    snapshotId: bigint,
    sequenceNumber: bigint,
    m: TableMetadata
  ) {
    const wanted = new Set(change.removed.map((f) => f.filePath))
    const found = new Set<string>()
    const out: Array<ManifestFile> = []
    for (const manifest of manifests) {
      // Any manifest may hold a removed file, so one K2 does not read refuses the change by name (as
      // the planner and maintenance do), not as a missing or corrupt file.
      const refused = manifestRefusal(manifest, specById(m, manifest.partitionSpecId), currentSchema(m))
      if (refused !== null) return yield* new UnsupportedTableFeature({ table, feature: refused })
      const entries = yield* snapshots.manifestEntries(manifest)
      const hits = entries.filter((e) => e.status !== ManifestEntryStatus.DELETED && wanted.has(e.dataFile.filePath))
      if (hits.length === 0) {
        out.push(manifest)
        continue
      }
      hits.forEach((e) => found.add(e.dataFile.filePath))
      const rewritten = entries
        .filter((e) => e.status !== ManifestEntryStatus.DELETED)
        .map((e) => wanted.has(e.dataFile.filePath) ? deletedEntry(e, snapshotId) : { ...e, status: ManifestEntryStatus.EXISTING })
      out.push(yield* writeManifest(m, yield* specOf(m, manifest), rewritten, snapshotId, sequenceNumber))
    }
    const missing = [...wanted].filter((p) => !found.has(p))
    if (missing.length > 0) return yield* new FilesNoLongerLive({ table, paths: missing })
    return out
  })

  return yield* attempt.pipe(
    Effect.retry({
      schedule: commitBackoff(options.maxAttempts),
      while: (e: CatalogError | FilesNoLongerLive | CommitRejected | UnsupportedTableFeature | { readonly _tag: "TableFileError" }) =>
        isRetryableCommit(e)
    }),
    // The attempts ran out on a conflict, which may have landed all the same (ADR-103): no later
    // attempt will look for it, so one more load does, before its files are removed. A load that
    // fails leaves it unknown: the files stay (orphan removal takes them if it did not land).
    Effect.catch((e) =>
      !lastAnsweredConflict ? Effect.fail(e) : catalog.loadTable(identifier).pipe(
        Effect.mapError(() => catalogError(new CommitStateUnknown({ table, detail: `the last attempt, answered as a conflict (${e.message}), could not be looked for` }))),
        Effect.flatMap((base) => {
          const landed = landedIn(base)
          return landed === undefined ? Effect.fail(e) : Effect.succeed(landed)
        })
      )
    ),
    Effect.mapError((e) =>
      maybeLanded && !(e._tag === "CatalogError" && e.reason._tag === "CommitStateUnknown")
        ? catalogError(new CommitStateUnknown({ table, detail: `an earlier attempt's outcome is unknown; the last failed with: ${e.message}` }))
        : e
    ),
    // As Java's SnapshotProducer cleans up: once one attempt landed, no other can (each asserts main
    // at the base it read, and the landed one moved main past it), so only its files are the table's.
    // After a failure that surely left nothing in the table, none are. An unknown outcome keeps them all.
    Effect.tap((committed) => discardWritten(referencedBy.get(committed.snapshot["manifest-list"]) ?? new Set())),
    Effect.tapError((e) => e._tag === "CatalogError" && e.reason._tag === "CommitStateUnknown" ? Effect.void : discardWritten(new Set())),
    Effect.withSpan("iceberg.commit", { attributes: { table, operation: change.operation } })
  )
})
