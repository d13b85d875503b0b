import { assert, describe, it } from "@effect/vitest"
import avro from "avsc"
import * as zlib from "node:zlib"
import { Effect } from "effect"
import { unheldPartitionValues } from "../../../src/domain/iceberg/partitioning.ts"
import type { DataFile, ManifestEntry, ManifestFile, Schema } from "../../../src/domain/iceberg/spec.ts"
import { dayPartitionSpec, tradesSchema } from "../../../src/domain/tables.ts"
import {
  decodeManifest,
  decodeManifestList,
  decodeManifestListSync,
  decodeManifestSync,
  encodeManifest,
  encodeManifestList,
  inheritSequenceNumbers
} from "../../../src/layers/iceberg/manifests.ts"

const spec = dayPartitionSpec(tradesSchema, "exchange_timestamp")
const BIG = 9_007_199_254_740_993n // 2^53 + 1: not representable as a JS number
const bytes = (...b: Array<number>) => new Uint8Array(b)

const dataFile = (overrides: Partial<DataFile> = {}): DataFile => ({
  content: 0,
  filePath: "file:///wh/market_data/trades/data/exchange_timestamp_day=2024-01-02/a.parquet",
  fileFormat: "PARQUET",
  partition: { exchange_timestamp_day: 19724 },
  recordCount: 1234,
  fileSizeInBytes: 56789,
  columnSizes: new Map([[1, 100], [6, 200]]),
  valueCounts: new Map([[1, 1234], [6, 1234]]),
  nullValueCounts: new Map([[1, 0], [12, 7]]),
  nanValueCounts: new Map(),
  lowerBounds: new Map([[3, bytes(0x41, 0x42)], [6, bytes(0, 1, 2, 3, 4, 5, 6, 7)]]),
  upperBounds: new Map([[3, bytes(0x5a)], [6, bytes(255, 254, 0, 0, 0, 0, 0, 0)]]),
  splitOffsets: [4],
  sortOrderId: 1,
  ...overrides
})

const entries: ReadonlyArray<ManifestEntry> = [
  { status: 1, snapshotId: null, sequenceNumber: null, fileSequenceNumber: null, dataFile: dataFile() },
  {
    status: 0,
    snapshotId: BIG,
    sequenceNumber: BIG + 1n,
    fileSequenceNumber: BIG + 2n,
    dataFile: dataFile({
      filePath: "file:///wh/b.parquet",
      partition: { exchange_timestamp_day: null },
      columnSizes: new Map(),
      valueCounts: new Map(),
      nullValueCounts: new Map(),
      lowerBounds: new Map(),
      upperBounds: new Map(),
      splitOffsets: null,
      sortOrderId: null
    })
  },
  { status: 2, snapshotId: 7n, sequenceNumber: 3n, fileSequenceNumber: 3n, dataFile: dataFile({ filePath: "c.parquet" }) }
]

const manifestFile = (overrides: Partial<ManifestFile> = {}): ManifestFile => ({
  manifestPath: "file:///wh/market_data/trades/metadata/m0.avro",
  manifestLength: 8155,
  partitionSpecId: 0,
  content: 0,
  sequenceNumber: BIG,
  minSequenceNumber: BIG - 5n,
  addedSnapshotId: 5187973580920290690n,
  addedFilesCount: 2,
  existingFilesCount: 1,
  deletedFilesCount: 0,
  addedRowsCount: 3,
  existingRowsCount: 9,
  deletedRowsCount: 0,
  partitions: [{ containsNull: true, containsNan: null, lowerBound: bytes(0x0c, 0x4d, 0, 0), upperBound: bytes(0x0d, 0x4d, 0, 0) }],
  ...overrides
})

const listCtx = { snapshotId: BIG, parentSnapshotId: null, sequenceNumber: 42n }

/** The container header: metadata as strings, avro.schema parsed. */
const header = (file: Uint8Array) => {
  const type = avro.Type.forSchema({
    type: "record",
    name: "Header",
    fields: [
      { name: "magic", type: { type: "fixed", name: "Magic", size: 4 } },
      { name: "meta", type: { type: "map", values: "bytes" } },
      { name: "sync", type: { type: "fixed", name: "Sync", size: 16 } }
    ]
  })
  const meta = type.decode(Buffer.from(file), 0).value.meta as Record<string, Buffer>
  return Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, v.toString()]))
}

/** Every id the Avro schema carries: field-id of record fields, element-id of arrays. */
const ids = (schema: unknown, out: Array<number> = []): Array<number> => {
  if (Array.isArray(schema)) schema.forEach((s) => ids(s, out))
  else if (typeof schema === "object" && schema !== null) {
    const s = schema as Record<string, any>
    if (s.type === "record") {
      for (const f of s.fields) {
        assert.isNumber(f["field-id"], `field ${f.name} has no field-id`)
        out.push(f["field-id"])
        ids(f.type, out)
      }
    } else if (s.type === "array") {
      if (s.logicalType !== "map") {
        assert.isNumber(s["element-id"], "array without element-id")
        out.push(s["element-id"])
      }
      ids(s.items, out)
    }
  }
  return out
}

/** Writes a container with avsc's own encoder (random sync marker, deflate). */
const avscContainer = (schema: object, records: ReadonlyArray<object>, metadata: Record<string, string>, codec = "deflate") =>
  new Promise<Uint8Array>((resolve, reject) => {
    const longType = avro.types.LongType.__with({
      fromBuffer: (b: Buffer) => b.readBigInt64LE(),
      toBuffer: (n: bigint) => {
        const b = Buffer.alloc(8)
        b.writeBigInt64LE(n)
        return b
      },
      fromJSON: BigInt,
      toJSON: String,
      isValid: (v: unknown) => typeof v === "bigint",
      compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0)
    })
    // Longs of a logical type (timestamp-micros ...) too, as Java writes any long.
    const typeHook = (s: avro.Schema) => (s as { type?: unknown }).type === "long" ? longType : undefined
    const type = avro.Type.forSchema(schema as avro.Schema, { registry: { long: longType }, typeHook })
    const encoder = new avro.streams.BlockEncoder(type, {
      codec,
      codecs: {
        deflate: zlib.deflateRaw,
        null: (b: Buffer, cb: (e: unknown, out: Buffer) => void) => cb(null, b),
        zstandard: (b: Buffer, cb: (e: unknown, out: Buffer) => void) => cb(null, zlib.zstdCompressSync(b))
      },
      metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, Buffer.from(v)]))
    } as any)
    const chunks: Array<Buffer> = []
    encoder.on("data", (c: Buffer) => chunks.push(c))
    encoder.on("end", () => resolve(Buffer.concat(chunks)))
    encoder.on("error", reject)
    records.forEach((r) => encoder.write(r))
    encoder.end()
  })

const assertCorrupt = (effect: Effect.Effect<unknown, { readonly reason: { readonly _tag: string } }>, path: string) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(effect)
    assert.strictEqual(error.reason._tag, "CorruptFile")
    assert.strictEqual((error.reason as any).path, path)
  })

describe("manifests", () => {
  it.effect("round-trips entries with every field", () =>
    Effect.gen(function*() {
      const file = encodeManifest(entries, { schema: tradesSchema, spec })
      assert.deepStrictEqual(yield* decodeManifest(file, "m.avro"), entries)
    }))

  it("round-trips an empty manifest and an unpartitioned one", () => {
    assert.deepStrictEqual(decodeManifestSync(encodeManifest([], { schema: tradesSchema, spec }), "m"), [])
    const unpartitioned = { "spec-id": 0, fields: [] }
    const flat = [{ ...entries[0]!, dataFile: dataFile({ partition: {} }) }]
    assert.deepStrictEqual(decodeManifestSync(encodeManifest(flat, { schema: tradesSchema, spec: unpartitioned }), "m"), flat)
  })

  it("writes each partition field with its transform's result type, Java's Avro type for it, and round-trips the values", () => {
    const mixed = {
      "spec-id": 4,
      fields: [
        { "source-id": 6, "field-id": 1001, name: "ts_hour", transform: "hour" },
        { "source-id": 6, "field-id": 1002, name: "ts_void", transform: "void" },
        { "source-id": 3, "field-id": 1003, name: "symbol_bucket", transform: "bucket[16]" },
        { "source-id": 15, "field-id": 1004, name: "kafka_partition", transform: "identity" }
      ]
    }
    const partitioned = [{ ...entries[0]!, dataFile: dataFile({ partition: { ts_hour: -1, ts_void: null, symbol_bucket: 15, kafka_partition: 3 } }) }]
    const file = encodeManifest(partitioned, { schema: tradesSchema, spec: mixed })
    const fields = JSON.parse(header(file)["avro.schema"]!).fields[4].type.fields[3].type.fields
    assert.deepStrictEqual(fields.map((f: { type: ReadonlyArray<unknown> }) => f.type[1]), [
      "int",
      { type: "long", logicalType: "timestamp-micros", "adjust-to-utc": true },
      "int",
      "int"
    ])
    assert.deepStrictEqual(decodeManifestSync(file, "m"), partitioned)
  })

  it("writes partition fields whose names are not Avro names as Java does (sanitized, iceberg-field-name), and reads Java's back", () => {
    // Another engine may name a partition field anything: `ADD PARTITION FIELD hour(ts) AS "ts-hour"`.
    const named = {
      "spec-id": 5,
      fields: [
        { "source-id": 6, "field-id": 1001, name: "ts-hour", transform: "hour" },
        { "source-id": 15, "field-id": 1002, name: "1kafka", transform: "identity" },
        { "source-id": 6, "field-id": 1003, name: "ts_day", transform: "day" }
      ]
    }
    const partitioned = [{ ...entries[0]!, dataFile: dataFile({ partition: { "ts-hour": -1, "1kafka": 3, ts_day: 7 } }) }]
    const file = encodeManifest(partitioned, { schema: tradesSchema, spec: named })
    const fields = JSON.parse(header(file)["avro.schema"]!).fields[4].type.fields[3].type.fields
    assert.deepStrictEqual(fields.map((f: Record<string, unknown>) => [f["name"], f["iceberg-field-name"], f["field-id"]]), [
      ["ts_x2Dhour", "ts-hour", 1001],
      ["_1kafka", "1kafka", 1002],
      ["ts_day", undefined, 1003]
    ])
    assert.deepStrictEqual(decodeManifestSync(file, "m"), partitioned)

    // Java keeps a letter outside ASCII as it is (Character.isLetter), a name avsc refuses: the
    // same bytes under a header naming the field so.
    const plain = { "spec-id": 0, fields: [{ ...spec.fields[0]!, name: "jour_x" }] }
    const ascii = encodeManifest([{ ...entries[0]!, dataFile: dataFile({ partition: { jour_x: 19_724 } }) }], { schema: tradesSchema, spec: plain })
    const headerType = avro.Type.forSchema({
      type: "record",
      name: "Header",
      fields: [
        { name: "magic", type: { type: "fixed", name: "Magic", size: 4 } },
        { name: "meta", type: { type: "map", values: "bytes" } },
        { name: "sync", type: { type: "fixed", name: "Sync", size: 16 } }
      ]
    })
    const { offset, value } = headerType.decode(Buffer.from(ascii), 0)
    const meta = { ...value.meta, "avro.schema": Buffer.from(value.meta["avro.schema"].toString().replace("\"jour_x\"", "\"jour_é\"")) }
    const javaLike = Buffer.concat([headerType.toBuffer({ ...value, meta }), Buffer.from(ascii).subarray(offset)])
    assert.include(header(javaLike)["avro.schema"], "jour_é")
    const [decoded] = decodeManifestSync(javaLike, "java.avro")
    assert.deepStrictEqual(decoded!.dataFile.partition, { "jour_é": 19_724 })
  })

  it("is deterministic", () => {
    const ctx = { schema: tradesSchema, spec }
    assert.deepStrictEqual(encodeManifest(entries, ctx), encodeManifest(entries, ctx))
  })

  it("stores every field id and the metadata the spec requires", () => {
    const meta = header(encodeManifest(entries, { schema: tradesSchema, spec }))
    const schema = JSON.parse(meta["avro.schema"]!)
    const found = ids(schema)
    for (const id of [0, 1, 2, 3, 4, 134, 100, 101, 102, 1000, 103, 104, 108, 117, 118, 125, 126, 127, 131, 132, 133, 140]) {
      assert.include(found, id)
    }
    assert.strictEqual(schema.name, "manifest_entry")
    const dataFileType = schema.fields[4].type
    assert.strictEqual(dataFileType.name, "r2")
    assert.deepStrictEqual(dataFileType.fields[3].type, {
      type: "record",
      name: "r102",
      fields: [{
        name: "exchange_timestamp_day",
        type: ["null", { type: "int", logicalType: "date" }],
        default: null,
        "field-id": 1000
      }]
    })
    assert.strictEqual(dataFileType.fields[6].type[1].items.name, "k117_v118")
    assert.strictEqual(dataFileType.fields[6].type[1].logicalType, "map")
    assert.deepStrictEqual(JSON.parse(meta["schema"]!), tradesSchema)
    assert.strictEqual(meta["schema-id"], "0")
    assert.deepStrictEqual(JSON.parse(meta["partition-spec"]!), [
      { name: "exchange_timestamp_day", transform: "day", "source-id": 6, "field-id": 1000 }
    ])
    assert.strictEqual(meta["partition-spec-id"], "0")
    assert.strictEqual(meta["format-version"], "2")
    assert.strictEqual(meta["content"], "data")
  })

  it.effect("reports truncated and garbage bytes as CorruptFile naming the path", () =>
    Effect.gen(function*() {
      const file = encodeManifest(entries, { schema: tradesSchema, spec })
      for (const cut of [3, 20, file.length - 40, file.length - 1]) {
        yield* assertCorrupt(decodeManifest(file.subarray(0, cut), "cut.avro"), "cut.avro")
      }
      yield* assertCorrupt(decodeManifest(new TextEncoder().encode("{\"not\": \"avro\"}"), "junk.avro"), "junk.avro")
      const list = encodeManifestList([manifestFile()], listCtx)
      yield* assertCorrupt(decodeManifest(list, "list.avro"), "list.avro")
      yield* assertCorrupt(decodeManifestList(file, "manifest.avro"), "manifest.avro")
      yield* assertCorrupt(decodeManifestList(list.subarray(0, list.length - 5), "l.avro"), "l.avro")
    }))

  it("reads manifests compressed with every codec Java writes but snappy (write.avro.compression-codec zstd, uncompressed)", async () => {
    const ours = (file: Uint8Array) => JSON.parse(header(file)["avro.schema"]!)
    const e = entries[2]!
    const record = {
      status: e.status,
      snapshot_id: e.snapshotId,
      sequence_number: e.sequenceNumber,
      file_sequence_number: e.fileSequenceNumber,
      data_file: {
        content: 0,
        file_path: e.dataFile.filePath,
        file_format: "PARQUET",
        partition: { exchange_timestamp_day: 19724 },
        record_count: 5n,
        file_size_in_bytes: 6n,
        column_sizes: null,
        value_counts: null,
        null_value_counts: null,
        nan_value_counts: null,
        lower_bounds: null,
        upper_bounds: null,
        split_offsets: null,
        sort_order_id: null
      }
    }
    const manifestSchema = ours(encodeManifest([], { schema: tradesSchema, spec }))
    for (const codec of ["zstandard", "null"]) {
      const written = await avscContainer(manifestSchema, [record, record], { "format-version": "2" }, codec)
      const decoded = decodeManifestSync(written, `${codec}.avro`)
      assert.deepStrictEqual(decoded.map((d) => [d.dataFile.filePath, d.dataFile.recordCount]), [[e.dataFile.filePath, 5], [e.dataFile.filePath, 5]], codec)
    }
  })

  it("reads files with optional fields it does not know, as Java 1.10 writes them, and keeps key_metadata (an encrypted file's)", async () => {
    const optional = (id: number, name: string, type: unknown) => ({ name, type: ["null", type], default: null, "field-id": id })
    const header_ = header(encodeManifest(entries, { schema: tradesSchema, spec }))
    const ours = JSON.parse(header_["avro.schema"]!)
    const dataFileType = ours.fields[4].type
    const javaLike = {
      ...ours,
      fields: [
        ...ours.fields.slice(0, 4),
        {
          ...ours.fields[4],
          type: {
            ...dataFileType,
            fields: [
              ...dataFileType.fields,
              optional(135, "equality_ids", { type: "array", items: "int", "element-id": 136 }),
              optional(143, "referenced_data_file", "string"),
              optional(142, "first_row_id", "long"),
              optional(144, "content_offset", "long")
            ]
          }
        }
      ]
    }
    const e = entries[1]!
    const written = await avscContainer(javaLike, [{
      status: e.status,
      snapshot_id: e.snapshotId,
      sequence_number: e.sequenceNumber,
      file_sequence_number: e.fileSequenceNumber,
      data_file: {
        content: 0,
        file_path: e.dataFile.filePath,
        file_format: "parquet",
        partition: { exchange_timestamp_day: 19724 },
        record_count: 5n,
        file_size_in_bytes: 6n,
        column_sizes: null,
        value_counts: null,
        null_value_counts: null,
        nan_value_counts: null,
        lower_bounds: [{ key: 3, value: Buffer.from([1, 2]) }],
        upper_bounds: null,
        split_offsets: null,
        sort_order_id: null,
        key_metadata: Buffer.from([9]),
        equality_ids: [1, 2],
        referenced_data_file: "x",
        first_row_id: BIG,
        content_offset: 3n
      }
    }], { ...header_, "avro.schema": JSON.stringify(javaLike) })
    const [decoded] = decodeManifestSync(written, "java.avro")
    assert.deepStrictEqual(decoded, {
      ...e,
      dataFile: {
        ...e.dataFile,
        partition: { exchange_timestamp_day: 19724 },
        recordCount: 5,
        fileSizeInBytes: 6,
        nanValueCounts: new Map(),
        lowerBounds: new Map([[3, bytes(1, 2)]]),
        keyMetadata: bytes(9)
      }
    })
    // And writes it back: a manifest K2 rewrites (a merge, a removal) keeps the key.
    const [again] = decodeManifestSync(encodeManifest([decoded!], { schema: tradesSchema, spec }), "again.avro")
    assert.deepStrictEqual(again!.dataFile.keyMetadata, bytes(9))
    // Its own bytes, not a view into the decoded block.
    assert.strictEqual(again!.dataFile.keyMetadata!.buffer.byteLength, 1)

    const ourList = JSON.parse(header(encodeManifestList([], listCtx))["avro.schema"]!)
    const javaList = {
      ...ourList,
      fields: [...ourList.fields, optional(520, "first_row_id", "long")]
    }
    const m = manifestFile()
    const list = await avscContainer(javaList, [{
      manifest_path: m.manifestPath,
      manifest_length: BigInt(m.manifestLength),
      partition_spec_id: 0,
      content: 0,
      sequence_number: m.sequenceNumber,
      min_sequence_number: m.minSequenceNumber,
      added_snapshot_id: m.addedSnapshotId,
      added_files_count: 2,
      existing_files_count: 1,
      deleted_files_count: 0,
      added_rows_count: 3n,
      existing_rows_count: 9n,
      deleted_rows_count: 0n,
      partitions: [{ contains_null: true, lower_bound: Buffer.from([0x0c, 0x4d, 0, 0]), upper_bound: Buffer.from([0x0d, 0x4d, 0, 0]) }],
      key_metadata: Buffer.from([5]),
      first_row_id: 17n
    }], { "format-version": "2" })
    const listed = decodeManifestListSync(list, "snap.avro")
    assert.deepStrictEqual(listed, [{ ...m, keyMetadata: bytes(5) }])
    assert.strictEqual(listed[0]!.keyMetadata!.buffer.byteLength, 1)
    // Every list K2 writes carries an encrypted manifest's key on.
    assert.deepStrictEqual(decodeManifestListSync(encodeManifestList(listed, listCtx), "again.avro"), listed)
  })
})

describe("void partition fields over time, uuid, fixed and decimal columns", () => {
  const types = ["time", "uuid", "fixed[3]", "decimal(9, 2)", "decimal(38,10)", "uuid", "timestamp_ns"]
  const columns = {
    type: "struct",
    "schema-id": 0,
    fields: types.map((type, i) => ({ id: i + 1, name: `c${i}`, required: false, type }))
  } as unknown as Schema
  const voids = (n: number) => ({
    "spec-id": 1,
    fields: types.slice(0, n).map((_, i) => ({ "source-id": i + 1, "field-id": 1000 + i, name: `c${i}_null`, transform: "void" }))
  })

  it("writes them in Java's Avro types (a named type once, then by name) and reads their nulls back", () => {
    const spec = voids(6)
    assert.isNull(unheldPartitionValues(spec, columns, "write"))
    const partition = Object.fromEntries(spec.fields.map((f) => [f.name, null]))
    const written = [{ ...entries[0]!, dataFile: dataFile({ partition }) }]
    const file = encodeManifest(written, { schema: columns, spec })
    const fields = JSON.parse(header(file)["avro.schema"]!).fields[4].type.fields[3].type.fields
    assert.deepStrictEqual(fields.map((f: { type: ReadonlyArray<unknown> }) => f.type[1]), [
      { type: "long", logicalType: "time-micros" },
      { type: "fixed", name: "uuid_fixed", size: 16, logicalType: "uuid" },
      { type: "fixed", name: "fixed_3", size: 3 },
      { type: "fixed", name: "decimal_9_2", size: 4, logicalType: "decimal", precision: 9, scale: 2 },
      { type: "fixed", name: "decimal_38_10", size: 16, logicalType: "decimal", precision: 38, scale: 10 },
      "uuid_fixed"
    ])
    assert.deepStrictEqual(decodeManifestSync(file, "m"), written)
  })

  it("refuses, by name, one over a type of no Avro form K2 knows (format version 3's timestamp_ns)", () => {
    assert.match(unheldPartitionValues(voids(7), columns, "write")!, /^partition spec 1, whose field c6_null is void\(c6\): K2 writes no void field of a timestamp_ns column$/)
  })
})

describe("64-bit partition values of a logical type (identity of timestamps and times)", () => {
  /** A manifest as Java writes one of identity(ts) and identity(t), with `ts` and `t` as the partition values. */
  const javaManifest = (ts: bigint, t: bigint) => {
    const header_ = header(encodeManifest(entries, { schema: tradesSchema, spec }))
    const ours = JSON.parse(header_["avro.schema"]!)
    const dataFileType = ours.fields[4].type
    const partition = {
      type: "record",
      name: "r102",
      fields: [
        { name: "ts", type: ["null", { type: "long", logicalType: "timestamp-micros", "adjust-to-utc": true }], default: null, "field-id": 1000 },
        { name: "t", type: ["null", { type: "long", logicalType: "time-micros" }], default: null, "field-id": 1001 }
      ]
    }
    const javaLike = {
      ...ours,
      fields: [
        ...ours.fields.slice(0, 4),
        {
          ...ours.fields[4],
          type: { ...dataFileType, fields: dataFileType.fields.map((f: { name: string }) => f.name === "partition" ? { ...f, type: partition } : f) }
        }
      ]
    }
    const e = entries[0]!.dataFile
    return avscContainer(javaLike, [{
      status: 1,
      snapshot_id: 1n,
      sequence_number: 1n,
      file_sequence_number: 1n,
      data_file: {
        content: 0,
        file_path: e.filePath,
        file_format: "PARQUET",
        partition: { ts, t },
        record_count: 1n,
        file_size_in_bytes: 2n,
        column_sizes: null,
        value_counts: null,
        null_value_counts: null,
        nan_value_counts: null,
        // The file's bounds of the timestamp column (id 6): 8 bytes, untouched by the partition type.
        lower_bounds: [{ key: 6, value: Buffer.from([0, 1, 2, 3, 4, 5, 6, 0x7f]) }],
        upper_bounds: null,
        split_offsets: null,
        sort_order_id: null
      }
    }], { ...header_, "avro.schema": JSON.stringify(javaLike) })
  }

  it("decode exactly up to 2^53, as plain longs do, and past it as plain longs do (CorruptFile naming the field, never rounded)", async () => {
    const ordinary = 1_710_064_000_000_000n
    const [read] = decodeManifestSync(await javaManifest(ordinary, 3_600_000_000n), "m.avro")
    assert.deepStrictEqual(read!.dataFile.partition, { ts: 1_710_064_000_000_000, t: 3_600_000_000 })
    assert.deepStrictEqual(read!.dataFile.lowerBounds, new Map([[6, bytes(0, 1, 2, 3, 4, 5, 6, 0x7f)]]))
    // Past 2^52, avsc's number arithmetic lost the low bit of a negative value's zig-zag form.
    const [wide] = decodeManifestSync(await javaManifest(-(2n ** 52n) - 1n, 2n ** 52n + 1n), "m.avro")
    assert.deepStrictEqual(wide!.dataFile.partition, { ts: -(2 ** 52) - 1, t: 2 ** 52 + 1 })
    const safe = 2n ** 53n - 1n
    const [edge] = decodeManifestSync(await javaManifest(-safe, safe), "m.avro")
    assert.deepStrictEqual(edge!.dataFile.partition, { ts: -Number(safe), t: Number(safe) })
    for (const [ts, t, field] of [[BIG, 0n, "ts"], [0n, -BIG, "t"], [2n ** 62n, 0n, "ts"]] as const) {
      const error = await Effect.runPromise(Effect.flip(decodeManifest(await javaManifest(ts, t), "past.avro")))
      assert.strictEqual(error.reason._tag, "CorruptFile")
      assert.include(error.message, `unsupported value of partition field ${field}`)
    }
  })
})

describe("manifest lists", () => {
  it.effect("round-trip, including ids above 2^53 and absent partition summaries", () =>
    Effect.gen(function*() {
      const files = [
        manifestFile(),
        manifestFile({ manifestPath: "m1.avro", content: 1, partitions: null }),
        manifestFile({
          manifestPath: "m2.avro",
          partitions: [{ containsNull: false, containsNan: false, lowerBound: null, upperBound: null }]
        })
      ]
      assert.deepStrictEqual(yield* decodeManifestList(encodeManifestList(files, listCtx), "snap.avro"), files)
    }))

  it("stores every field id and the snapshot metadata", () => {
    const meta = header(encodeManifestList([manifestFile()], { ...listCtx, parentSnapshotId: BIG - 1n }))
    const schema = JSON.parse(meta["avro.schema"]!)
    assert.strictEqual(schema.name, "manifest_file")
    assert.sameMembers(
      ids(schema),
      [500, 501, 502, 517, 515, 516, 503, 504, 505, 506, 512, 513, 514, 507, 508, 509, 518, 510, 511, 519]
    )
    assert.strictEqual(schema.fields[13].type[1].items.name, "r508")
    assert.strictEqual(meta["snapshot-id"], "9007199254740993")
    assert.strictEqual(meta["parent-snapshot-id"], "9007199254740992")
    assert.strictEqual(meta["sequence-number"], "42")
    assert.strictEqual(meta["format-version"], "2")
    assert.strictEqual(header(encodeManifestList([], listCtx))["parent-snapshot-id"], "null")
  })
})

describe("inheritSequenceNumbers", () => {
  it("fills null snapshot ids, and sequence numbers of ADDED entries only", () => {
    const deleted: ManifestEntry = { ...entries[0]!, status: 2 }
    const [added, existing, deletedOut] = inheritSequenceNumbers([entries[0]!, entries[1]!, deleted], manifestFile())
    assert.strictEqual(added!.snapshotId, 5187973580920290690n)
    assert.strictEqual(added!.sequenceNumber, BIG)
    assert.strictEqual(added!.fileSequenceNumber, BIG)
    assert.deepStrictEqual(existing, entries[1])
    assert.strictEqual(deletedOut!.snapshotId, 5187973580920290690n)
    assert.strictEqual(deletedOut!.sequenceNumber, null)
  })
})

describe("format v1 manifests and manifest lists (a table upgraded from v1 keeps them)", () => {
  const optional = (id: number, name: string, type: unknown) => ({ name, type: ["null", type], default: null, "field-id": id })
  const required = (id: number, name: string, type: unknown) => ({ name, type, "field-id": id })
  // Java 1.10's V1Metadata schemas: no content, no sequence numbers; counts optional; block_size_in_bytes.
  const v1List = {
    type: "record",
    name: "manifest_file",
    fields: [
      required(500, "manifest_path", "string"),
      required(501, "manifest_length", "long"),
      required(502, "partition_spec_id", "int"),
      required(503, "added_snapshot_id", "long"),
      optional(504, "added_files_count", "int"),
      optional(505, "existing_files_count", "int"),
      optional(506, "deleted_files_count", "int"),
      optional(507, "partitions", {
        type: "array",
        "element-id": 508,
        items: {
          type: "record",
          name: "r508",
          fields: [
            required(509, "contains_null", "boolean"),
            optional(518, "contains_nan", "boolean"),
            optional(510, "lower_bound", "bytes"),
            optional(511, "upper_bound", "bytes")
          ]
        }
      }),
      optional(512, "added_rows_count", "long"),
      optional(513, "existing_rows_count", "long"),
      optional(514, "deleted_rows_count", "long"),
      optional(519, "key_metadata", "bytes")
    ]
  }
  const intMap = (id: number, name: string, keyId: number, valueId: number, value: string) =>
    optional(id, name, {
      type: "array",
      logicalType: "map",
      items: { type: "record", name: `k${keyId}_v${valueId}`, fields: [required(keyId, "key", "int"), required(valueId, "value", value)] }
    })
  const v1Entry = {
    type: "record",
    name: "manifest_entry",
    fields: [
      required(0, "status", "int"),
      optional(1, "snapshot_id", "long"),
      required(2, "data_file", {
        type: "record",
        name: "r2",
        fields: [
          required(100, "file_path", "string"),
          required(101, "file_format", "string"),
          required(102, "partition", {
            type: "record",
            name: "r102",
            fields: [optional(1000, "exchange_timestamp_day", { type: "int", logicalType: "date" })]
          }),
          required(103, "record_count", "long"),
          required(104, "file_size_in_bytes", "long"),
          required(105, "block_size_in_bytes", "long"),
          intMap(108, "column_sizes", 117, 118, "long"),
          intMap(109, "value_counts", 119, 120, "long"),
          intMap(110, "null_value_counts", 121, 122, "long"),
          intMap(137, "nan_value_counts", 138, 139, "long"),
          intMap(125, "lower_bounds", 126, 127, "bytes"),
          intMap(128, "upper_bounds", 129, 130, "bytes"),
          optional(131, "key_metadata", "bytes"),
          optional(132, "split_offsets", { type: "array", items: "long", "element-id": 133 }),
          optional(140, "sort_order_id", "int")
        ]
      })
    ]
  }

  it("reads a v1 manifest list with the spec's defaults: content data, sequence numbers 0", async () => {
    const list = await avscContainer(v1List, [{
      manifest_path: "file:///wh/t/metadata/v1-m0.avro",
      manifest_length: 4321n,
      partition_spec_id: 0,
      added_snapshot_id: 77n,
      added_files_count: 2,
      existing_files_count: 1,
      deleted_files_count: 0,
      partitions: [{ contains_null: false, contains_nan: null, lower_bound: Buffer.from([0x0c, 0x4d, 0, 0]), upper_bound: null }],
      added_rows_count: 30n,
      existing_rows_count: 10n,
      deleted_rows_count: 0n,
      key_metadata: null
    }], { "format-version": "1", "snapshot-id": "77", "parent-snapshot-id": "null" })
    const read = decodeManifestListSync(list, "snap-77.avro")
    // A K2 commit on the upgraded table carries the manifest into its v2 list as it was read.
    assert.deepStrictEqual(decodeManifestListSync(encodeManifestList(read, listCtx), "snap-78.avro"), read)
    assert.deepStrictEqual(read, [{
      manifestPath: "file:///wh/t/metadata/v1-m0.avro",
      manifestLength: 4321,
      partitionSpecId: 0,
      content: 0,
      sequenceNumber: 0n,
      minSequenceNumber: 0n,
      addedSnapshotId: 77n,
      addedFilesCount: 2,
      existingFilesCount: 1,
      deletedFilesCount: 0,
      addedRowsCount: 30,
      existingRowsCount: 10,
      deletedRowsCount: 0,
      partitions: [{ containsNull: false, containsNan: null, lowerBound: bytes(0x0c, 0x4d, 0, 0), upperBound: null }]
    }])
  })

  it.effect("refuses a v1 manifest list missing a count as CorruptFile naming the field", () =>
    Effect.gen(function*() {
      const list = yield* Effect.promise(() =>
        avscContainer(v1List, [{
          manifest_path: "m.avro",
          manifest_length: 1n,
          partition_spec_id: 0,
          added_snapshot_id: 77n,
          added_files_count: null,
          existing_files_count: 0,
          deleted_files_count: 0,
          partitions: null,
          added_rows_count: 0n,
          existing_rows_count: 0n,
          deleted_rows_count: 0n,
          key_metadata: null
        }], { "format-version": "1" })
      )
      const error = yield* Effect.flip(decodeManifestList(list, "snap.avro"))
      assert.strictEqual(error.reason._tag, "CorruptFile")
      assert.include(error.message, "added_files_count")
    }))

  it("reads v1 manifest entries as data files, whose sequence numbers are 0 in a v1 manifest (sequence number 0)", async () => {
    const file = (path: string) => ({
      file_path: path,
      file_format: "PARQUET",
      partition: { exchange_timestamp_day: 19724 },
      record_count: 10n,
      file_size_in_bytes: 999n,
      block_size_in_bytes: 67108864n,
      column_sizes: [{ key: 1, value: 50n }],
      value_counts: null,
      null_value_counts: null,
      nan_value_counts: null,
      lower_bounds: null,
      upper_bounds: null,
      key_metadata: null,
      split_offsets: [4n],
      sort_order_id: null
    })
    const written = await avscContainer(v1Entry, [
      { status: 1, snapshot_id: 77n, data_file: file("file:///wh/t/data/a.parquet") },
      { status: 0, snapshot_id: 66n, data_file: file("file:///wh/t/data/b.parquet") }
    ], { "format-version": "1", "partition-spec-id": "0", schema: "{}", "partition-spec": "[]" })
    const decoded = decodeManifestSync(written, "v1-m0.avro")
    assert.deepStrictEqual(decoded.map((e) => [e.status, e.snapshotId, e.dataFile.content, e.dataFile.filePath, e.dataFile.recordCount]), [
      [1, 77n, 0, "file:///wh/t/data/a.parquet", 10],
      [0, 66n, 0, "file:///wh/t/data/b.parquet", 10]
    ])
    assert.deepStrictEqual(decoded[0]!.dataFile.partition, { exchange_timestamp_day: 19724 })
    const inherited = inheritSequenceNumbers(decoded, manifestFile({ sequenceNumber: 0n, minSequenceNumber: 0n, addedSnapshotId: 77n }))
    assert.deepStrictEqual(inherited.map((e) => [e.sequenceNumber, e.fileSequenceNumber]), [[0n, 0n], [0n, 0n]])
  })
})
