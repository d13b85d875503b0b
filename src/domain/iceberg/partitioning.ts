/**
 * Partition transforms (spec "Partition Transforms"): the type manifests hold a field's values in,
 * which of them K2 reads and writes, and the values K2 computes from rows when it writes. K2 writes
 * what it computes exactly as the spec defines it and holds as a partition value (an int): identity
 * of ints and dates; year, month, day and hour of dates and timestamps; void. Anything else another
 * engine puts in a spec (bucket hashes, truncation, transforms with string or 64-bit values, names
 * it does not know) is refused by name when written, never guessed (ADR-2); it is read when its
 * values are numbers.
 */
import { Result } from "effect"
import type { Column as Values } from "../columnBatch.ts"
import { civilOfDay, dayText, MICROS_PER_DAY_BIGINT } from "../time.ts"
import * as Bounds from "./bounds.ts"
import type { FieldSummary, NestedField, PartitionField, PartitionSpec, PartitionValue, PartitionValues, PrimitiveType, Schema } from "./spec.ts"

type Transform =
  | { readonly kind: "identity" | "void" | "year" | "month" | "day" | "hour" }
  | { readonly kind: "bucket"; readonly width: number }
  | { readonly kind: "truncate"; readonly width: number }

/** The transforms K2 computes from rows. */
type WrittenTransform = Extract<Transform, { readonly kind: "identity" | "void" | "year" | "month" | "day" | "hour" }>

const UNARY = ["identity", "void", "year", "month", "day", "hour"] as const

const parseTransform = (text: string): Transform | undefined => {
  const unary = UNARY.find((k) => k === text)
  if (unary !== undefined) return { kind: unary }
  const match = /^(bucket|truncate)\[(\d+)\]$/.exec(text)
  const width = Number(match?.[2])
  return match !== null && width > 0 && width < 2 ** 31 ? { kind: match[1] as "bucket" | "truncate", width } : undefined
}

const TIMESTAMPS: ReadonlyArray<string> = ["timestamp", "timestamptz"]
const DATES: ReadonlyArray<string> = ["date", ...TIMESTAMPS]

/** What K2 does with a spec's partition values: reads them from manifests to plan a scan, or writes manifests of them. */
export type PartitionUse = "read" | "write"

/**
 * Result types whose values K2 holds, as JS numbers. It reads every type whose values decode to
 * numbers, the 64-bit ones exactly up to 2^53 only (a value past it is refused, not rounded);
 * it writes ints and dates, the types whose Avro values it encodes from numbers.
 */
const HELD: Readonly<Record<PartitionUse, ReadonlyArray<string>>> = {
  read: ["int", "long", "float", "double", "date", "time", "timestamp", "timestamptz"],
  write: ["int", "date"]
}
const WIDE: ReadonlyArray<string> = ["long", "time", "timestamp", "timestamptz"]

/** The type of a transform's values (spec: result types), given its source column's. */
const resultTypeOf = (transform: Transform, type: string): string => {
  switch (transform.kind) {
    case "identity":
    case "truncate":
    case "void":
      return type
    case "day":
      return "date"
    default:
      return "int"
  }
}

/** Whether the spec defines `transform` on a column of `type`. */
const definedOn = (transform: Transform, type: string): boolean => {
  switch (transform.kind) {
    case "identity":
    case "void":
      return true
    case "day":
    case "year":
    case "month":
      return DATES.includes(type)
    case "hour":
      return TIMESTAMPS.includes(type)
    case "bucket":
      return !["boolean", "float", "double"].includes(type)
    case "truncate":
      return ["int", "long", "string", "binary"].includes(type) || type.startsWith("decimal")
  }
}

/** The primitive types of format version 2, whose Avro types K2 writes a manifest's partition values in. */
const V2_PRIMITIVE = /^(boolean|int|long|float|double|date|time|timestamp|timestamptz|string|uuid|binary|fixed\[\d+\]|decimal\(\d+,\s*\d+\))$/

/** Why K2 does not hold values of `resultType` for `use`, null when it does; a void field's are all null. */
const unheld = (transform: Transform, resultType: string, use: PartitionUse): string | null => {
  if (transform.kind === "void") {
    // Nulls typed as the source, in its Avro type.
    return use === "write" && !V2_PRIMITIVE.test(resultType) ? `K2 writes no void field of a ${resultType} column` : null
  }
  if (HELD[use].includes(resultType)) return null
  return use === "write" ? `K2 holds ints and dates as partition values, not ${resultType}s` : `K2 reads partition values as numbers, not ${resultType}s`
}

const describe = (field: PartitionField, source: NestedField | undefined) =>
  `field ${field.name} is ${field.transform}(${source?.name ?? `#${field["source-id"]}`})`

/** A field's source column, transform and value type, or why K2 cannot write its values. */
const resolve = (field: PartitionField, schema: Schema) => {
  const source = schema.fields.find((f) => f.id === field["source-id"])
  const fail = (why: string) => Result.fail(`${describe(field, source)}: ${why}`)
  if (source === undefined) return fail("its source is not a top-level column of the current schema")
  if (typeof source.type !== "string") return fail("its source is not a primitive column")
  const type = source.type
  const transform = parseTransform(field.transform)
  if (transform === undefined) return fail("not a transform of the Iceberg spec")
  if (!definedOn(transform, type)) return fail(`not defined on a ${type} column`)
  const resultType = resultTypeOf(transform, type) as PrimitiveType
  const why = unheld(transform, resultType, "write")
  return why === null ? Result.succeed({ source: source as NestedField & { readonly type: PrimitiveType }, transform, resultType }) : fail(why)
}

/**
 * Why K2 cannot read a field's values, null when it can. A source or transform it does not know
 * leaves their type unknown here: decoding the values says whether they are numbers. A 64-bit
 * field whose manifest summary reaches past 2^53 holds values K2 would not hold exactly.
 */
const unreadable = (field: PartitionField, schema: Schema, summary: FieldSummary | undefined): string | null => {
  const source = schema.fields.find((f) => f.id === field["source-id"])
  const transform = parseTransform(field.transform)
  if (source === undefined || transform === undefined) return null
  const resultType = resultTypeOf(transform, typeof source.type === "string" ? source.type : source.type.type)
  const why = unheld(transform, resultType, "read")
  if (why !== null) return `${describe(field, source)}: ${why}`
  const past = [summary?.lowerBound, summary?.upperBound]
    .flatMap((b) => WIDE.includes(resultType) && b?.length === 8 ? [Bounds.decode("long", b) as bigint] : [])
    .find((v) => !Number.isSafeInteger(Number(v)))
  return past === undefined ? null : `${describe(field, source)}: its values reach ${past}, past 2^53: K2 would not hold them exactly`
}

/** The type of a field's values in manifests (spec: result types), or why K2 cannot write them. */
export const partitionResultType = (field: PartitionField, schema: Schema): Result.Result<PrimitiveType, string> =>
  Result.map(resolve(field, schema), (r) => r.resultType)

/**
 * Why K2 cannot `use` the partition values of `spec`, null when it can. Writing: a manifest of it
 * (another engine's files, merged or rewritten with K2's). Reading: a manifest of it whose field
 * summaries are `summaries` (its values, decoded as numbers, then prune files and place them on days).
 */
export const unheldPartitionValues = (
  spec: PartitionSpec,
  schema: Schema,
  use: PartitionUse,
  summaries?: ReadonlyArray<FieldSummary> | null
): string | null => {
  for (const [i, field] of spec.fields.entries()) {
    const why = use === "read" ? unreadable(field, schema, summaries?.[i]) : Result.match(resolve(field, schema), { onFailure: (w) => w, onSuccess: () => null })
    if (why !== null) return `partition spec ${spec["spec-id"]}, whose ${why}`
  }
  return null
}

/** A partition field K2 computes from its source column. */
export interface FieldTransform {
  readonly field: PartitionField
  readonly source: NestedField & { readonly type: PrimitiveType }
  readonly transform: WrittenTransform
  readonly resultType: PrimitiveType
}

export interface Partitioning {
  readonly spec: PartitionSpec
  readonly fields: ReadonlyArray<FieldTransform>
}

/** How K2 partitions rows by `spec`, or why it cannot (naming the spec, the field and its transform). */
export const partitioning = (schema: Schema, spec: PartitionSpec): Result.Result<Partitioning, string> => {
  const fields: Array<FieldTransform> = []
  for (const field of spec.fields) {
    const resolved = resolve(field, schema)
    const refused = (why: string) => Result.fail(`partition spec ${spec["spec-id"]}, whose ${why}`)
    if (Result.isFailure(resolved)) return refused(resolved.failure)
    const { resultType, source, transform } = resolved.success
    if (transform.kind === "bucket" || transform.kind === "truncate") {
      return refused(`${describe(field, source)}: K2 does not compute ${transform.kind} partitions`)
    }
    fields.push({ field, source, transform, resultType })
  }
  return Result.succeed({ spec, fields })
}

// --- Values ----------------------------------------------------------------------------

const MICROS_PER_HOUR = 3_600_000_000n

/**
 * Floor of micros / unit for each row (instants before 1970 round down, as the spec's transforms
 * do); consecutive rows mostly share a unit, so one division serves many.
 */
const floorDivide = (data: Values, n: number, unit: bigint): Array<number | null> => {
  const out = new Array<number | null>(n)
  let [lo, hi, q] = [1n, 0n, 0]
  for (let r = 0; r < n; r++) {
    const v = data[r] as bigint | null | undefined
    if (v == null) {
      out[r] = null
      continue
    }
    if (v < lo || v >= hi) {
      const t = v / unit
      lo = (v < 0n && t * unit !== v ? t - 1n : t) * unit
      hi = lo + unit
      q = Number(lo / unit)
    }
    out[r] = q
  }
  return out
}

/** `f` of each day; a run of one day costs one call. */
const ofDays = (days: ReadonlyArray<number | null>, f: (day: number) => number): Array<number | null> => {
  let [last, value] = [Number.NaN, 0]
  return days.map((d) => d === null ? null : d === last ? value : (value = f(last = d)))
}

const monthOf = (day: number) => {
  const [year, month] = civilOfDay(day)
  return (year - 1970) * 12 + month - 1
}

/** Each row's value of the field: null where the source is null, and always for void. */
export const fieldValues = (f: FieldTransform, data: Values, n: number): Array<PartitionValue> => {
  const asIs = () => Array.from({ length: n }, (_, r) => (data[r] ?? null) as number | null)
  const days = () => f.source.type === "date" ? asIs() : floorDivide(data, n, MICROS_PER_DAY_BIGINT)
  switch (f.transform.kind) {
    case "identity":
      return asIs()
    case "void":
      return new Array<PartitionValue>(n).fill(null)
    case "day":
      return days()
    case "hour":
      return floorDivide(data, n, MICROS_PER_HOUR)
    case "month":
      return ofDays(days(), monthOf)
    case "year":
      return ofDays(days(), (day) => civilOfDay(day)[0] - 1970)
  }
}

// --- Paths -----------------------------------------------------------------------------

const pad = (n: number, width: number) => `${n < 0 ? "-" : ""}${String(Math.abs(n)).padStart(width, "0")}`

/** A value as Iceberg Java shows it in a partition path (`toHumanString`). */
const human = (f: FieldTransform, value: number): string => {
  switch (f.transform.kind) {
    case "hour": {
      const day = Math.floor(value / 24)
      return `${dayText(day)}-${pad(value - day * 24, 2)}`
    }
    case "month": {
      const years = Math.floor(value / 12)
      return `${pad(1970 + years, 4)}-${pad(value - years * 12 + 1, 2)}`
    }
    case "year":
      return pad(1970 + value, 4)
    default:
      return f.resultType === "date" ? dayText(value) : String(value)
  }
}

/** Partition values and the `<name>=<human value>/...` path (escaped), as Iceberg Java lays partitions out. */
export const partitionOf = (p: Partitioning, values: ReadonlyArray<PartitionValue>) => ({
  values: Object.fromEntries(p.fields.map((f, i) => [f.field.name, values[i]!])) as PartitionValues,
  path: p.fields.map((f, i) => {
    const value = values[i]!
    return `${encodeURIComponent(f.field.name)}=${value === null ? "null" : encodeURIComponent(human(f, value))}`
  }).join("/")
})

/**
 * A partition tuple as people read it, the path Java would give it (`exchange_timestamp_day=2024-01-02`),
 * by each field's name; a tuple the spec cannot show (a transform K2 does not compute) as its JSON.
 */
export const partitionLabel = (schema: Schema, spec: PartitionSpec, partition: Readonly<Record<string, PartitionValue>>): string => {
  const p = partitioning(schema, spec)
  if (Result.isFailure(p) || p.success.fields.some((f) => !(f.field.name in partition))) return JSON.stringify(partition)
  return decodeURIComponent(partitionOf(p.success, p.success.fields.map((f) => partition[f.field.name]!)).path)
}
