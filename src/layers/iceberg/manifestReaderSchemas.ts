/**
 * The reader schemas K2 decodes manifests and manifest lists with, given the schema they were
 * written with: v1's files read as v2's, the partition record as the writer's own, and partition
 * field names Java keeps but avsc refuses renamed.
 */
import type { AvroRecord, AvroSchema } from "./avroContainer.ts"
import { manifestEntrySchema } from "./manifestAvroSchemas.ts"
import { AVRO_NAME, avroName } from "./partitionAvroSchema.ts"

/**
 * `ours` as the reader of `writer`, which may be of format v1 (a table upgraded from v1 keeps its
 * v1 manifests and manifest lists): a field v1 lacks takes the default the spec gives it ("Reading
 * v1 metadata for v2"), and one v1 writes as optional (the counts) is read as optional, so that
 * a null is named by the caller rather than failing the resolution.
 */
export const readingV1 = (ours: AvroRecord, writer: AvroRecord | undefined, defaults: Readonly<Record<string, number>>): AvroRecord => ({
  ...ours,
  fields: ours.fields.map((f) => {
    const written = writer?.fields?.find((w) => w.name === f.name)
    if (written === undefined) return f.name in defaults ? { ...f, default: defaults[f.name] } : f
    return Array.isArray(written.type) && !Array.isArray(f.type) ? { ...f, type: ["null", f.type], default: null } : f
  })
})

/** Spec "Reading v1 metadata for v2". */
const V1_DATA_FILE_DEFAULTS = { content: 0 }
export const V1_MANIFEST_FILE_DEFAULTS = { content: 0, sequence_number: 0, min_sequence_number: 0 }

/** The reader of a manifest written by `writer`: its partition type, and v1's defaults. */
export const manifestReader = (writer: AvroRecord): AvroRecord => {
  const ours = manifestEntrySchema(writerPartition(writer))
  const dataFile = (schema: AvroRecord) => schema.fields.find((f) => f.name === "data_file")?.type as AvroRecord | undefined
  return {
    ...ours,
    fields: ours.fields.map((f) =>
      f.name === "data_file" ? { ...f, type: readingV1(dataFile(ours)!, dataFile(writer), V1_DATA_FILE_DEFAULTS) } : f
    )
  }
}

/** The partition record of the writer's own schema: a manifest's partition type is per spec. */
export const writerPartition = (writer: AvroRecord): AvroRecord => {
  const dataFile = writer.fields?.find((f) => f.name === "data_file")?.type as AvroRecord | undefined
  const partition = dataFile?.fields?.find((f) => f.name === "partition")?.type as AvroRecord | undefined
  if (partition?.type !== "record") throw new Error("not a manifest: no data_file.partition record")
  return partition
}

/**
 * The writer's schema with partition field names avsc takes: Java keeps letters outside ASCII
 * (`jour_é`). Renaming a field changes no byte of the records; its Iceberg name is kept.
 */
export const avscPartitionNames = (writer: AvroRecord): AvroRecord => {
  const partition = writerPartition(writer)
  if (partition.fields.every((f) => AVRO_NAME.test(f.name))) return writer
  const renamed: AvroRecord = {
    ...partition,
    fields: partition.fields.map((f) =>
      AVRO_NAME.test(f.name) ? f : { ...f, name: avroName(f.name), "iceberg-field-name": f["iceberg-field-name"] ?? f.name }
    )
  }
  const retype = <F extends { readonly name: string; readonly type: AvroSchema }>(fields: ReadonlyArray<F>, name: string, type: (t: AvroRecord) => AvroRecord) =>
    fields.map((f) => f.name === name ? { ...f, type: type(f.type as AvroRecord) } : f)
  return {
    ...writer,
    fields: retype(writer.fields, "data_file", (dataFile) => ({ ...dataFile, fields: retype(dataFile.fields, "partition", () => renamed) }))
  }
}
