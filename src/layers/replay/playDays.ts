/**
 * The UTC days a replay plays: each file's days (tablePlans.ts) within the range, and for files
 * whose days are unknown (no bounds, no time partition: fileDays.ts) or coarse (more than
 * `COARSE_DAYS` of the range: another engine's month or year partition, bounds over weeks) the days their rows
 * fall on, read in one statement. Playing every day of the range for them instead ran a profiles
 * statement per day: ~64,000 for a follow, whose range ends in 2200; 365 for a year partition.
 */
import { Effect } from "effect"
import { MICROS_PER_DAY } from "../../domain/time.ts"
import type { Days } from "../../domain/iceberg/fileDays.ts"
import type { ScanPlan } from "../../services/TableScanner.ts"
import { attempt, type DuckDb, executeOne } from "../duckdb/DuckDb.ts"
import { blameFile, plannedPaths } from "../duckdb/readPlan.ts"
import { bucketExpression, filteredFiles, Params } from "../query/sql.ts"
import type { CheckedRequest } from "./requestChecks.ts"
import type { PlannedTable } from "./tablePlans.ts"

/** Known days (within the range) past this many are read from the file's rows: K2's files hold one day, a file across midnight two. */
const COARSE_DAYS = 2

export const makePlayDays = (duckDb: DuckDb["Service"]) => {
  /** The days of the range holding rows (of the symbols asked for) in the files of the plans `unknown` (or coarse). */
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
      /** The days of the range `d` names, when known and few; else the file's days are read from its rows. */
      const known = (d: Days | null): Days | undefined => {
        if (d === null) return undefined
        const within: Days = [Math.max(d[0], first), Math.min(d[1], last)]
        return within[1] - within[0] + 1 <= COARSE_DAYS ? within : undefined
      }
      for (const p of plans) {
        for (const d of p.days) {
          const within = known(d)
          if (within !== undefined) for (let day = within[0]; day <= within[1]; day++) days.add(day)
        }
      }
      const unknown = plans
        .map((p) => ({ ...p.plan, files: p.plan.files.filter((_, i) => known(p.days[i]!) === undefined) }))
        .filter((plan) => plan.files.length > 0)
      if (unknown.length > 0) for (const day of yield* daysOfRows(unknown, c)) days.add(day)
      return [...days].sort((x, y) => x - y)
    })
}
