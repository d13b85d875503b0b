/**
 * Rewrites the rows of existing data files (compaction) as new data files, as `writeDataFiles`
 * writes a batch, with no row passing through JS: DuckDB reads the files through a temp view,
 * groups them by partition (partitionFilters.ts), sorts and writes each (parquetCopy.ts).
 */
import { Effect } from "effect"
import type { ReadSchema } from "../../domain/iceberg/readSchema.ts"
import type { SortKey } from "../../domain/iceberg/rowOrder.ts"
import type { DataFile } from "../../domain/iceberg/spec.ts"
import type { TableFileError } from "../../domain/iceberg/errors.ts"
import type { UnsupportedTableFeature } from "../../services/TableScanner.ts"
import { DuckDb, type DuckDbError, query } from "../duckdb/DuckDb.ts"
import { identitySourcesOf, nameReadOf, readParquet } from "../duckdb/readPlan.ts"
import { duckType, quoteIdent, quoteLiteral } from "../duckdb/sqlText.ts"
import { localPath } from "./fileio.ts"
import { partitionGroups } from "./partitionFilters.ts"
import { writeEach, writePartition } from "./parquetCopy.ts"
import { layoutOf, type WriteOptions } from "./writeOptions.ts"

let viewCounter = 0

const orderBy = (sortBy: ReadonlyArray<SortKey>): string => {
  if (sortBy.length === 0) return ""
  const keys = sortBy.map((f) =>
    `${quoteIdent(f.field.name)} ${f.descending ? "DESC" : "ASC"} ${f.nullsFirst ? "NULLS FIRST" : "NULLS LAST"}`
  )
  return ` ORDER BY ${keys.join(", ")}`
}

/**
 * Rewrites the rows of existing Parquet data files (local paths or `file:` URIs) as new
 * data files, exactly as `writeDataFiles` writes a batch: sorted by the sort order, split
 * at the target size, one or more files per partition value. DuckDB reads, sorts and
 * writes; no row passes through JS (compaction). `read` is the schema to write (`options.schema`) as
 * `readSchemaOf` gives it: columns are matched by name, or by field id after another engine renamed,
 * dropped or retyped one (a file without field ids by name, `nameReadOf`); a column missing from a
 * file reads as null.
 */
export const rewriteDataFiles = Effect.fn("parquet.rewriteDataFiles")(function*(
  sources: ReadonlyArray<string>,
  read: ReadSchema,
  options: WriteOptions
): Effect.fn.Return<ReadonlyArray<DataFile>, DuckDbError | TableFileError | UnsupportedTableFeature, DuckDb> {
  const layout = yield* layoutOf(options)
  if (sources.length === 0) return []
  const paths = sources.map(localPath)
  const { schema } = options
  // Files without field ids (another engine's imports) are read by name, as the planner reads them.
  const byName = read.byFieldId ? yield* nameReadOf(options.table ?? "", paths, schema, read.schema, options.properties ?? {}, identitySourcesOf([options.spec])) : undefined
  const how = byName === undefined ? read : { ...read, byName }
  const duckDb = yield* DuckDb
  return yield* duckDb.withConnection((connection) =>
    Effect.acquireUseRelease(
      Effect.gen(function*() {
        const view = `k2_source_${++viewCounter}`
        // Hive partitioning off: a `name=value` directory would override the column of that name.
        const files = readParquet(`[${paths.map(quoteLiteral).join(", ")}]`, how, read.byFieldId ? "" : ", union_by_name = true")
        // By name, a column added after every source was written is in none of them: union_by_name only
        // fills it for some, and naming it would fail the rewrite. DuckDB matches names ignoring case.
        // By field id, every column of the schema is there, under the name `read` shows for its id.
        const shown = new Map(read.schema.fields.map((f) => [f.id, f.name]))
        const present = read.byFieldId ? new Set<string>() : new Set(
          (yield* query(connection, "describe source files", `DESCRIBE SELECT * FROM ${files}`))
            .map((r) => String(r["column_name"]).toLowerCase())
        )
        const source = (name: string, id: number) =>
          read.byFieldId ? quoteIdent(shown.get(id)!) : present.has(name.toLowerCase()) ? quoteIdent(name) : "NULL"
        // layoutOf refused every column the writer has no DuckDB type for.
        const columns = schema.fields.map((f) => `CAST(${source(f.name, f.id)} AS ${duckType(f.type)}) AS ${quoteIdent(f.name)}`)
        yield* query(connection, "open source files", `CREATE TEMP VIEW ${view} AS SELECT ${columns.join(", ")} FROM ${files}`)
        return view
      }),
      (view) =>
        Effect.gen(function*() {
          const groups = yield* partitionGroups(connection, view, layout.partitioning)
          const order = orderBy(layout.sortBy)
          return yield* writeEach(groups, (group) =>
            writePartition(connection, {
              select: `SELECT * FROM (SELECT * FROM ${view} WHERE ${group.where})${order}`,
              params: group.params,
              types: group.types
            }, group, options))
        }),
      (view) => query(connection, "drop source view", `DROP VIEW IF EXISTS ${view}`).pipe(Effect.ignore)
    )
  )
})
