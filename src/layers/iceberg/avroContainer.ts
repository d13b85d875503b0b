/**
 * Avro object container files, written and read synchronously: the header (magic, metadata with
 * `avro.schema` exactly as given, sync marker) and blocks of records, encoded and resolved by avsc
 * with every long (of a logical type too) a bigint. Knows nothing of Iceberg.
 */
import { createHash } from "node:crypto"
import * as zlib from "node:zlib"
import avro from "avsc"
import { BigIntLong } from "../../domain/avro/bigintLong.ts"
import { lru } from "../../domain/lru.ts"

export type AvroSchema = string | { readonly [key: string]: unknown } | ReadonlyArray<AvroSchema>
export type AvroRecord = {
  readonly type: "record"
  readonly name: string
  readonly fields: ReadonlyArray<{ readonly name: string; readonly type: AvroSchema; readonly [key: string]: unknown }>
}

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

export const encodeContainer = (
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
export const decodeContainer = (
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
