/** TableScanner over the catalog and the table's manifests (DESIGN.md "Query and replay"). */
import { Clock, Effect, Layer, Result } from "effect"
import { currentSnapshot, noSnapshotAt, snapshotAsOf, snapshotById } from "../../domain/iceberg/metadata.ts"
import { readSchemaOf, writtenSchemaIds } from "../../domain/iceberg/readSchema.ts"
import { hasLiveFiles } from "../../domain/iceberg/manifestPlan.ts"
import { fileMayMatch, manifestMayMatch, type ScanFilter } from "../../domain/iceberg/pruning.ts"
import { CorruptFile, isMissingFile, StorageFailure, TableFileError } from "../../domain/iceberg/errors.ts"
import { type DataFile, ManifestEntryStatus, type Snapshot, type TableMetadata } from "../../domain/iceberg/spec.ts"
import { Catalog, showIdentifier, type TableIdentifier } from "../../services/Catalog.ts"
import { Current, type ScanPlan, type SnapshotSelector, SnapshotNotFound, TableScanner, unknownSnapshotId, UnsupportedTableFeature } from "../../services/TableScanner.ts"
import { DuckDb } from "../duckdb/DuckDb.ts"
import { identitySourcesOf, nameReadOf } from "../duckdb/readPlan.ts"
import { encryption, foreignStorage, isLocalLocation, localPath, manifestListRefusal, manifestRefusal } from "./fileio.ts"
import { makeSnapshotFiles, SCANNER_CACHE_ENTRIES } from "./snapshotFiles.ts"

const noneAt = (timestampMs: number) => `none was current at ${new Date(timestampMs).toISOString()}`

/** Why the table has no snapshot to read at `timestampMs`: there was none, or the one there was is expired. */
const missingAt = (m: TableMetadata, timestampMs: number) =>
  noSnapshotAt(m, timestampMs) ? noneAt(timestampMs) : `its state at ${new Date(timestampMs).toISOString()} has expired`

const selectSnapshot = (
  table: TableIdentifier,
  m: TableMetadata,
  selector: SnapshotSelector
): Effect.Effect<Snapshot | null, SnapshotNotFound> => {
  const notFound = (detail: string) => Effect.fail(new SnapshotNotFound({ table: showIdentifier(table), detail }))
  switch (selector._tag) {
    case "Current":
      return Effect.succeed(currentSnapshot(m) ?? null)
    case "ById": {
      const s = snapshotById(m, selector.snapshotId)
      return s === undefined ? Effect.fail(unknownSnapshotId(showIdentifier(table), selector.snapshotId)) : Effect.succeed(s)
    }
    case "AsOf": {
      const s = snapshotAsOf(m, selector.timestampMs)
      return s === undefined ? notFound(missingAt(m, selector.timestampMs)) : Effect.succeed(s)
    }
  }
}

/**
 * A read's failure on a file that is gone, because table maintenance (another process's `compact`)
 * expired the snapshot it read and removed that snapshot's files as orphans while it ran: said as
 * that snapshot gone, to read again, not as a missing file, which reads as a damaged table. Any
 * other failure, or a snapshot the table still has (then the file is missing indeed), stays as it is.
 */
export const expiredWhileRead = (catalog: Catalog["Service"], plans: ReadonlyArray<Pick<ScanPlan, "table" | "snapshot">>) =>
<E>(error: E): Effect.Effect<never, E | SnapshotNotFound> =>
  isMissingFile(error)
    ? Effect.gen(function*() {
      for (const p of plans) {
        if (p.snapshot === null) continue
        const id = p.snapshot["snapshot-id"]
        const gone = yield* catalog.loadTable(p.table).pipe(
          Effect.map((t) => snapshotById(t.metadata, id) === undefined),
          Effect.orElseSucceed(() => false)
        )
        if (gone) {
          return yield* new SnapshotNotFound({
            table: showIdentifier(p.table),
            detail: `snapshot ${id}, which this read was reading, was expired by table maintenance meanwhile (its files removed): read again`
          })
        }
      }
      return yield* Effect.fail(error)
    })
    : Effect.fail(error)

export const layer =
  Layer.effect(TableScanner)(Effect.gen(function*() {
    const catalog = yield* Catalog
    const duckDb = yield* DuckDb
    const snapshots = yield* makeSnapshotFiles({ cacheEntries: SCANNER_CACHE_ENTRIES })

    /** The plan of one chosen snapshot (null: nothing to read); `startedNanos` is when planning this read began. */
    const planSnapshot = Effect.fnUntraced(function*(
      table: TableIdentifier,
      metadata: TableMetadata,
      snapshot: Snapshot | null,
      filter: ScanFilter,
      startedNanos: bigint
    ) {
      const schemaId = snapshot?.["schema-id"] ?? metadata["current-schema-id"]
      // The snapshot's schema, under the names reads show; by field id once a column was renamed,
      // dropped or retyped (ADR-2).
      const snapshotSchema = metadata.schemas.find((s) => s["schema-id"] === schemaId) ?? metadata.schemas[0]!
      const read = readSchemaOf(metadata.schemas, snapshotSchema, writtenSchemaIds(metadata, snapshot, snapshotSchema["schema-id"]))
      if (Result.isFailure(read)) {
        return yield* new UnsupportedTableFeature({ table: showIdentifier(table), feature: `a schema change K2 cannot read by field id (${read.failure})` })
      }
      const { schema, byFieldId } = read.success
      const specs = new Map(metadata["partition-specs"].map((s) => [s["spec-id"], s]))
      const unlisted = snapshot === null ? null : manifestListRefusal(snapshot)
      if (unlisted !== null) return yield* new UnsupportedTableFeature({ table: showIdentifier(table), feature: unlisted })
      const manifests = snapshot === null ? [] : yield* snapshots.manifestList(snapshot)
      if (manifests.some((mf) => mf.content !== 0 && hasLiveFiles(mf))) {
        return yield* new UnsupportedTableFeature({ table: showIdentifier(table), feature: "delete files (row-level deletes)" })
      }
      const unspecified = manifests.find((mf) => !specs.has(mf.partitionSpecId))
      if (unspecified !== undefined) {
        return yield* new TableFileError({
          reason: new CorruptFile({ path: unspecified.manifestPath, detail: `its partition spec ${unspecified.partitionSpecId} is not in the table metadata` })
        })
      }
      // A delete manifest left here holds no live delete file, and never a data file.
      const candidates = manifests.filter((mf) => mf.content === 0 && manifestMayMatch(mf, specs.get(mf.partitionSpecId)!, schema, filter))
      // Refused by name rather than failing on a value as a corrupt manifest; a manifest not read is not misread.
      for (const mf of candidates) {
        const refused = manifestRefusal(mf, specs.get(mf.partitionSpecId)!, schema)
        if (refused !== null) return yield* new UnsupportedTableFeature({ table: showIdentifier(table), feature: refused })
      }
      const entries = yield* Effect.forEach(candidates, snapshots.manifestEntries, { concurrency: 8 })
      const files: Array<DataFile> = []
      candidates.forEach((manifest, i) => {
        const spec = specs.get(manifest.partitionSpecId)!
        for (const entry of entries[i]!) {
          if (entry.status !== ManifestEntryStatus.DELETED && fileMayMatch(entry.dataFile, spec, schema, filter)) {
            files.push(entry.dataFile)
          }
        }
      })
      // What DuckDB cannot read here (another engine's ORC or Avro file, a file on s3://, an encrypted
      // file) is refused by name, not failed on as a corrupt or missing file, nor misread.
      for (const f of files) {
        const feature = !isLocalLocation(f.filePath)
          ? foreignStorage(f.filePath)
          : f.keyMetadata !== undefined
          ? encryption(f.filePath)
          : f.fileFormat !== "PARQUET" ? `${f.fileFormat} data files (${f.filePath}; K2 reads Parquet)` : null
        if (feature !== null) return yield* new UnsupportedTableFeature({ table: showIdentifier(table), feature })
      }
      // Files without field ids (another engine's imports) would read as null by id: read by name.
      // Only by-field-id reads look at footers; K2's own tables pay nothing.
      const byName = byFieldId
        ? yield* nameReadOf(
          showIdentifier(table),
          files.map((f) => localPath(f.filePath)),
          snapshotSchema,
          schema,
          metadata.properties,
          identitySourcesOf(metadata["partition-specs"])
        ).pipe(
          Effect.provideService(DuckDb, duckDb),
          Effect.catchTag("DuckDbError", (e) =>
            Effect.fail(new TableFileError({ reason: new StorageFailure({ path: metadata.location, detail: e.message }) })))
        )
        : undefined
      const live = (mf: (typeof manifests)[number]) => mf.addedFilesCount + mf.existingFilesCount
      yield* Effect.annotateCurrentSpan({ table: showIdentifier(table), files: files.length })
      return {
        table,
        snapshot,
        schema,
        byFieldId,
        ...(byName === undefined ? {} : { byName }),
        files,
        stats: {
          manifestsTotal: manifests.length,
          manifestsRead: candidates.length,
          filesTotal: Number(snapshot?.summary["total-data-files"] ?? manifests.reduce((n, mf) => n + live(mf), 0)),
          filesPlanned: files.length,
          bytesTotal: Number(snapshot?.summary["total-files-size"] ?? 0),
          bytesPlanned: files.reduce((n, f) => n + f.fileSizeInBytes, 0),
          planningMs: Number((yield* Clock.monotonicTimeNanos) - startedNanos) / 1e6
        }
      }
    })

    return TableScanner.of({
      plan: Effect.fn("TableScanner.plan")(function*(table, request = {}) {
        // Monotonic, as the engine times the read it is part of (a wall clock set back made it negative).
        const started = yield* Clock.monotonicTimeNanos
        const { metadata } = yield* catalog.loadTable(table)
        const snapshot = yield* selectSnapshot(table, metadata, request.snapshot ?? Current)
        return yield* planSnapshot(table, metadata, snapshot, request.filter ?? {}, started).pipe(
          Effect.catch(expiredWhileRead(catalog, [{ table, snapshot }]))
        )
      }),

      planTogether: Effect.fn("TableScanner.planTogether")(function*(reads, selector = Current) {
        // The tables are planned side by side: each read's time runs from the start to its own plan.
        const started = yield* Clock.monotonicTimeNanos
        const metadata = yield* Effect.forEach(reads, (r) => Effect.map(catalog.loadTable(r.table), (l) => l.metadata), {
          concurrency: "unbounded"
        })
        const chosen: Array<Snapshot | null> = []
        if (selector._tag === "Current") {
          for (const m of metadata) chosen.push(currentSnapshot(m) ?? null)
        } else {
          const all = reads.map((r) => showIdentifier(r.table)).join(", ")
          // The instant every table is read at: the pinned snapshot's commit, or the one asked for.
          let owner = -1
          let pinned: Snapshot | undefined
          let at: number
          if (selector._tag === "ById") {
            owner = metadata.findIndex((m) => snapshotById(m, selector.snapshotId) !== undefined)
            if (owner < 0) return yield* unknownSnapshotId(all, selector.snapshotId)
            pinned = snapshotById(metadata[owner]!, selector.snapshotId)!
            at = pinned["timestamp-ms"]
          } else at = selector.timestampMs
          for (const [i, m] of metadata.entries()) {
            const s = i === owner ? pinned : snapshotAsOf(m, at)
            if (s !== undefined) chosen.push(s)
            else if (noSnapshotAt(m, at)) chosen.push(null)
            else return yield* new SnapshotNotFound({ table: showIdentifier(reads[i]!.table), detail: missingAt(m, at) })
          }
          if (chosen.every((s) => s === null)) return yield* new SnapshotNotFound({ table: all, detail: noneAt(at) })
        }
        return yield* Effect.forEach(reads, (r, i) =>
          planSnapshot(r.table, metadata[i]!, chosen[i]!, r.filter ?? {}, started).pipe(
            Effect.catch(expiredWhileRead(catalog, [{ table: r.table, snapshot: chosen[i]! }]))
          ), {
          concurrency: "unbounded"
        })
      })
    })
  }))
