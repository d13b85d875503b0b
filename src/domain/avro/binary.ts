/**
 * A hand-written Avro binary writer for the wire codec's hot path (spec "Binary Encoding"):
 * longs as zig-zag varints, strings and bytes length-prefixed, unions by branch index, arrays
 * and maps as one block then 0. It writes straight into a shared arena and returns a view, with
 * no intermediate record object, no bigint for values that fit a double exactly and no buffer
 * per decimal: avsc's generic encoder spent most of its time allocating those. The bytes are
 * exactly avsc's (a property test compares them).
 */
import { BigDecimal } from "effect"
import { SCALE, toUnscaled } from "../decimal.ts"

const ARENA_BYTES = 256 * 1024
const TWO_32 = 4294967296
/** Below this a zig-zag value stays an exact double (2|n| < 2^53). */
const ZIGZAG_SAFE = 2 ** 52
const LONG_MIN = -(2n ** 63n)
const LONG_MAX = 2n ** 63n - 1n
const POW10 = Array.from({ length: SCALE + 1 }, (_, i) => 10 ** i)
/** BYTE_LIMIT[n] = 2^(8n-1): the smallest magnitude that needs more than n bytes. */
const BYTE_LIMIT = Array.from({ length: 8 }, (_, n) => 2 ** (8 * n - 1))

export class AvroWriter {
  private arena: Buffer = Buffer.allocUnsafe(ARENA_BYTES)
  private start = 0
  private pos = 0

  /** Begins a value; `reserve` bytes (the framing header) are left for the caller to fill. */
  begin(reserve: number): void {
    this.ensure(reserve)
    this.start = this.pos
    this.pos += reserve
  }

  /** The value written since `begin`, as a view of the arena (never overwritten later). */
  end(): Buffer {
    const out = this.arena.subarray(this.start, this.pos)
    this.start = this.pos
    return out
  }

  /** Room for `n` more bytes; a value that does not fit moves to a fresh arena. */
  private ensure(n: number): void {
    if (this.pos + n <= this.arena.length) return
    const written = this.pos - this.start
    const next = Buffer.allocUnsafe(Math.max(ARENA_BYTES, 2 * (written + n)))
    this.arena.copy(next, 0, this.start, this.pos)
    this.arena = next
    this.start = 0
    this.pos = written
  }

  byteAt(offset: number, value: number): void {
    this.arena[this.start + offset] = value
  }

  /** An unsigned varint of a non-negative integer below 2^53. */
  private varint(z: number): void {
    const a = this.arena
    let p = this.pos
    while (z >= 0x80) {
      a[p++] = (z % 0x80) | 0x80
      z = Math.floor(z / 0x80)
    }
    a[p++] = z
    this.pos = p
  }

  /** Avro int / long from an integer; any other number is refused (a fraction wrote another value). */
  long(n: number): void {
    if (!Number.isInteger(n)) throw new RangeError(`${n} is not an integer: it does not fit an Avro long`)
    this.ensure(10)
    if (n >= -ZIGZAG_SAFE && n < ZIGZAG_SAFE) this.varint(n >= 0 ? 2 * n : -2 * n - 1)
    else this.bigLong(BigInt(n))
  }

  /** Avro long from a bigint (all 64 bits); one that does not fit is refused, not wrapped. */
  bigLong(n: bigint): void {
    if (n >= -ZIGZAG_SAFE && n < ZIGZAG_SAFE) return this.long(Number(n))
    if (n < LONG_MIN || n > LONG_MAX) throw new RangeError(`${n} does not fit an Avro long (64 bits)`)
    this.ensure(10)
    let z = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n))
    const a = this.arena
    let p = this.pos
    while (z >= 0x80n) {
      a[p++] = Number(z & 0x7fn) | 0x80
      z >>= 7n
    }
    a[p++] = Number(z)
    this.pos = p
  }

  string(s: string): void {
    const n = s.length
    // ASCII, the usual case, is copied char by char: shorter than a native call for short text.
    if (n < 64) {
      this.ensure(1 + 3 * n)
      const a = this.arena
      let p = this.pos + 1
      let i = 0
      for (; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) break
        a[p++] = c
      }
      if (i === n) {
        a[this.pos] = 2 * n
        this.pos = p
        return
      }
    }
    const bytes = Buffer.byteLength(s, "utf8")
    this.ensure(10 + bytes)
    this.varint(2 * bytes)
    this.pos += this.arena.write(s, this.pos, bytes, "utf8")
  }

  nullableString(s: string | null): void {
    this.ensure(1)
    if (s === null) {
      this.arena[this.pos++] = 0
    } else {
      this.arena[this.pos++] = 2
      this.string(s)
    }
  }

  /** A union's branch index (null is branch 0 in every K2 schema). */
  branch(index: number): void {
    this.ensure(1)
    this.arena[this.pos++] = 2 * index
  }

  stringArray(items: ReadonlyArray<string>): void {
    if (items.length > 0) {
      this.long(items.length)
      for (let i = 0; i < items.length; i++) this.string(items[i]!)
    }
    this.long(0)
  }

  stringMap(map: Readonly<Record<string, string>>): void {
    const keys = Object.keys(map)
    if (keys.length > 0) {
      this.long(keys.length)
      for (const k of keys) {
        this.string(k)
        this.string(map[k]!)
      }
    }
    this.long(0)
  }

  /**
   * Avro bytes holding a decimal(18, 8): the unscaled value, minimal two's complement,
   * big-endian. Throws a RangeError for a value that does not fit decimal(18, 8) exactly.
   */
  decimal(field: string, d: BigDecimal.BigDecimal): void {
    let u = Number.NaN
    if (d.scale >= 0 && d.scale <= SCALE) {
      // Exact when the product is a safe integer: both factors are exact doubles.
      const product = Number(d.value) * POW10[SCALE - d.scale]!
      if (Number.isSafeInteger(product)) u = product
    }
    if (Number.isNaN(u)) return this.bigDecimal(field, d)
    let n = 1
    while (u >= BYTE_LIMIT[n]! || u < -BYTE_LIMIT[n]!) n++
    this.ensure(1 + n)
    const a = this.arena
    a[this.pos++] = 2 * n
    // |u| < 2^53: split into a signed high part and an unsigned low word, both exact.
    const hi = Math.floor(u / TWO_32)
    const lo = u - hi * TWO_32
    const end = this.pos + n
    for (let i = 0; i < n; i++) {
      a[end - 1 - i] = i < 4 ? (lo >>> (8 * i)) & 0xff : (hi >> (8 * (i - 4))) & 0xff
    }
    this.pos = end
  }

  private bigDecimal(field: string, d: BigDecimal.BigDecimal): void {
    const u = toUnscaled(d)
    if (u === undefined) throw new RangeError(`${field} does not fit decimal(18, 8): ${BigDecimal.format(d)}`)
    const bytes = unscaledToBytes(u)
    this.ensure(1 + bytes.length)
    this.arena[this.pos++] = 2 * bytes.length
    bytes.copy(this.arena, this.pos)
    this.pos += bytes.length
  }
}

/** An unscaled decimal as Avro decimal bytes: minimal two's complement, big-endian. */
export const unscaledToBytes = (v: bigint): Buffer => {
  if (v === 0n) return Buffer.from([0])
  // Minimal two's complement length.
  let n = 1
  while (v >= (1n << BigInt(8 * n - 1)) || v < -(1n << BigInt(8 * n - 1))) n++
  const out = Buffer.allocUnsafe(n)
  let x = v < 0n ? (1n << BigInt(8 * n)) + v : v
  if (n <= 6) {
    let y = Number(x)
    for (let i = n - 1; i >= 0; i--) {
      out[i] = y % 256
      y = Math.floor(y / 256)
    }
    return out
  }
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn)
    x >>= 8n
  }
  return out
}

