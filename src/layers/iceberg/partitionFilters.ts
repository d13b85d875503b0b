/**
 * The partitions of rows already in DuckDB (a rewrite's source files), in SQL: each partition
 * field's value computed exactly as `fieldValues` computes it in JS, and the filter that selects
 * one partition's rows.
 */
import { BIGINT, DATE, type DuckDBConnection, DuckDBDateValue, DuckDBTimestampTZValue, DuckDBTimestampValue, type DuckDBType, type DuckDBValue, TIMESTAMP, TIMESTAMPTZ } from "@duckdb/node-api"
import { Effect } from "effect"
import { type FieldTransform, partitionOf, type Partitioning } from "../../domain/iceberg/partitioning.ts"
import type { PartitionValue, PartitionValues } from "../../domain/iceberg/spec.ts"
import { MICROS_PER_DAY_BIGINT as MICROS_PER_DAY } from "../../domain/time.ts"
import { query } from "../duckdb/DuckDb.ts"
import { quoteIdent } from "../duckdb/sqlText.ts"

/** A partition's values and path, and the filter of its rows; the filter's parameters start at $2 ($1 is the COPY target). */
export interface PartitionGroup {
  readonly values: PartitionValues
  readonly path: string
  readonly where: string
  readonly params: ReadonlyArray<DuckDBValue>
  readonly types: ReadonlyArray<DuckDBType>
}

/** A partition field's value in SQL, exactly as `fieldValues` computes it in JS. */
const valueExpression = (f: FieldTransform): string => {
  const col = quoteIdent(f.source.name)
  const utc = f.source.type === "timestamptz" ? `(${col} AT TIME ZONE 'UTC')` : col
  switch (f.transform.kind) {
    case "identity":
      return f.source.type === "date" ? `${col} - DATE '1970-01-01'` : col
    case "void":
      return "NULL"
    case "day":
      return f.source.type === "date" ? `${col} - DATE '1970-01-01'` : `CAST(${utc} AS DATE) - DATE '1970-01-01'`
    case "hour": {
      // DuckDB's % and // truncate towards zero; the spec's hours before 1970 round down.
      const [us, h] = [`epoch_us(${col})`, "3600000000"]
      return `(${us} - ((${us} % ${h}) + ${h}) % ${h}) // ${h}`
    }
    case "month":
      return `(year(${utc}) - 1970) * 12 + month(${utc}) - 1`
    case "year":
      return `year(${utc}) - 1970`
  }
}

/**
 * Filters rows of one partition value, from parameter `param` on. A day is a range on the column
 * itself, so DuckDB can use its min/max to skip.
 */
const valueFilter = (
  f: FieldTransform,
  value: PartitionValue,
  param: number
): { readonly where: string; readonly params: ReadonlyArray<DuckDBValue>; readonly types: ReadonlyArray<DuckDBType> } => {
  if (value === null) return { where: `(${valueExpression(f)}) IS NULL`, params: [], types: [] }
  if (f.transform.kind === "day") {
    const col = quoteIdent(f.source.name)
    const [lo, hi] = [BigInt(value) * MICROS_PER_DAY, BigInt(value + 1) * MICROS_PER_DAY]
    const [params, type]: [Array<DuckDBValue>, DuckDBType] = f.source.type === "timestamptz"
      ? [[new DuckDBTimestampTZValue(lo), new DuckDBTimestampTZValue(hi)], TIMESTAMPTZ]
      : f.source.type === "timestamp"
      ? [[new DuckDBTimestampValue(lo), new DuckDBTimestampValue(hi)], TIMESTAMP]
      : [[new DuckDBDateValue(value), new DuckDBDateValue(value + 1)], DATE]
    return { where: `${col} >= $${param} AND ${col} < $${param + 1}`, params, types: [type, type] }
  }
  return { where: `(${valueExpression(f)}) = $${param}`, params: [BigInt(value)], types: [BIGINT] }
}

/** The partitions of the rows of `table`, each with its filter. */
export const partitionGroups = (connection: DuckDBConnection, table: string, p: Partitioning) =>
  Effect.gen(function*() {
    if (p.fields.length === 0) return [{ values: {}, path: "", where: "TRUE", params: [], types: [] }]
    const rows = yield* query(
      connection,
      "list partitions",
      `SELECT DISTINCT ${p.fields.map((f, i) => `${valueExpression(f)} AS p${i}`).join(", ")} FROM ${table} ORDER BY ALL`
    )
    return rows.map((row): PartitionGroup => {
      const values = p.fields.map((_, i): PartitionValue => {
        const v = row[`p${i}`]
        return v === null || v === undefined ? null : Number(v)
      })
      let param = 2
      const filters = p.fields.map((f, i) => {
        const filter = valueFilter(f, values[i]!, param)
        param += filter.params.length
        return filter
      })
      return {
        ...partitionOf(p, values),
        where: filters.map((f) => f.where).join(" AND "),
        params: filters.flatMap((f) => f.params),
        types: filters.flatMap((f) => f.types)
      }
    })
  })
