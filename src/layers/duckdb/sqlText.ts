/** SQL text for DuckDB: quoted identifiers and string literals, for what cannot be a parameter. */
import { DECIMAL_TYPE, type NestedField } from "../../domain/iceberg/spec.ts"

export const quoteIdent = (name: string) => `"${name.replaceAll("\"", "\"\"")}"`

export const quoteLiteral = (text: string) => `'${text.replaceAll("'", "''")}'`

/** The DuckDB type of an Iceberg type (an unknown one as VARCHAR). */
export const duckType = (type: NestedField["type"]): string => {
  if (typeof type === "string") {
    const d = DECIMAL_TYPE.exec(type)
    if (d) return `DECIMAL(${d[1]}, ${d[2]})`
    switch (type) {
      case "string":
        return "VARCHAR"
      case "long":
        return "BIGINT"
      case "int":
        return "INTEGER"
      case "boolean":
        return "BOOLEAN"
      case "double":
        return "DOUBLE"
      case "float":
        return "FLOAT"
      case "date":
        return "DATE"
      case "timestamptz":
        return "TIMESTAMPTZ"
      case "timestamp":
        return "TIMESTAMP"
      case "binary":
        return "BLOB"
      default:
        return "VARCHAR"
    }
  }
  if (type.type === "list") return `${duckType(type.element)}[]`
  if (type.type === "map") return `MAP(${duckType(type.key)}, ${duckType(type.value)})`
  return "VARCHAR"
}
