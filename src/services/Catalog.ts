import { Context, type Effect, Schema } from "effect"
import { TableFileError } from "../domain/iceberg/errors.ts"
import type { TableRequirement, TableUpdate } from "../domain/iceberg/metadata.ts"
import type { PartitionSpec, Schema as TableSchema, SortOrder, TableMetadata } from "../domain/iceberg/spec.ts"

export interface TableIdentifier {
  readonly namespace: string
  readonly name: string
}

export interface CreateTableRequest {
  readonly schema: TableSchema
  readonly spec: PartitionSpec
  readonly sortOrder: SortOrder | null
  readonly properties?: Readonly<Record<string, string>>
  /** Defaults to `<warehouse>/<level>/.../<name>`, a directory for each level of the namespace. */
  readonly location?: string
}

export const showIdentifier = (id: TableIdentifier) => `${id.namespace}.${id.name}`

/** A table as loaded: its metadata and the file it came from (the catalog's pointer). */
export interface LoadedTable {
  readonly identifier: TableIdentifier
  readonly metadataLocation: string
  readonly metadata: TableMetadata
}

export class NoSuchNamespace extends Schema.TaggedError<NoSuchNamespace>()("NoSuchNamespace", {
  namespace: Schema.String
}) {
  override get message() {
    return `no such namespace: ${this.namespace}`
  }
}

export class NamespaceNotEmpty extends Schema.TaggedError<NamespaceNotEmpty>()("NamespaceNotEmpty", {
  namespace: Schema.String
}) {
  override get message() {
    return `namespace is not empty: ${this.namespace}`
  }
}

export class NoSuchTable extends Schema.TaggedError<NoSuchTable>()("NoSuchTable", {
  table: Schema.String
}) {
  override get message() {
    return `no such table: ${this.table}`
  }
}

export class AlreadyExists extends Schema.TaggedError<AlreadyExists>()("AlreadyExists", {
  name: Schema.String
}) {
  override get message() {
    return `already exists: ${this.name}`
  }
}

/** Another table's metadata files found at a table's location, each with the table-uuid it names. */
export const ForeignMetadata = Schema.Array(Schema.Struct({ metadataFile: Schema.String, tableUuid: Schema.String }))

/**
 * Those other tables as an error names them (LocationInUse, SharedTableLocation): "another table"
 * or how many, their table-uuids, and their first five metadata files.
 */
export const otherTables = (foreign: typeof ForeignMetadata.Type) => {
  const uuids = [...new Set(foreign.map((f) => f.tableUuid))]
  const shown = foreign.slice(0, 5).map((f) => f.metadataFile)
  const more = foreign.length - shown.length
  return {
    tables: uuids.length === 1 ? "another table" : `${uuids.length} other tables`,
    uuids: uuids.join(", "),
    files: `${shown.join(", ")}${more > 0 ? ` and ${more} more` : ""}`
  }
}

/**
 * A table not created: the metadata directory at its location holds another table's metadata (a
 * `table-uuid` not the new table's). A second catalog on the same warehouse directory (its same-named
 * table lies at the same `<warehouse>/<namespace>/<name>`), or a table dropped there (a drop keeps its
 * files). Two tables at one location are each other's orphans, and orphan removal refuses it for good
 * (ADR-42, ADR-47).
 */
export class LocationInUse extends Schema.TaggedError<LocationInUse>()("LocationInUse", {
  table: Schema.String,
  location: Schema.String,
  foreign: ForeignMetadata
}) {
  override get message() {
    const other = otherTables(this.foreign)
    return `cannot create ${this.table} at ${this.location}: it holds the metadata of ` +
      `${other.tables} (table-uuid ${other.uuids}: ${other.files}). Two tables at one location are each other's ` +
      `orphans, and orphan removal refuses such a location for good. Another catalog on this warehouse directory ` +
      `puts its same-named table there: give each catalog its own warehouse (or the table its own location). If ` +
      `that table was dropped and nothing reads it any more, delete its files at ${this.location} (its metadata ` +
      `files at least: the new table's orphan removal takes the rest), then try again`
  }
}

/** Another writer committed first: reload the table and retry on the fresh base. */
export class CommitConflict extends Schema.TaggedError<CommitConflict>()("CommitConflict", {
  table: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `commit conflict on ${this.table}: ${this.detail}`
  }
}

/** The commit may or may not have landed (timeout, 5xx): look for the commit id before retrying. */
export class CommitStateUnknown extends Schema.TaggedError<CommitStateUnknown>()("CommitStateUnknown", {
  table: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `commit outcome unknown on ${this.table}: ${this.detail}`
  }
}

/** The catalog's database or server could not be reached or failed: transient. */
export class CatalogUnavailable extends Schema.TaggedError<CatalogUnavailable>()("CatalogUnavailable", {
  detail: Schema.String
}) {
  override get message() {
    return `catalog unavailable: ${this.detail}`
  }
}

/** The catalog refused the request (a bad update, a failed server-side check): asking again will not help. */
export class CatalogRejected extends Schema.TaggedError<CatalogRejected>()("CatalogRejected", {
  detail: Schema.String
}) {
  override get message() {
    return `catalog refused the request: ${this.detail}`
  }
}

export class CatalogError extends Schema.TaggedError<CatalogError>()("CatalogError", {
  reason: Schema.Union([
    NoSuchNamespace,
    NamespaceNotEmpty,
    NoSuchTable,
    AlreadyExists,
    LocationInUse,
    CommitConflict,
    CommitStateUnknown,
    CatalogUnavailable,
    CatalogRejected,
    TableFileError
  ])
}) {
  override get message() {
    return this.reason.message
  }
}

export type CatalogErrorReason = CatalogError["reason"]

export const catalogError = (reason: CatalogErrorReason) => new CatalogError({ reason })

/**
 * An Iceberg catalog: names to current metadata files, with an atomic commit.
 * Commits are expressed as REST-protocol requirements and updates so that SQL and
 * REST catalogs behave the same; SQL catalogs apply them and compare-and-swap the
 * metadata pointer.
 */
export class Catalog extends Context.Service<Catalog, {
  readonly name: string
  createNamespace(namespace: string, properties?: Readonly<Record<string, string>>): Effect.Effect<void, CatalogError>
  listNamespaces(): Effect.Effect<ReadonlyArray<string>, CatalogError>
  namespaceExists(namespace: string): Effect.Effect<boolean, CatalogError>
  dropNamespace(namespace: string): Effect.Effect<void, CatalogError>
  /**
   * Writes the table's first metadata file and registers it. The SQL catalog refuses a location whose
   * metadata directory holds another table's metadata (LocationInUse, ADR-47).
   */
  createTable(identifier: TableIdentifier, request: CreateTableRequest): Effect.Effect<LoadedTable, CatalogError>
  listTables(namespace: string): Effect.Effect<ReadonlyArray<TableIdentifier>, CatalogError>
  loadTable(identifier: TableIdentifier): Effect.Effect<LoadedTable, CatalogError>
  tableExists(identifier: TableIdentifier): Effect.Effect<boolean, CatalogError>
  /** Unregisters the table; its files stay (no purge). */
  dropTable(identifier: TableIdentifier): Effect.Effect<void, CatalogError>
  commitTable(
    identifier: TableIdentifier,
    requirements: ReadonlyArray<TableRequirement>,
    updates: ReadonlyArray<TableUpdate>
  ): Effect.Effect<LoadedTable, CatalogError>
}>()("k2/services/Catalog") {}
