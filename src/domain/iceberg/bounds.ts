/**
 * Iceberg binary single-value serialization (spec Appendix D) for primitive types,
 * as used by the lower/upper bounds of data files and manifest partition summaries,
 * plus the string truncation Java applies to metrics (`truncate(16)`).
 *
 * JS values: boolean → boolean; int, date → number; float, double → number;
 * long, timestamp, timestamptz → bigint (micros for timestamps); decimal → bigint
 * (the unscaled value); string → string; binary → Uint8Array.
 */
import type { PrimitiveType } from "./spec.ts"

export type BoundValue = boolean | number | bigint | string | Uint8Array

/** Java's default metrics mode for every column: `truncate(16)`. */
export const DEFAULT_TRUNCATE_LENGTH = 16

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder("utf-8", { fatal: true })

const isDecimal = (type: PrimitiveType): type is `decimal(${number}, ${number})` => type.startsWith("decimal(")

const fixed = (size: number, write: (view: DataView) => void): Uint8Array => {
  const bytes = new Uint8Array(size)
  write(new DataView(bytes.buffer))
  return bytes
}

const viewOf = (bytes: Uint8Array, size: number, type: PrimitiveType): DataView => {
  if (bytes.length !== size) throw new RangeError(`${type} bound must be ${size} bytes, got ${bytes.length}`)
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

const expect = <T extends BoundValue>(type: PrimitiveType, value: BoundValue, guard: (v: BoundValue) => v is T): T => {
  if (!guard(value)) throw new TypeError(`invalid ${type} value: ${String(value)}`)
  return value
}
const isNumber = (v: BoundValue): v is number => typeof v === "number"
const isBigint = (v: BoundValue): v is bigint => typeof v === "bigint"
const isString = (v: BoundValue): v is string => typeof v === "string"
const isBoolean = (v: BoundValue): v is boolean => typeof v === "boolean"
const isBytes = (v: BoundValue): v is Uint8Array => v instanceof Uint8Array

/** Two's-complement big-endian with the fewest bytes that keep the sign (Java BigInteger.toByteArray). */
const encodeUnscaled = (unscaled: bigint): Uint8Array => {
  let byteCount = 1
  while (unscaled < -(1n << BigInt(8 * byteCount - 1)) || unscaled >= 1n << BigInt(8 * byteCount - 1)) byteCount++
  const bytes = new Uint8Array(byteCount)
  let rest = BigInt.asUintN(8 * byteCount, unscaled)
  for (let i = byteCount - 1; i >= 0; i--) {
    bytes[i] = Number(rest & 0xffn)
    rest >>= 8n
  }
  return bytes
}

const decodeUnscaled = (bytes: Uint8Array): bigint => {
  if (bytes.length === 0) throw new RangeError("decimal bound must not be empty")
  let value = 0n
  for (const byte of bytes) value = (value << 8n) | BigInt(byte)
  return BigInt.asIntN(8 * bytes.length, value)
}

export const encode = (type: PrimitiveType, value: BoundValue): Uint8Array => {
  if (isDecimal(type)) return encodeUnscaled(expect(type, value, isBigint))
  switch (type) {
    case "boolean":
      return Uint8Array.of(expect(type, value, isBoolean) ? 1 : 0)
    case "int":
    case "date": {
      const n = expect(type, value, isNumber)
      if (!Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 31) throw new RangeError(`${type} out of range: ${n}`)
      return fixed(4, (view) => view.setInt32(0, n, true))
    }
    case "long":
    case "timestamp":
    case "timestamptz": {
      const n = expect(type, value, isBigint)
      if (BigInt.asIntN(64, n) !== n) throw new RangeError(`${type} out of range: ${n}`)
      return fixed(8, (view) => view.setBigInt64(0, n, true))
    }
    case "float":
      return fixed(4, (view) => view.setFloat32(0, expect(type, value, isNumber), true))
    case "double":
      return fixed(8, (view) => view.setFloat64(0, expect(type, value, isNumber), true))
    case "string":
      return utf8Encoder.encode(expect(type, value, isString))
    case "binary":
      return Uint8Array.from(expect(type, value, isBytes))
  }
}

export const decode = (type: PrimitiveType, bytes: Uint8Array): BoundValue => {
  if (isDecimal(type)) return decodeUnscaled(bytes)
  switch (type) {
    case "boolean":
      if (bytes.length !== 1) throw new RangeError(`boolean bound must be 1 byte, got ${bytes.length}`)
      return bytes[0] !== 0
    case "int":
    case "date":
      return viewOf(bytes, 4, type).getInt32(0, true)
    case "long":
    case "timestamp":
    case "timestamptz":
      return viewOf(bytes, 8, type).getBigInt64(0, true)
    case "float":
      return viewOf(bytes, 4, type).getFloat32(0, true)
    case "double":
      return viewOf(bytes, 8, type).getFloat64(0, true)
    case "string":
      return utf8Decoder.decode(bytes)
    case "binary":
      return Uint8Array.from(bytes)
  }
}

/** Lower bound of a string truncated to `length` code points: its prefix (a prefix sorts first). */
export const truncateStringLower = (value: string, length = DEFAULT_TRUNCATE_LENGTH): string =>
  Array.from(value).slice(0, length).join("")

/**
 * Upper bound of a string truncated to `length` code points (Java's
 * `UnicodeUtil.truncateStringMax`): the prefix with its last code point that can be
 * incremented incremented, skipping the surrogate range; null when none can.
 */
export const truncateStringUpper = (value: string, length = DEFAULT_TRUNCATE_LENGTH): string | null => {
  const codePoints = Array.from(value, (c) => c.codePointAt(0)!)
  if (codePoints.length <= length) return value
  for (let i = length - 1; i >= 0; i--) {
    const next = codePoints[i]! + 1
    if (next <= 0x10ffff) {
      return String.fromCodePoint(...codePoints.slice(0, i), next === 0xd800 ? 0xe000 : next)
    }
  }
  return null
}

/** Unsigned lexicographic byte order: UTF-8 strings in code point order, as Iceberg compares them. */
const compareBytes = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!
  }
  return a.length - b.length
}

/** Orders two serialized bounds of the same type: negative, zero or positive. */
export const compareBounds = (type: PrimitiveType, a: Uint8Array, b: Uint8Array): number => {
  if (type === "string" || type === "binary") return compareBytes(a, b)
  const x = decode(type, a)
  const y = decode(type, b)
  return x < y ? -1 : x > y ? 1 : 0
}
