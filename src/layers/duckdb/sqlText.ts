/** SQL text for DuckDB: quoted identifiers and string literals, for what cannot be a parameter. */
import { DECIMAL_TYPE, type NestedField } from "../../domain/iceberg/spec.ts"

export const quoteIdent = (name: string) => `"${name.replaceAll("\"", "\"\"")}"`

export const quoteLiteral = (text: string) => `'${text.replaceAll("'", "''")}'`

/** What DuckDB takes for a glob in a path it reads: `*`, `?` and `[` anywhere in it (`{`, `}` and `]` alone are not). */
export const GLOB_CHARACTERS = /[*?[]/

/**
 * The SQL text of a list of paths (`$n` or `[literals]`) read as the files they name: DuckDB takes
 * `*`, `?` and `[` in a path given to `read_parquet`, `parquet_schema` or `read_json` as a glob, so
 * a warehouse under `wh[1]` read a sibling `wh1`'s files instead, and `wh*` every `wh…`. Each becomes
 * a class matching only itself (`[[]`, `[*]`, `[?]`), in the SQL so callers keep the real paths: the
 * `filename` column gives the real path, which `list_contains` / `NOT IN` compare with. The paths
 * this cannot read as themselves are `globUnreadable`'s.
 */
export const exactFiles = (paths: string) => `list_transform(${paths}, lambda p: regexp_replace(p, '[*?[]', '[\\0]', 'g'))`

/** The glob characters `text` holds, each once, space separated ("" for none). */
const globsIn = (text: string) => [...new Set(text.match(new RegExp(GLOB_CHARACTERS, "g")) ?? [])].join(" ")

/**
 * Why `exactFiles` cannot read the absolute path `file` as itself, undefined when it can. A path
 * holding a glob character is matched component by component, and DuckDB splits it at `\` as at
 * `/` (`a\[1]` is looked for as `a/[1]`) and takes its first component as written, never as a
 * pattern (`/wh[1]/…` as the directory `/wh[[]1]`): not found ("No files found"), or, should the
 * split name an existing file, that file read instead.
 */
export const globUnreadable = (file: string): string | undefined => {
  const globs = globsIn(file)
  if (globs === "") return undefined
  if (file.includes("\\")) return `it holds a backslash and ${globs}: DuckDB splits a path holding *, ? or [ at each backslash`
  const first = file.split("/").find((c) => c !== "") ?? ""
  const inFirst = globsIn(first)
  return inFirst === "" ? undefined : `its first component, /${first}, holds ${inFirst}: DuckDB reads a glob pattern's first component as written`
}

/**
 * The DuckDB type of an Iceberg type: what a field-id read casts each file's column to, so it must
 * be the type DuckDB itself gives the Parquet column (read as VARCHAR, a uuid lost its type and a
 * struct its quoting; fixed and binary bytes are BLOB). A struct's fields are matched by name
 * (DuckDB's field ids are top-level only): a nested change is refused before (readSchemaOf). A type
 * only v3 has as VARCHAR: format v3 is refused before any read.
 */
export const duckType = (type: NestedField["type"]): string => {
  if (typeof type === "string") {
    const d = DECIMAL_TYPE.exec(type)
    if (d) return `DECIMAL(${d[1]}, ${d[2]})`
    // As text: uuid, time and fixed[n] are not K2's PrimitiveType (its writer has none of them),
    // yet another engine's schema may hold them.
    const text: string = type
    switch (text) {
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
      case "uuid":
        return "UUID"
      case "time":
        return "TIME"
      default:
        return /^fixed\[\d+\]$/.test(text) ? "BLOB" : "VARCHAR"
    }
  }
  if (type.type === "list") return `${duckType(type.element)}[]`
  if (type.type === "map") return `MAP(${duckType(type.key)}, ${duckType(type.value)})`
  return `STRUCT(${type.fields.map((f) => `${quoteIdent(f.name)} ${duckType(f.type)}`).join(", ")})`
}
