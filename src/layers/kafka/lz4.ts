/** LZ4 frames (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md, lz4_Block_format.md): Kafka's lz4 record batches. */
import { Corrupt } from "./compressionErrors.ts"
import { Out } from "./decoderOutput.ts"

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
