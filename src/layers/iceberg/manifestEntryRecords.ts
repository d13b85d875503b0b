/**
 * Manifest entries as the Avro records of `manifest_entry` (manifestAvroSchemas.ts) and back: each
 * entry's data file, its counts and bounds keyed by field id, and its partition values by the
 * field's Avro name.
 */
import { type DataFile, type ManifestEntry, ManifestEntryStatus, type PartitionSpec, type PartitionValues } from "../../domain/iceberg/spec.ts"
import { boundsFromAvro, boundsToAvro, copy, countsFromAvro, countsToAvro, oneOf, partitionValue, toBuffer } from "./avroValues.ts"
import { avroName } from "./partitionAvroSchema.ts"

export const manifestEntryToAvro = (e: ManifestEntry, spec: PartitionSpec) => ({
  status: e.status,
  snapshot_id: e.snapshotId,
  sequence_number: e.sequenceNumber,
  file_sequence_number: e.fileSequenceNumber,
  data_file: dataFileToAvro(e.dataFile, spec)
})

const dataFileToAvro = (f: DataFile, spec: PartitionSpec) => ({
  content: f.content,
  file_path: f.filePath,
  file_format: f.fileFormat,
  partition: Object.fromEntries(spec.fields.map((p) => [avroName(p.name), f.partition[p.name] ?? null])),
  record_count: BigInt(f.recordCount),
  file_size_in_bytes: BigInt(f.fileSizeInBytes),
  column_sizes: countsToAvro(f.columnSizes),
  value_counts: countsToAvro(f.valueCounts),
  null_value_counts: countsToAvro(f.nullValueCounts),
  nan_value_counts: countsToAvro(f.nanValueCounts),
  lower_bounds: boundsToAvro(f.lowerBounds),
  upper_bounds: boundsToAvro(f.upperBounds),
  key_metadata: f.keyMetadata === undefined ? null : toBuffer(f.keyMetadata),
  split_offsets: f.splitOffsets?.map(BigInt) ?? null,
  sort_order_id: f.sortOrderId
})

/** A decoded `manifest_entry` record; `partitionNames` pairs each partition field's Avro name with its Iceberg name. */
export const manifestEntryFromAvro = (r: any, partitionNames: ReadonlyArray<[string, string]>): ManifestEntry => ({
  status: oneOf("status", r.status, Object.values(ManifestEntryStatus)),
  snapshotId: r.snapshot_id,
  sequenceNumber: r.sequence_number,
  fileSequenceNumber: r.file_sequence_number,
  dataFile: dataFileFromAvro(r.data_file, partitionNames)
})

const dataFileFromAvro = (f: any, partitionNames: ReadonlyArray<[string, string]>): DataFile => ({
  content: oneOf("content", f.content, [0, 1, 2] as const),
  filePath: f.file_path,
  fileFormat: oneOf("file_format", String(f.file_format).toUpperCase(), ["PARQUET", "AVRO", "ORC"] as const),
  partition: Object.fromEntries(
    partitionNames.map(([avroName, name]) => [name, partitionValue(name, f.partition[avroName])])
  ) as PartitionValues,
  recordCount: Number(f.record_count),
  fileSizeInBytes: Number(f.file_size_in_bytes),
  columnSizes: countsFromAvro(f.column_sizes),
  valueCounts: countsFromAvro(f.value_counts),
  nullValueCounts: countsFromAvro(f.null_value_counts),
  nanValueCounts: countsFromAvro(f.nan_value_counts),
  lowerBounds: boundsFromAvro(f.lower_bounds),
  upperBounds: boundsFromAvro(f.upper_bounds),
  splitOffsets: f.split_offsets?.map(Number) ?? null,
  sortOrderId: f.sort_order_id ?? null,
  ...(f.key_metadata == null ? {} : { keyMetadata: copy(f.key_metadata) })
})
