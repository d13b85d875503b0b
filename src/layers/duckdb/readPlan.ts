/** Reading the rows of a scan plan with DuckDB: the files the planner kept, nothing else. */
import * as fs from "node:fs"
import { type DuckDBValue, listValue } from "@duckdb/node-api"
import { Effect } from "effect"
import { CorruptFile, MissingFile, TableFileError } from "../../domain/iceberg/errors.ts"
import type { ScanPlan } from "../../services/TableScanner.ts"
import { localPath } from "../iceberg/fileio.ts"
import { DuckDb, query } from "./DuckDb.ts"
import { duckType, quoteLiteral } from "./sqlText.ts"

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

/**
 * `read_parquet` of `files` (a list's SQL text: a `$n` parameter or literals), with DuckDB's Hive
 * partitioning off: left to detect it, DuckDB takes any `name=value` directory in a path (K2's and
 * Java's partition directories, or one in the warehouse path) as a column, and where the name is a
 * column's, its value replaces the file's values in every row. A plan `byFieldId` (a column renamed,
 * dropped or retyped by another engine; ADR-2) reads each column of its schema by Parquet field id,
 * under the schema's name and at its type (a promotion cast exactly; a column a file lacks is null).
 * Every read of data files builds its source here.
 */
export const readParquet = (files: string, plan: Pick<ScanPlan, "schema" | "byFieldId">, options = ""): string => {
  if (!plan.byFieldId) return `read_parquet(${files}${options}, hive_partitioning = false)`
  const columns = plan.schema.fields.map((f) =>
    `${f.id}: {name: ${quoteLiteral(f.name)}, type: ${quoteLiteral(duckType(f.type))}, default_value: NULL}`
  )
  return `read_parquet(${files}${options}, schema = MAP {${columns.join(", ")}}, hive_partitioning = false)`
}

/** `readParquet` of a file list given as a parameter (`$n`). */
export const readPlannedFiles = (placeholder: string, plan: Pick<ScanPlan, "schema" | "byFieldId">) =>
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
