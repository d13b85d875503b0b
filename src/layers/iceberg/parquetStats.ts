/**
 * What `COPY ... TO (FORMAT parquet, RETURN_STATS)` reports of a file, as an Iceberg `DataFile`:
 * counts, sizes and bounds keyed by field id (the FIELD_IDS given to the COPY). DuckDB renders
 * statistics as text; they are parsed back exactly (decimals unscaled, timestamps in micros).
 */
import { pathToFileURL } from "node:url"
import { type BoundValue, encode, truncateStringLower, truncateStringUpper } from "../../domain/iceberg/bounds.ts"
import { DECIMAL_TYPE, type DataFile, type PartitionValues, type PrimitiveType, type Schema } from "../../domain/iceberg/spec.ts"
import { dayOfCivil } from "../../domain/time.ts"
import { quoteIdent } from "../duckdb/sqlText.ts"

/** A Parquet leaf column as COPY's RETURN_STATS names it, with its Iceberg field id. */
export interface Leaf {
  readonly key: string
  readonly id: number
  /** Bounds only for top-level primitives: Java stores none for list/map leaves. */
  readonly boundsType: PrimitiveType | null
}

export const leaves = (schema: Schema): ReadonlyArray<Leaf> =>
  schema.fields.flatMap((f): ReadonlyArray<Leaf> => {
    const key = quoteIdent(f.name)
    if (typeof f.type === "string") return [{ key, id: f.id, boundsType: f.type }]
    switch (f.type.type) {
      case "list":
        return [{ key: `${key}."element"`, id: f.type["element-id"], boundsType: null }]
      case "map":
        return [
          { key: `${key}."key"`, id: f.type["key-id"], boundsType: null },
          { key: `${key}."value"`, id: f.type["value-id"], boundsType: null }
        ]
      case "struct":
        throw new Error("struct columns are not supported by the Parquet writer")
    }
  })

/** FIELD_IDS for COPY: every column and nested list element / map key and value gets its id. */
export const fieldIds = (schema: Schema): string =>
  `{${
    schema.fields
      .map((f) => {
        const name = quoteIdent(f.name)
        if (typeof f.type === "string") return `${name}: ${f.id}`
        switch (f.type.type) {
          case "list":
            return `${name}: {__duckdb_field_id: ${f.id}, element: ${f.type["element-id"]}}`
          case "map":
            return `${name}: {__duckdb_field_id: ${f.id}, key: ${f.type["key-id"]}, value: ${f.type["value-id"]}}`
          case "struct":
            throw new Error("struct columns are not supported by the Parquet writer")
        }
      })
      .join(", ")
  }}`

const timestampPattern = /^(-?\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::?(\d\d))?)?$/
const datePattern = /^(-?\d{4,})-(\d\d)-(\d\d)$/
const decimalTextPattern = /^(-?)(\d+)(?:\.(\d+))?$/

// Not Date.UTC: DuckDB renders years 1-99 and past 275760, which Date.UTC reads wrongly.
const epochDay = (year: string, month: string, day: string) => dayOfCivil(Number(year), Number(month), Number(day))

/** Parses DuckDB's text rendering of a statistic (TimeZone is UTC); undefined means no usable bound. */
const parseStat = (type: PrimitiveType, text: string): BoundValue | undefined => {
  const decimal = DECIMAL_TYPE.exec(type)
  if (decimal) {
    const m = decimalTextPattern.exec(text)
    const scale = Number(decimal[2])
    if (!m || (m[3] ?? "").length > scale) return undefined
    const unscaled = BigInt(m[2]! + (m[3] ?? "").padEnd(scale, "0"))
    return m[1] === "-" ? -unscaled : unscaled
  }
  switch (type) {
    case "string":
      return text
    case "int":
      return Number(text)
    case "long":
      return BigInt(text)
    case "boolean":
      // DuckDB renders boolean statistics as 0 and 1.
      return text === "1" || text === "true" ? true : text === "0" || text === "false" ? false : undefined
    case "float":
    case "double": {
      const n = Number(text)
      return Number.isNaN(n) ? undefined : n
    }
    case "date": {
      const m = datePattern.exec(text)
      return m ? epochDay(m[1]!, m[2]!, m[3]!) : undefined
    }
    case "timestamp":
    case "timestamptz": {
      const m = timestampPattern.exec(text)
      if (!m) return undefined
      const seconds = BigInt(epochDay(m[1]!, m[2]!, m[3]!)) * 86_400n +
        BigInt(Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6]))
      const offset = m[8] === undefined ? 0n : BigInt((Number(m[9]) * 60 + Number(m[10] ?? 0)) * 60)
      const micros = (seconds - (m[8] === "-" ? -offset : offset)) * 1_000_000n + BigInt((m[7] ?? "").padEnd(6, "0"))
      return micros
    }
    case "binary":
      return undefined // DuckDB renders blobs escaped; a missing bound is always safe
  }
  return undefined
}

/**
 * Bounds order -0.0 before +0.0 (spec, data_file note 2; Java's Double.compare), but DuckDB counts
 * the zeros equal and reports whichever it met first: a zero bound is widened to cover both.
 */
const zeroAs = (type: PrimitiveType, value: BoundValue, zero: number): BoundValue =>
  (type === "float" || type === "double") && value === 0 ? zero : value

const lowerBound = (type: PrimitiveType, text: string): Uint8Array | undefined => {
  const value = parseStat(type, text)
  if (value === undefined) return undefined
  return encode(type, type === "string" ? truncateStringLower(value as string) : zeroAs(type, value, -0))
}

const upperBound = (type: PrimitiveType, text: string): Uint8Array | undefined => {
  const value = parseStat(type, text)
  if (value === undefined) return undefined
  if (type !== "string") return encode(type, zeroAs(type, value, 0))
  const upper = truncateStringUpper(value as string)
  return upper === null ? undefined : encode(type, upper)
}

export type StatsRow = {
  readonly filename: string
  readonly count: string
  readonly file_size_bytes: string
  readonly column_statistics: ReadonlyArray<{
    readonly key: string
    readonly value: ReadonlyArray<{ readonly key: string; readonly value: string }>
  }>
}

export const toDataFile = (
  row: StatsRow,
  fileLeaves: ReadonlyArray<Leaf>,
  partition: PartitionValues,
  sortOrderId: number | null
): DataFile => {
  const stats = new Map(row.column_statistics.map((c) => [c.key, new Map(c.value.map((s) => [s.key, s.value]))]))
  const columnSizes = new Map<number, number>()
  const valueCounts = new Map<number, number>()
  const nullValueCounts = new Map<number, number>()
  const lowerBounds = new Map<number, Uint8Array>()
  const upperBounds = new Map<number, Uint8Array>()
  for (const leaf of fileLeaves) {
    const s = stats.get(leaf.key)
    if (s === undefined) continue
    const put = (target: Map<number, number>, name: string) => {
      const v = s.get(name)
      if (v !== undefined) target.set(leaf.id, Number(v))
    }
    put(columnSizes, "column_size_bytes")
    put(valueCounts, "num_values")
    put(nullValueCounts, "null_count")
    const [min, max] = [s.get("min"), s.get("max")]
    if (leaf.boundsType !== null && min !== undefined && max !== undefined) {
      const [lower, upper] = [lowerBound(leaf.boundsType, min), upperBound(leaf.boundsType, max)]
      if (lower !== undefined) lowerBounds.set(leaf.id, lower)
      if (upper !== undefined) upperBounds.set(leaf.id, upper)
    }
  }
  return {
    content: 0,
    filePath: pathToFileURL(row.filename).href,
    fileFormat: "PARQUET",
    partition,
    recordCount: Number(row.count),
    fileSizeInBytes: Number(row.file_size_bytes),
    columnSizes,
    valueCounts,
    nullValueCounts,
    nanValueCounts: new Map(),
    lowerBounds,
    upperBounds,
    splitOffsets: null,
    sortOrderId
  }
}
