/**
 * The order a batch's rows are written in: partition by partition (the spec's transforms), each
 * partition sorted by the table's sort order. Computed over row numbers (counting sorts over
 * few-valued keys, then a TimSort), so the writer moves each row once (ADR-12).
 */
import { Result } from "effect"
import type { Column as Values, ColumnBatch } from "../columnBatch.ts"
import { fieldValues, partitionOf, type Partitioning } from "./partitioning.ts"
import { DECIMAL_TYPE, type NestedField, type PartitionValues, type PrimitiveType, type Schema, type SortOrder } from "./spec.ts"

/**
 * How one sort key orders rows: by ranks below `buckets` (a counting sort, linear time), or by
 * comparing two rows.
 */
type RowKey = RankKey | { readonly compare: (a: number, b: number) => number }

interface RankKey {
  readonly ranks: Int32Array
  readonly buckets: number
}

/** Code point order (= UTF-8 byte order, DuckDB's and Iceberg's); UTF-16 order differs only between surrogates and U+E000..U+FFFF. */
const compareStrings = (a: string, b: string): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    if (x < 0xd800 || y < 0xd800) return x - y
    return (x >= 0xe000 ? x - 0x800 : x + 0x2000) - (y >= 0xe000 ? y - 0x800 : y + 0x2000)
  }
  return a.length - b.length
}

/**
 * Ranks of a column's distinct values in DuckDB's order, nulls first or last (NaN is above every
 * number, as in DuckDB); null when all rows rank the same, so the key orders nothing. Never of
 * binary values: `sortKeys` refuses binary columns, and a void partition's values are all null.
 */
const rankKey = (
  data: Values,
  n: number,
  type: PrimitiveType,
  descending: boolean,
  nullsFirst: boolean
): RankKey | null => {
  const rank = new Map<unknown, number>()
  let nulls = 0
  let last: unknown
  // Runs of one value (a day, a symbol) skip the map.
  for (let r = 0; r < n; r++) {
    const v = data[r]
    if (v == null) nulls++
    else if (v !== last) rank.set(last = v, 0)
  }
  if (rank.size + (nulls > 0 ? 1 : 0) <= 1) return null
  const compare = type === "string"
    ? compareStrings
    : type === "float" || type === "double"
    ? (a: number, b: number) => (Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : Number.isNaN(b) ? -1 : a - b)
    : type === "boolean"
    ? (a: boolean, b: boolean) => Number(a) - Number(b)
    : (a: number | bigint, b: number | bigint) => (a < b ? -1 : a > b ? 1 : 0)
  const sorted = [...rank.keys()].sort(compare as (a: unknown, b: unknown) => number)
  if (descending) sorted.reverse()
  sorted.forEach((v, i) => rank.set(v, nullsFirst ? i + 1 : i))
  const nullRank = nullsFirst ? 0 : sorted.length
  const ranks = new Int32Array(n)
  let lastRank = 0
  last = undefined
  for (let r = 0; r < n; r++) {
    const v = data[r]
    if (v == null) ranks[r] = nullRank
    else ranks[r] = v === last ? lastRank : (lastRank = rank.get(last = v)!)
  }
  return { ranks, buckets: sorted.length + 1 }
}

/** Integers (int, date) and bigints (long, timestamps, unscaled decimals) compare directly. */
const compareKey = (data: Values, descending: boolean, nullsFirst: boolean): RowKey => {
  const [direction, nulls] = [descending ? -1 : 1, nullsFirst ? -1 : 1]
  return {
    compare: (a, b) => {
      const x = data[a] as number | bigint | null | undefined
      const y = data[b] as number | bigint | null | undefined
      if (x == null || y == null) return x == null ? (y == null ? 0 : nulls) : -nulls
      return x < y ? -direction : x > y ? direction : 0
    }
  }
}

const isIntegerType = (type: PrimitiveType) =>
  type === "int" || type === "long" || type === "date" || type === "timestamp" || type === "timestamptz" ||
  DECIMAL_TYPE.test(type)

/**
 * Row indices ordered by `keys`, most significant first. Counting sorts over the rank keys
 * (least significant first, each stable) group the rows, each group in arrival order; if the
 * result is not yet in order, a TimSort over all keys finishes it, near-linear when groups
 * arrive in order (a symbol's trades come in time order).
 */
const sortRows = (n: number, keys: ReadonlyArray<RowKey>): Int32Array => {
  let order = new Int32Array(n)
  for (let r = 0; r < n; r++) order[r] = r
  for (let k = keys.length - 1; k >= 0; k--) {
    const key = keys[k]!
    if ("compare" in key) continue
    const { buckets, ranks } = key
    const next = new Int32Array(buckets + 1)
    for (let i = 0; i < n; i++) next[ranks[order[i]!]! + 1]!++
    for (let b = 1; b <= buckets; b++) next[b]! += next[b - 1]!
    const out = new Int32Array(n)
    for (let i = 0; i < n; i++) out[next[ranks[order[i]!]!]!++] = order[i]!
    order = out
  }
  if (keys.every((key) => !("compare" in key))) return order
  const compare = (a: number, b: number) => {
    for (const key of keys) {
      const c = "compare" in key ? key.compare(a, b) : key.ranks[a]! - key.ranks[b]!
      if (c !== 0) return c
    }
    return 0
  }
  for (let i = 1; i < n; i++) {
    // Array's sort is a stable TimSort (a typed array's is slower with a comparator).
    if (compare(order[i - 1]!, order[i]!) > 0) return Int32Array.from(Array.from(order).sort(compare))
  }
  return order
}

/** A partition's rows: indices into the batch, in write order. */
interface PartitionRows {
  readonly values: PartitionValues
  readonly path: string
  readonly rows: Int32Array
}

/**
 * The order rows are written in, computed in JS: partition by partition, each sorted by the
 * sort order. DuckDB then writes them as they come, without a sort of its own (a sort moves
 * every column of every row; this one moves row numbers).
 */
export const writeLayout = (partitioning: Partitioning, sortBy: ReadonlyArray<SortKey>, batch: ColumnBatch) => {
  const n = batch.rowCount
  const dataOf = (field: NestedField): Values => batch.columns[field.name] ?? []
  const values = partitioning.fields.map((f) => fieldValues(f, dataOf(f.source), n))
  const partitionKeys = values.flatMap((v, i) => rankKey(v, n, partitioning.fields[i]!.resultType, false, true) ?? [])
  const sortKeys = sortBy.flatMap(({ descending, field, nullsFirst }) =>
    isIntegerType(field.type as PrimitiveType)
      ? compareKey(dataOf(field), descending, nullsFirst)
      : rankKey(dataOf(field), n, field.type as PrimitiveType, descending, nullsFirst) ?? []
  )
  const order = sortRows(n, [...partitionKeys, ...sortKeys])
  const partitions: Array<PartitionRows> = []
  for (let start = 0; start < n;) {
    const first = order[start]!
    let end = start + 1
    while (end < n && partitionKeys.every((k) => k.ranks[order[end]!] === k.ranks[first])) end++
    partitions.push({ ...partitionOf(partitioning, values.map((v) => v[first]!)), rows: order.subarray(start, end) })
    start = end
  }
  return partitions
}


// --- Sort keys of a table ---------------------------------------------------------------

export interface SortKey {
  readonly field: NestedField
  readonly descending: boolean
  readonly nullsFirst: boolean
}

/** The columns a sort order sorts by, or why K2 cannot sort by it (it sorts by plain columns only). */
export const sortKeys = (schema: Schema, sortOrder: SortOrder | null): Result.Result<ReadonlyArray<SortKey>, string> => {
  const keys: Array<SortKey> = []
  for (const sf of sortOrder?.fields ?? []) {
    const field = schema.fields.find((f) => f.id === sf["source-id"])
    if (sf.transform !== "identity" || field === undefined || typeof field.type !== "string" || field.type === "binary") {
      const source = field?.name ?? `#${sf["source-id"]}`
      return Result.fail(`sort order ${sortOrder!["order-id"]}, which sorts by ${sf.transform}(${source}): K2 sorts by primitive, non-binary columns only`)
    }
    keys.push({ field, descending: sf.direction === "desc", nullsFirst: sf["null-order"] === "nulls-first" })
  }
  return Result.succeed(keys)
}
