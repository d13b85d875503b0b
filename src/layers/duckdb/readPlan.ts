/** Reading the rows of a scan plan with DuckDB: the files the planner kept, nothing else. */
import * as fs from "node:fs"
import { type DuckDBValue, listValue } from "@duckdb/node-api"
import { Effect, Result } from "effect"
import { CorruptFile, MissingFile, TableFileError } from "../../domain/iceberg/errors.ts"
import { NAME_MAPPING, type NameRead, nameReadColumns } from "../../domain/iceberg/readSchema.ts"
import type { PartitionSpec, Schema as TableSchema } from "../../domain/iceberg/spec.ts"
import { lru } from "../../domain/lru.ts"
import { type ScanPlan, UnsupportedTableFeature } from "../../services/TableScanner.ts"
import { localPath } from "../iceberg/fileio.ts"
import { DuckDb, query } from "./DuckDb.ts"
import { duckType, exactFiles, quoteIdent, quoteLiteral } from "./sqlText.ts"

export const plannedPaths = (plan: Pick<ScanPlan, "files">): ReadonlyArray<string> => plan.files.map((f) => localPath(f.filePath))

/**
 * A read that failed on one of the planned files becomes a TableFileError naming it
 * (missing or corrupt); any other failure stays as it was (a DuckDbError, the SQL sandbox's SqlFailed).
 */
export const blameFile = (paths: ReadonlyArray<string>) => <E extends { readonly message: string }>(error: E): TableFileError | E => {
  const path = paths.find((p) => error.message.includes(p)) ?? paths.find((p) => !fs.existsSync(p))
  if (path === undefined) return error
  return new TableFileError({
    reason: fs.existsSync(path) ? new CorruptFile({ path, detail: error.message }) : new MissingFile({ path })
  })
}

/** A plan's way of reading its files: by name, by field id, and its files without ids by name. */
export type ReadAs = Pick<ScanPlan, "schema" | "byFieldId" | "byName">

/**
 * `read_parquet` of `files` (a list's SQL text: a `$n` parameter or literals), with DuckDB's Hive
 * partitioning off: left to detect it, DuckDB takes any `name=value` directory in a path (K2's and
 * Java's partition directories, or one in the warehouse path) as a column, and where the name is a
 * column's, its value replaces the file's values in every row. A plan `byFieldId` (a column renamed,
 * dropped or retyped by another engine; ADR-2) reads each column of its schema by Parquet field id,
 * under the schema's name and at its type (a promotion cast exactly; a column a file lacks is null).
 * DuckDB finds no column by id in a file without ids (imported by `add_files`, `migrate`) and does
 * not fall back to names: those (`byName`) are left out of the id read and read by name, each column
 * the first of its names the file holds, cast to the schema's type, their rows unioned by name.
 * Every read of data files builds its source here, each path read as itself (`exactFiles`).
 */
export const readParquet = (files: string, plan: ReadAs, options = ""): string => {
  const exact = exactFiles(files)
  if (!plan.byFieldId) return `read_parquet(${exact}${options}, hive_partitioning = false)`
  const columns = plan.schema.fields.map((f) =>
    `${f.id}: {name: ${quoteLiteral(f.name)}, type: ${quoteLiteral(duckType(f.type))}, default_value: NULL}`
  )
  const byId = `schema = MAP {${columns.join(", ")}}, hive_partitioning = false`
  const byName = plan.byName
  if (byName === undefined || byName.paths.length === 0) return `read_parquet(${exact}${options}, ${byId})`
  const unnumbered = byName.paths.map(quoteLiteral).join(", ")
  const named = plan.schema.fields.map((f) => {
    // Qualified: a name no file holds fails, rather than binding to another column's alias here.
    const names = (byName.columns[f.name] ?? []).map((n) => `${FILES}.${quoteIdent(n)}`)
    const value = names.length === 0 ? "NULL" : names.length === 1 ? names[0] : `COALESCE(${names.join(", ")})`
    return `CAST(${value} AS ${duckType(f.type)}) AS ${quoteIdent(f.name)}`
  })
  return `(SELECT * EXCLUDE (${FILE}) FROM read_parquet(${exact}${options}, ${byId}, filename = '${FILE}') WHERE ${FILE} NOT IN (${unnumbered})` +
    ` UNION ALL BY NAME SELECT ${named.join(", ")} FROM read_parquet(${exactFiles(`[${unnumbered}]`)}, union_by_name = true, hive_partitioning = false, filename = '${FILE}') AS ${FILES}` +
    ` WHERE list_contains(${files}, ${FILE}))`
}

/** The file-name column of a read that splits its files (no column of a table's bears it), and its by-name side. */
const FILE = "k2_source_file"
const FILES = "k2_unnumbered"

/** Whether a file has Parquet field ids (null), else its column names: files never change. */
const footers = lru<ReadonlyArray<string> | null>(100_000)

/**
 * The planned files of a by-field-id read that have no Parquet field ids (`NameRead`), each
 * footer read once (DuckDB's `parquet_schema`; Java's rule: a file with any id is read by id).
 * `schema`: the snapshot's, `read` as `readSchemaOf` shows it; `properties` the table's;
 * `identitySources` the field ids identity partitions take (`identitySourcesOf`). A footer that
 * cannot be read fails as a TableFileError naming the file.
 */
export const nameReadOf = Effect.fnUntraced(function*(
  table: string,
  paths: ReadonlyArray<string>,
  schema: TableSchema,
  read: TableSchema,
  properties: Readonly<Record<string, string>>,
  identitySources: ReadonlyArray<number>
) {
  const known = new Map(paths.flatMap((p) => {
    const held = footers.get(p)
    return held === undefined ? [] : [[p, held] as const]
  }))
  const unknown = paths.filter((p) => !known.has(p))
  if (unknown.length > 0) {
    const duckDb = yield* DuckDb
    yield* duckDb.withConnection((connection) =>
      Effect.gen(function*() {
        const rows = yield* query(
          connection,
          "read footers",
          `SELECT file_name, count(field_id) > 0 AS numbered FROM parquet_schema(${exactFiles("$1::VARCHAR[]")}) GROUP BY file_name`,
          [listValue([...unknown])]
        )
        const numbered = new Set(rows.filter((r) => r["numbered"] === true).map((r) => String(r["file_name"])))
        for (const p of unknown) {
          const held = numbered.has(p) ? null : (yield* query(
            connection,
            "read footer",
            `DESCRIBE SELECT * FROM read_parquet(${exactFiles(`[${quoteLiteral(p)}]`)}, hive_partitioning = false)`
          )).map((r) => String(r["column_name"]))
          footers.set(p, held)
          known.set(p, held)
        }
      })
    ).pipe(Effect.mapError(blameFile(unknown)))
  }
  const unnumbered = paths.filter((p) => known.get(p) !== null)
  if (unnumbered.length === 0) return undefined
  const refuse = (path: string, why: string) => new UnsupportedTableFeature({ table, feature: `files without Parquet field ids (${path}): ${why}` })
  const columnsOf = nameReadColumns(schema, read, properties[NAME_MAPPING])
  if (Result.isFailure(columnsOf)) return yield* refuse(unnumbered[0]!, columnsOf.failure)
  // A Hive import keeps an identity partition's column in its directory names only: Java reads it from
  // the partition value, which K2 does not, so a file holding none of its names is refused, not read as null.
  const partitioned = read.fields.filter((f) => identitySources.includes(f.id))
  for (const p of unnumbered) {
    const own = columnsOf.success(known.get(p)!)
    const lacking = partitioned.find((f) => own[f.name]!.length === 0)
    if (lacking !== undefined) return yield* refuse(p, `it lacks ${lacking.name}, an identity partition's column, which K2 reads from files only`)
  }
  return { paths: unnumbered, columns: columnsOf.success(unnumbered.flatMap((p) => known.get(p)!)) } satisfies NameRead
})

/** The source field ids of the identity partition fields of `specs`. */
export const identitySourcesOf = (specs: ReadonlyArray<PartitionSpec>): ReadonlyArray<number> =>
  specs.flatMap((s) => s.fields.filter((f) => f.transform === "identity").map((f) => f["source-id"]))

/** `readParquet` of a file list given as a parameter (`$n`). */
export const readPlannedFiles = (placeholder: string, plan: ReadAs) =>
  readParquet(`${placeholder}::VARCHAR[]`, plan)

/**
 * `SELECT <select> FROM <planned files> <rest>`: the file list is parameter $1, the
 * caller's values $2 onwards. Only K2's own SQL text is ever interpolated.
 */
export const selectPlanned = Effect.fnUntraced(function*(
  plan: ScanPlan,
  select: string,
  rest = "",
  params: ReadonlyArray<DuckDBValue> = []
) {
  if (plan.files.length === 0) return [] as ReadonlyArray<Record<string, DuckDBValue>>
  const duckDb = yield* DuckDb
  const paths = plannedPaths(plan)
  return yield* duckDb.withConnection((connection) =>
    query(connection, "read planned files", `SELECT ${select} FROM ${readPlannedFiles("$1", plan)} ${rest}`, [
      listValue([...paths]),
      ...params
    ])
  ).pipe(Effect.mapError(blameFile(paths)))
})
