/** Output of unknown length (LZ4 frames without a content size), with the back-references snappy and LZ4 share. */
import { Corrupt } from "./compressionErrors.ts"

export class Out {
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
