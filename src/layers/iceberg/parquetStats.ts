/**
 * What `COPY ... TO (FORMAT parquet, RETURN_STATS)` reports of a file, as an Iceberg `DataFile`:
 * counts, sizes and bounds keyed by field id (the FIELD_IDS given to the COPY). DuckDB renders
 * statistics as text; they are parsed back exactly (decimals unscaled, timestamps in micros).
 */
import { type BoundValue, DEFAULT_TRUNCATE_LENGTH, encode, truncateStringLower, truncateStringUpper } from "../../domain/iceberg/bounds.ts"
import { DECIMAL_TYPE, type DataFile, type IcebergType, type PartitionValues, type PrimitiveType, type Schema } from "../../domain/iceberg/spec.ts"
import { dayOfCivil } from "../../domain/time.ts"
import { quoteIdent } from "../duckdb/sqlText.ts"
import { fileLocation } from "./fileio.ts"

/** A Parquet leaf column as COPY's RETURN_STATS names it, with its Iceberg field id and column name. */
export interface Leaf {
  readonly key: string
  readonly id: number
  /** As Iceberg names it in write.metadata.metrics.column.<name>: `vendor_data.key` for a nested one. */
  readonly name: string
  /** Bounds only for top-level primitives: Java stores none for list/map leaves. */
  readonly boundsType: PrimitiveType | null
}

export const leaves = (schema: Schema): ReadonlyArray<Leaf> =>
  schema.fields.flatMap((f): ReadonlyArray<Leaf> => {
    const key = quoteIdent(f.name)
    if (typeof f.type === "string") return [{ key, id: f.id, name: f.name, boundsType: f.type }]
    switch (f.type.type) {
      case "list":
        return [{ key: `${key}."element"`, id: f.type["element-id"], name: `${f.name}.element`, boundsType: null }]
      case "map":
        return [
          { key: `${key}."key"`, id: f.type["key-id"], name: `${f.name}.key`, boundsType: null },
          { key: `${key}."value"`, id: f.type["value-id"], name: `${f.name}.value`, boundsType: null }
        ]
      case "struct":
        throw new Error("struct columns are not supported by the Parquet writer")
    }
  })

/** The FIELD_IDS entry of a field: its id, and those of its list element / map key and value, at any depth. */
const idsOf = (id: number, type: IcebergType): string => {
  if (typeof type === "string") return String(id)
  switch (type.type) {
    case "list":
      return `{__duckdb_field_id: ${id}, element: ${idsOf(type["element-id"], type.element)}}`
    case "map":
      return `{__duckdb_field_id: ${id}, key: ${idsOf(type["key-id"], type.key)}, value: ${idsOf(type["value-id"], type.value)}}`
    case "struct":
      throw new Error("struct columns are not supported by the Parquet writer")
  }
}

/** FIELD_IDS for COPY: every column and nested list element / map key and value gets its id. */
export const fieldIds = (schema: Schema): string =>
  `{${schema.fields.map((f) => `${quoteIdent(f.name)}: ${idsOf(f.id, f.type)}`).join(", ")}}`

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

/** Strings are truncated to `length` code points (Infinity: full). */
const lowerBound = (type: PrimitiveType, text: string, length: number): Uint8Array | undefined => {
  const value = parseStat(type, text)
  if (value === undefined) return undefined
  return encode(type, type === "string" ? truncateStringLower(value as string, length) : zeroAs(type, value, -0))
}

const upperBound = (type: PrimitiveType, text: string, length: number): Uint8Array | undefined => {
  const value = parseStat(type, text)
  if (value === undefined) return undefined
  if (type !== "string") return encode(type, zeroAs(type, value, 0))
  const upper = truncateStringUpper(value as string, length)
  return upper === null ? undefined : encode(type, upper)
}

/** What of a column's statistics a data file entry carries (Java's MetricsModes). */
export type MetricsMode =
  | { readonly kind: "none" | "counts" | "full" }
  | { readonly kind: "truncate"; readonly length: number }

const DEFAULT_MODE: MetricsMode = { kind: "truncate", length: DEFAULT_TRUNCATE_LENGTH }

const parseMode = (text: string | undefined): MetricsMode | undefined => {
  const mode = text?.toLowerCase()
  if (mode === "none" || mode === "counts" || mode === "full") return { kind: mode }
  const truncate = /^truncate\((\d+)\)$/.exec(mode ?? "")
  return truncate !== null && Number(truncate[1]) > 0 ? { kind: "truncate", length: Number(truncate[1]) } : undefined
}

/**
 * Each column's metrics mode by its name, from the table properties as Java's MetricsConfig reads
 * them: `write.metadata.metrics.column.<name>`, else `write.metadata.metrics.default`, else
 * truncate(16); a sort column gets at least truncate(16); a mode that does not parse is ignored.
 */
export const metricsModes = (properties: Readonly<Record<string, string>>, sortColumns: ReadonlyArray<string>) => {
  const defaultMode = parseMode(properties["write.metadata.metrics.default"]) ?? DEFAULT_MODE
  const sortMode = defaultMode.kind === "none" || defaultMode.kind === "counts" ? DEFAULT_MODE : defaultMode
  return (name: string): MetricsMode =>
    parseMode(properties[`write.metadata.metrics.column.${name}`]) ?? (sortColumns.includes(name) ? sortMode : defaultMode)
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
  sortOrderId: number | null,
  modeOf: (name: string) => MetricsMode = () => DEFAULT_MODE
): DataFile => {
  const stats = new Map(row.column_statistics.map((c) => [c.key, new Map(c.value.map((s) => [s.key, s.value]))]))
  const columnSizes = new Map<number, number>()
  const valueCounts = new Map<number, number>()
  const nullValueCounts = new Map<number, number>()
  const lowerBounds = new Map<number, Uint8Array>()
  const upperBounds = new Map<number, Uint8Array>()
  for (const leaf of fileLeaves) {
    const s = stats.get(leaf.key)
    const mode = modeOf(leaf.name)
    if (s === undefined || mode.kind === "none") continue
    const put = (target: Map<number, number>, name: string) => {
      const v = s.get(name)
      if (v !== undefined) target.set(leaf.id, Number(v))
    }
    put(columnSizes, "column_size_bytes")
    put(valueCounts, "num_values")
    put(nullValueCounts, "null_count")
    const [min, max] = [s.get("min"), s.get("max")]
    if (leaf.boundsType !== null && mode.kind !== "counts" && min !== undefined && max !== undefined) {
      const length = mode.kind === "truncate" ? mode.length : Infinity
      const [lower, upper] = [lowerBound(leaf.boundsType, min, length), upperBound(leaf.boundsType, max, length)]
      if (lower !== undefined) lowerBounds.set(leaf.id, lower)
      if (upper !== undefined) upperBounds.set(leaf.id, upper)
    }
  }
  return {
    content: 0,
    filePath: fileLocation(row.filename),
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
