import { Schema } from "effect"

/** A file the table refers to does not exist. */
export class MissingFile extends Schema.TaggedError<MissingFile>()("MissingFile", {
  path: Schema.String
}) {
  override get message() {
    return `missing file: ${this.path}`
  }
}

/** A file exists but cannot be decoded as what the table says it is. */
export class CorruptFile extends Schema.TaggedError<CorruptFile>()("CorruptFile", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `corrupt file ${this.path}: ${this.detail}`
  }
}

/**
 * Table metadata of an Iceberg format version K2 does not read or write: the file is sound, the
 * table is of a kind K2 does not support (v3's row lineage and deletion vectors; v1's manifests).
 */
export class UnsupportedFormatVersion extends Schema.TaggedError<UnsupportedFormatVersion>()("UnsupportedFormatVersion", {
  table: Schema.String,
  path: Schema.String,
  formatVersion: Schema.Number
}) {
  override get message() {
    const upgrade = this.formatVersion === 1 ? ` (upgrade the table: ALTER TABLE ... SET TBLPROPERTIES ('format-version'='2'))` : ""
    return `${this.table} is Iceberg format version ${this.formatVersion} (${this.path}); K2 reads and writes format version 2 only${upgrade}`
  }
}

/**
 * The file system refuses a path as too long (ENAMETOOLONG): a name in it (a namespace level, a
 * table name, a warehouse directory) past 255 bytes, or the whole path past 4096. No retry helps.
 */
export class PathTooLong extends Schema.TaggedError<PathTooLong>()("PathTooLong", {
  path: Schema.String
}) {
  override get message() {
    const shown = this.path.length > 120 ? `${this.path.slice(0, 60)}…${this.path.slice(-60)}` : this.path
    return `the file system refuses the path as too long (each name in it at most 255 bytes, the whole at most 4096): ${shown}`
  }
}

/** The storage itself failed (permissions, disk full, I/O error): usually transient. */
export class StorageFailure extends Schema.TaggedError<StorageFailure>()("StorageFailure", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `storage failure on ${this.path}: ${this.detail}`
  }
}

/** Any failure reading or writing a table's files; `reason` says which and names the path. */
export class TableFileError extends Schema.TaggedError<TableFileError>()("TableFileError", {
  reason: Schema.Union([MissingFile, CorruptFile, StorageFailure, PathTooLong, UnsupportedFormatVersion])
}) {
  override get message() {
    return this.reason.message
  }
}

/** A table file that is not there (a damaged table, or one removed meanwhile by maintenance). */
export const isMissingFile = (error: unknown): error is TableFileError =>
  error instanceof TableFileError && error.reason._tag === "MissingFile"
