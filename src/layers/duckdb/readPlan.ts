/** Reading the rows of a scan plan with DuckDB: the files the planner kept, nothing else. */
import { type DuckDBValue, listValue } from "@duckdb/node-api"
import { Effect } from "effect"
import type { ScanPlan } from "../../services/TableScanner.ts"
import { localPath } from "../iceberg/fileio.ts"
import { DuckDb, query } from "./DuckDb.ts"

export const plannedPaths = (plan: ScanPlan): ReadonlyArray<string> => plan.files.map((f) => localPath(f.filePath))

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
  return yield* duckDb.withConnection((connection) =>
    query(connection, "read planned files", `SELECT ${select} FROM read_parquet($1::VARCHAR[]) ${rest}`, [
      listValue([...plannedPaths(plan)]),
      ...params
    ])
  )
})
