/**
 * Decoders for the record-batch codecs kafkajs 2.2 lacks (ADR-72): snappy (raw blocks, as librdkafka
 * writes them, and xerial's chunked framing, as the Java producer and a broker recompressing for a
 * topic's `compression.type=snappy` write them), LZ4 frames (Kafka's record batches since magic 1),
 * and zstd (node:zlib, Node 22.15+, frame by frame: `zstdFrames`). Decode only: K2's kafkajs
 * producer sends uncompressed (the topic's compression.type applies at the broker). @platformatic/kafka decodes all four itself
 * (WASM and node:zlib).
 *
 * A batch that cannot be decoded fails the consumer at once (a non-retriable
 * `KafkaCompressionUnsupported`, naming the codec, the topic-partition and batch offset when they can
 * be found, and what to do): never a retry, never records read as something else. platformatic's
 * decoders are wrapped likewise (`guardPlatformaticCodecs`): its own error, not retried.
 */
import { createRequire } from "node:module"
import * as zlib from "node:zlib"
import { checkFetchResponse, fetchedPartitions } from "./kafkajsFetch.ts"

type CodecName = "snappy" | "lz4" | "zstd"

/**
 * A batch K2 cannot decompress. Named `KafkaJSNotImplemented` and not retriable, as kafkajs' own
 * for a codec it lacks: its fetch loop gives up at once (no retry, no restart) and the consumer
 * fails with it (KafkaRejected, the message intact).
 */
export class KafkaCompressionUnsupported extends Error {
  override readonly name = "KafkaJSNotImplemented"
  readonly retriable = false
  readonly codec: string
  readonly detail: string
  readonly where: string
  readonly fix: string
  /** The batch's compressed records, as kafkajs handed them over (a view into the fetched bytes). */
  readonly payload: Uint8Array | undefined
  constructor(codec: string, detail: string, where: string, fix: string, payload?: Uint8Array) {
    super(`records compressed with ${codec}${where} cannot be decompressed: ${detail}. Fix: ${fix}`)
    this.codec = codec
    this.detail = detail
    this.where = where
    this.fix = fix
    this.payload = payload
  }
  /** The same, naming where the batch was fetched from (`fetchedFrom`). */
  at(place: string): KafkaCompressionUnsupported {
    return new KafkaCompressionUnsupported(this.codec, this.detail, ` in ${place}${this.where}`, this.fix)
  }
}

/** The partition a fetched batch came from, as an error names it. */
export const fetchedFrom = (p: { readonly topic: string; readonly partition: number }): string => `${p.topic} partition ${p.partition}`

/** This Node.js lacks zstd. */
class NoZstd extends Error {
  constructor() {
    super(`this Node.js (${process.version}) has no zstd`)
  }
}

/** A codec's input is not what it should be. */
class Corrupt extends Error {}

/** What to do about a batch that is not valid `codec` data. */
const corruptFix = (codec: string) =>
  `the batch is not valid ${codec} data as Kafka producers write it: check the producer's ${codec} library; ` +
  "the partition cannot be read past it until the batch is removed (kafka-delete-records) or the group's offset is moved past it"

// ---------------------------------------------------------------------------------------------
// Output of unknown length (LZ4 frames without a content size).

class Out {
  buf: Uint8Array
  pos = 0
  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(capacity, 64))
  }
  ensure(n: number) {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const grown = new Uint8Array(size)
    grown.set(this.buf.subarray(0, this.pos))
    this.buf = grown
  }
  literal(src: Uint8Array, from: number, length: number) {
    this.ensure(length)
    this.buf.set(src.subarray(from, from + length), this.pos)
    this.pos += length
  }
  /** Copies `length` bytes from `offset` back; overlapping copies repeat the pattern, as both formats mean. */
  match(offset: number, length: number) {
    if (offset <= 0 || offset > this.pos) throw new Corrupt(`a match ${offset} bytes back, ${this.pos} written`)
    this.ensure(length)
    const b = this.buf
    let from = this.pos - offset
    if (offset >= length) {
      b.copyWithin(this.pos, from, from + length)
      this.pos += length
      return
    }
    const end = this.pos + length
    while (this.pos < end) b[this.pos++] = b[from++]!
  }
  bytes(): Buffer {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset, this.pos)
  }
}

// ---------------------------------------------------------------------------------------------
// Snappy (https://github.com/google/snappy/blob/main/format_description.txt)

/** Snappy's best ratio is under 22:1 (a 64-byte copy in 3 bytes): a larger declared length is corrupt. */
const SNAPPY_MAX_RATIO = 24

/** One raw snappy block (varint length, then literals and copies), appended to `out` or on its own. */
const snappyBlock = (input: Uint8Array, out?: Out): Buffer => {
  let p = 0
  let length = 0
  for (let shift = 0; ; shift += 7) {
    if (p >= input.length || shift > 28) throw new Corrupt("a truncated length")
    const b = input[p++]!
    length += (b & 0x7f) * 2 ** shift
    if (b < 0x80) break
  }
  if (length > input.length * SNAPPY_MAX_RATIO + 64) throw new Corrupt(`a declared length of ${length} for ${input.length} bytes`)
  const o = out ?? new Out(length)
  const start = o.pos
  o.ensure(length)
  while (p < input.length) {
    const tag = input[p++]!
    const kind = tag & 3
    if (kind === 0) {
      let n = tag >>> 2
      if (n >= 60) {
        const bytes = n - 59
        if (p + bytes > input.length) throw new Corrupt("a truncated literal length")
        n = 0
        for (let i = 0; i < bytes; i++) n += input[p + i]! * 2 ** (8 * i)
        p += bytes
      }
      n += 1
      if (p + n > input.length) throw new Corrupt("a truncated literal")
      o.literal(input, p, n)
      p += n
    } else if (kind === 1) {
      if (p >= input.length) throw new Corrupt("a truncated copy")
      o.match(((tag >>> 5) << 8) | input[p++]!, 4 + ((tag >>> 2) & 7))
    } else if (kind === 2) {
      if (p + 2 > input.length) throw new Corrupt("a truncated copy")
      o.match(input[p]! | (input[p + 1]! << 8), 1 + (tag >>> 2))
      p += 2
    } else {
      if (p + 4 > input.length) throw new Corrupt("a truncated copy")
      o.match((input[p]! | (input[p + 1]! << 8) | (input[p + 2]! << 16)) + input[p + 3]! * 2 ** 24, 1 + (tag >>> 2))
      p += 4
    }
    if (o.pos - start > length) throw new Corrupt(`more than the declared ${length} bytes`)
  }
  if (o.pos - start !== length) throw new Corrupt(`${o.pos - start} bytes for a declared ${length}`)
  return o.bytes()
}

const XERIAL_MAGIC = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]

const isXerial = (input: Uint8Array) => input.length >= 16 && XERIAL_MAGIC.every((b, i) => input[i] === b)

/** Snappy as Kafka producers write it: xerial's framing (Java, a broker recompressing) or one raw block (librdkafka). */
export const snappyDecompress = (input: Uint8Array): Buffer => {
  if (!isXerial(input)) return snappyBlock(input)
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength)
  const out = new Out(input.length * 3)
  // Magic, then version and compatible version (int32 each).
  let p = 16
  while (p < input.length) {
    if (p + 4 > input.length) throw new Corrupt("a truncated chunk length")
    const n = view.getUint32(p)
    p += 4
    if (p + n > input.length) throw new Corrupt("a truncated chunk")
    snappyBlock(input.subarray(p, p + n), out)
    p += n
  }
  return out.bytes()
}

// ---------------------------------------------------------------------------------------------
// LZ4 (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md, lz4_Block_format.md)

const LZ4_MAGIC = 0x184d2204

/** One LZ4 block's sequences, appended to `out` (whose earlier bytes linked blocks may refer to). */
const lz4Block = (input: Uint8Array, from: number, to: number, out: Out) => {
  let p = from
  while (p < to) {
    const token = input[p++]!
    let n = token >>> 4
    if (n === 15) {
      let b: number
      do {
        if (p >= to) throw new Corrupt("a truncated literal length")
        b = input[p++]!
        n += b
      } while (b === 255)
    }
    if (p + n > to) throw new Corrupt("a truncated literal")
    out.literal(input, p, n)
    p += n
    // The last sequence has literals only.
    if (p === to) return
    if (p + 2 > to) throw new Corrupt("a truncated match offset")
    const offset = input[p]! | (input[p + 1]! << 8)
    p += 2
    let m = token & 15
    if (m === 15) {
      let b: number
      do {
        if (p >= to) throw new Corrupt("a truncated match length")
        b = input[p++]!
        m += b
      } while (b === 255)
    }
    out.match(offset, m + 4)
  }
}

/** An LZ4 frame (Kafka's lz4 record batches); checksums are skipped (the batch has its CRC). */
export const lz4Decompress = (input: Uint8Array): Buffer => {
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength)
  if (input.length < 7 || view.getUint32(0, true) !== LZ4_MAGIC) throw new Corrupt("no LZ4 frame magic")
  const flg = input[4]!
  if (flg >>> 6 !== 1) throw new Corrupt(`LZ4 frame version ${flg >>> 6}`)
  const blockChecksum = (flg & 0x10) !== 0
  const contentSize = (flg & 0x08) !== 0
  const contentChecksum = (flg & 0x04) !== 0
  if ((flg & 0x01) !== 0) throw new Corrupt("an LZ4 frame that needs a dictionary")
  // FLG, BD, the optional content size, then the header checksum.
  let p = 6 + (contentSize ? 8 : 0)
  const declared = contentSize ? Number(view.getBigUint64(6, true)) : 0
  p += 1
  const out = new Out(declared > 0 && declared <= input.length * 256 ? declared : input.length * 3)
  for (;;) {
    if (p + 4 > input.length) throw new Corrupt("a truncated block size")
    const word = view.getUint32(p, true)
    p += 4
    if (word === 0) break
    const size = word & 0x7fffffff
    if (p + size > input.length) throw new Corrupt("a truncated block")
    if ((word & 0x80000000) !== 0) out.literal(input, p, size)
    else lz4Block(input, p, p + size, out)
    p += size + (blockChecksum ? 4 : 0)
  }
  if (contentChecksum) p += 4
  if (p > input.length) throw new Corrupt("a truncated content checksum")
  return out.bytes()
}

// ---------------------------------------------------------------------------------------------
// zstd: node:zlib (Node 22.15+; engines asks for 22.19).

const ZSTD_MAGIC = 0xfd2fb528
/** Skippable frames' magic numbers: 0x184D2A50 to 0x184D2A5F. */
const ZSTD_SKIPPABLE = 0x184d2a50

/**
 * The zstd frames of `input` (RFC 8878 §3.1; skippable frames left out) when there is more than one
 * or a skippable one, else undefined: one frame alone, or bytes whose first frame cannot be told
 * (the decoder then says what is wrong). node:zlib decodes the first frame only and drops the rest
 * in silence; zstd-jni's ZstdInputStream, which Java's consumer reads batches with, decodes them all.
 */
export const zstdFrames = (input: Uint8Array): Array<Uint8Array> | undefined => {
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength)
  const frames: Array<Uint8Array> = []
  let skipped = false
  let p = 0
  // Past the first frame, bytes that are no frame fail here: node:zlib would drop them unread.
  const notFrames = (what: string) => {
    if (frames.length === 0 && !skipped) return undefined
    throw new Corrupt(`${what} after ${frames.length} zstd frame(s), at byte ${p} of ${input.length}`)
  }
  while (p < input.length) {
    if (p + 8 > input.length) return notFrames("a truncated frame")
    const magic = view.getUint32(p, true)
    if ((magic & 0xfffffff0) >>> 0 === ZSTD_SKIPPABLE) {
      p += 8 + view.getUint32(p + 4, true)
      if (p > input.length) return notFrames("a truncated skippable frame")
      skipped = true
      continue
    }
    if (magic !== ZSTD_MAGIC) return notFrames(`no zstd frame magic (0x${magic.toString(16)})`)
    const start = p
    // Frame header descriptor: content size field (flag 0: none, or 1 byte when single-segment;
    // 1, 2, 3: 2, 4, 8 bytes), single segment (no window descriptor), content checksum, dictionary id.
    const fhd = input[p + 4]!
    const single = (fhd & 0x20) !== 0
    const sizeFlag = fhd >>> 6
    p += 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + (sizeFlag === 0 ? (single ? 1 : 0) : 1 << sizeFlag)
    for (;;) {
      // Block header (3 bytes, little-endian): last block, type (raw, RLE: one byte, compressed), size.
      if (p + 3 > input.length) return notFrames("a truncated frame")
      const header = input[p]! | (input[p + 1]! << 8) | (input[p + 2]! << 16)
      const type = (header >>> 1) & 3
      if (type === 3) return notFrames("a reserved block type")
      p += 3 + (type === 1 ? 1 : header >>> 3)
      if ((header & 1) !== 0) break
    }
    if ((fhd & 0x04) !== 0) p += 4
    if (p > input.length) return notFrames("a truncated frame")
    frames.push(input.subarray(start, p))
  }
  return frames.length > 1 || skipped ? frames : undefined
}

/** `decode` of each of `input`'s zstd frames (`zstdFrames`), joined; of `input` when it is one frame. */
export const zstdEachFrame = (input: Uint8Array, decode: (frame: Buffer) => Buffer): Buffer => {
  const frames = zstdFrames(input)
  if (frames === undefined) return decode(Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength))
  return Buffer.concat(frames.map((f) => decode(Buffer.from(f.buffer, f.byteOffset, f.byteLength))))
}

const zstdDecompressOne = (input: Uint8Array): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const decompress = (zlib as { zstdDecompress?: typeof zlib.gunzip }).zstdDecompress
    if (decompress === undefined) return reject(new NoZstd())
    decompress(input, (error, result) => (error === null ? resolve(result) : reject(new Corrupt(error.message))))
  })

/** Every frame of `input` (node:zlib alone stops after the first). */
const zstdDecompress = async (input: Uint8Array): Promise<Buffer> => {
  const frames = zstdFrames(input)
  if (frames === undefined) return zstdDecompressOne(input)
  return Buffer.concat(await Promise.all(frames.map(zstdDecompressOne)))
}

// ---------------------------------------------------------------------------------------------
// kafkajs

/**
 * The base offset of the record batch whose records `payload` is, when it is a view into the
 * fetched bytes (as kafkajs decodes, and platformatic when a response came in one read): its 61-byte
 * header sits right before the records. A copy (in Node's pool, after other bytes) is told apart by
 * the header's magic byte and its length, which counts the payload.
 */
export const batchBaseOffset = (payload: Uint8Array): bigint | undefined => {
  if (payload.byteOffset < 61) return undefined
  const header = new DataView(payload.buffer, payload.byteOffset - 61, 61)
  // The batch's length (from 12 on: 49 bytes of header, then the records) at 8, the magic byte (2) at 16.
  return header.getInt32(8) === 49 + payload.length && header.getInt8(16) === 2 ? header.getBigInt64(0) : undefined
}

const where = (payload: Uint8Array) => {
  const offset = batchBaseOffset(payload)
  return offset === undefined ? "" : ` (the batch at offset ${offset})`
}

const decoding = (codec: CodecName, decode: (input: Uint8Array) => Buffer | Promise<Buffer>) => async (payload: Buffer): Promise<Buffer> => {
  try {
    return await decode(payload)
  } catch (e) {
    const fix = e instanceof NoZstd ? "run K2 on Node.js 22.15 or newer (package.json engines), or use --client platformatic" : corruptFix(codec)
    throw new KafkaCompressionUnsupported(codec, e instanceof Error ? e.message : String(e), where(payload), fix, payload)
  }
}

const notCompressing = (codec: CodecName) => async (): Promise<Buffer> => {
  throw new KafkaCompressionUnsupported(codec, "K2's kafkajs producer does not compress", "", "leave compression to the topic's compression.type")
}

export const kafkajsCodecs = {
  snappy: { compress: notCompressing("snappy"), decompress: decoding("snappy", snappyDecompress) },
  lz4: { compress: notCompressing("lz4"), decompress: decoding("lz4", lz4Decompress) },
  zstd: { compress: notCompressing("zstd"), decompress: decoding("zstd", zstdDecompress) }
}

const require = createRequire(import.meta.url)

/**
 * The topic and partition of a fetch response (`version` 4-11, as kafkajs decodes them) whose
 * records hold `payload` (a view into the same bytes).
 */
const fetchedPartitionOf = (response: Uint8Array, version: number, payload: Uint8Array): { topic: string; partition: number } | undefined => {
  if (response.buffer !== payload.buffer) return undefined
  const target = payload.byteOffset - response.byteOffset
  return fetchedPartitions(response, version)?.find((p) => target >= p.start && target < p.end)
}

/**
 * kafkajs decodes a whole fetch response before it hands any partition over: a batch that cannot
 * be decompressed fails it with no word of where. Its fetch response decoders (v4-v11) are wrapped
 * to name the topic and partition, and to check each complete batch's CRC-32C first
 * (kafkajsFetch.ts; kafkajs reads the CRC and ignores it). Whether they were found as expected.
 */
const nameFetchedPartitions = (): boolean => {
  let found = true
  for (let version = 4; version <= 11; version++) {
    const response = require(`kafkajs/src/protocol/requests/fetch/v${version}/response.js`) as {
      decode?: ((raw: Buffer) => Promise<unknown>) & { k2Named?: boolean }
    }
    const decode = response.decode
    if (typeof decode !== "function") {
      found = false
      continue
    }
    if (decode.k2Named === true) continue
    response.decode = Object.assign(async (raw: Buffer) => {
      checkFetchResponse(raw, version)
      try {
        return await decode(raw)
      } catch (e) {
        if (!(e instanceof KafkaCompressionUnsupported) || e.payload === undefined) throw e
        const at = fetchedPartitionOf(raw, version, e.payload)
        throw at === undefined ? e : e.at(fetchedFrom(at))
      }
    }, { k2Named: true })
  }
  return found
}

/**
 * Registers the decoders in kafkajs' codec table (once per process: the table is kafkajs' module
 * state), and a failing one for the codec ids Kafka does not define, which kafkajs would otherwise
 * read as uncompressed records; and wraps its Fetch decoders (`nameFetchedPartitions`). Whether
 * kafkajs' table and decoders were found as expected.
 */
export const registerKafkajsCodecs = (): boolean => {
  const table = require("kafkajs/src/protocol/message/compression/index.js") as {
    Codecs?: Record<number, () => unknown>
    Types?: Record<string, number>
  }
  const codecs = table.Codecs
  // The Fetch decoders are wrapped (CRCs checked) whatever became of the table.
  if (codecs === undefined || table.Types?.["Snappy"] !== 2 || table.Types["LZ4"] !== 3 || table.Types["ZSTD"] !== 4) {
    nameFetchedPartitions()
    return false
  }
  codecs[2] = () => kafkajsCodecs.snappy
  codecs[3] = () => kafkajsCodecs.lz4
  codecs[4] = () => kafkajsCodecs.zstd
  for (const id of [5, 6, 7]) {
    const unknown = {
      compress: async (): Promise<Buffer> => {
        throw new KafkaCompressionUnsupported(`codec id ${id}`, "Kafka defines no such codec", "", "compress with a codec Kafka defines")
      },
      decompress: async (payload: Buffer): Promise<Buffer> => {
        throw new KafkaCompressionUnsupported(
          `an unknown codec (id ${id})`,
          "Kafka defines codecs 0-4 (none, gzip, snappy, lz4, zstd) only",
          where(payload),
          "have the producer use a codec Kafka defines",
          payload
        )
      }
    }
    codecs[id] = () => unknown
  }
  return nameFetchedPartitions()
}

// ---------------------------------------------------------------------------------------------
// @platformatic/kafka

interface PlatformaticCodec {
  decompressSync: ((data: Buffer) => Buffer) & { k2Guarded?: boolean }
}

/**
 * @platformatic/kafka decodes every codec itself (WASM snappy and lz4, node:zlib gzip and zstd), but
 * a batch its decoder fails on surfaced as the decoder's own words ("RuntimeError: unreachable"),
 * retried as a fetch 9 times before the consumer failed. Its decoders are wrapped (once per process:
 * the table is its module state) to fail with its UnsupportedCompressionError, which it does not
 * retry, naming the codec, the batch (its offset when the decoder is handed a view of the fetched
 * bytes, else its size) and the fix; `k2Batch` keeps what `at` needs to name the partitions. Its zstd
 * decodes each of a batch's frames (`zstdFrames`), as Java's consumer does, not the first alone.
 */
type PlatformaticUnsupported = new(message: string, properties?: { readonly k2Batch: KafkaCompressionUnsupported }) => Error

export const guardPlatformaticCodecs = (
  algorithms: Readonly<Record<string, PlatformaticCodec>>,
  Unsupported: PlatformaticUnsupported
) => {
  for (const codec of ["gzip", "snappy", "lz4", "zstd"]) {
    const algorithm = algorithms[codec]
    const decompress = algorithm?.decompressSync
    if (algorithm === undefined || decompress === undefined || decompress.k2Guarded === true) continue
    algorithm.decompressSync = Object.assign((data: Buffer) => {
      try {
        // Its zstd (node:zlib) decodes a batch's first frame only.
        return codec === "zstd" ? zstdEachFrame(data, decompress) : decompress(data)
      } catch (e) {
        const offset = batchBaseOffset(data)
        const batch = offset === undefined ? ` (a batch of ${data.length} compressed bytes)` : ` (the batch at offset ${offset}, ${data.length} compressed bytes)`
        const error = new KafkaCompressionUnsupported(codec, e instanceof Error ? `${e.name}: ${e.message}` : String(e), batch, corruptFix(codec))
        throw new Unsupported(error.message, { k2Batch: error })
      }
    }, { k2Guarded: true })
  }
}
