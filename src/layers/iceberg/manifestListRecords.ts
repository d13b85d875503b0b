/**
 * Manifest-list entries as the Avro records of `manifest_file` (manifestAvroSchemas.ts) and back,
 * with each manifest's partition field summaries.
 */
import type { FieldSummary, ManifestFile } from "../../domain/iceberg/spec.ts"
import { copy, oneOf, toBuffer } from "./avroValues.ts"

export const manifestFileToAvro = (m: ManifestFile) => ({
  manifest_path: m.manifestPath,
  manifest_length: BigInt(m.manifestLength),
  partition_spec_id: m.partitionSpecId,
  content: m.content,
  sequence_number: m.sequenceNumber,
  min_sequence_number: m.minSequenceNumber,
  added_snapshot_id: m.addedSnapshotId,
  added_files_count: m.addedFilesCount,
  existing_files_count: m.existingFilesCount,
  deleted_files_count: m.deletedFilesCount,
  added_rows_count: BigInt(m.addedRowsCount),
  existing_rows_count: BigInt(m.existingRowsCount),
  deleted_rows_count: BigInt(m.deletedRowsCount),
  partitions: m.partitions?.map(fieldSummaryToAvro) ?? null,
  key_metadata: m.keyMetadata === undefined ? null : toBuffer(m.keyMetadata)
})

const fieldSummaryToAvro = (s: FieldSummary) => ({
  contains_null: s.containsNull,
  contains_nan: s.containsNan,
  lower_bound: s.lowerBound && toBuffer(s.lowerBound),
  upper_bound: s.upperBound && toBuffer(s.upperBound)
})

/**
 * A field of a manifest-list entry an old format v1 writer may have left out (the counts: "assumed
 * to be non-zero"). K2 carries each into the lists it writes, where it is required, and inherits
 * the snapshot id: one left out is refused by name.
 */
const given = <A>(r: Record<string, unknown>, name: string): A => {
  const value = r[name]
  if (value === null || value === undefined) throw new Error(`${r.manifest_path}: no ${name} (an old format v1 writer's; K2 needs it)`)
  return value as A
}
const count = (r: Record<string, unknown>, name: string): number => Number(given<number | bigint>(r, name))

/** A decoded `manifest_file` record (read with v1's defaults). */
export const manifestFileFromAvro = (r: any): ManifestFile => ({
  manifestPath: r.manifest_path,
  manifestLength: Number(r.manifest_length),
  partitionSpecId: r.partition_spec_id,
  content: oneOf("content", r.content, [0, 1] as const),
  sequenceNumber: r.sequence_number,
  minSequenceNumber: r.min_sequence_number,
  addedSnapshotId: given<bigint>(r, "added_snapshot_id"),
  addedFilesCount: count(r, "added_files_count"),
  existingFilesCount: count(r, "existing_files_count"),
  deletedFilesCount: count(r, "deleted_files_count"),
  addedRowsCount: count(r, "added_rows_count"),
  existingRowsCount: count(r, "existing_rows_count"),
  deletedRowsCount: count(r, "deleted_rows_count"),
  partitions: r.partitions?.map(fieldSummaryFromAvro) ?? null,
  ...(r.key_metadata == null ? {} : { keyMetadata: copy(r.key_metadata) })
})

const fieldSummaryFromAvro = (s: any): FieldSummary => ({
  containsNull: s.contains_null,
  containsNan: s.contains_nan ?? null,
  lowerBound: s.lower_bound == null ? null : copy(s.lower_bound),
  upperBound: s.upper_bound == null ? null : copy(s.upper_bound)
})
