/**
 * Column types rewritten so that numbers stay exact: the views' decimals widened for the user's
 * arithmetic (`widenedDecimals`), a Parquet answer's 128-bit integers written as decimals (`exactIntegers`).
 */
import { DECIMAL_TYPE, type Schema as TableSchema } from "../../domain/iceberg/spec.ts"
import { quoteIdent } from "../duckdb/sqlText.ts"

/**
 * The top-level decimal columns, as the views show them: DECIMAL(38, scale). DuckDB types the
 * product of two DECIMAL(18, 8) as DECIMAL(18, 16), which overflows past 922.33 (price × quantity
 * of 11.33 × 101 failed); from DECIMAL(38, 8) it is DECIMAL(38, 16), exact, as the engine's VWAP sums.
 */
export const widenedDecimals = (schema: TableSchema): ReadonlyArray<{ readonly name: string; readonly type: string }> =>
  schema.fields.flatMap((f) => {
    const d = typeof f.type === "string" ? DECIMAL_TYPE.exec(f.type) : null
    return d === null ? [] : [{ name: f.name, type: `DECIMAL(38, ${d[2]})` }]
  })

/** `HUGEINT` and `UHUGEINT` in a DuckDB type's text, outside its quoted names (struct fields) and ENUM values. */
const HUGE_INTEGER = /"(?:[^"]|"")*"|'(?:[^']|'')*'|\bU?HUGEINT\b/g

/**
 * A Parquet answer's `REPLACE` clause for its columns (`DESCRIBE`d: names and types) holding 128-bit
 * integers, anywhere in a nested type too: as DECIMAL(38, 0). DuckDB writes a HUGEINT to Parquet as a
 * DOUBLE, so `sum()` of a BIGINT (a HUGEINT: epoch microseconds, offsets) lost its last digits where
 * JSON and CSV answer them exact; past 38 digits the cast fails (sql_error) instead of rounding.
 */
export const exactIntegers = (columns: ReadonlyArray<{ readonly name: string; readonly type: string }>): string => {
  const cast = columns.flatMap(({ name, type }) => {
    let huge = false
    const exact = type.replace(HUGE_INTEGER, (m) => m.startsWith("\"") || m.startsWith("'") ? m : ((huge = true), "DECIMAL(38, 0)"))
    return huge ? [`CAST(${quoteIdent(name)} AS ${exact}) AS ${quoteIdent(name)}`] : []
  })
  return cast.length === 0 ? "" : ` REPLACE (${cast.join(", ")})`
}
