/** zstd: node:zlib (Node 22.15+; engines asks for 22.19), every frame of a batch, not the first alone. */
import * as zlib from "node:zlib"
import { Corrupt, NoZstd } from "./compressionErrors.ts"

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
export const zstdDecompress = async (input: Uint8Array): Promise<Buffer> => {
  const frames = zstdFrames(input)
  if (frames === undefined) return zstdDecompressOne(input)
  return Buffer.concat(await Promise.all(frames.map(zstdDecompressOne)))
}
