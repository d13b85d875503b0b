/**
 * The parts of the Apache Iceberg v2 table spec that K2 reads and writes
 * (apache/iceberg format/spec.md). Plain data: JSON names are kept where the
 * value is serialized as-is into metadata.json; Avro structures use camelCase.
 *
 * 64-bit ids (snapshot ids, sequence numbers) are `bigint`: they exceed the range
 * of JS numbers. Counts and sizes stay `number` (exact below 2^53).
 */

export type PrimitiveType =
  | "boolean"
  | "int"
  | "long"
  | "float"
  | "double"
  | "date"
  | "string"
  | "binary"
  | "timestamp"
  | "timestamptz"
  | `decimal(${number}, ${number})`

/** A decimal type's text: precision and scale in groups 1 and 2. */
export const DECIMAL_TYPE = /^decimal\((\d+),\s*(\d+)\)$/

export interface ListType {
  readonly type: "list"
  readonly "element-id": number
  readonly element: IcebergType
  readonly "element-required": boolean
}

export interface MapType {
  readonly type: "map"
  readonly "key-id": number
  readonly key: IcebergType
  readonly "value-id": number
  readonly value: IcebergType
  readonly "value-required": boolean
}

export interface StructType {
  readonly type: "struct"
  readonly fields: ReadonlyArray<NestedField>
}

export type IcebergType = PrimitiveType | ListType | MapType | StructType

export interface NestedField {
  readonly id: number
  readonly name: string
  readonly required: boolean
  readonly type: IcebergType
  readonly doc?: string
}

export interface Schema {
  readonly type: "struct"
  readonly "schema-id": number
  readonly "identifier-field-ids"?: ReadonlyArray<number>
  readonly fields: ReadonlyArray<NestedField>
}

export interface PartitionField {
  readonly "source-id": number
  readonly "field-id": number
  readonly name: string
  readonly transform: string
}

export interface PartitionSpec {
  readonly "spec-id": number
  readonly fields: ReadonlyArray<PartitionField>
}

export interface SortField {
  readonly transform: string
  readonly "source-id": number
  readonly direction: "asc" | "desc"
  readonly "null-order": "nulls-first" | "nulls-last"
}

export interface SortOrder {
  readonly "order-id": number
  readonly fields: ReadonlyArray<SortField>
}

export interface Snapshot {
  readonly "snapshot-id": bigint
  readonly "parent-snapshot-id"?: bigint
  readonly "sequence-number": bigint
  readonly "timestamp-ms": number
  readonly "manifest-list": string
  readonly summary: Readonly<Record<string, string>> & { readonly operation: SnapshotOperation }
  readonly "schema-id"?: number
}

export type SnapshotOperation = "append" | "replace" | "overwrite" | "delete"

export interface SnapshotRef {
  readonly "snapshot-id": bigint
  readonly type: "branch" | "tag"
  // The ref's own retention policy (spec "Snapshot Retention Policy"); unset: the table's.
  readonly "min-snapshots-to-keep"?: number
  readonly "max-snapshot-age-ms"?: number
  readonly "max-ref-age-ms"?: number
}

export interface TableMetadata {
  readonly "format-version": 2
  readonly "table-uuid": string
  readonly location: string
  readonly "last-sequence-number": bigint
  readonly "last-updated-ms": number
  readonly "last-column-id": number
  readonly "current-schema-id": number
  readonly schemas: ReadonlyArray<Schema>
  readonly "default-spec-id": number
  readonly "partition-specs": ReadonlyArray<PartitionSpec>
  readonly "last-partition-id": number
  readonly "default-sort-order-id": number
  readonly "sort-orders": ReadonlyArray<SortOrder>
  readonly properties: Readonly<Record<string, string>>
  readonly "current-snapshot-id"?: bigint
  readonly snapshots: ReadonlyArray<Snapshot>
  readonly "snapshot-log": ReadonlyArray<{ readonly "snapshot-id": bigint; readonly "timestamp-ms": number }>
  readonly "metadata-log": ReadonlyArray<{ readonly "metadata-file": string; readonly "timestamp-ms": number }>
  readonly refs: Readonly<Record<string, SnapshotRef>>
  readonly statistics?: ReadonlyArray<unknown>
  readonly "partition-statistics"?: ReadonlyArray<unknown>
}

/** A partition field's value: an int (a day ordinal for `day` and for a date), or null. */
export type PartitionValue = number | null

/** A partition tuple: partition field name to its value. */
export type PartitionValues = Readonly<Record<string, PartitionValue>>

/** data_file struct of a manifest entry (content 0 = data). */
export interface DataFile {
  readonly content: 0 | 1 | 2
  readonly filePath: string
  readonly fileFormat: "PARQUET" | "AVRO" | "ORC"
  readonly partition: PartitionValues
  readonly recordCount: number
  readonly fileSizeInBytes: number
  readonly columnSizes: ReadonlyMap<number, number>
  readonly valueCounts: ReadonlyMap<number, number>
  readonly nullValueCounts: ReadonlyMap<number, number>
  readonly nanValueCounts: ReadonlyMap<number, number>
  /** Single-value serialization (spec Appendix D), keyed by field id. */
  readonly lowerBounds: ReadonlyMap<number, Uint8Array>
  readonly upperBounds: ReadonlyMap<number, Uint8Array>
  readonly splitOffsets: ReadonlyArray<number> | null
  readonly sortOrderId: number | null
  /**
   * Set when the file is encrypted (Iceberg table encryption): how to get its key. K2 decrypts
   * nothing, so it refuses to read or rewrite such a file, and carries the field as it found it.
   */
  readonly keyMetadata?: Uint8Array
}

export const ManifestEntryStatus = { EXISTING: 0, ADDED: 1, DELETED: 2 } as const
export type ManifestEntryStatus = (typeof ManifestEntryStatus)[keyof typeof ManifestEntryStatus]

export interface ManifestEntry {
  readonly status: ManifestEntryStatus
  /** Null means: inherit from the manifest list entry (spec "sequence number inheritance"). */
  readonly snapshotId: bigint | null
  readonly sequenceNumber: bigint | null
  readonly fileSequenceNumber: bigint | null
  readonly dataFile: DataFile
}

export interface FieldSummary {
  readonly containsNull: boolean
  readonly containsNan: boolean | null
  readonly lowerBound: Uint8Array | null
  readonly upperBound: Uint8Array | null
}

/** An entry of a snapshot's manifest list. */
export interface ManifestFile {
  readonly manifestPath: string
  readonly manifestLength: number
  readonly partitionSpecId: number
  readonly content: 0 | 1
  readonly sequenceNumber: bigint
  readonly minSequenceNumber: bigint
  readonly addedSnapshotId: bigint
  readonly addedFilesCount: number
  readonly existingFilesCount: number
  readonly deletedFilesCount: number
  readonly addedRowsCount: number
  readonly existingRowsCount: number
  readonly deletedRowsCount: number
  readonly partitions: ReadonlyArray<FieldSummary> | null
  /** Set when the manifest is encrypted (Iceberg table encryption): K2 never reads it, and lists it as it found it. */
  readonly keyMetadata?: Uint8Array
}
