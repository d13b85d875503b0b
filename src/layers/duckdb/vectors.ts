/**
 * Fast readers over one DuckDB data chunk's vectors: the one way K2's hot paths (the replay, the
 * query engine's bars and pages) read DuckDB answers. The library's `getItem` decodes each string
 * with a TextDecoder over a freshly allocated view, tests validity with BigInt arithmetic and
 * builds decimals as bigints: most of the replay's time went there (profiled). These read the
 * vectors' memory directly: a string of at most 12 bytes lies inside its 16-byte slot (length,
 * bytes), so ASCII ones are built with String.fromCharCode; longer or non-ASCII ones go to the
 * library (a native call each, about a microsecond). Decimals that fit 2^53 are rendered with exact
 * number arithmetic, larger ones with bigints. Readers are plain functions over typed arrays (no
 * closure per column), so V8 can inline them into the row loop.
 *
 * They read fields the library declares private (@duckdb/node-api is pinned; the replay and query
 * tests compare every value with an independent computation, so a layout change fails them).
 */
import {
  DuckDBBigIntVector,
  DuckDBDecimal128Vector,
  DuckDBDecimal64Vector,
  DuckDBDoubleVector,
  DuckDBIntegerVector,
  DuckDBListVector,
  DuckDBMapVector,
  DuckDBUTinyIntVector,
  type DuckDBVector,
  DuckDBVarCharVector
} from "@duckdb/node-api"
import { type Fixed, formatFixed, OUTPUT_SCALE, rescale } from "../../domain/query/exact.ts"

interface Internals {
  readonly dataView?: DataView
  readonly items?: Float64Array | BigInt64Array | Int32Array | Uint8Array
  readonly validity?: { readonly data: BigUint64Array | null }
}

const internals = (vector: DuckDBVector) => vector as unknown as Internals

/** A query whose column types do not match what is read, or a library whose layout changed: a bug. */
const layoutError = (what: string) => new Error(`duckdb vectors: ${what} (the SQL or the @duckdb/node-api layout changed)`)

/** Validity bits as bytes (little-endian words: bit i is byte i >> 3, bit i & 7); null when every row is valid. */
const validityBytes = (vector: DuckDBVector): Uint8Array | null => {
  const data = internals(vector).validity?.data ?? null
  return data === null ? null : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

export const isNull = (valid: Uint8Array | null, row: number): boolean => valid !== null && (valid[row >> 3]! & (1 << (row & 7))) === 0

/** A VARCHAR column: each row a 16-byte slot, as 32-bit words (length first) and as bytes. */
export interface Texts {
  readonly words: Uint32Array
  readonly bytes: Uint8Array
  readonly valid: Uint8Array | null
  readonly vector: DuckDBVarCharVector
}

export const texts = (vector: DuckDBVector): Texts => {
  const view = internals(vector).dataView
  if (!(vector instanceof DuckDBVarCharVector) || !(view instanceof DataView) || view.byteOffset % 4 !== 0) {
    throw layoutError("not a VARCHAR vector")
  }
  return {
    words: new Uint32Array(view.buffer, view.byteOffset, view.byteLength >> 2),
    bytes: new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
    valid: validityBytes(vector),
    vector
  }
}

const char = String.fromCharCode

/** The string of a row known to be valid (see `isNull`). */
export const textAt = (t: Texts, row: number): string => {
  const w = row << 2
  const length = t.words[w]!
  // Inline bytes past the length are not ours to test: only ASCII when every byte of the string is.
  if (length > 12 || ((t.words[w + 1]! | t.words[w + 2]! | t.words[w + 3]!) & 0x80808080) !== 0 && !ascii(t.bytes, (row << 4) + 4, length)) {
    return t.vector.getItem(row)!
  }
  const b = t.bytes
  const at = (row << 4) + 4
  // Explicit arguments: V8 builds the string without an intermediate array.
  switch (length) {
    case 0: return ""
    case 1: return char(b[at]!)
    case 2: return char(b[at]!, b[at + 1]!)
    case 3: return char(b[at]!, b[at + 1]!, b[at + 2]!)
    case 4: return char(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!)
    case 5: return char(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!)
    case 6: return char(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!)
    case 7: return char(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!, b[at + 6]!)
    case 8: return char(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!, b[at + 6]!, b[at + 7]!)
    case 9: return char(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!, b[at + 6]!, b[at + 7]!, b[at + 8]!)
    case 10: return char(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!, b[at + 6]!, b[at + 7]!, b[at + 8]!, b[at + 9]!)
    case 11:
      return char(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!, b[at + 6]!, b[at + 7]!, b[at + 8]!, b[at + 9]!, b[at + 10]!)
    default:
      return char(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!, b[at + 6]!, b[at + 7]!, b[at + 8]!, b[at + 9]!, b[at + 10]!, b[at + 11]!)
  }
}

/** A string read as three pieces (query/sql.ts `pieces`, `idPieces`) of a row whose first piece is valid. */
export const joinedAt = (p0: Texts, p1: Texts, p2: Texts, row: number): string => {
  const head = textAt(p0, row)
  if (isNull(p1.valid, row)) return head
  const middle = head + textAt(p1, row)
  return isNull(p2.valid, row) ? middle : middle + textAt(p2, row)
}

/**
 * A reader of a text column selected as three pieces (query/sql.ts `pieces`) that repeat row
 * after row (a topic's): the same string while they do.
 */
export const repeatedPiecesReader = (p0: Texts, p1: Texts, p2: Texts): (row: number) => string | null => {
  const caches = [new Interned(), new Interned(), new Interned()] as const
  let head = "", middle = "", tail = ""
  let whole: string | null = null
  return (row) => {
    if (isNull(p0.valid, row)) return null
    const h = internedAt(p0, row, caches[0])
    const m = isNull(p1.valid, row) ? "" : internedAt(p1, row, caches[1])
    const t = isNull(p2.valid, row) ? "" : internedAt(p2, row, caches[2])
    if (whole === null || h !== head || m !== middle || t !== tail) {
      head = h
      middle = m
      tail = t
      whole = h + m + t
    }
    return whole
  }
}

const ascii = (bytes: Uint8Array, at: number, length: number) => {
  for (let k = 0; k < length; k++) if (bytes[at + k]! > 127) return false
  return true
}

const SLOTS = 256

/**
 * Recently read strings of a column with few distinct values (symbol, exchange, currency, ...),
 * by their 16-byte slot: a repeated value costs four word compares instead of a new string.
 */
export class Interned {
  readonly keys = new Uint32Array(SLOTS * 4)
  readonly values = new Array<string | undefined>(SLOTS).fill(undefined)
}

/** Like `textAt`, through `cache` for strings inline in their slot (a cache may span vectors). */
export const internedAt = (t: Texts, row: number, cache: Interned): string =>
  // A longer string's slot holds a pointer, not its content: a key only while its vector lives.
  t.words[row << 2]! > 12 ? t.vector.getItem(row)! : slotTextAt(t, row, cache)

/**
 * Like `internedAt`, long strings too: their slot's length and pointer name their bytes while the
 * vector lives (a repeated topic is one native read per chunk), so `cache` must not outlive it.
 */
export const slotTextAt = (t: Texts, row: number, cache: Interned): string => {
  const w = row << 2
  const words = t.words
  const w0 = words[w]!, w1 = words[w + 1]!, w2 = words[w + 2]!, w3 = words[w + 3]!
  const h = (Math.imul(w0 ^ w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca77) ^ w3) >>> 24
  const k = h << 2
  const keys = cache.keys
  const hit = cache.values[h]
  if (hit !== undefined && keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 && keys[k + 3] === w3) return hit
  const s = w0 > 12 ? t.vector.getItem(row)! : textAt(t, row)
  keys[k] = w0
  keys[k + 1] = w1
  keys[k + 2] = w2
  keys[k + 3] = w3
  cache.values[h] = s
  return s
}

/**
 * The string of every row when all `rows` hold the same one inline (a chunk's exchange, currency,
 * topic pieces: one pass of word compares instead of a lookup per row); undefined otherwise.
 */
export const uniformText = (t: Texts, rows: number): string | undefined => {
  const words = t.words
  const w0 = words[0]!, w1 = words[1]!, w2 = words[2]!, w3 = words[3]!
  if (t.valid !== null || w0 > 12) return undefined
  for (let w = 4, end = rows << 2; w < end; w += 4) {
    if (words[w] !== w0 || words[w + 1] !== w1 || words[w + 2] !== w2 || words[w + 3] !== w3) return undefined
  }
  return textAt(t, 0)
}

/** The values of a DOUBLE column (NULL rows hold garbage: read only rows known to be valid). */
export const doubles = (vector: DuckDBVector): Float64Array => {
  const items = internals(vector).items
  if (!(vector instanceof DuckDBDoubleVector) || !(items instanceof Float64Array)) throw layoutError("not a DOUBLE vector")
  return items
}

/** The values of an INTEGER column (NULL rows hold garbage). */
const integers = (vector: DuckDBVector): Int32Array => {
  const items = internals(vector).items
  if (!(vector instanceof DuckDBIntegerVector) || !(items instanceof Int32Array)) throw layoutError("not an INTEGER vector")
  return items
}

/** The values of a UTINYINT column (NULL rows hold garbage). */
export const ubytes = (vector: DuckDBVector): Uint8Array => {
  const items = internals(vector).items
  if (!(vector instanceof DuckDBUTinyIntVector) || !(items instanceof Uint8Array)) throw layoutError("not a UTINYINT vector")
  return items
}

export interface BigInts {
  readonly items: BigInt64Array
  readonly valid: Uint8Array | null
}

export const bigints = (vector: DuckDBVector): BigInts => {
  const items = internals(vector).items
  if (!(vector instanceof DuckDBBigIntVector) || !(items instanceof BigInt64Array)) throw layoutError("not a BIGINT vector")
  return { items, valid: validityBytes(vector) }
}

export const bigintAt = (b: BigInts, row: number): bigint | null => isNull(b.valid, row) ? null : b.items[row]!

/** A decimal(18, 8) column: each value its unscaled int64, as two 32-bit halves (low first). */
export interface Decimals {
  readonly halves: Int32Array
  readonly valid: Uint8Array | null
}

export const decimals = (vector: DuckDBVector): Decimals => {
  const view = internals(vector).dataView
  if (!(vector instanceof DuckDBDecimal64Vector) || vector.type.scale !== 8 || !(view instanceof DataView) || view.byteOffset % 4 !== 0) {
    throw layoutError("not a DECIMAL(18, 8) vector")
  }
  return { halves: new Int32Array(view.buffer, view.byteOffset, view.byteLength >> 2), valid: validityBytes(vector) }
}

/** The unscaled value of a valid row as a double (rounded past 2^53): for bounds, never for output. */
export const decimalApproxAt = (d: Decimals, row: number): number =>
  d.halves[(row << 1) + 1]! * TWO_32 + (d.halves[row << 1]! >>> 0)

/** "0000" .. "9999": the fraction's eight digits are two of these. */
const FOUR = Array.from({ length: 10_000 }, (_, i) => String(i + 10_000).slice(1))
const DOT_FOUR = FOUR.map((digits) => `.${digits}`)
const TWO_32 = 4_294_967_296

const DECIMAL_SLOTS_LOG2 = 10

/**
 * Texts rendered recently, by the number they render: a decimal column's values (prices and sizes
 * repeat: ticks, round lots), or `fixedText`'s leading digits.
 */
export class DecimalCache {
  readonly keys = new Float64Array(1 << DECIMAL_SLOTS_LOG2).fill(Number.NaN)
  readonly values = new Array<string>(1 << DECIMAL_SLOTS_LOG2).fill("")
}

/**
 * decimal(18, 8) text with exactly 8 places (DuckDB's own rendering) of a row known to be valid;
 * through `cache` for columns whose values repeat (a miss costs more than rendering).
 */
export const decimalAt = (d: Decimals, row: number, cache?: DecimalCache): string => {
  const low = d.halves[row << 1]!
  const high = d.halves[(row << 1) + 1]!
  // Beyond ±2^53 a double would round: exact bigint arithmetic instead (never for real prices).
  if (high >= 0x200000 || high < -0x200000) return formatFixed(BigInt(high) * BigInt(TWO_32) + BigInt(low >>> 0))
  const unscaled = high * TWO_32 + (low >>> 0)
  return cache === undefined ? fixedText(unscaled) : cachedText(unscaled, low, high, cache)
}

/** Multiplicative hashing: the top bits mix every bit, so values ending in zeros spread too. */
const cachedText = (unscaled: number, low: number, high: number, cache: DecimalCache): string => {
  const slot = Math.imul(low ^ Math.imul(high, 0x85ebca77), 0x9e3779b1) >>> (32 - DECIMAL_SLOTS_LOG2)
  if (cache.keys[slot] === unscaled) return cache.values[slot]!
  const text = fixedText(unscaled)
  cache.keys[slot] = unscaled
  cache.values[slot] = text
  return text
}

/**
 * The leading text (integer part, point, first four places) of recently rendered values, by
 * their leading digits: prices of an instrument share them, so most values cost one
 * concatenation instead of a number conversion and two (about a third of rendering a bar).
 */
const prefixes = new DecimalCache()

/** Text with exactly 8 places of an unscaled integer of magnitude at most 2^53 (exact in a double). */
export const fixedText = (unscaled: number): string => {
  const magnitude = unscaled < 0 ? -unscaled : unscaled
  // Integers below 2^53: the product and difference are exact; only the quotient may round up.
  let head = Math.trunc(magnitude / 10_000)
  let lower = magnitude - head * 10_000
  if (lower < 0) {
    head -= 1
    lower += 10_000
  }
  const slot = Math.imul(head | 0, 0x9e3779b1) >>> (32 - DECIMAL_SLOTS_LOG2)
  let prefix = prefixes.values[slot]!
  if (prefixes.keys[slot] !== head) {
    // head < 2^40: this quotient is exact after truncation.
    const integer = Math.trunc(head / 10_000)
    prefix = String(integer) + DOT_FOUR[head - integer * 10_000]!
    prefixes.keys[slot] = head
    prefixes.values[slot] = prefix
  }
  const digits = prefix + FOUR[lower]!
  return unscaled < 0 ? "-" + digits : digits
}

/** `formatFixed` at 8 places, through numbers when the value fits them exactly. */
export const bigFixedText = (unscaled: bigint): string => {
  // A safe integer after conversion was one before it (larger values convert to at least 2^53).
  const n = Number(unscaled)
  return Number.isSafeInteger(n) ? fixedText(n) : formatFixed(unscaled)
}

/**
 * A DECIMAL(38, s) column: each value its unscaled int128, as four 32-bit words (least
 * significant first), and as two 64-bit halves for the bigint path.
 */
export interface Decimals128 {
  readonly words: Int32Array
  readonly lows: BigUint64Array
  readonly highs: BigInt64Array
  readonly scale: number
  readonly valid: Uint8Array | null
}

export const decimals128 = (vector: DuckDBVector): Decimals128 => {
  const view = internals(vector).dataView
  if (!(vector instanceof DuckDBDecimal128Vector) || !(view instanceof DataView) || view.byteOffset % 8 !== 0) {
    throw layoutError("not a DECIMAL(38, s) vector")
  }
  const { buffer, byteOffset, byteLength } = view
  return {
    words: new Int32Array(buffer, byteOffset, byteLength >> 2),
    lows: new BigUint64Array(buffer, byteOffset, byteLength >> 3),
    highs: new BigInt64Array(buffer, byteOffset, byteLength >> 3),
    scale: vector.type.scale,
    valid: validityBytes(vector)
  }
}

/**
 * The unscaled value of a row known to be valid as a number when it lies in [-2^53, 2^53) (so is
 * exact), else NaN (then read `decimal128BigAt`).
 */
export const decimal128SafeAt = (d: Decimals128, row: number): number => {
  const w = row << 2
  const low = d.words[w]!, high = d.words[w + 1]!, top = d.words[w + 2]!, sign = d.words[w + 3]!
  // Fits 2^53 when the upper 64 bits only extend the sign of the lower word's 21 significant bits.
  if (top !== sign || (sign !== 0 && sign !== -1) || high >= 0x200000 || high < -0x200000 || (high < 0) !== (sign < 0)) return Number.NaN
  return high * TWO_32 + (low >>> 0)
}

/**
 * The unscaled value of a valid row as a double within a relative 2^-51 (three roundings of
 * non-negative sums), or NaN when negative: for estimates that are then checked
 * (`approxDivRoundHalfEven`), never for output.
 */
export const decimal128ApproxAt = (d: Decimals128, row: number): number => {
  const w = row << 2
  const sign = d.words[w + 3]!
  if (sign < 0) return Number.NaN
  return sign * 2 ** 96 + (d.words[w + 2]! >>> 0) * 2 ** 64 + (d.words[w + 1]! >>> 0) * TWO_32 + (d.words[w]! >>> 0)
}

/** The unscaled value of a row known to be valid, exact. */
export const decimal128BigAt = (d: Decimals128, row: number): bigint => {
  const safe = decimal128SafeAt(d, row)
  // The low half is unsigned: or-ing it in below the shifted high half adds it.
  return safe === safe ? BigInt(safe) : (d.highs[(row << 1) + 1]! << 64n) | d.lows[row << 1]!
}

/** The value of a row known to be valid as exact text at 8 places (rounded half-even from more). */
export const decimal128TextAt = (d: Decimals128, row: number): string => {
  if (d.scale === OUTPUT_SCALE) {
    const safe = decimal128SafeAt(d, row)
    return safe === safe ? fixedText(safe) : formatFixed(decimal128BigAt(d, row))
  }
  return bigFixedText(rescale({ unscaled: decimal128BigAt(d, row), scale: d.scale }))
}

/**
 * A decimal column at 8 places: DECIMAL(18, 8) as K2 writes it (int64), or one another engine widened
 * to decimal(20, 8) or wider (int128, ADR-2), read exactly either way.
 */
export type Decimals8 = Decimals | Decimals128

export const decimals8 = (vector: DuckDBVector): Decimals8 => {
  if (!(vector instanceof DuckDBDecimal128Vector)) return decimals(vector)
  const wide = decimals128(vector)
  if (wide.scale !== 8) throw layoutError(`a DECIMAL(38, ${wide.scale}) vector, not at 8 places`)
  return wide
}

export const decimal8At = (d: Decimals8, row: number, cache?: DecimalCache): string =>
  "halves" in d ? decimalAt(d, row, cache) : decimal128TextAt(d, row)

/** The unscaled value as a double, for bounds (NaN for a negative wide one). */
export const decimal8ApproxAt = (d: Decimals8, row: number): number =>
  "halves" in d ? decimalApproxAt(d, row) : decimal128ApproxAt(d, row)

/** The value of a row known to be valid, exact. */
export const decimal128FixedAt = (d: Decimals128, row: number): Fixed => ({ unscaled: decimal128BigAt(d, row), scale: d.scale })

/** A DOUBLE column with its validity. */
export interface Doubles {
  readonly items: Float64Array
  readonly valid: Uint8Array | null
}

export const nullableDoubles = (vector: DuckDBVector): Doubles => ({ items: doubles(vector), valid: validityBytes(vector) })

/** The item of a DOUBLE, BIGINT or INTEGER row, or null. */
export const numberAt = (d: Doubles | BigInts, row: number): number | bigint | null => isNull(d.valid, row) ? null : d.items[row]!

export interface Integers {
  readonly items: Int32Array
  readonly valid: Uint8Array | null
}

export const nullableIntegers = (vector: DuckDBVector): Integers => ({ items: integers(vector), valid: validityBytes(vector) })

export const integerAt = (d: Integers, row: number): number | null => isNull(d.valid, row) ? null : d.items[row]!

/** A LIST or MAP column: its list layout (entries as offset, length) and validity. */
export interface Lists {
  readonly entries: BigUint64Array
  readonly valid: Uint8Array | null
}

export const lists = (vector: DuckDBVector): Lists => {
  const list = vector instanceof DuckDBMapVector ? (vector as unknown as { readonly listVector: unknown }).listVector : vector
  const entries = (list as { readonly entryData?: unknown }).entryData
  if (!(list instanceof DuckDBListVector) || !(entries instanceof BigUint64Array)) throw layoutError("not a LIST or MAP vector")
  return { entries, valid: validityBytes(list) }
}

/** Whether a valid row's list or map is empty (then no conversion is needed). */
export const isEmptyAt = (l: Lists, row: number): boolean => l.entries[(row << 1) + 1] === 0n
