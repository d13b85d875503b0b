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
export interface ValueSet {
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
    const fits = (value: string) => {
      const v = Bounds.encode("string", value)
      // Truncated bounds still enclose every value (lower is a prefix, upper was rounded up).
      return (lower === undefined || Bounds.compareBounds("string", lower, v) <= 0) &&
        (upper === undefined || Bounds.compareBounds("string", v, upper) <= 0)
    }
    if (!set.values.some(fits)) return false
  }
  return true
}
