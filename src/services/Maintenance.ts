import { Context, type Effect, Schema } from "effect"
import type { TableFileError } from "../domain/iceberg/errors.ts"
import type { MarkerUnreadable } from "../domain/ingest/marker.ts"
import { type CatalogError, ForeignMetadata, otherTables, type TableIdentifier } from "./Catalog.ts"
import type { SinkError } from "./IcebergSink.ts"

/** Compaction: per partition, small files rewritten into files near a target size. */
export interface CompactOptions {
  /** Size the rewritten files aim at (default: the table's `write.target-file-size-bytes`, else 128 MiB; ADR-99). */
  readonly targetFileSizeBytes?: number
  /** A partition is rewritten only when it has at least this many small files (default 2). */
  readonly minInputFiles?: number
  /** Rows per Parquet row group of the rewritten files. */
  readonly rowGroupSize?: number
}

export interface PartitionCompaction {
  /** The partition tuple, e.g. {"exchange_timestamp_day": 19800}. */
  readonly partition: Readonly<Record<string, number | null>>
  /** The same as people read it, e.g. `exchange_timestamp_day=2024-03-18`. */
  readonly label: string
  readonly filesBefore: number
  readonly filesAfter: number
  readonly bytesBefore: number
  readonly bytesAfter: number
  readonly rows: number
}

export interface CompactResult {
  readonly table: TableIdentifier
  /** Live data files in the table before and after. */
  readonly filesBefore: number
  readonly filesAfter: number
  readonly partitions: ReadonlyArray<PartitionCompaction>
  /** The replace snapshot, when one was committed. */
  readonly snapshotId: bigint | null
  /** Catalog attempts (more than 1 when ingestion committed in between). */
  readonly attempts: number
}

/**
 * Snapshot expiry: by age and count, never the newest snapshot carrying a group's marker, nor the
 * ancestors a branch's own retention (`min-snapshots-to-keep`, `max-snapshot-age-ms`) keeps.
 */
export interface ExpireOptions {
  /** Snapshots older than this are expired (default: table property `history.expire.max-snapshot-age-ms`, else 5 days)... */
  readonly maxSnapshotAgeMs?: number
  /** ...except the newest `retainLast` (default: table property `history.expire.min-snapshots-to-keep`, else 1). */
  readonly retainLast?: number
  /** The clock (tests). */
  readonly nowMs?: number
}

export interface ExpireResult {
  readonly table: TableIdentifier
  readonly snapshotsBefore: number
  readonly snapshotsAfter: number
  readonly expired: ReadonlyArray<bigint>
  /** Tags and branches removed: their snapshot was older than their max-ref-age-ms (else the table's history.expire.max-ref-age-ms). */
  readonly refsRemoved: ReadonlyArray<string>
  /** Consumer group → the snapshot kept for its marker. */
  readonly markers: Readonly<Record<string, bigint>>
  /** Size of the table's current metadata.json before and after. */
  readonly metadataBytesBefore: number
  readonly metadataBytesAfter: number
}

/** Orphan-file removal: files under the table location that no retained snapshot references. */
export interface OrphanOptions {
  /** Only files last modified longer ago than this are removed (default 1 day): in-flight writes are safe. */
  readonly olderThanMs?: number
  /** List what would be removed, remove nothing. */
  readonly dryRun?: boolean
  readonly nowMs?: number
}

export interface OrphanResult {
  readonly table: TableIdentifier
  readonly filesScanned: number
  readonly referenced: number
  /** Unreferenced but younger than the grace period. */
  readonly tooYoung: number
  readonly removed: ReadonlyArray<string>
  readonly bytesRemoved: number
}

export interface MaintenanceOptions {
  readonly compact?: CompactOptions | false
  readonly expire?: ExpireOptions | false
  readonly orphans?: OrphanOptions | false
}

export interface MaintenanceReport {
  readonly table: TableIdentifier
  readonly compact: CompactResult | null
  readonly expire: ExpireResult | null
  readonly orphans: OrphanResult | null
  /**
   * Why compaction failed or was refused (it holds back neither expiry nor orphan removal); null if it did not.
   * Days that failed alone are `CompactionFailed`; a failure that stopped compaction part way (the
   * catalog) is its own error. Either way `compact` holds the days that were compacted.
   */
  readonly compactFailure: MaintenanceError | null
  /** Why expiry failed (it holds back neither the report of compaction nor orphan removal); null if it did not. */
  readonly expireFailure: MaintenanceError | null
  /** Why orphan removal failed (what compaction and expiry committed is reported all the same); null if it did not. */
  readonly orphanFailure: MaintenanceError | null
}

/** A maintenance step refused to run (e.g. the table uses a feature it cannot rewrite). */
export class MaintenanceRefused extends Schema.TaggedError<MaintenanceRefused>()("MaintenanceRefused", {
  table: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `maintenance of ${this.table} refused: ${this.detail}`
  }
}

/**
 * Days whose compaction failed (a data file missing or corrupt, DuckDB out of memory); each was
 * skipped and the other days were compacted all the same.
 */
export class CompactionFailed extends Schema.TaggedError<CompactionFailed>()("CompactionFailed", {
  table: Schema.String,
  days: Schema.Array(Schema.Struct({ partition: Schema.String, detail: Schema.String })),
  /** What stopped the run after these days had failed (the catalog), when something did. */
  stoppedBy: Schema.optional(Schema.String)
}) {
  override get message() {
    return `compaction of ${this.table} failed for ${this.days.length} day(s): ${this.days.map((d) => `${d.partition || "(unpartitioned)"}: ${d.detail}`).join("; ")}${
      this.stoppedBy === undefined ? "" : `; then the run stopped: ${this.stoppedBy}`
    }`
  }
}

/**
 * Orphan removal refused, nothing removed: the table's location (its metadata directory) holds
 * metadata files of another table, by a `table-uuid` not this table's: the same-named table of
 * another catalog on the same warehouse directory (both catalogs, as Iceberg Java's, place it at
 * `<warehouse>/<namespace>/<name>`), another engine's table registered there, or a table dropped
 * and created again there. This table's metadata references none of that table's files, so they
 * would all be deleted as orphans once past the grace period.
 */
export class SharedTableLocation extends Schema.TaggedError<SharedTableLocation>()("SharedTableLocation", {
  table: Schema.String,
  location: Schema.String,
  tableUuid: Schema.String,
  foreign: ForeignMetadata
}) {
  override get message() {
    const other = otherTables(this.foreign)
    return `orphan removal of ${this.table} refused, nothing removed: its location ${this.location} also holds ` +
      `${other.tables} (table-uuid ${other.uuids}; this table's is ${this.tableUuid}), whose files it does not ` +
      `reference and would delete as orphans: ${other.files}. ` +
      `Two catalogs on one warehouse directory put same-named tables at one location: give each catalog its own ` +
      `warehouse (or the table its own location). If that table was dropped and nothing reads it any more, ` +
      `delete those metadata files: the next run then removes its other files as orphans. ` +
      `Compaction and expiry still run; compact --skip-orphans leaves this step out meanwhile`
  }
}

export type MaintenanceError = SinkError | CatalogError | TableFileError | MaintenanceRefused | CompactionFailed | SharedTableLocation | MarkerUnreadable

/** Table maintenance: compaction, snapshot expiry, orphan-file removal. */
export class Maintenance extends Context.Service<Maintenance, {
  compact(table: TableIdentifier, options?: CompactOptions): Effect.Effect<CompactResult, MaintenanceError>
  expireSnapshots(table: TableIdentifier, options?: ExpireOptions): Effect.Effect<ExpireResult, MaintenanceError>
  removeOrphans(table: TableIdentifier, options?: OrphanOptions): Effect.Effect<OrphanResult, MaintenanceError>
  /**
   * Compaction, then expiry, then orphan removal (each unless disabled). A step that fails is in the
   * report (`compactFailure`, `expireFailure`, `orphanFailure`): what the other steps did is reported all the same.
   */
  run(table: TableIdentifier, options?: MaintenanceOptions): Effect.Effect<MaintenanceReport, MaintenanceError>
}>()("k2/services/Maintenance") {}
