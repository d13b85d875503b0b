import { Context, type Effect, Schema } from "effect"
import type { TableFileError } from "../domain/iceberg/errors.ts"
import type { ScanFilter } from "../domain/iceberg/pruning.ts"
import type { NameRead } from "../domain/iceberg/readSchema.ts"
import type { DataFile, Schema as TableSchema, Snapshot } from "../domain/iceberg/spec.ts"
import { definitionOf, identifierOf, type TableName } from "../domain/tables.ts"
import type { CatalogError, TableIdentifier } from "./Catalog.ts"

/** Which state of the table to read: the current one, a snapshot by id, or as of an instant (time travel). */
export type SnapshotSelector =
  | { readonly _tag: "Current" }
  | { readonly _tag: "ById"; readonly snapshotId: bigint }
  | { readonly _tag: "AsOf"; readonly timestampMs: number }

export const Current: SnapshotSelector = { _tag: "Current" }

export class SnapshotNotFound extends Schema.TaggedError<SnapshotNotFound>()("SnapshotNotFound", {
  table: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `no such snapshot of ${this.table}: ${this.detail}`
  }
}

/**
 * A snapshot id none of the tables read holds. Ids come from an earlier answer (`K2-Snapshot-Ids`,
 * a listing), so the likely reason is expiry (ADR-33), which a bare "no such snapshot" hid; the
 * table cannot tell an expired id from one it never had.
 */
export const unknownSnapshotId = (table: string, id: bigint) =>
  new SnapshotNotFound({
    table,
    detail: `id ${id}, not one it keeps: expired (K2's tables keep snapshots an hour after they stop being current, history.expire.max-snapshot-age-ms) or never its snapshot`
  })

/**
 * What a reader holding a snapshot across requests is told once table maintenance expired it
 * (ADR-33): whose snapshot it was, and what to do instead.
 */
const PINNED_BY = {
  cursor: "which the cursor reads, is gone (expired since its first page): read again without the cursor",
  "Last-Event-ID": "which the Last-Event-ID reads, is gone (expired since): start a new replay, without Last-Event-ID"
} as const

/** `e` (the snapshot not found), said to be the one a cursor or a Last-Event-ID pinned. */
export const pinnedSnapshotGone = (e: SnapshotNotFound, pinnedBy: keyof typeof PINNED_BY) =>
  new SnapshotNotFound({ table: e.table, detail: `${e.detail}, ${PINNED_BY[pinnedBy]}` })

/** The table uses a part of the Iceberg spec K2 does not read (e.g. delete files): refuse rather than misread. */
export class UnsupportedTableFeature extends Schema.TaggedError<UnsupportedTableFeature>()("UnsupportedTableFeature", {
  table: Schema.String,
  feature: Schema.String
}) {
  override get message() {
    return `${this.table} uses ${this.feature}, which K2 does not support`
  }
}

/** What a scan touched: everything planned against everything there was. */
export interface ScanStats {
  readonly manifestsTotal: number
  readonly manifestsRead: number
  readonly filesTotal: number
  readonly filesPlanned: number
  readonly bytesTotal: number
  readonly bytesPlanned: number
  /** Wall time of planning this read: the catalog lookup, the manifest list and manifests, pruning. */
  readonly planningMs: number
}

export interface ScanPlan {
  readonly table: TableIdentifier
  /** Null for a table with no snapshot yet (nothing to read). */
  readonly snapshot: Snapshot | null
  /** The snapshot's schema, its columns under the names reads show (`readSchemaOf`, ADR-2). */
  readonly schema: TableSchema
  /** The files are read by Parquet field id (a column was renamed, dropped or retyped); else by name. */
  readonly byFieldId: boolean
  /** In a by-field-id read, the planned files without field ids, read by name (`NameRead`); absent: none. */
  readonly byName?: NameRead
  readonly files: ReadonlyArray<DataFile>
  readonly stats: ScanStats
}

/** The plan of a table that had no snapshot at the state read: nothing to read. */
export const nothingOf = (table: TableName): ScanPlan => ({
  table: identifierOf(table),
  snapshot: null,
  schema: definitionOf(table).schema,
  byFieldId: false,
  files: [],
  stats: { manifestsTotal: 0, manifestsRead: 0, filesTotal: 0, filesPlanned: 0, bytesTotal: 0, bytesPlanned: 0, planningMs: 0 }
})

export interface ScanRequest {
  readonly snapshot?: SnapshotSelector
  readonly filter?: ScanFilter
}

export type ScanError = CatalogError | TableFileError | SnapshotNotFound | UnsupportedTableFeature

/** One table of a read over several. */
export interface TableRead {
  readonly table: TableIdentifier
  readonly filter?: ScanFilter
}

/** Plans reads: the data files of a snapshot that may hold the rows a filter asks for. */
export class TableScanner extends Context.Service<TableScanner, {
  /** One table; a selector it cannot satisfy (unknown id, an instant before its history) is SnapshotNotFound. */
  plan(table: TableIdentifier, request?: ScanRequest): Effect.Effect<ScanPlan, ScanError>
  /**
   * Several tables read together, at one state of the warehouse: a snapshot id pins the table it
   * belongs to and the others as of that snapshot's commit; an instant pins each table as of it.
   * A table with no snapshot yet at that point plans as empty (snapshot null), as a fresh table
   * does. SnapshotNotFound only when no table has the id, the instant precedes every table's first
   * snapshot, or a table's state at the instant was expired.
   */
  planTogether(reads: ReadonlyArray<TableRead>, snapshot?: SnapshotSelector): Effect.Effect<ReadonlyArray<ScanPlan>, ScanError>
}>()("k2/services/TableScanner") {}
