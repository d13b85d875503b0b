/**
 * An Iceberg column as DuckDB holds it: its SQL type, its `DuckDBType` (what the appender's
 * chunks are made of) and how a JS value of the column becomes a `DuckDBValue`.
 */
import {
  BIGINT,
  BLOB,
  BOOLEAN,
  DATE,
  DECIMAL,
  DOUBLE,
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBType,
  type DuckDBValue,
  FLOAT,
  INTEGER,
  LIST,
  listValue,
  MAP,
  mapValue,
  TIMESTAMP,
  TIMESTAMPTZ,
  VARCHAR
} from "@duckdb/node-api"
import { DECIMAL_TYPE, type IcebergType, type PrimitiveType, type Schema } from "../../domain/iceberg/spec.ts"
import { duckType } from "../duckdb/sqlText.ts"

export interface DuckColumn {
  /** The SQL type: `duckType`'s, the type every read casts the column to. */
  readonly sql: string
  readonly type: DuckDBType
  readonly toDuck: (value: unknown) => DuckDBValue
}

/** A value DuckDB takes as it is; the appender sets such a column's values without a call per value. */
export const identity = (v: unknown) => v as DuckDBValue

/** The column of `type`; throws for a type K2 has no Parquet form for (see `unwritableColumn`). */
export const duckColumn = (type: IcebergType): DuckColumn => {
  if (typeof type === "string") return primitiveColumn(type)
  switch (type.type) {
    case "list": {
      const element = duckColumn(type.element)
      return {
        sql: duckType(type),
        type: LIST(element.type),
        toDuck: (v) => listValue((v as ReadonlyArray<unknown>).map((e) => (e == null ? null : element.toDuck(e))))
      }
    }
    case "map": {
      const key = duckColumn(type.key)
      const value = duckColumn(type.value)
      return {
        sql: duckType(type),
        type: MAP(key.type, value.type),
        toDuck: (v) =>
          mapValue(
            (v as ReadonlyArray<readonly [unknown, unknown]>).map(([k, x]) => ({
              key: key.toDuck(k),
              value: x == null ? null : value.toDuck(x)
            }))
          )
      }
    }
    case "struct":
      throw new Error("struct columns are not supported by the Parquet writer")
  }
}

const primitiveColumn = (type: PrimitiveType): DuckColumn => {
  const sql = duckType(type)
  const decimal = DECIMAL_TYPE.exec(type)
  if (decimal) {
    const [precision, scale] = [Number(decimal[1]), Number(decimal[2])]
    return { sql, type: DECIMAL(precision, scale), toDuck: (v) => new DuckDBDecimalValue(v as bigint, precision, scale) }
  }
  switch (type) {
    case "boolean":
      return { sql, type: BOOLEAN, toDuck: identity }
    case "int":
      return { sql, type: INTEGER, toDuck: identity }
    case "long":
      return { sql, type: BIGINT, toDuck: identity }
    case "float":
      return { sql, type: FLOAT, toDuck: identity }
    case "double":
      return { sql, type: DOUBLE, toDuck: identity }
    case "string":
      return { sql, type: VARCHAR, toDuck: identity }
    case "binary":
      return { sql, type: BLOB, toDuck: (v) => new DuckDBBlobValue(v as Uint8Array) }
    case "date":
      return { sql, type: DATE, toDuck: (v) => new DuckDBDateValue(v as number) }
    case "timestamp":
      return { sql, type: TIMESTAMP, toDuck: (v) => new DuckDBTimestampValue(v as bigint) }
    case "timestamptz":
      return { sql, type: TIMESTAMPTZ, toDuck: (v) => new DuckDBTimestampTZValue(v as bigint) }
  }
  throw new Error(`unsupported type ${type}`)
}

/** A column of a type K2 has no Parquet form for (one another engine added: uuid, time, fixed, struct), or null. */
export const unwritableColumn = (schema: Schema): string | null => {
  for (const f of schema.fields) {
    try {
      duckColumn(f.type)
    } catch {
      return `column ${f.name} of type ${typeof f.type === "string" ? f.type : JSON.stringify(f.type)}`
    }
  }
  return null
}
