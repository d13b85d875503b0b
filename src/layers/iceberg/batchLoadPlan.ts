/**
 * How each column of a batch is loaded into DuckDB, decided once per batch: its type in the temp
 * table (BIGINT for timestamps and small decimals, an ENUM or codes for few distinct values), the
 * values the appender takes for it, and the SQL that reads it back as its Iceberg type. A column
 * every row holds one value of is not loaded at all: it is read as a parameter.
 */
import { BIGINT, type DuckDBType, type DuckDBValue, ENUM, INTEGER, LIST, listValue, VARCHAR } from "@duckdb/node-api"
import type { Column as Values, ColumnBatch } from "../../domain/columnBatch.ts"
import { DECIMAL_TYPE, type IcebergType, type Schema } from "../../domain/iceberg/spec.ts"
import { collectionDictionary, constantString, isDictionaryType, smallDictionary } from "./columnDictionaries.ts"
import { type DuckColumn, duckColumn, identity } from "./duckColumns.ts"

/** How a batch column sits in the temp table, and the SQL that reads it back as its Iceberg type. */
export interface LoadedColumn extends DuckColumn {
  readonly read: (name: string) => string
}

/** A column every row of the batch holds one value of: not loaded; `constant` reads the value (a parameter). */
export interface ConstantColumn {
  readonly constant: string
}

/** A batch's columns as they are loaded: each column's values (codes for a coded one) and its form in the temp table. */
export interface LoadedBatch {
  readonly values: ReadonlyArray<Values | undefined>
  readonly columns: ReadonlyArray<LoadedColumn | ConstantColumn>
  /** Each coded column's values (a list) and each constant column's value: parameters after $1 (the COPY target). */
  readonly params: ReadonlyArray<DuckDBValue>
  readonly paramTypes: ReadonlyArray<DuckDBType>
}

const asBigint = (read: (name: string) => string): LoadedColumn => ({ sql: "BIGINT", type: BIGINT, toDuck: identity, read })

/**
 * Timestamps and decimals (up to 18 digits) load as BIGINT: a bigint goes into the vector as
 * it is, where a DuckDB value object per row would be garbage. SQL turns them back exactly.
 */
const loadedColumn = (type: IcebergType): LoadedColumn => {
  const decimal = typeof type === "string" ? DECIMAL_TYPE.exec(type) : null
  const scale = Number(decimal?.[2] ?? 0)
  if (decimal && Number(decimal[1]) <= 18) {
    const unit = scale === 0 ? "1" : `0.${"0".repeat(scale - 1)}1`
    return asBigint((name) => `CAST(CAST(${name} AS DECIMAL(18, 0)) * ${unit} AS DECIMAL(${decimal[1]}, ${scale}))`)
  }
  if (type === "timestamptz") return asBigint((name) => `make_timestamptz(${name})`)
  if (type === "timestamp") return asBigint((name) => `make_timestamp(${name})`)
  return { ...duckColumn(type), read: (name) => name }
}

/**
 * How each column of `batch` loads, decided once per batch: every partition's temp table takes the
 * batch's dictionaries. Made per partition, a flush spanning a year of days (a backfill) passed
 * over every string column once per day. A string, list or map column that holds one value in
 * every row (a feed's exchange, currency, topic, empty conditions) is not loaded at all: the COPY
 * reads it as a parameter, which spares the appender, the temp table and the scan a column each.
 * A schema of only string, list and map columns loads them all (the temp table needs a column).
 */
export const loadPlan = (schema: Schema, batch: ColumnBatch): LoadedBatch => {
  const values = schema.fields.map((f) => {
    const data = batch.columns[f.name]
    if (data !== undefined && data.length !== batch.rowCount) {
      throw new Error(`column ${f.name} has ${data.length} values for ${batch.rowCount} rows`)
    }
    return data
  })
  // $1 is the COPY target; each coded column's values (a list) and constant column's value are parameters after it.
  const params: Array<DuckDBValue> = []
  const paramTypes: Array<DuckDBType> = []
  const constants = schema.fields.some((f) => f.type !== "string" && !isDictionaryType(f.type))
  const columns = schema.fields.map((f, i): LoadedColumn | ConstantColumn => {
    const dictionary = isDictionaryType(f.type) && values[i] !== undefined ? collectionDictionary(values[i]) : null
    if (dictionary !== null) {
      const c = duckColumn(f.type)
      values[i] = dictionary.codes
      params.push(listValue(dictionary.values.map((v) => c.toDuck(v))))
      paramTypes.push(LIST(c.type))
      const param = params.length + 1
      if (constants && dictionary.values.length === 1 && !dictionary.codes.includes(null)) return { constant: `$${param}[1]` }
      return { sql: "INTEGER", type: INTEGER, toDuck: identity, read: (name) => `$${param}[${name} + 1]` }
    }
    const constant = constants && f.type === "string" && values[i] !== undefined ? constantString(values[i]) : undefined
    if (constant !== undefined) {
      params.push(constant)
      paramTypes.push(VARCHAR)
      return { constant: `$${params.length + 1}` }
    }
    const strings = f.type === "string" && values[i] !== undefined ? smallDictionary(values[i]) : null
    if (strings === null) return loadedColumn(f.type)
    const type = ENUM(strings)
    return { sql: type.toString(), type, toDuck: identity, read: (name) => `CAST(${name} AS VARCHAR)` }
  })
  return { values, columns, params, paramTypes }
}
