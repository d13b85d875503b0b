import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { compressionsAlgorithms, UnsupportedCompressionError } from "@platformatic/kafka"
import { lz4Compress, snappyCompress } from "@platformatic/wasm-utils"
import fc from "fast-check"
import {
  batchBaseOffset,
  guardPlatformaticCodecs,
  KafkaCompressionUnsupported,
  kafkajsCodecs,
  lz4Decompress,
  registerKafkajsCodecs,
  snappyDecompress
} from "../../../src/layers/kafka/compression.ts"
import { crc32c } from "../../../src/layers/kafka/crc32c.ts"

const fixtures = path.resolve(import.meta.dirname, "../../fixtures/kafka-compression")
const fixture = (name: string) => fs.readFileSync(path.join(fixtures, name))

/** A varint (zigzag) of Kafka's record format at `p`: [value, next position]. */
const varint = (b: Uint8Array, p: number): [number, number] => {
  let v = 0
  for (let shift = 0; ; shift += 7) {
    const byte = b[p++]!
    v += (byte & 0x7f) * 2 ** shift
    if (byte < 0x80) break
  }
  return [v % 2 === 0 ? v / 2 : -(v + 1) / 2, p]
}

/** The values of the records in a decompressed batch body (record format v2). */
const recordValues = (body: Uint8Array): Array<string> => {
  const out: Array<string> = []
  let p = 0
  while (p < body.length) {
    let length: number, n: number
    ;[length, p] = varint(body, p)
    const end = p + length
    p += 1 // attributes
    ;[, p] = varint(body, p) // timestamp delta
    ;[, p] = varint(body, p) // offset delta
    ;[n, p] = varint(body, p) // key
    p += Math.max(n, 0)
    ;[n, p] = varint(body, p) // value
    out.push(Buffer.from(body.subarray(p, p + n)).toString("utf8"))
    p = end
  }
  return out
}

/** Test/fixtures/kafka-compression/Produce.java sends value-<i>-<i % 50 times x> for i = 0..99. */
const assertProducedValues = (values: ReadonlyArray<string>, name: string) => {
  assert.isAbove(values.length, 50, name)
  const first = Number(/^value-(\d+)-/.exec(values[0]!)![1])
  values.forEach((v, j) => assert.strictEqual(v, `value-${first + j}-${"x".repeat((first + j) % 50)}`, `${name} record ${j}`))
}

describe("compression", () => {
  it("decodes batches the Java producer and a broker recompressing for compression.type wrote (snappy, lz4, zstd)", async () => {
    for (const source of ["java-producer", "broker-topic"]) {
      for (const codec of ["snappy", "lz4", "zstd"] as const) {
        const name = `${source}.${codec}`
        const body = await kafkajsCodecs[codec].decompress(fixture(name))
        assertProducedValues(recordValues(body), name)
      }
    }
  })

  it("decodes what the reference implementations encode (raw snappy as librdkafka writes, xerial chunks, LZ4 frames)", () => {
    // Runs of repeated bytes, so that copies and overlapping matches are exercised, not only literals.
    const data = fc.array(fc.oneof(fc.uint8Array({ maxLength: 80 }), fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 300 })).map(([b, n]) => new Uint8Array(n).fill(b))), { maxLength: 40 })
      .map((parts) => Buffer.concat(parts))
    // The WASM encoders answer views of their memory, which the next call may move: copied at once.
    // wasm-utils 0.2.1 throws on an empty input once its memory has grown (a detached view), so an
    // empty block is written by hand (snappy: its length, 0, and nothing else) and lz4 gets none.
    const snappy = (b: Buffer) => b.length === 0 ? Buffer.from([0]) : Buffer.from(snappyCompress(b))
    const lz4 = (b: Buffer) => Buffer.from(lz4Compress(b))
    fc.assert(fc.property(data, (input) => {
      assert.deepStrictEqual(snappyDecompress(snappy(input)), input)
      // Java's SnappyOutputStream: magic, version 1, compatible 1, then [int32 length, raw block] chunks.
      const half = input.length >>> 1
      const chunks = [input.subarray(0, half), input.subarray(half)].map((c) => {
        const block = snappy(Buffer.from(c))
        const length = Buffer.alloc(4)
        length.writeUInt32BE(block.length)
        return Buffer.concat([length, block])
      })
      const xerial = Buffer.concat([Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]), ...chunks])
      assert.deepStrictEqual(snappyDecompress(xerial), input)
      if (input.length > 0) assert.deepStrictEqual(lz4Decompress(lz4(input)), input)
    }), { numRuns: 300 })
  })

  it("decodes LZ4 frames block by block: linked blocks, stored blocks, checksums and content size", () => {
    const frame = (flg: number, header: Array<number>, blocks: Array<Buffer>) =>
      Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18, flg, 0x40, ...header, 0x00]), ...blocks, Buffer.alloc(4)])
    const block = (bytes: Array<number>, stored = false, checksum = false) => {
      const size = Buffer.alloc(4)
      size.writeUInt32LE((bytes.length | (stored ? 0x80000000 : 0)) >>> 0)
      return Buffer.concat([size, Buffer.from(bytes), checksum ? Buffer.alloc(4) : Buffer.alloc(0)])
    }
    // "abcd", then 8 bytes from 4 back (overlapping), then "!": abcdabcdabcd!
    const seq = [0x44, 0x61, 0x62, 0x63, 0x64, 0x04, 0x00, 0x10, 0x21]
    assert.strictEqual(lz4Decompress(frame(0x60, [], [block(seq)])).toString(), "abcdabcdabcd!")
    // A second, linked block copying from the first; a stored block; block checksums skipped.
    const linked = [0x01, 0x0d, 0x00, 0x10, 0x3f] // 5 bytes from 13 back, then "?"
    assert.strictEqual(
      lz4Decompress(frame(0x50, [], [block(seq, false, true), block(linked, false, true), block([0x2e], true, true)])).toString(),
      "abcdabcdabcd!abcda?."
    )
    // Content size (8 bytes) and a content checksum.
    const sized = Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x6c, 0x40, 13, 0, 0, 0, 0, 0, 0, 0, 0x00]), block(seq), Buffer.alloc(8)])
    assert.strictEqual(lz4Decompress(sized).toString(), "abcdabcdabcd!")
  })

  it("decodes zstd with node:zlib", async () => {
    const input = Buffer.from("market data ".repeat(500))
    assert.deepStrictEqual(await kafkajsCodecs.zstd.decompress(zlib.zstdCompressSync(input)), input)
  })

  it("decodes zstd data of several frames, skippable frames among them, as Java's consumer (zstd-jni) does", async () => {
    // Frames of every block type: compressed, raw (random bytes), RLE (one byte repeated), empty;
    // with and without a content size and a content checksum.
    const random = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 2654435761) >>> 24))
    const parts = [Buffer.from("market data ".repeat(300)), random, Buffer.alloc(200_000, 7), Buffer.alloc(0), Buffer.from("last")]
    const { ZSTD_c_checksumFlag, ZSTD_c_contentSizeFlag } = zlib.constants
    const frames = parts.map((p, i) => zlib.zstdCompressSync(p, { params: { [ZSTD_c_checksumFlag]: i % 2, [ZSTD_c_contentSizeFlag]: (i + 1) % 2 } }))
    const skippable = Buffer.from([0x5e, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3])
    const data = Buffer.concat([frames[0]!, skippable, ...frames.slice(1)])
    // node:zlib stops at the end of the first frame: the batch's later records were missing, and
    // reading them failed the consumer ("a record batch ends inside a record").
    const whole = Buffer.concat(parts)
    const kafkajsRead = await kafkajsCodecs.zstd.decompress(data)
    assert.isTrue(kafkajsRead.equals(whole), `kafkajs codec: ${kafkajsRead.length} bytes of ${whole.length}`)
    guardPlatformaticCodecs(compressionsAlgorithms, UnsupportedCompressionError)
    const platformaticRead = compressionsAlgorithms.zstd.decompressSync(data)
    assert.isTrue(platformaticRead.equals(whole), `platformatic codec: ${platformaticRead.length} bytes of ${whole.length}`)
    // One frame decodes as before; bytes that are not frames still fail, with the decoder's words.
    assert.deepStrictEqual(compressionsAlgorithms.zstd.decompressSync(frames[0]!), parts[0])
    const cut = await kafkajsCodecs.zstd.decompress(data.subarray(0, data.length - 2)).then(() => undefined, (e: unknown) => e)
    assert.instanceOf(cut, KafkaCompressionUnsupported)
  })

  it("fails a batch it cannot decode with a non-retriable error naming codec, offset and fix", async () => {
    // A batch header (61 bytes: base offset 42, magic 2) followed by its records, as kafkajs hands them over.
    const batch = Buffer.alloc(61 + 6)
    batch.writeBigInt64BE(42n, 0)
    batch.writeInt32BE(49 + 6, 8)
    batch.writeInt8(2, 16)
    batch.set([0x0a, 0x09, 0x66, 0x6f, 0x6f, 0x00], 61) // a snappy block declaring 10 bytes, holding 3
    const payload = batch.subarray(61)
    assert.strictEqual(batchBaseOffset(payload), 42n)
    assert.isUndefined(batchBaseOffset(Buffer.from(payload)))
    for (const codec of ["snappy", "lz4", "zstd"] as const) {
      const e = await kafkajsCodecs[codec].decompress(payload).then(() => undefined, (e: unknown) => e)
      assert.instanceOf(e, KafkaCompressionUnsupported)
      const error = e as KafkaCompressionUnsupported
      // kafkajs' fetch loop gives up at once on this name (no retry, no restart).
      assert.strictEqual(error.name, "KafkaJSNotImplemented")
      assert.strictEqual(error.retriable, false)
      assert.strictEqual(error.codec, codec)
      assert.include(error.message, `records compressed with ${codec} (the batch at offset 42) cannot be decompressed`)
      assert.include(error.message, "Fix:")
    }
  })

  it("names the topic and partition of a batch it cannot decode in a fetch response kafkajs decodes (v11)", async () => {
    assert.isTrue(registerKafkajsCodecs())
    const require = createRequire(import.meta.url)
    const fetchV11 = require("kafkajs/src/protocol/requests/fetch/v11/response.js") as { decode: (raw: Buffer) => Promise<unknown> }
    const int16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff])
    const int32 = (n: number) => {
      const b = Buffer.alloc(4)
      b.writeInt32BE(n)
      return b
    }
    // A record batch (magic 2, snappy, base offset 42, one record) whose records are not snappy.
    const payload = Buffer.from([0x0a, 0x09, 0x66, 0x6f, 0x6f, 0x00])
    const header = Buffer.alloc(61)
    header.writeBigInt64BE(42n, 0)
    header.writeInt32BE(61 - 12 + payload.length, 8)
    header.writeInt8(2, 16)
    header.writeInt16BE(2, 21)
    header.writeInt32BE(1, 57)
    const batch = Buffer.concat([header, payload])
    // Its CRC true: the kafkajs layer checks it before decompressing (kafkajsFetch.ts).
    batch.writeUInt32BE(crc32c(batch, 21, batch.length), 17)
    const partition = (id: number, records: Buffer) =>
      Buffer.concat([int32(id), int16(0), Buffer.alloc(8 * 3), int32(-1), int32(-1), int32(records.length), records])
    const topic = (name: string, partitions: Array<Buffer>) => Buffer.concat([int16(name.length), Buffer.from(name), int32(partitions.length), ...partitions])
    const response = Buffer.concat([
      int32(0), int16(0), int32(0), int32(2),
      topic("market.equities.trades.asx", [partition(0, Buffer.alloc(0))]),
      topic("market.equities.quotes.asx", [partition(1, Buffer.alloc(0)), partition(3, batch)])
    ])
    const e = await fetchV11.decode(response).then(() => undefined, (e: unknown) => e)
    assert.instanceOf(e, KafkaCompressionUnsupported)
    assert.include((e as Error).message, "records compressed with snappy in market.equities.quotes.asx partition 3 (the batch at offset 42) cannot be decompressed")
  })

  it("extends kafkajs' own codec table: snappy, lz4 and zstd decode, undefined codec ids fail", async () => {
    const require = createRequire(import.meta.url)
    const table = require("kafkajs/src/protocol/message/compression/index.js") as {
      lookupCodecByAttributes: (attributes: number) => { decompress: (b: Buffer) => Promise<Buffer> } | null
    }
    assert.isTrue(registerKafkajsCodecs())
    for (const [id, codec] of [[2, "snappy"], [3, "lz4"], [4, "zstd"]] as const) {
      const body = await table.lookupCodecByAttributes(id)!.decompress(fixture(`broker-topic.${codec}`))
      assertProducedValues(recordValues(body), codec)
    }
    // kafkajs would read codec ids 5-7 as uncompressed records (garbage).
    const e = await table.lookupCodecByAttributes(5)!.decompress(Buffer.alloc(8)).then(() => undefined, (e: unknown) => e)
    assert.instanceOf(e, KafkaCompressionUnsupported)
    assert.include((e as Error).message, "unknown codec (id 5)")
  })

  it("makes @platformatic/kafka fail a batch its decoders cannot read at once, naming the codec (not retried as a fetch)", () => {
    guardPlatformaticCodecs(compressionsAlgorithms, UnsupportedCompressionError)
    guardPlatformaticCodecs(compressionsAlgorithms, UnsupportedCompressionError)
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02])
    for (const codec of ["snappy", "lz4", "zstd", "gzip"] as const) {
      let caught: unknown
      try {
        compressionsAlgorithms[codec].decompressSync(garbage)
      } catch (e) {
        caught = e
      }
      assert.instanceOf(caught, UnsupportedCompressionError, codec)
      assert.strictEqual((caught as { canRetry?: boolean }).canRetry, false)
      assert.include((caught as Error).message, `records compressed with ${codec} (a batch of 7 compressed bytes) cannot be decompressed`)
    }
    // Valid batches decode as before.
    assert.strictEqual(compressionsAlgorithms.snappy.decompressSync(Buffer.from(snappyCompress(Buffer.from("abcabcabc")))).toString(), "abcabcabc")
  })

  it("names the offset of an undecodable batch when platformatic's decoder is handed a view of the fetched bytes", () => {
    guardPlatformaticCodecs(compressionsAlgorithms, UnsupportedCompressionError)
    // A batch header (base offset 42, magic 2, its length counting 6 bytes of records) and records that are not snappy.
    const batch = Buffer.alloc(61 + 6)
    batch.writeBigInt64BE(42n, 0)
    batch.writeInt32BE(49 + 6, 8)
    batch.writeInt8(2, 16)
    batch.set([0x0a, 0x09, 0x66, 0x6f, 0x6f, 0x00], 61)
    let caught: unknown
    try {
      compressionsAlgorithms.snappy.decompressSync(batch.subarray(61))
    } catch (e) {
      caught = e
    }
    assert.include((caught as Error).message, "records compressed with snappy (the batch at offset 42, 6 compressed bytes) cannot be decompressed")
  })
})
