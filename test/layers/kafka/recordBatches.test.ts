/**
 * K2's reading of a fetched partition's record batches (recordBatches.ts) gives the records
 * @platformatic/kafka's own parse holds (`before`, the conversion the platformatic layer made of it
 * until ADR-88): same offsets, keys, values, headers, timestamps, bytes beside text that may not be
 * UTF-8, aborted transactions and markers dropped. A batch whose CRC does not match fails.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  compressionsAlgorithms,
  compressionsAlgorithmsByBitmask,
  createRecordsBatch,
  IS_CONTROL,
  IS_TRANSACTIONAL,
  Reader,
  readRecordsBatches,
  UnsupportedCompressionError
} from "@platformatic/kafka"
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { setEntry } from "../../../src/domain/wire.ts"
import { guardPlatformaticCodecs } from "../../../src/layers/kafka/compression.ts"
import { crc32c } from "../../../src/layers/kafka/crc32c.ts"
import { decompressingIn } from "../../../src/layers/kafka/platformaticFetch.ts"
import { type AbortedTransaction, KafkaBatchCorrupt, readRecordBatches } from "../../../src/layers/kafka/recordBatches.ts"
import { withBytesBeside } from "../../../src/layers/kafka/textBytes.ts"
import type { KafkaHeaderEntry, KafkaRecord } from "../../../src/services/KafkaSource.ts"

type Message = { key?: Buffer | null; value?: Buffer | null; headers?: Map<Buffer, Buffer | null>; timestamp: bigint }

const batch = (
  firstOffset: bigint,
  messages: ReadonlyArray<Message>,
  o: { compression?: string; producerId?: bigint; transactional?: boolean; control?: boolean; logAppend?: boolean } = {}
): Buffer => {
  const buf = Buffer.from(createRecordsBatch(messages.map((m) => ({ ...m, topic: "t" })) as never, {
    compression: (o.compression ?? "none") as never,
    producerId: o.producerId ?? -1n,
    ...(o.transactional === true ? { transactionalId: "tx" } : {})
  }).buffer)
  buf.writeBigInt64BE(firstOffset, 0)
  if (o.control === true) buf.writeInt16BE(buf.readInt16BE(21) | IS_CONTROL, 21)
  if (o.logAppend === true) {
    buf.writeInt16BE(buf.readInt16BE(21) | 0x08, 21)
    buf.writeBigInt64BE(1_700_000_999_000n, 35)
  }
  // The broker serves the batch as it was appended: attributes set above are covered by its CRC.
  if (o.control === true || o.logAppend === true) buf.writeUInt32BE(crc32c(buf, 21, buf.length), 17)
  return buf
}

/** A header's value as the platformatic layer read it: the last of that name. */
const rawHeader = (h: ReadonlyArray<readonly [Buffer | null, Buffer | null]>, name: string): Buffer | undefined =>
  h.findLast(([k]) => k !== null && k.toString("utf8") === name)?.[1] ?? undefined

/**
 * The records of platformatic's own parse of `buf`, as the platformatic layer made them until
 * ADR-88: read committed as Java's consumer (a producer's transactional batches aborted from its
 * listed first offset until its abort marker), markers dropped, records below `req` skipped.
 */
const before = (buf: Buffer, req: bigint, aborted: ReadonlyArray<AbortedTransaction>): { records: Array<KafkaRecord>; next: bigint } => {
  const records: Array<KafkaRecord> = []
  let next = -1n
  const pending = [...aborted].sort((a, b) => Number(a.firstOffset - b.firstOffset))
  const abortedProducers = new Set<bigint>()
  for (const batch of readRecordsBatches(Reader.from(buf))) {
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta)
    if (last + 1n > next) next = last + 1n
    while (pending.length > 0 && pending[0]!.firstOffset <= last) abortedProducers.add(pending.shift()!.producerId)
    if ((batch.attributes & IS_CONTROL) !== 0) {
      if (batch.records[0]?.key?.readInt16BE(2) === 0) abortedProducers.delete(batch.producerId)
      continue
    }
    if ((batch.attributes & IS_TRANSACTIONAL) !== 0 && abortedProducers.has(batch.producerId)) continue
    for (const rec of batch.records) {
      const offset = batch.firstOffset + BigInt(rec.offsetDelta)
      if (offset < req) continue
      const headers: Record<string, string> = {}
      for (const [k, v] of rec.headers) if (k !== null) setEntry(headers, k.toString("utf8"), v === null ? "" : v.toString("utf8"))
      const record = withBytesBeside({
        offset,
        key: rec.key === null ? null : rec.key.toString("utf8"),
        value: rec.value,
        headers: rec.headers.length === 0 ? {} : headers,
        timestamp: Number((batch.attributes & 0x08) !== 0 ? batch.maxTimestamp : batch.firstTimestamp + rec.timestampDelta)
      }, rec.key, rec.headers, rawHeader)
      // A name repeated: every named header in order beside (ADR-105).
      const named = rec.headers.filter(([k]) => k !== null)
      records.push(Object.keys(headers).length === named.length ? record : {
        ...record,
        headerList: named.map(([k, v]): KafkaHeaderEntry => [k!.toString("utf8"), v === null ? new Uint8Array(0) : Uint8Array.from(v)])
      })
    }
  }
  return { records, next }
}

const decompress = (codec: number, data: Buffer): Buffer =>
  (compressionsAlgorithmsByBitmask as Record<number, { decompressSync: (d: Buffer) => Buffer }>)[codec]!.decompressSync(data)

const same = (buf: Buffer, req: bigint, aborted: ReadonlyArray<AbortedTransaction> = []) => {
  const now = readRecordBatches(buf, req, aborted, decompress, "t", 0)
  const was = before(buf, req, aborted)
  assert.deepStrictEqual(now, was)
  return now
}

const h = (...kv: Array<[string | Buffer, string | Buffer | null]>) =>
  new Map(kv.map(([k, v]) => [Buffer.isBuffer(k) ? k : Buffer.from(k), v === null ? null : Buffer.isBuffer(v) ? v : Buffer.from(v)] as [Buffer, Buffer | null]))

const messages: ReadonlyArray<Message> = [
  { key: Buffer.from("AAPL"), value: Buffer.from([0, 0, 0, 0, 1, 2, 3]), headers: h(["k2-schema-id", "1"], ["k2-correlation-id", "c-0001-xyz-long-value"]), timestamp: 1_700_000_000_000n },
  { key: Buffer.from("AAPL"), value: Buffer.from([0, 0, 0, 0, 1, 2, 4]), headers: h(["k2-schema-id", "1"], ["k2-correlation-id", "c-0001-xyz-long-value"]), timestamp: 1_700_000_000_007n },
  { key: null, value: null, headers: h(), timestamp: 1_699_999_999_000n },
  { key: Buffer.from("X".repeat(40)), value: Buffer.alloc(0), headers: h(["a", "1"], ["a", "2"], ["__proto__", "p"], ["n", null]), timestamp: 1_700_000_000_010n },
  { key: Buffer.from([0xff, 0x41]), value: Buffer.from("v"), headers: h(["bad", Buffer.from([0xc3, 0x28])], ["bad", Buffer.from([0xff])], ["ok", "y"]), timestamp: 1_700_000_000_011n },
  { key: Buffer.from([0xff, 0x41]), value: Buffer.from("w"), headers: h(["bad", Buffer.from([0xc3, 0x28])], ["bad", Buffer.from([0xff])], ["ok", "y"]), timestamp: 1_700_000_000_012n },
  { key: Buffer.from("MSFT"), value: Buffer.from("z"), headers: h([Buffer.from([0xfe]), "named by bad bytes"]), timestamp: 1_700_000_000_013n }
]

/** What `read` threw; fails the test if it returned. */
const failureOf = (read: () => unknown): Error => {
  try {
    read()
  } catch (e) {
    return e as Error
  }
  return assert.fail("read without failing")
}

describe("readRecordBatches", () => {
  it("reads what platformatic's parse gave, uncompressed and with every codec", () => {
    for (const compression of ["none", "gzip", "snappy", "lz4", "zstd"]) {
      const buf = Buffer.concat([batch(100n, messages, { compression }), batch(107n, messages.slice(0, 2), { compression })])
      const { next, records } = same(buf, 100n)
      assert.strictEqual(next, 109n)
      assert.strictEqual(records.length, 9)
      assert.deepStrictEqual(records.map((r) => r.offset), [100n, 101n, 102n, 103n, 104n, 105n, 106n, 107n, 108n])
      assert.strictEqual(records[3]!.headers["a"], "2")
      assert.isDefined(records[4]!.keyBytes)
      assert.deepStrictEqual([...records[4]!.headerBytes!["bad"]!], [0xff])
    }
  })

  it("skips records below the fetch offset, leaves a truncated last batch and keeps offsets and timestamps exact", () => {
    const buf = Buffer.concat([batch(100n, messages), batch(107n, messages)])
    assert.strictEqual(same(buf, 103n).records[0]!.offset, 103n)
    const cut = same(buf.subarray(0, buf.length - 5), 100n)
    assert.strictEqual(cut.next, 107n)
    assert.strictEqual(same(Buffer.alloc(0), 0n).next, -1n)
    const huge = 2n ** 60n
    assert.deepStrictEqual(same(batch(huge, messages), huge + 2n).records.map((r) => r.offset), [huge + 2n, huge + 3n, huge + 4n, huge + 5n, huge + 6n])
    const appended = same(batch(5n, messages, { logAppend: true }), 0n)
    assert.isTrue(appended.records.every((r) => r.timestamp === 1_700_000_999_000))
  })

  it("drops aborted transactions and transaction markers, as Java's consumer does", () => {
    const marker = (type: number) => [{ key: Buffer.from([0, 0, 0, type]), value: Buffer.from([0, 0, 0, 0, 0, 0]), timestamp: 1_700_000_000_000n }]
    const buf = Buffer.concat([
      batch(200n, messages.slice(0, 3), { producerId: 7n, transactional: true }),
      batch(203n, messages.slice(0, 2), { producerId: 8n, transactional: true }),
      batch(205n, marker(0), { producerId: 7n, transactional: true, control: true }),
      batch(206n, marker(1), { producerId: 8n, transactional: true, control: true }),
      batch(207n, messages.slice(0, 1), { producerId: 7n, transactional: true }),
      batch(208n, messages.slice(0, 1))
    ])
    const { next, records } = same(buf, 200n, [{ producerId: 7n, firstOffset: 200n }])
    assert.strictEqual(next, 209n)
    assert.deepStrictEqual(records.map((r) => r.offset), [203n, 204n, 207n, 208n])
    // Only aborted records and markers: nothing delivered, the position past them.
    const only = same(Buffer.concat([
      batch(200n, messages.slice(0, 3), { producerId: 7n, transactional: true }),
      batch(205n, marker(0), { producerId: 7n, transactional: true, control: true })
    ]), 200n, [{ producerId: 7n, firstOffset: 200n }])
    assert.deepStrictEqual(only, { records: [], next: 206n })
  })

  it("reads a zstd batch whose records are several zstd frames, as Java's consumer does", () => {
    guardPlatformaticCodecs(compressionsAlgorithms, UnsupportedCompressionError)
    const plain = batch(100n, messages)
    const body = plain.subarray(61)
    const cut = body.length >>> 1
    const framed = Buffer.concat([plain.subarray(0, 61), zlib.zstdCompressSync(body.subarray(0, cut)), zlib.zstdCompressSync(body.subarray(cut))])
    framed.writeInt32BE(framed.length - 12, 8)
    framed.writeInt16BE(framed.readInt16BE(21) | 4, 21)
    framed.writeUInt32BE(crc32c(framed, 21, framed.length), 17)
    // node:zlib decoded the first frame only: "a record batch ends inside a record", the partition stuck.
    assert.deepStrictEqual(readRecordBatches(framed, 100n, [], decompress, "t", 0), readRecordBatches(plain, 100n, [], decompress, "t", 0))
  })

  it("names the partition and the batch a codec cannot read, and fails a codec id Kafka does not define", () => {
    guardPlatformaticCodecs(compressionsAlgorithms, UnsupportedCompressionError)
    const decompressIn = decompressingIn(compressionsAlgorithmsByBitmask as never, UnsupportedCompressionError)
    const good = batch(40n, messages.slice(0, 2))
    const bad = batch(42n, messages, { compression: "snappy" })
    bad.fill(0xff, 61)
    bad.writeUInt32BE(crc32c(bad, 21, bad.length), 17)
    const caught = (buf: Buffer) => failureOf(() => readRecordBatches(buf, 0n, [], decompressIn("market.equities.quotes.asx", 3), "market.equities.quotes.asx", 3))
    const e = caught(Buffer.concat([good, bad]))
    assert.instanceOf(e, UnsupportedCompressionError)
    assert.include(e.message, `records compressed with snappy in market.equities.quotes.asx partition 3 (the batch at offset 42, ${bad.length - 61} compressed bytes) cannot be decompressed`)
    const unknown = batch(42n, messages)
    unknown.writeInt16BE(5, 21)
    unknown.writeUInt32BE(crc32c(unknown, 21, unknown.length), 17)
    assert.include(caught(unknown).message, "Unsupported compression algorithm with bitmask 5")
  })
})

describe("readRecordBatches, records at the format's edges", () => {
  /** A zigzag varint or varlong as Kafka's ByteUtils writes it (at most 10 bytes). */
  const zz = (n: bigint | number): Buffer => {
    let v = BigInt.asUintN(64, (BigInt(n) << 1n) ^ (BigInt(n) >> 63n))
    const out: Array<number> = []
    do {
      const b = Number(v & 0x7fn)
      v >>= 7n
      out.push(v > 0n ? b | 0x80 : b)
    } while (v > 0n)
    return Buffer.from(out)
  }
  const bytes = (b: Buffer | null) => b === null ? zz(-1) : Buffer.concat([zz(b.length), b])
  /** A record's bytes; a field given as raw bytes is written as it is (overlong encodings). */
  const record = (r: {
    offsetDelta: number | Buffer
    tsDelta?: bigint | Buffer
    key?: Buffer | null
    headers?: Array<[string, Buffer | null]>
  }) => {
    const body = Buffer.concat([
      Buffer.from([0]),
      Buffer.isBuffer(r.tsDelta) ? r.tsDelta : zz(r.tsDelta ?? 0n),
      Buffer.isBuffer(r.offsetDelta) ? r.offsetDelta : zz(r.offsetDelta),
      bytes(r.key === undefined ? Buffer.from("K") : r.key),
      bytes(Buffer.from("v")),
      zz(r.headers?.length ?? 0),
      ...(r.headers ?? []).flatMap(([k, v]) => [bytes(Buffer.from(k)), bytes(v)])
    ])
    return Buffer.concat([zz(body.length), body])
  }
  /** A batch of `records` (CreateTime unless `attributes` says otherwise), its CRC true. */
  const rawBatch = (
    base: bigint,
    lastOffsetDelta: number,
    records: Array<Buffer>,
    o: { firstTs?: bigint; maxTs?: bigint; attributes?: number; producerId?: bigint } = {}
  ) => {
    const header = Buffer.alloc(61)
    header.writeBigInt64BE(base, 0)
    header.writeInt8(2, 16)
    header.writeInt16BE(o.attributes ?? 0, 21)
    header.writeInt32BE(lastOffsetDelta, 23)
    header.writeBigInt64BE(o.firstTs ?? 1_700_000_000_000n, 27)
    header.writeBigInt64BE(o.maxTs ?? 1_700_000_000_000n, 35)
    header.writeBigInt64BE(o.producerId ?? -1n, 43)
    header.writeInt16BE(o.producerId === undefined ? -1 : 0, 51)
    header.writeInt32BE(-1, 53)
    header.writeInt32BE(records.length, 57)
    const buf = Buffer.concat([header, ...records])
    buf.writeInt32BE(buf.length - 12, 8)
    buf.writeUInt32BE(crc32c(buf, 21, buf.length), 17)
    return buf
  }
  const read = (buf: Buffer, from = 0n) => readRecordBatches(buf, from, [], decompress, "t", 0)

  it("reads keys, headers, offsets and timestamps as Java's DefaultRecord does", () => {
    const records = [
      record({ offsetDelta: 0, key: null, tsDelta: -5n }),
      record({ offsetDelta: 3, key: Buffer.alloc(0), headers: [["h", null]] }),
      record({ offsetDelta: 9, headers: [["h", Buffer.alloc(0)], ["i", Buffer.from("x")]] })
    ]
    // Offsets with gaps (a compacted log), the last offset delta past the last record's.
    const { next, records: got } = read(rawBatch(10n, 12, records))
    assert.strictEqual(next, 23n)
    assert.deepStrictEqual(got.map((r) => [r.offset, r.key, r.headers, r.timestamp]), [
      [10n, null, {}, 1_699_999_999_995],
      [13n, "", { h: "" }, 1_700_000_000_000],
      [19n, "K", { h: "", i: "x" }, 1_700_000_000_000]
    ])
    // From the middle of the batch; LogAppendTime: every record takes the batch's max timestamp.
    assert.deepStrictEqual(read(rawBatch(10n, 12, records), 12n).records.map((r) => r.offset), [13n, 19n])
    const appended = read(rawBatch(10n, 12, records, { attributes: 0x08, maxTs: 1_800_000_000_000n })).records
    assert.deepStrictEqual(appended.map((r) => r.timestamp), [1_800_000_000_000, 1_800_000_000_000, 1_800_000_000_000])
    // Varlongs of 10 bytes (deltas to the ends of a long), and overlong encodings of small values.
    for (const delta of [2n ** 62n, -(2n ** 62n), 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n]) {
      assert.deepStrictEqual(read(rawBatch(0n, 0, [record({ offsetDelta: 0, tsDelta: delta })], { firstTs: 0n })).records.map((r) => r.timestamp), [Number(delta)])
    }
    const overlong = record({ offsetDelta: Buffer.from([0x82, 0x80, 0x80, 0x80, 0x00]), tsDelta: Buffer.from([0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]) })
    assert.deepStrictEqual(read(rawBatch(0n, 1, [overlong], { firstTs: 100n })).records.map((r) => [r.offset, r.timestamp]), [[1n, 101]])
  })

  it("drops the aborted transactions of several producers, each until its abort marker, as Java's consumer does", () => {
    const tx = (offset: bigint, producerId: bigint) => rawBatch(offset, 0, [record({ offsetDelta: 0 })], { producerId, attributes: 0x10 })
    const marker = (offset: bigint, producerId: bigint, type: number) =>
      rawBatch(offset, 0, [record({ offsetDelta: 0, key: Buffer.from([0, 0, 0, type]) })], { producerId, attributes: 0x30 })
    // Producers 1 and 3 abort twice each (3's second transaction never ends in this fetch), 2 commits.
    const log = [
      tx(0n, 1n), tx(1n, 2n), tx(2n, 3n), tx(3n, 1n), marker(4n, 1n, 0), tx(5n, 2n), marker(6n, 2n, 1), marker(7n, 3n, 0),
      tx(8n, 1n), tx(9n, 3n), marker(10n, 1n, 0), tx(11n, 3n), tx(12n, 2n)
    ]
    const aborted = [{ producerId: 3n, firstOffset: 9n }, { producerId: 1n, firstOffset: 8n }, { producerId: 3n, firstOffset: 2n }, { producerId: 1n, firstOffset: 0n }]
    const offsets = (from: number) => {
      const { next, records } = readRecordBatches(Buffer.concat(log.slice(from)), BigInt(from), aborted, decompress, "t", 0)
      return [records.map((r) => r.offset), next]
    }
    assert.deepStrictEqual(offsets(0), [[1n, 5n, 12n], 13n])
    // A fetch from inside the transactions: the broker still lists those that began before it.
    assert.deepStrictEqual(offsets(3), [[5n, 12n], 13n])
    assert.deepStrictEqual(offsets(9), [[12n], 13n])
  })

  it("fails a batch holding fewer records than it counts naming the partition and the batch, and reads nothing past it", () => {
    const records = [record({ offsetDelta: 0 }), record({ offsetDelta: 1 })]
    const short = (compress: boolean) => {
      const b = rawBatch(10n, 2, compress ? [zlib.gzipSync(Buffer.concat(records))] : records, { attributes: compress ? 1 : 0 })
      // Counting 3 records, its CRC true: a producer's (or a decoder's) fault, not the network's.
      b.writeInt32BE(3, 57)
      b.writeUInt32BE(crc32c(b, 21, b.length), 17)
      return b
    }
    for (const compress of [true, false]) {
      // Before: a RangeError naming no partition nor offset (gzip), or a record made of the next
      // batch's header delivered (uncompressed).
      const e = failureOf(() => readRecordBatches(Buffer.concat([short(compress), rawBatch(13n, 0, [record({ offsetDelta: 0 })])]), 0n, [], decompress, "t", 5))
      assert.instanceOf(e, KafkaBatchCorrupt, e.message)
      assert.strictEqual((e as KafkaBatchCorrupt).reason, "records")
      assert.strictEqual((e as KafkaBatchCorrupt).offset, 10n)
      assert.include(e.message, "in t partition 5, the batch at offset 10 counts 3 records")
    }
  })

  it("fails a record whose key, value or headers run past its own length, rather than deliver the next batch's bytes in it", () => {
    // Each record's length is true to its bytes; one field's length inside it claims 3 bytes more,
    // which (the last record of the batch) are the next batch's base offset: zeros, read as an empty header block.
    const overrun = (field: "key" | "value" | "header") => {
      const len = (b: Buffer, more: number) => Buffer.concat([zz(b.length + more), b])
      const body = Buffer.concat([
        Buffer.from([0]),
        zz(0n),
        zz(0),
        len(Buffer.from("K"), field === "key" ? 3 : 0),
        len(Buffer.from("v"), field === "value" ? 3 : 0),
        zz(field === "header" ? 1 : 0),
        ...(field === "header" ? [len(Buffer.from("h"), 0), len(Buffer.from("x"), 3)] : [])
      ])
      return Buffer.concat([zz(body.length), body])
    }
    for (const field of ["key", "value", "header"] as const) {
      const fetched = Buffer.concat([rawBatch(10n, 1, [record({ offsetDelta: 0 }), overrun(field)]), rawBatch(12n, 0, [record({ offsetDelta: 0 })])])
      // Before: a record delivered with "v\0\0\0\0" as its value (or its key, a header so), no error.
      const e = failureOf(() => readRecordBatches(fetched, 0n, [], decompress, "t", 5))
      assert.instanceOf(e, KafkaBatchCorrupt, `${field}: ${e.message}`)
      assert.strictEqual((e as KafkaBatchCorrupt).reason, "records")
      assert.include(e.message, "in t partition 5, the batch at offset 10 counts 2 records")
    }
  })

  /** `buf`'s count set to `count`, its CRC true again: the producer (or a decoder) wrote it so. */
  const counting = (buf: Buffer, count: number) => {
    buf.writeInt32BE(count, 57)
    buf.writeUInt32BE(crc32c(buf, 21, buf.length), 17)
    return buf
  }
  const corrupt = (fetched: Buffer, what: string, offset = 10n) => {
    const e = failureOf(() => readRecordBatches(fetched, 0n, [], decompress, "t", 5))
    assert.instanceOf(e, KafkaBatchCorrupt, `${what}: ${e.message}`)
    assert.strictEqual((e as KafkaBatchCorrupt).reason, "records", what)
    assert.strictEqual((e as KafkaBatchCorrupt).offset, offset, what)
    assert.include(e.message, `in t partition 5, the batch at offset ${offset} counts`, what)
    return e
  }

  it("fails a batch holding more records than it counts, as Java's DefaultRecordBatch does, rather than skip them", () => {
    const records = [record({ offsetDelta: 0 }), record({ offsetDelta: 1 }), record({ offsetDelta: 2 })]
    for (const compress of [false, true]) {
      const b = rawBatch(10n, 2, compress ? [zlib.gzipSync(Buffer.concat(records))] : records, { attributes: compress ? 1 : 0 })
      // Before: the first two records delivered, the third's bytes skipped without a word.
      const e = corrupt(Buffer.concat([counting(b, 2), rawBatch(13n, 0, [record({ offsetDelta: 0 })])]), `compressed ${compress}`)
      assert.include(e.message, `${records[2]!.length} bytes after its 2 records`)
    }
    // A batch counting no record is not read, as Java's iterator reads none of it.
    assert.deepStrictEqual(read(counting(rawBatch(10n, 0, [record({ offsetDelta: 0 })]), 0)), { records: [], next: 11n })
  })

  it("fails a record with bytes left after its headers, as Java's DefaultRecord does (\"Invalid record size\")", () => {
    /** A record whose length counts `spare` bytes after its headers. */
    const spare = (headers: Array<[string, Buffer | null]>, extra: Buffer) => {
      const r = record({ offsetDelta: 1, headers })
      // Short records: their length is one byte.
      const body = r.subarray(1)
      return Buffer.concat([zz(body.length + extra.length), body, extra])
    }
    const cases: Array<[string, Array<[string, Buffer | null]>]> = [["no header", []], ["a header", [["h", Buffer.from("x")]]]]
    for (const [what, headers] of cases) {
      for (const extra of [Buffer.from([0]), Buffer.from([1, 2, 3])]) {
        const first = record({ offsetDelta: 0, headers })
        // Before: the record delivered, its spare bytes dropped.
        const e = corrupt(rawBatch(10n, 1, [first, spare(headers, extra)]), `${what}, ${extra.length} spare`)
        assert.include(e.message, `record 1 has ${extra.length} bytes after its headers`)
      }
    }
  })

  it("fails a negative record count or header count, as Java's DefaultRecordBatch and DefaultRecord do", () => {
    // Before: a batch counting -1 read as one of none, a header count of -1 as no headers.
    const e = corrupt(counting(rawBatch(10n, 0, [record({ offsetDelta: 0 })]), -1), "record count -1")
    assert.include(e.message, "a record count of -1")
    const negativeHeaders = record({ offsetDelta: 1 })
    negativeHeaders[negativeHeaders.length - 1] = 1 // the header count, zig-zag: -1
    const h = corrupt(rawBatch(10n, 1, [record({ offsetDelta: 0 }), negativeHeaders]), "header count -1")
    assert.include(h.message, "a header count of -1")
  })

  it("fails a transaction marker batch that is not what a marker is, as Java's consumer does", () => {
    const marker = (key: Buffer | null) => record({ offsetDelta: 0, key })
    const tx = rawBatch(9n, 0, [record({ offsetDelta: 0 })], { producerId: 7n, attributes: 0x10 })
    const bad: Array<[string, Buffer, string]> = [
      // Java's ControlRecordType.parse: "Invalid value size found for end control record key", a negative version.
      ["a 2-byte key", rawBatch(10n, 0, [marker(Buffer.from([0, 0]))], { producerId: 7n, attributes: 0x30 }), "marker's key is 2 bytes"],
      ["a null key", rawBatch(10n, 0, [marker(null)], { producerId: 7n, attributes: 0x30 }), "marker's key is null"],
      ["a negative version", rawBatch(10n, 0, [marker(Buffer.from([0xff, 0xff, 0, 0]))], { producerId: 7n, attributes: 0x30 }), "version -1"],
      // Its records read as any batch's are.
      ["fewer records than counted", counting(rawBatch(10n, 0, [marker(Buffer.from([0, 0, 0, 0]))], { producerId: 7n, attributes: 0x30 }), 2), "record 1 ends past"],
      ["more records than counted", counting(rawBatch(10n, 0, [marker(Buffer.from([0, 0, 0, 0])), marker(Buffer.from([0, 0, 0, 0]))], { producerId: 7n, attributes: 0x30 }), 1), "bytes after its 1 records"],
      ["a negative record count", counting(rawBatch(10n, 0, [marker(Buffer.from([0, 0, 0, 0]))], { producerId: 7n, attributes: 0x30 }), -1), "a record count of -1"],
      ["a key past its record", (() => {
        const m = marker(Buffer.from([0, 0, 0, 0]))
        // The key's length (at 4: length, attributes, timestamp and offset deltas before it) claims 4 bytes more.
        m[4] = zz(8)[0]!
        return rawBatch(10n, 0, [m], { producerId: 7n, attributes: 0x30 })
      })(), "record 0's key or value ends past the record"]
    ]
    for (const [what, b, detail] of bad) {
      // Before: a 2-byte or null key quietly not an abort marker, its other bytes and records not read: no error.
      const e = corrupt(Buffer.concat([tx, b, rawBatch(11n, 0, [record({ offsetDelta: 0 })], { producerId: 7n, attributes: 0x10 })]), what)
      assert.include(e.message, detail, what)
    }
  })

  it("drops a 10-byte varlong's bits past 64, as Java's ByteUtils.readVarlong does", () => {
    // 1 (zigzag 2), its tenth byte's bit 1 set: Java's `b << 63` keeps bit 0 of it only.
    const tsDelta = Buffer.from([0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02])
    // Before: the bit counted, and the record's timestamp was 2^64 ms later (9.2e18).
    assert.deepStrictEqual(read(rawBatch(0n, 0, [record({ offsetDelta: 0, tsDelta })], { firstTs: 100n })).records.map((r) => r.timestamp), [101])
  })
})

describe("readRecordBatches, message formats before v2", () => {
  it("fails a message set of magic 0 or 1, rather than read its bytes as a v2 batch", () => {
    // Magic 0: offset, size, crc, magic, attributes, key (-1: null), value (40 zero bytes).
    const legacy = Buffer.alloc(26 + 40)
    legacy.writeBigInt64BE(500n, 0)
    legacy.writeInt32BE(legacy.length - 12, 8)
    legacy.writeInt8(0, 16)
    legacy.writeInt32BE(-1, 18)
    legacy.writeInt32BE(40, 22)
    // Read as v2, its bytes said "no record, next offset 10,741": 10,240 offsets skipped in silence.
    const e = failureOf(() => readRecordBatches(Buffer.concat([batch(490n, messages.slice(0, 2)), legacy]), 490n, [], decompress, "t", 4))
    assert.include(e.message, "in t partition 4, the batch at offset 500 has magic 0")
  })

  it("fails a batch whose length cannot hold a batch header, rather than loop on it", () => {
    for (const length of [-12, 0, 48]) {
      const corrupt = Buffer.alloc(12 + Math.max(length, 5))
      corrupt.writeBigInt64BE(500n, 0)
      corrupt.writeInt32BE(length, 8)
      corrupt.writeInt8(2, 16)
      const e = failureOf(() => readRecordBatches(Buffer.concat([batch(490n, messages.slice(0, 2)), corrupt]), 490n, [], decompress, "t", 4))
      assert.include(e.message, `in t partition 4, the batch at offset 500 says it is ${length} bytes long`)
    }
  })
})

describe("readRecordBatches, CRC-32C", () => {
  /** Batches the Java producer (kafka-clients 4.4.0) sent, as the broker stored and serves them. */
  const javaBatch = (codec: string) => fs.readFileSync(path.resolve(import.meta.dirname, `../../fixtures/kafka-batches/java-producer.${codec}`))
  const corruptOf = (read: () => unknown): KafkaBatchCorrupt => {
    const e = failureOf(read)
    assert.instanceOf(e, KafkaBatchCorrupt)
    return e as KafkaBatchCorrupt
  }

  it("reads the batches a Java producer sent, uncompressed and zstd, their CRCs checked", () => {
    for (const codec of ["none", "zstd"]) {
      const { next, records } = same(javaBatch(codec), 0n)
      assert.strictEqual(next, 20n)
      assert.deepStrictEqual(records.map((r) => Buffer.from(r.value!).toString("utf8")), Array.from({ length: 20 }, (_, i) => `value-${i}-${"x".repeat(i % 50)}`))
    }
  })

  it("fails a batch whose bytes changed after its CRC was written, naming the partition, the offset and both CRCs", () => {
    const second = batch(107n, messages.slice(0, 2))
    // A bit of the second batch's first value flipped (on disk or on the way): read as it came before.
    const at = second.indexOf(Buffer.from([0, 0, 0, 0, 1, 2, 3]))
    second[at + 6]! ^= 0x10
    const e = corruptOf(() => readRecordBatches(Buffer.concat([batch(100n, messages), second]), 100n, [], decompress, "market.equities.trades.asx", 3))
    assert.strictEqual(e.reason, "crc")
    assert.strictEqual(e.offset, 107n)
    assert.isFalse(e.retriable)
    const stored = second.readUInt32BE(17).toString(16).padStart(8, "0")
    const computed = crc32c(second, 21, second.length).toString(16).padStart(8, "0")
    assert.include(
      e.message,
      `in market.equities.trades.asx partition 3, the batch at offset 107 fails its CRC-32C check (stored 0x${stored}, computed 0x${computed})`
    )
    assert.include(e.message, "Fix: restart the consumer once")
    // The Java producer's batches alike, compressed or not; and a header field the CRC covers.
    for (const codec of ["none", "zstd"]) {
      const java = Buffer.from(javaBatch(codec))
      java[java.length - 3]! ^= 0x01
      assert.strictEqual(corruptOf(() => readRecordBatches(java, 0n, [], decompress, "t", 0)).offset, 0n)
    }
    const marked = batch(100n, messages)
    marked.writeInt16BE(marked.readInt16BE(21) | IS_CONTROL, 21)
    assert.strictEqual(corruptOf(() => readRecordBatches(marked, 100n, [], decompress, "t", 0)).reason, "crc")
  })

  it("fails a batch whose records count was damaged, rather than read on into the next batch", () => {
    const first = batch(100n, messages.slice(0, 2))
    first.writeInt32BE(4, 57)
    // Unchecked, the count made two records of the next batch's header and records, and delivered them.
    const e = corruptOf(() => readRecordBatches(Buffer.concat([first, batch(102n, messages.slice(0, 3))]), 100n, [], decompress, "t", 0))
    assert.strictEqual(e.offset, 100n)
  })

  it("leaves a truncated last batch for the next fetch without checking it", () => {
    const last = batch(107n, messages)
    last[last.length - 40]! ^= 0xff
    const { next, records } = readRecordBatches(Buffer.concat([batch(100n, messages), last.subarray(0, last.length - 20)]), 100n, [], decompress, "t", 0)
    assert.strictEqual(next, 107n)
    assert.strictEqual(records.length, 7)
  })
})
