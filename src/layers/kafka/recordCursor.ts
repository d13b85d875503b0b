/** Reading the fields of a record batch's records: Kafka's zigzag varints and varlongs, and 64-bit integers. */

const TWO_32 = 4294967296

/** Reads varints from `buf` at `pos` (Kafka's zigzag encoding). */
export class Cursor {
  pos = 0
  buf: Buffer
  constructor(buf: Buffer) {
    this.buf = buf
  }
  reset(buf: Buffer, pos: number) {
    this.buf = buf
    this.pos = pos
  }
  /** Where record `i`, whose length is read here, ends: within `dataEnd`, the end of the batch's records. */
  recordEnd(i: number, dataEnd: number): number {
    const length = this.varint()
    const end = this.pos + length
    if (length < 0 || end > dataEnd) throw new RangeError(`record ${i} ends past the batch's records`)
    return end
  }
  /** A zigzag varint of at most 32 bits. */
  varint(): number {
    const buf = this.buf
    let v = 0
    let shift = 0
    let b: number
    do {
      if (shift > 28) throw new RangeError("a varint longer than 5 bytes in a record batch")
      b = buf[this.pos++]!
      if (b === undefined) throw new RangeError("a record batch ends inside a record")
      v |= (b & 0x7f) << shift
      shift += 7
    } while ((b & 0x80) !== 0)
    return (v >>> 1) ^ -(v & 1)
  }
  /** A zigzag varlong as a number when exact, else undefined (the cursor past it either way). */
  varlongNumber(): number | undefined {
    const buf = this.buf
    let v = 0
    let mul = 1
    let b: number
    let bytes = 0
    do {
      if (++bytes > 10) throw new RangeError("a varlong longer than 10 bytes in a record batch")
      b = buf[this.pos++]!
      if (b === undefined) throw new RangeError("a record batch ends inside a record")
      v += (b & 0x7f) * mul
      mul *= 128
    } while ((b & 0x80) !== 0)
    if (v > Number.MAX_SAFE_INTEGER) return undefined
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2
  }
  /** The same varlong, exact, as a bigint: its bits past 64 dropped, as Java's `ByteUtils.readVarlong` does. */
  varlongBig(at: number): bigint {
    const buf = this.buf
    let v = 0n
    let shift = 0n
    let b: number
    let p = at
    do {
      b = buf[p++]!
      v |= BigInt(b & 0x7f) << shift
      shift += 7n
    } while ((b & 0x80) !== 0)
    this.pos = p
    v = BigInt.asUintN(64, v)
    return (v >> 1n) ^ -(v & 1n)
  }
}

/** 64-bit big-endian integer at `at` as a number (exact when safe), for the fast paths. */
export const int64Number = (buf: Buffer, at: number): number => buf.readInt32BE(at) * TWO_32 + buf.readUInt32BE(at + 4)
