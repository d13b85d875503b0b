/**
 * The Avro schemas of manifest entries (`manifest_entry`, its `data_file` record `r2`) and of
 * manifest-list entries (`manifest_file`, its field summaries `r508`), with a `field-id` /
 * `element-id` on every node, as Apache Iceberg Java 1.10 writes them. A manifest's partition
 * record is per spec: partitionAvroSchema.ts.
 */
import type { AvroRecord, AvroSchema } from "./avroContainer.ts"

const field = (id: number, name: string, type: AvroSchema) => ({ name, type, "field-id": id })
export const optional = (id: number, name: string, type: AvroSchema) => ({
  name,
  type: ["null", type],
  default: null,
  "field-id": id
})
const list = (elementId: number, items: AvroSchema) => ({ type: "array", items, "element-id": elementId })
/** Appendix A: maps with non-string keys are arrays of key/value records, named as Java names them. */
const intKeyMap = (id: number, name: string, keyId: number, valueId: number, value: string) =>
  optional(id, name, {
    type: "array",
    logicalType: "map",
    items: {
      type: "record",
      name: `k${keyId}_v${valueId}`,
      fields: [field(keyId, "key", "int"), field(valueId, "value", value)]
    }
  })

export const manifestEntrySchema = (partition: AvroRecord): AvroRecord => ({
  type: "record",
  name: "manifest_entry",
  fields: [
    field(0, "status", "int"),
    optional(1, "snapshot_id", "long"),
    optional(3, "sequence_number", "long"),
    optional(4, "file_sequence_number", "long"),
    field(2, "data_file", {
      type: "record",
      name: "r2",
      fields: [
        field(134, "content", "int"),
        field(100, "file_path", "string"),
        field(101, "file_format", "string"),
        field(102, "partition", partition),
        field(103, "record_count", "long"),
        field(104, "file_size_in_bytes", "long"),
        intKeyMap(108, "column_sizes", 117, 118, "long"),
        intKeyMap(109, "value_counts", 119, 120, "long"),
        intKeyMap(110, "null_value_counts", 121, 122, "long"),
        intKeyMap(137, "nan_value_counts", 138, 139, "long"),
        intKeyMap(125, "lower_bounds", 126, 127, "bytes"),
        intKeyMap(128, "upper_bounds", 129, 130, "bytes"),
        // Kept through every rewrite: dropped, an encrypted file's key would be lost to every engine.
        optional(131, "key_metadata", "bytes"),
        optional(132, "split_offsets", list(133, "long")),
        optional(140, "sort_order_id", "int")
      ]
    })
  ]
})

export const manifestFileSchema: AvroRecord = {
  type: "record",
  name: "manifest_file",
  fields: [
    field(500, "manifest_path", "string"),
    field(501, "manifest_length", "long"),
    field(502, "partition_spec_id", "int"),
    field(517, "content", "int"),
    field(515, "sequence_number", "long"),
    field(516, "min_sequence_number", "long"),
    field(503, "added_snapshot_id", "long"),
    field(504, "added_files_count", "int"),
    field(505, "existing_files_count", "int"),
    field(506, "deleted_files_count", "int"),
    field(512, "added_rows_count", "long"),
    field(513, "existing_rows_count", "long"),
    field(514, "deleted_rows_count", "long"),
    optional(
      507,
      "partitions",
      list(508, {
        type: "record",
        name: "r508",
        fields: [
          field(509, "contains_null", "boolean"),
          optional(518, "contains_nan", "boolean"),
          optional(510, "lower_bound", "bytes"),
          optional(511, "upper_bound", "bytes")
        ]
      })
    ),
    // An encrypted manifest's key: carried into every list K2 writes, or the manifest is lost to every engine.
    optional(519, "key_metadata", "bytes")
  ]
}
