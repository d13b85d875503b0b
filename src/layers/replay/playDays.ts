/**
 * The UTC days a replay plays: each file's days (tablePlans.ts) within the range, and for files
 * whose days are unknown (no bounds, no time partition: fileDays.ts) the days their rows fall on,
 * read in one statement. Playing every day of the range for them instead ran a profiles statement
 * per day: ~64,000 for a follow, whose range ends in 2200.
 */
import { Effect } from "effect"
import { MICROS_PER_DAY } from "../../domain/time.ts"
import type { ScanPlan } from "../../services/TableScanner.ts"
import { attempt, type DuckDb, executeOne } from "../duckdb/DuckDb.ts"
import { blameFile, plannedPaths } from "../duckdb/readPlan.ts"
import { bucketExpression, filteredFiles, Params } from "../query/sql.ts"
import type { CheckedRequest } from "./requestChecks.ts"
import type { PlannedTable } from "./tablePlans.ts"

export const makePlayDays = (duckDb: DuckDb["Service"]) => {
  /** The days of the range holding rows (of the symbols asked for) in the files of the plans `unknown`. */
  const daysOfRows = (unknown: ReadonlyArray<ScanPlan>, c: CheckedRequest) => {
    const params = new Params()
    const parts = unknown.map((plan) =>
      `SELECT epoch_us(exchange_timestamp) AS ts FROM ${filteredFiles(params, plan, c.range.from, c.range.to, c.symbols)}`
    )
    // Floored (bucketExpression), as `//` truncates toward zero: a day before 1970 would be keyed by the next one.
    const day = params.add(BigInt(MICROS_PER_DAY))
    const sql = `SELECT (${bucketExpression(day)} // ${day})::DOUBLE AS day
      FROM (${parts.join(" UNION ALL ")}) GROUP BY day`
    const paths = unknown.flatMap(plannedPaths)
    return duckDb.withConnection((connection) =>
      attempt("replay days of unbounded files", async () => {
        const result = await executeOne(connection, sql, params.values, (s) => s.runAndReadAll())
        return result.getColumnsJS()[0] as Array<number>
      }, () => connection.interrupt())
    ).pipe(Effect.mapError(blameFile(paths)))
  }

  return (plans: ReadonlyArray<PlannedTable>, c: CheckedRequest) =>
    Effect.gen(function*() {
      const days = new Set<number>()
      const [first, last] = [Math.floor(c.range.from / MICROS_PER_DAY), Math.floor((c.range.to - 1) / MICROS_PER_DAY)]
      for (const p of plans) {
        for (const d of p.days) {
          if (d !== null) for (let day = Math.max(d[0], first); day <= Math.min(d[1], last); day++) days.add(day)
        }
      }
      const unknown = plans
        .map((p) => ({ ...p.plan, files: p.plan.files.filter((_, i) => p.days[i] === null) }))
        .filter((plan) => plan.files.length > 0)
      if (unknown.length > 0) for (const day of yield* daysOfRows(unknown, c)) days.add(day)
      return [...days].sort((x, y) => x - y)
    })
}
