/**
 * Scan pruning: which manifests and data files may hold rows matching a filter,
 * decided from partition summaries, partition values and column bounds alone.
 * "May" is the contract: never drop a file that could match.
 */
import * as Bounds from "./bounds.ts"
import type { DataFile, ManifestFile, PartitionSpec, PrimitiveType, Schema } from "./spec.ts"
import { MICROS_PER_DAY } from "../time.ts"

/** Rows whose `column` (a timestamp, in epoch micros) lies in [from, to). */
export interface TimeRange {
  readonly column: string
  readonly from?: number
  readonly to?: number
}

/** Rows whose string `column` is one of `values`. */
interface ValueSet {
  readonly column: string
  readonly values: ReadonlyArray<string>
}

export interface ScanFilter {
  readonly time?: TimeRange
  readonly values?: ReadonlyArray<ValueSet>
}


const columnOf = (schema: Schema, name: string) => {
  const field = schema.fields.find((f) => f.name === name)
  if (field === undefined) throw new Error(`no column ${name} in the table`)
  return field
}

/** The day ordinals [first, last] a time range covers, or null when it covers all time. */
const dayRange = (range: TimeRange): readonly [number, number] | null => {
  if (range.from === undefined && range.to === undefined) return null
  return [
    range.from === undefined ? -Infinity : Math.floor(range.from / MICROS_PER_DAY),
    range.to === undefined ? Infinity : Math.floor((range.to - 1) / MICROS_PER_DAY)
  ]
}

/** Index of the spec's day(<time column>) field, if the table is partitioned that way. */
const dayField = (spec: PartitionSpec, schema: Schema, range: TimeRange) => {
  const source = columnOf(schema, range.column).id
  const index = spec.fields.findIndex((f) => f["source-id"] === source && f.transform === "day")
  return index === -1 ? undefined : { index, name: spec.fields[index]!.name }
}

export const isEmptyRange = (range: TimeRange | undefined): boolean =>
  range?.from !== undefined && range.to !== undefined && range.from >= range.to

export const manifestMayMatch = (
  manifest: ManifestFile,
  spec: PartitionSpec,
  schema: Schema,
  filter: ScanFilter
): boolean => {
  if (filter.time === undefined) return true
  if (isEmptyRange(filter.time)) return false
  const days = dayRange(filter.time)
  const field = dayField(spec, schema, filter.time)
  const summary = field === undefined ? undefined : manifest.partitions?.[field.index]
  if (days === null || summary === undefined) return true
  if (summary.lowerBound === null || summary.upperBound === null) return summary.containsNull
  const lower = Bounds.decode("int", summary.lowerBound) as number
  const upper = Bounds.decode("int", summary.upperBound) as number
  return upper >= days[0] && lower <= days[1]
}

export const fileMayMatch = (file: DataFile, spec: PartitionSpec, schema: Schema, filter: ScanFilter): boolean => {
  const time = filter.time
  if (time !== undefined) {
    if (isEmptyRange(time)) return false
    const days = dayRange(time)
    const field = dayField(spec, schema, time)
    const day = field === undefined ? undefined : file.partition[field.name]
    if (days !== null && typeof day === "number" && (day < days[0] || day > days[1])) return false
    const column = columnOf(schema, time.column)
    const lower = file.lowerBounds.get(column.id)
    const upper = file.upperBounds.get(column.id)
    const type = column.type as PrimitiveType
    if (time.to !== undefined && lower !== undefined && (Bounds.decode(type, lower) as bigint) >= BigInt(time.to)) {
      return false
    }
    if (time.from !== undefined && upper !== undefined && (Bounds.decode(type, upper) as bigint) < BigInt(time.from)) {
      return false
    }
  }
  for (const set of filter.values ?? []) {
    const column = columnOf(schema, set.column)
    const lower = file.lowerBounds.get(column.id)
    const upper = file.upperBounds.get(column.id)
    // Truncated bounds still enclose every value (lower is a prefix, upper was rounded up): the
    // file may match when the least value at or above its lower bound is at or below its upper.
    const values = encodedValues(set)
    const first = lower === undefined ? 0 : firstAtLeast(values, lower)
    if (first === values.length || (upper !== undefined && Bounds.compareBounds("string", values[first]!, upper) > 0)) return false
  }
  return true
}

/**
 * A value set's values serialized as bounds, in bound order, made once per list however many files
 * it is matched against: encoding each value for each file cost the planner files times values
 * (10,000 symbols over 5,000 files: 42 s of the event loop); a binary search per file costs log values.
 */
const encoded = new WeakMap<ReadonlyArray<string>, ReadonlyArray<Uint8Array>>()
const encodedValues = (set: ValueSet): ReadonlyArray<Uint8Array> => {
  let values = encoded.get(set.values)
  if (values === undefined) {
    values = set.values.map((v) => Bounds.encode("string", v)).sort((a, b) => Bounds.compareBounds("string", a, b))
    encoded.set(set.values, values)
  }
  return values
}

/** The index of the first of `sorted` at or above `bound`; `sorted.length` when none is. */
const firstAtLeast = (sorted: ReadonlyArray<Uint8Array>, bound: Uint8Array): number => {
  let lo = 0, hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (Bounds.compareBounds("string", sorted[mid]!, bound) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}
