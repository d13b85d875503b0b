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
 * A metadata.json holding a single member (a property, a snapshot) longer than a JavaScript string
 * (~512 MiB): K2 parses the file piece by piece (ADR-77), but cannot parse that piece.
 */
export class MetadataTooLarge extends Schema.TaggedError<MetadataTooLarge>()("MetadataTooLarge", {
  table: Schema.String,
  path: Schema.String,
  bytes: Schema.Number,
  /** The JSON pointer of the piece too long for a string ("" for the whole file). */
  member: Schema.String,
  memberBytes: Schema.Number
}) {
  override get message() {
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`
    const what = this.member === "" ? "it is not one JSON object" : `its member ${this.member} alone is ${mib(this.memberBytes)}`
    return `table ${this.table}: metadata file ${this.path} is ${mib(this.bytes)}, and ${what}: more than a JavaScript string ` +
      `holds (512 MiB), so K2 cannot read it. Remove or shorten that member with another engine (Spark, PyIceberg), ` +
      `or roll the table back to a metadata file without it`
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
  reason: Schema.Union([MissingFile, CorruptFile, StorageFailure, PathTooLong, UnsupportedFormatVersion, MetadataTooLarge])
}) {
  override get message() {
    return this.reason.message
  }
}

/** A table file that is not there (a damaged table, or one removed meanwhile by maintenance). */
export const isMissingFile = (error: unknown): error is TableFileError =>
  error instanceof TableFileError && error.reason._tag === "MissingFile"
