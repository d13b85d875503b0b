/**
 * Iceberg v2 manifests and manifest lists as Avro object container files
 * (apache/iceberg format/spec.md "Manifests", "Manifest Lists", Appendix A).
 *
 * Schemas mirror what Apache Iceberg Java 1.10 writes: record names `manifest_entry`,
 * `r2` (data_file), `r102` (partition), `k117_v118` (int-keyed maps as arrays of key/value
 * records with logicalType "map"), `manifest_file`, `r508` (field_summary), and a
 * `field-id` / `element-id` on every node. We write the container ourselves (header,
 * one deflate block) so encoding stays synchronous and the `avro.schema` header is
 * exactly our JSON, ids included; avsc only encodes and resolves the records.
 */
import { createHash } from "node:crypto"
import * as zlib from "node:zlib"
import avro from "avsc"
import { BigIntLong } from "../../domain/avro/bigintLong.ts"
import { Effect, Result } from "effect"
import { CorruptFile, TableFileError } from "../../domain/iceberg/errors.ts"
import { lru } from "../../domain/lru.ts"
import { partitionResultType } from "../../domain/iceberg/partitioning.ts"
import {
  type DataFile,
  type FieldSummary,
  type ManifestEntry,
  type ManifestFile,
  ManifestEntryStatus,
  type PartitionField,
  type PartitionSpec,
  type PartitionValues,
  type Schema,
  DECIMAL_TYPE
} from "../../domain/iceberg/spec.ts"

// ---------------------------------------------------------------------------
// Avro schemas

type AvroSchema = string | { readonly [key: string]: unknown } | ReadonlyArray<AvroSchema>
type AvroRecord = {
  readonly type: "record"
  readonly name: string
  readonly fields: ReadonlyArray<{ readonly name: string; readonly type: AvroSchema; readonly [key: string]: unknown }>
}

const field = (id: number, name: string, type: AvroSchema) => ({ name, type, "field-id": id })
const optional = (id: number, name: string, type: AvroSchema) => ({
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

/**
 * Avro types of partition values (spec Appendix A) as Java writes them (TypeToSchema); void fields
 * carry their column's type, any of these.
 */
const AVRO_TYPES: Readonly<Record<string, AvroSchema>> = {
  boolean: "boolean",
  int: "int",
  long: "long",
  float: "float",
  double: "double",
  date: { type: "int", logicalType: "date" },
  time: { type: "long", logicalType: "time-micros" },
  string: "string",
  uuid: { type: "fixed", name: "uuid_fixed", size: 16, logicalType: "uuid" },
  binary: "bytes",
  timestamp: { type: "long", logicalType: "timestamp-micros", "adjust-to-utc": false },
  timestamptz: { type: "long", logicalType: "timestamp-micros", "adjust-to-utc": true }
}
const FIXED_TYPE = /^fixed\[(\d+)\]$/

/** Bytes of the shortest two's complement holding every unscaled value of `precision` digits (Java's decimalRequiredBytes). */
const decimalBytes = (precision: number): number => {
  let n = 1
  while (2n ** BigInt(8 * n - 1) <= 10n ** BigInt(precision)) n++
  return n
}

/** The Avro type of an Iceberg primitive type's values: any the write check of partitioning.ts lets through. */
const avroTypeOfResult = (type: string): AvroSchema => {
  const decimal = DECIMAL_TYPE.exec(type)
  if (decimal !== null) {
    const [precision, scale] = [Number(decimal[1]), Number(decimal[2])]
    return { type: "fixed", name: `decimal_${precision}_${scale}`, size: decimalBytes(precision), logicalType: "decimal", precision, scale }
  }
  const fixed = FIXED_TYPE.exec(type)
  return fixed !== null ? { type: "fixed", name: `fixed_${fixed[1]}`, size: Number(fixed[1]) } : AVRO_TYPES[type]!
}

/**
 * Avro type of a partition value: its result type's (Java 1.10 gives `day` the `date` type). Callers
 * check a spec with `unheldPartitionValues` before they write a manifest of it.
 */
const partitionValueType = (partitionField: PartitionField, schema: Schema): AvroSchema => {
  const type = partitionResultType(partitionField, schema)
  if (Result.isFailure(type)) throw new Error(type.failure)
  return avroTypeOfResult(type.success)
}

const AVRO_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * A partition field's name in Avro: another engine may name a field anything (`ts-hour`), which
 * is no Avro name. Java's AvroSchemaUtil.sanitize (a digit becomes `_<digit>`, anything else
 * `_x<HEX>`), on ASCII letters only: avsc refuses the other letters Java keeps. The Iceberg name
 * goes in "iceberg-field-name", as Java puts it; readers match partition fields by id.
 */
const avroName = (name: string): string => {
  if (AVRO_NAME.test(name)) return name
  let out = ""
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!
    out += /[A-Za-z_]/.test(c) || (i > 0 && /[0-9]/.test(c)) ? c : /[0-9]/.test(c) ? `_${c}` : `_x${c.charCodeAt(0).toString(16).toUpperCase()}`
  }
  return out
}

const partitionField = (id: number, name: string, type: AvroSchema) =>
  avroName(name) === name ? optional(id, name, type) : { ...optional(id, avroName(name), type), "iceberg-field-name": name }

const partitionSchema = (spec: PartitionSpec, schema: Schema): AvroRecord => {
  // Avro defines a named type (a fixed) once; Java refers to it by name after.
  const named = new Set<string>()
  const once = (type: AvroSchema): AvroSchema => {
    const name = (type as { readonly name?: unknown }).name
    if (typeof name !== "string") return type
    if (named.has(name)) return name
    named.add(name)
    return type
  }
  return {
    type: "record",
    name: "r102",
    fields: spec.fields.map((f) => partitionField(f["field-id"], f.name, once(partitionValueType(f, schema))))
  }
}

const manifestEntrySchema = (partition: AvroRecord): AvroRecord => ({
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

const manifestFileSchema: AvroRecord = {
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

// ---------------------------------------------------------------------------
// Avro types and the object container format


/**
 * A long of a logical type (timestamp-micros, time-micros) is the bigint long too: avsc reads it as a
 * number, refusing one past 2^53 as "potential precision loss" and flipping the sign of some past 2^52.
 */
const typeHook = (schema: avro.Schema): avro.Type | undefined =>
  (schema as { readonly type?: unknown }).type === "long" ? BigIntLong : undefined

// Compiled once per schema (compiling one cost more than writing a small manifest), each with a
// registry of its own: avsc records every named type in it.
const compiled = lru<avro.Type>(64)
const avroType = (schema: AvroSchema): avro.Type => {
  const key = JSON.stringify(schema)
  let type = compiled.get(key)
  if (type === undefined) {
    type = avro.Type.forSchema(schema as avro.Schema, { registry: { long: BigIntLong }, typeHook })
    compiled.set(key, type)
  }
  return type
}
// And each reader type's resolver of a writer type, once.
const resolvers = new WeakMap<avro.Type, WeakMap<avro.Type, ReturnType<avro.Type["createResolver"]>>>()
const resolver = (readerType: avro.Type, writerType: avro.Type) => {
  let byWriter = resolvers.get(readerType)
  if (byWriter === undefined) resolvers.set(readerType, byWriter = new WeakMap())
  let r = byWriter.get(writerType)
  if (r === undefined) byWriter.set(writerType, r = readerType.createResolver(writerType))
  return r
}

const MAGIC = Buffer.from("Obj\x01", "latin1")
const SYNC = { type: "fixed", name: "Sync", size: 16 }
const HEADER = avroType({
  type: "record",
  name: "Header",
  fields: [
    { name: "magic", type: { type: "fixed", name: "Magic", size: 4 } },
    { name: "meta", type: { type: "map", values: "bytes" } },
    { name: "sync", type: SYNC }
  ]
})
const BLOCK = avroType({
  type: "record",
  name: "Block",
  fields: [{ name: "count", type: "long" }, { name: "data", type: "bytes" }, { name: "sync", type: SYNC }]
})

const encodeContainer = (
  schema: AvroRecord,
  meta: Readonly<Record<string, string>>,
  records: ReadonlyArray<unknown>
): Uint8Array => {
  const type = avroType(schema)
  const schemaJson = JSON.stringify(schema)
  const data = Buffer.concat(records.map((r) => type.toBuffer(r)))
  // Derived, not random, so the same input gives the same bytes.
  const sync = createHash("md5").update(schemaJson).update(data).digest()
  const header = HEADER.toBuffer({
    magic: MAGIC,
    meta: Object.fromEntries(
      Object.entries({ "avro.schema": schemaJson, "avro.codec": "deflate", ...meta }).map(([k, v]) => [k, Buffer.from(v)])
    ),
    sync
  })
  if (records.length === 0) return header
  return Buffer.concat([header, BLOCK.toBuffer({ count: BigInt(records.length), data: zlib.deflateRawSync(data), sync })])
}

/** Avro codecs K2 reads, by name (snappy needs a library K2 does not have; zstd, Node 22.15 or later). */
const INFLATE: Readonly<Record<string, ((data: Buffer) => Buffer) | undefined>> = {
  null: (data) => data,
  deflate: zlib.inflateRawSync,
  // Looked up, not imported by name: an older Node has none, and the import would fail to load.
  zstandard: (zlib as { readonly zstdDecompressSync?: (data: Buffer) => Buffer }).zstdDecompressSync
}

/**
 * Reads a container whose writer schema resolves into `reader(writerSchema)`: writer fields
 * the reader lacks are skipped, reader fields the writer lacks take their default (null).
 * Throws a plain Error on anything malformed.
 */
const decodeContainer = (
  bytes: Uint8Array,
  reader: (writerSchema: AvroRecord) => AvroRecord,
  adapt: (writerSchema: AvroRecord) => AvroRecord = (w) => w
): { readonly writerSchema: AvroRecord; readonly records: ReadonlyArray<any> } => {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new Error("not an Avro object container file")
  }
  const header = HEADER.decode(buf, 0)
  if (header.offset < 0) throw new Error("truncated header")
  const meta = new Map(Object.entries(header.value.meta as Record<string, Buffer>).map(([k, v]) => [k, v.toString()]))
  const codec = meta.get("avro.codec") ?? "null"
  // Java writes deflate unless write.avro.compression-codec says zstd (zstandard), snappy or uncompressed.
  const inflate = INFLATE[codec]
  if (inflate === undefined) throw new Error(`unsupported codec ${codec}`)
  const schemaJson = meta.get("avro.schema")
  if (schemaJson === undefined) throw new Error("no avro.schema in header")
  const writerSchema = adapt(JSON.parse(schemaJson) as AvroRecord)
  const writerType = avroType(writerSchema)
  const readerType = avroType(reader(writerSchema))
  const resolve = resolver(readerType, writerType)
  const sync: Buffer = header.value.sync
  const records: Array<unknown> = []
  for (let pos = header.offset; pos < buf.length;) {
    const block = BLOCK.decode(buf, pos)
    if (block.offset < 0) throw new Error(`truncated block at byte ${pos}`)
    if (!sync.equals(block.value.sync)) throw new Error(`bad sync marker at byte ${pos}`)
    const data = inflate(block.value.data)
    let at = 0
    for (let i = 0n; i < block.value.count; i++) {
      const record = readerType.decode(data, at, resolve)
      if (record.offset < 0) throw new Error(`truncated record in block at byte ${pos}`)
      records.push(record.value)
      at = record.offset
    }
    if (at !== data.length) throw new Error(`block at byte ${pos} holds more bytes than its records`)
    pos = block.offset
  }
  return { writerSchema, records }
}

/** Runs a decoder, turning whatever it throws into CorruptFile naming the path. */
const decoding = <A>(path: string, f: () => A): A => {
  try {
    return f()
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e)
    throw new TableFileError({ reason: new CorruptFile({ path, detail }) })
  }
}

// ---------------------------------------------------------------------------
// Value conversions

type AvroKeyValue<V> = { readonly key: number; readonly value: V }

const toBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
// Copies: decoded buffers are views into the inflated block.
const copy = (buf: Buffer) => new Uint8Array(buf)

const countsToAvro = (m: ReadonlyMap<number, number>) => [...m].map(([key, value]) => ({ key, value: BigInt(value) }))
const countsFromAvro = (kvs: ReadonlyArray<AvroKeyValue<bigint>> | null) =>
  new Map((kvs ?? []).map(({ key, value }) => [key, Number(value)]))
const boundsToAvro = (m: ReadonlyMap<number, Uint8Array>) => [...m].map(([key, value]) => ({ key, value: toBuffer(value) }))
const boundsFromAvro = (kvs: ReadonlyArray<AvroKeyValue<Buffer>> | null) =>
  new Map((kvs ?? []).map(({ key, value }) => [key, copy(value)]))

const oneOf = <T>(what: string, value: unknown, allowed: ReadonlyArray<T>): T => {
  const found = allowed.find((a) => a === value)
  if (found === undefined) throw new Error(`invalid ${what}: ${String(value)}`)
  return found
}

const partitionValue = (name: string, v: unknown): number | null => {
  if (v === null || v === undefined) return null
  if (typeof v === "number") return v
  if (typeof v === "bigint" && Number.isSafeInteger(Number(v))) return Number(v)
  throw new Error(`unsupported value of partition field ${name}`)
}

// ---------------------------------------------------------------------------
// Manifests

/** A v2 data manifest. Sequence numbers and snapshot ids stay null where entries inherit them. */
export const encodeManifest = (
  entries: ReadonlyArray<ManifestEntry>,
  ctx: { readonly schema: Schema; readonly spec: PartitionSpec }
): Uint8Array =>
  encodeContainer(
    manifestEntrySchema(partitionSchema(ctx.spec, ctx.schema)),
    {
      schema: JSON.stringify(ctx.schema),
      "schema-id": String(ctx.schema["schema-id"]),
      "partition-spec": JSON.stringify(
        ctx.spec.fields.map((f) => ({ name: f.name, transform: f.transform, "source-id": f["source-id"], "field-id": f["field-id"] }))
      ),
      "partition-spec-id": String(ctx.spec["spec-id"]),
      "format-version": "2",
      content: "data"
    },
    entries.map((e) => ({
      status: e.status,
      snapshot_id: e.snapshotId,
      sequence_number: e.sequenceNumber,
      file_sequence_number: e.fileSequenceNumber,
      data_file: dataFileToAvro(e.dataFile, ctx.spec)
    }))
  )

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

/**
 * `ours` as the reader of `writer`, which may be of format v1 (a table upgraded from v1 keeps its
 * v1 manifests and manifest lists): a field v1 lacks takes the default the spec gives it ("Reading
 * v1 metadata for v2"), and one v1 writes as optional (the counts) is read as optional, so that
 * a null is named by the caller rather than failing the resolution.
 */
const readingV1 = (ours: AvroRecord, writer: AvroRecord | undefined, defaults: Readonly<Record<string, number>>): AvroRecord => ({
  ...ours,
  fields: ours.fields.map((f) => {
    const written = writer?.fields?.find((w) => w.name === f.name)
    if (written === undefined) return f.name in defaults ? { ...f, default: defaults[f.name] } : f
    return Array.isArray(written.type) && !Array.isArray(f.type) ? { ...f, type: ["null", f.type], default: null } : f
  })
})

/** Spec "Reading v1 metadata for v2". */
const V1_DATA_FILE_DEFAULTS = { content: 0 }
const V1_MANIFEST_FILE_DEFAULTS = { content: 0, sequence_number: 0, min_sequence_number: 0 }

/** The reader of a manifest written by `writer`: its partition type, and v1's defaults. */
const manifestReader = (writer: AvroRecord): AvroRecord => {
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
const writerPartition = (writer: AvroRecord): AvroRecord => {
  const dataFile = writer.fields?.find((f) => f.name === "data_file")?.type as AvroRecord | undefined
  const partition = dataFile?.fields?.find((f) => f.name === "partition")?.type as AvroRecord | undefined
  if (partition?.type !== "record") throw new Error("not a manifest: no data_file.partition record")
  return partition
}

/**
 * The writer's schema with partition field names avsc takes: Java keeps letters outside ASCII
 * (`jour_é`). Renaming a field changes no byte of the records; its Iceberg name is kept.
 */
const avscPartitionNames = (writer: AvroRecord): AvroRecord => {
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

/** Synchronous `decodeManifest`; throws TableFileError (CorruptFile). */
export const decodeManifestSync = (bytes: Uint8Array, path: string): ReadonlyArray<ManifestEntry> =>
  decoding(path, () => {
    const { records, writerSchema } = decodeContainer(bytes, manifestReader, avscPartitionNames)
    // Java keeps the Iceberg name of a field whose name is not a valid Avro name in "iceberg-field-name".
    const partitionNames = writerPartition(writerSchema).fields.map((f): [string, string] => [f.name, String(f["iceberg-field-name"] ?? f.name)])
    return records.map((r): ManifestEntry => {
      const f = r.data_file
      return {
        status: oneOf("status", r.status, Object.values(ManifestEntryStatus)),
        snapshotId: r.snapshot_id,
        sequenceNumber: r.sequence_number,
        fileSequenceNumber: r.file_sequence_number,
        dataFile: {
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
        }
      }
    })
  })

export const decodeManifest = (bytes: Uint8Array, path: string): Effect.Effect<ReadonlyArray<ManifestEntry>, TableFileError> =>
  Effect.try({ try: () => decodeManifestSync(bytes, path), catch: (e) => e as TableFileError })

/**
 * Spec "Sequence Number Inheritance": a null snapshot id is the manifest's added snapshot;
 * null sequence numbers of ADDED entries are the manifest's sequence number. A manifest numbered 0
 * is format v1's, whose entries have no sequence numbers: every one's is 0 (as Java reads them).
 */
export const inheritSequenceNumbers = (
  entries: ReadonlyArray<ManifestEntry>,
  manifest: ManifestFile
): ReadonlyArray<ManifestEntry> =>
  entries.map((e) => {
    const inherited = e.status === ManifestEntryStatus.ADDED || manifest.sequenceNumber === 0n ? manifest.sequenceNumber : null
    return {
      ...e,
      snapshotId: e.snapshotId ?? manifest.addedSnapshotId,
      sequenceNumber: e.sequenceNumber ?? inherited,
      fileSequenceNumber: e.fileSequenceNumber ?? inherited
    }
  })

// ---------------------------------------------------------------------------
// Manifest lists

export const encodeManifestList = (
  files: ReadonlyArray<ManifestFile>,
  ctx: { readonly snapshotId: bigint; readonly parentSnapshotId: bigint | null; readonly sequenceNumber: bigint }
): Uint8Array =>
  encodeContainer(
    manifestFileSchema,
    {
      "snapshot-id": String(ctx.snapshotId),
      // String.valueOf(null) in Java: "null" when there is no parent.
      "parent-snapshot-id": String(ctx.parentSnapshotId),
      "sequence-number": String(ctx.sequenceNumber),
      "format-version": "2"
    },
    files.map((m) => ({
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
      partitions: m.partitions?.map((s) => ({
        contains_null: s.containsNull,
        contains_nan: s.containsNan,
        lower_bound: s.lowerBound && toBuffer(s.lowerBound),
        upper_bound: s.upperBound && toBuffer(s.upperBound)
      })) ?? null,
      key_metadata: m.keyMetadata === undefined ? null : toBuffer(m.keyMetadata)
    }))
  )

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

/** Synchronous `decodeManifestList`; throws TableFileError (CorruptFile). */
export const decodeManifestListSync = (bytes: Uint8Array, path: string): ReadonlyArray<ManifestFile> =>
  decoding(path, () =>
    decodeContainer(bytes, (writer) => readingV1(manifestFileSchema, writer, V1_MANIFEST_FILE_DEFAULTS)).records.map((r): ManifestFile => ({
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
      partitions: r.partitions?.map((s: any): FieldSummary => ({
        containsNull: s.contains_null,
        containsNan: s.contains_nan ?? null,
        lowerBound: s.lower_bound == null ? null : copy(s.lower_bound),
        upperBound: s.upper_bound == null ? null : copy(s.upper_bound)
      })) ?? null,
      ...(r.key_metadata == null ? {} : { keyMetadata: copy(r.key_metadata) })
    }))
  )

export const decodeManifestList = (bytes: Uint8Array, path: string): Effect.Effect<ReadonlyArray<ManifestFile>, TableFileError> =>
  Effect.try({ try: () => decodeManifestListSync(bytes, path), catch: (e) => e as TableFileError })
