/** A day's rows counted per second of exchange_timestamp: what its windows are cut by (windows.ts). */
import { Effect } from "effect"
import { attempt, type DuckDb, executeOne } from "../duckdb/DuckDb.ts"
import { blameFile } from "../duckdb/readPlan.ts"
import { filteredFiles, Params } from "../query/sql.ts"
import type { DayRead } from "./tablePlans.ts"

export const makeHistogram = (duckDb: DuckDb["Service"]) => ({ paths, plans, symbols }: DayRead, from: number, to: number) => {
  const params = new Params()
  // Each row keyed by the start of its second: floored, as `//` truncates toward zero and would key
  // a second before 1970 by the next one (cuts a second late, two seconds counted as one at 0).
  const parts = plans.map(({ plan }) => `SELECT epoch_us(exchange_timestamp) AS us FROM ${filteredFiles(params, plan, from, to, symbols)}`)
  const sql = `SELECT s::DOUBLE AS s, count(*)::DOUBLE AS n
      FROM (SELECT us - (((us % 1000000) + 1000000) % 1000000) AS s FROM (${parts.join(" UNION ALL ")})) GROUP BY s ORDER BY s`
  return duckDb.withConnection((connection) =>
    attempt("replay histogram", async () => {
      const result = await executeOne(connection, sql, params.values, (s) => s.runAndReadAll())
      const [s, n] = result.getColumnsJS() as [Array<number>, Array<number>]
      return s.map((second, i) => [second, n[i]!] as const)
    }, () => connection.interrupt())
  ).pipe(Effect.mapError(blameFile(paths)))
}
