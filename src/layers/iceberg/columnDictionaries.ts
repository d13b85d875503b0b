/**
 * Which columns of a batch are worth loading as codes rather than values, decided in JS before
 * any DuckDB work: the appender pays a native call per string, list or map value, none per code.
 */
import type { Column } from "../../domain/columnBatch.ts"
import type { IcebergType } from "../../domain/iceberg/spec.ts"

/** A NUL or a lone surrogate: an ENUM's type cannot hold such a value (its DDL ends at a NUL; a lone surrogate's value is no member). */
const NOT_ENUM = /[\u0000\p{Cs}]/u

/**
 * Distinct values of a string column when there are few of them, else null. Such a
 * column is loaded as an ENUM: setting a string in a VARCHAR vector is one native call
 * per value (~0.25 µs, most of the load time), an ENUM index is plain JS. A column with a
 * value an ENUM cannot hold (NOT_ENUM) is loaded as VARCHAR: as an ENUM it failed the flush.
 */
export const smallDictionary = (data: Column): ReadonlyArray<string> | null => {
  const limit = Math.min(65_535, data.length >> 3)
  const seen = new Set<string>()
  let last: unknown
  for (const v of data) {
    // Runs of one value (a feed's exchange, currency, topic) skip the set.
    if (v === last || v == null) continue
    last = v
    if (seen.has(v as string)) continue
    if (seen.size === limit || NOT_ENUM.test(v as string)) return null
    seen.add(v as string)
  }
  return seen.size === 0 ? null : [...seen]
}

/** A list or map column loaded as codes into a list of its distinct values. */
export interface Dictionary {
  readonly codes: ReadonlyArray<number | null>
  readonly values: ReadonlyArray<unknown>
}

/** A list<string> or map<string, string>: the column types `collectionDictionary` codes. */
export const isDictionaryType = (type: IcebergType) =>
  typeof type !== "string" &&
  ((type.type === "list" && type.element === "string") ||
    (type.type === "map" && type.key === "string" && type.value === "string"))

/**
 * Codes for a list<string> or map<string, string> column (a map is an array of pairs) with
 * few distinct values, else null. A LIST or MAP value costs several native calls per row in
 * the appender; an integer code costs none, and the values are looked up in SQL (a list
 * parameter indexed by the code). Empty and one-element values, the usual ones, are found
 * without building a key string.
 */
export const collectionDictionary = (data: Column): Dictionary | null => {
  const limit = Math.min(4_096, data.length >> 3)
  const values: Array<unknown> = []
  const codes = new Array<number | null>(data.length)
  let empty: number | undefined
  const single = new Map<string, number>()
  const pairs = new Map<string, Map<string, number>>()
  const other = new Map<string, number>()
  const codeIn = <K>(map: Map<K, number>, key: K, value: unknown) => {
    let code = map.get(key)
    if (code === undefined && values.length < limit) {
      code = values.push(value) - 1
      map.set(key, code)
    }
    return code
  }
  // Feeds reuse their empty values: the same object as the previous row has its code.
  let last: unknown
  let lastCode = 0
  for (let r = 0; r < data.length; r++) {
    const v = data[r] as ReadonlyArray<unknown> | null | undefined
    if (v == null) {
      codes[r] = null
      continue
    }
    if (v === last) {
      codes[r] = lastCode
      continue
    }
    let code: number | undefined
    const e = v[0]
    if (v.length === 0) {
      code = empty ??= values.length < limit ? values.push(v) - 1 : undefined
    } else if (v.length === 1 && typeof e === "string") {
      code = codeIn(single, e, v)
    } else if (v.length === 1 && Array.isArray(e) && typeof e[0] === "string" && typeof e[1] === "string") {
      let byValue = pairs.get(e[0])
      if (byValue === undefined) pairs.set(e[0], byValue = new Map())
      code = codeIn(byValue, e[1] as string, v)
    } else {
      code = codeIn(other, JSON.stringify(v), v)
    }
    if (code === undefined) return null
    codes[r] = code
    last = v
    lastCode = code
  }
  return { codes, values }
}

/** The value every row of a string column holds, or undefined (rows differ, or some are null). */
export const constantString = (data: Column): string | undefined => {
  const first = data[0]
  if (typeof first !== "string") return undefined
  for (let r = 1; r < data.length; r++) if (data[r] !== first) return undefined
  return first
}
