/**
 * Column readers over one DuckDB data chunk, for the replay's hot path. The library's `getItem`
 * decodes each string with a TextDecoder over a freshly allocated view and tests validity with
 * BigInt arithmetic: most of the replay's time went there (profiled). These read the vectors'
 * memory directly: a string of at most 12 bytes lies inside its 16-byte slot (length, bytes), so
 * ASCII ones are built with String.fromCharCode; longer or non-ASCII ones go to the library (a
 * native call each, about a microsecond: the replay SQL splits its long strings into pieces).
 *
 * They read fields the library declares private (@duckdb/node-api is pinned; the replay tests
 * compare every value with an independent computation, so a layout change fails them).
 */
import { DuckDBBigIntVector, DuckDBDoubleVector, type DuckDBVector, DuckDBVarCharVector } from "@duckdb/node-api"

interface Internals {
  readonly dataView?: DataView
  readonly items?: Float64Array | BigInt64Array
  readonly validity?: { readonly data: BigUint64Array | null }
}

const internals = (vector: DuckDBVector) => vector as unknown as Internals

/** A query whose column types do not match what is read, or a library whose layout changed: a bug. */
const layoutError = (what: string) => new Error(`replay: ${what} (the SQL or the @duckdb/node-api layout changed)`)

/** Validity bits as bytes (little-endian words: bit i is byte i >> 3, bit i & 7); null when every row is valid. */
const validityBytes = (vector: DuckDBVector): Uint8Array | null => {
  const data = internals(vector).validity?.data ?? null
  return data === null ? null : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

const SCRATCH = Array.from({ length: 13 }, (_, n) => new Array<number>(n).fill(0))

/** Row → string (null where NULL) of a VARCHAR column. */
export const varchar = (vector: DuckDBVector): (row: number) => string | null => {
  const view = internals(vector).dataView
  if (!(vector instanceof DuckDBVarCharVector) || !(view instanceof DataView)) throw layoutError("not a VARCHAR vector")
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
  const valid = validityBytes(vector)
  return (row) => {
    if (valid !== null && (valid[row >> 3]! & (1 << (row & 7))) === 0) return null
    const at = row * 16
    const length = view.getUint32(at, true)
    if (length > 12) return vector.getItem(row)
    const codes = SCRATCH[length]!
    for (let k = 0; k < length; k++) {
      const b = bytes[at + 4 + k]!
      if (b > 127) return vector.getItem(row)
      codes[k] = b
    }
    return String.fromCharCode.apply(null, codes)
  }
}

/** The values of a DOUBLE column (NULL rows hold garbage: read only rows known to be valid). */
export const doubles = (vector: DuckDBVector): Float64Array => {
  const items = internals(vector).items
  if (!(vector instanceof DuckDBDoubleVector) || !(items instanceof Float64Array)) throw layoutError("not a DOUBLE vector")
  return items
}

/** Row → bigint (null where NULL) of a BIGINT column. */
export const bigints = (vector: DuckDBVector): (row: number) => bigint | null => {
  const items = internals(vector).items
  if (!(vector instanceof DuckDBBigIntVector) || !(items instanceof BigInt64Array)) throw layoutError("not a BIGINT vector")
  const valid = validityBytes(vector)
  return valid === null ? (row) => items[row]! : (row) => (valid[row >> 3]! & (1 << (row & 7))) === 0 ? null : items[row]!
}

/**
 * decimal(18, 8) text with exactly 8 places from its integer part and its fraction × 10^8, both
 * truncated towards zero (so they share the value's sign) and exact in a double.
 */
export const decimalText = (integer: number, fraction: number): string => {
  const negative = integer < 0 || fraction < 0
  const digits = `${negative ? -integer : integer}.${String((negative ? -fraction : fraction) + 100_000_000).slice(1)}`
  return negative ? `-${digits}` : digits
}
