/**
 * A hand-written Avro binary reader for the wire codec's hot path, the mirror of binary.ts: it
 * reads trades and quotes written with our own schemas straight from the record's bytes, with
 * decimals to their unscaled integer (no buffer per decimal, and a number rather than a bigint
 * within 48 bits), longs as doubles where exact, and the codes (symbol, exchange, currency, side,
 * conditions, vendor keys: few distinct values) interned rather than allocated per record. avsc's
 * generic reader spent most of ingestion's decode time allocating those. Values written with other
 * writer schemas still go through avsc (schema resolution); a property test checks that both
 * readers agree on every input.
 */
import { isUtf8 } from "node:buffer"
import { setEntry } from "../wire.ts"

/** The bytes end before the value does. */
export class Truncated extends Error {}

/** Bytes no Avro writer of the schema produces (a negative length, an unknown union branch, a string not UTF-8). */
export class Malformed extends Error {}

/** Codes this short are looked up in the intern table. */
const INTERN_MAX_BYTES = 24
const INTERN_SLOTS = 4096
// Most records have no conditions and no vendor data: one frozen empty value each, not one per record.
const NO_CODES: ReadonlyArray<string> = Object.freeze([])
const NO_ENTRIES: Readonly<Record<string, string>> = Object.freeze({})

/** A decimal's unscaled integer: a number within 48 bits (`AvroReader.unscaled`), else a bigint. */
export type Unscaled = number | bigint

/**
 * The integer of decimal bytes `b[start, start + n)` (big-endian two's complement) for n ≤ 6: 48
 * bits, which a double holds exactly.
 */
const numberAt = (b: Uint8Array, start: number, n: number): number => {
  let v = 0
  for (let i = start; i < start + n; i++) v = v * 256 + b[i]!
  return n > 0 && b[start]! & 0x80 ? v - 2 ** (8 * n) : v
}

/** The unscaled integer of decimal bytes `b[start, start + n)` (big-endian two's complement). */
export const unscaledAt = (b: Uint8Array, start: number, n: number): bigint => {
  if (n <= 6) return BigInt(numberAt(b, start, n))
  let v = 0n
  if (n <= 16) {
    for (let i = start; i < start + n; i++) v = (v << 8n) | BigInt(b[i]!)
  } else {
    // Byte by byte is quadratic in n (each shift copies the bigint): a poison record with a
    // 200 KB decimal held the thread for minutes. Hex parsing is linear.
    v = BigInt(`0x${Buffer.from(b.buffer, b.byteOffset + start, n).toString("hex")}`)
  }
  if (b[start]! & 0x80) v -= 1n << BigInt(8 * n)
  return v
}

export class AvroReader {
  private buf: Buffer = Buffer.alloc(0)
  private pos = 0
  // The intern table: per slot, the bytes of a string and the string, overwritten on collision.
  private readonly internBytes: Array<Buffer | undefined> = new Array(INTERN_SLOTS)
  private readonly internStrings: Array<string> = new Array(INTERN_SLOTS)

  /** Starts reading `buf` at `pos`. */
  reset(buf: Buffer, pos: number): void {
    this.buf = buf
    this.pos = pos
  }

  /** Where the next value starts; `buf.length` when everything was read. */
  get offset(): number {
    return this.pos
  }

  private byte(): number {
    if (this.pos >= this.buf.length) throw new Truncated()
    return this.buf[this.pos++]!
  }

  /**
   * A zig-zag long as a double when it is exact (its zig-zag value below 2^53: every long a
   * feed sends), else undefined: the caller reads such a value with `bigLong` from the start.
   */
  private varint(): number | undefined {
    let z = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      const b = this.byte()
      // Partial sums only grow, so a final sum within 2^53 was exact all along.
      z += (b & 0x7f) * scale
      if (b < 0x80) return z > Number.MAX_SAFE_INTEGER ? undefined : z % 2 === 0 ? z / 2 : -(z + 1) / 2
      scale *= 0x80
    }
    return undefined
  }

  /** A long as a double; one beyond 2^53 in magnitude is Malformed here (callers that accept them use bigLong). */
  long(): number {
    const n = this.longOrNaN()
    if (Number.isNaN(n)) throw new Malformed("long beyond 2^53")
    return n
  }

  /** A long as a double, or NaN when it is beyond 2^53 in magnitude (for range checks). */
  longOrNaN(): number {
    const start = this.pos
    const v = this.varint()
    if (v !== undefined) return v
    this.pos = start
    const n = Number(this.bigLong())
    return Number.isSafeInteger(n) ? n : NaN
  }

  /** Any long, exactly. */
  bigLong(): bigint {
    const start = this.pos
    const small = this.varint()
    if (small !== undefined) return BigInt(small)
    this.pos = start
    let z = 0n
    let shift = 0n
    for (let i = 0; i < 10; i++) {
      const b = this.byte()
      z |= BigInt(b & 0x7f) << shift
      // A long is 64 bits: a tenth byte holds the last one.
      if (i === 9 && b > 1) throw new Malformed("long beyond 64 bits")
      if (b < 0x80) return (z >> 1n) ^ -(z & 1n)
      shift += 7n
    }
    throw new Malformed("varint longer than 10 bytes")
  }

  private length(): number {
    const n = this.long()
    if (n < 0) throw new Malformed(`negative length ${n}`)
    if (this.pos + n > this.buf.length) throw new Truncated()
    return n
  }

  string(): string {
    const n = this.length()
    const start = this.pos
    this.pos += n
    return this.text(start, n)
  }

  /**
   * The UTF-8 text of `buf[start, start + n)`. Bytes that are not UTF-8 are Malformed: decoded,
   * they became U+FFFD, so two different ids read alike and corrupt text was stored as another.
   * The decoder puts U+FFFD for them, so only text holding it is checked.
   */
  private text(start: number, n: number): string {
    const s = this.buf.toString("utf8", start, start + n)
    if (s.includes("\uFFFD") && !isUtf8(this.buf.subarray(start, start + n))) throw new Malformed("a string is not UTF-8")
    return s
  }

  /** A string of a field with few distinct values (symbol, exchange, currency ...): interned. */
  code(): string {
    const n = this.length()
    const start = this.pos
    this.pos += n
    return n <= INTERN_MAX_BYTES ? this.interned(start, n) : this.text(start, n)
  }

  private interned(start: number, n: number): string {
    const buf = this.buf
    let h = 0x811c9dc5
    for (let i = start; i < start + n; i++) h = Math.imul(h ^ buf[i]!, 0x01000193)
    const slot = (h >>> 0) % INTERN_SLOTS
    const known = this.internBytes[slot]
    if (known !== undefined && known.length === n) {
      let same = true
      for (let i = 0; i < n; i++) {
        if (known[i] !== buf[start + i]) {
          same = false
          break
        }
      }
      if (same) return this.internStrings[slot]!
    }
    const s = this.text(start, n)
    this.internBytes[slot] = Buffer.from(buf.subarray(start, start + n))
    this.internStrings[slot] = s
    return s
  }

  /**
   * Decimal bytes (big-endian two's complement) as the unscaled integer: a number when it takes 6
   * bytes or fewer (every price and size of a feed), so reading one allocates no bigint.
   */
  unscaled(): Unscaled {
    const n = this.length()
    const start = this.pos
    this.pos += n
    return n <= 6 ? numberAt(this.buf, start, n) : unscaledAt(this.buf, start, n)
  }

  /** The branch index of a union of `branches`. */
  branch(branches: number): number {
    const i = this.long()
    if (i < 0 || i >= branches) throw new Malformed(`union branch ${i} of ${branches}`)
    return i
  }

  /** The item count of the next array or map block; 0 ends it. A negative count is followed by the block's size. */
  private blockCount(): number {
    const n = this.long()
    if (n >= 0) return n
    this.long()
    return -n
  }

  /** Skips a bytes value. */
  skipBytes(): void {
    const n = this.length()
    this.pos += n
  }

  /** Skips a string value, Malformed when it is not UTF-8. */
  skipString(): void {
    const n = this.length()
    if (!isUtf8(this.buf.subarray(this.pos, this.pos + n))) throw new Malformed("a string is not UTF-8")
    this.pos += n
  }

  /** Skips `n` bytes (a fixed, float or double). */
  skipFixed(n: number): void {
    if (this.pos + n > this.buf.length) throw new Truncated()
    this.pos += n
  }

  /**
   * The block size in bytes that followed the last negative count `blockItems` read, else -1.
   * avsc skips a field ours lacks by it, not by its items: `blockEnd` holds the items to it.
   */
  blockBytes = -1

  /**
   * The item count of the next array or map block, 0 at the end; a count beyond the bytes left
   * is Malformed, since no real item of ours takes less than a byte. A negative count's block
   * size is kept in `blockBytes`: one that is negative or beyond the bytes left is Malformed.
   */
  blockItems(): number {
    const count = this.long()
    let n = count
    this.blockBytes = -1
    if (count < 0) {
      n = -count
      const size = this.long()
      if (size < 0 || size > this.buf.length - this.pos) {
        throw new Malformed(`block size ${size} with ${this.buf.length - this.pos} bytes left`)
      }
      this.blockBytes = size
    }
    if (n > this.buf.length - this.pos) throw new Malformed(`block of ${n} items in ${this.buf.length - this.pos} bytes`)
    return n
  }

  /**
   * After a block's items read from `start`: Malformed when the block gave a size (`bytes`, from
   * `blockBytes`) other than the bytes they took. avsc's skip went by the size, so it read the
   * rest from another place than this walk (a size of -2 went back onto the count for ever).
   */
  blockEnd(bytes: number, start: number): void {
    if (bytes !== -1 && this.pos - start !== bytes) {
      throw new Malformed(`block size ${bytes}, its items take ${this.pos - start} bytes`)
    }
  }

  /** An array of codes; an empty one is shared (values are read-only). */
  codeArray(): ReadonlyArray<string> {
    let n = this.blockCount()
    if (n === 0) return NO_CODES
    const out: Array<string> = []
    for (; n !== 0; n = this.blockCount()) {
      for (let i = 0; i < n; i++) out.push(this.code())
    }
    return out
  }

  /** A map of codes to strings; an empty one is shared. */
  stringMap(): Readonly<Record<string, string>> {
    let n = this.blockCount()
    if (n === 0) return NO_ENTRIES
    const out: Record<string, string> = {}
    for (; n !== 0; n = this.blockCount()) {
      for (let i = 0; i < n; i++) {
        const key = this.code()
        setEntry(out, key, this.string())
      }
    }
    return out
  }
}
