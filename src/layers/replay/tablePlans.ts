/**
 * The tables' scan plans of a replay, each file with the UTC days it may hold (fileDays.ts), and
 * a day's share of them (`filesOfDay`, `DayRead`).
 */
import { Effect } from "effect"
import { type Days, daysOfFile, needsSpec, timeFields } from "../../domain/iceberg/fileDays.ts"
import { identifierOf } from "../../domain/tables.ts"
import type { Catalog } from "../../services/Catalog.ts"
import type { MarketTable } from "../../services/QueryEngine.ts"
import type { ReplayRequest } from "../../services/ReplayEngine.ts"
import type { ScanPlan, TableScanner } from "../../services/TableScanner.ts"
import type { CheckedRequest } from "./requestChecks.ts"

/** A table's plan and the UTC days each of its files may hold (fileDays.ts), null where unknown. */
export interface PlannedTable {
  readonly table: MarketTable
  readonly plan: ScanPlan
  readonly days: ReadonlyArray<Days | null>
}

/** A day's reads: its tables' plans (the day's files), the symbols asked for, every planned path (to blame a failure on). */
export interface DayRead {
  readonly plans: ReadonlyArray<{ readonly table: MarketTable; readonly plan: ScanPlan }>
  readonly symbols: ReadonlyArray<string>
  readonly paths: ReadonlyArray<string>
}

export const makePlanAll = (scanner: TableScanner["Service"], catalog: Catalog["Service"]) => {
  /**
   * One snapshot per table when the request names them; otherwise the tables are read together
   * at one state, so a table without a snapshot at that point replays as empty.
   */
  const planAll = (request: ReplayRequest, c: CheckedRequest) => {
    const filter = {
      time: { column: "exchange_timestamp", from: c.range.from, to: c.range.to },
      ...(c.symbols.length > 0 ? { values: [{ column: "symbol", values: c.symbols }] } : {})
    }
    const planned = request.snapshots === undefined
      ? scanner.planTogether(c.which.map((table) => ({ table: identifierOf(table), filter })), request.snapshot).pipe(
        Effect.map((plans) => plans.map((plan, i) => ({ table: c.which[i]!, plan })))
      )
      : Effect.forEach(c.which, (table) => {
        const snapshot = request.snapshots?.[table] ?? request.snapshot
        return scanner.plan(identifierOf(table), { ...(snapshot === undefined ? {} : { snapshot }), filter })
          .pipe(Effect.map((plan) => ({ table, plan })))
      }, { concurrency: 2 })
    return Effect.flatMap(planned, (plans) => Effect.forEach(plans, withDays))
  }

  /** Each file's days; the table's partition specs are read only for files without bounds of exchange_timestamp. */
  const withDays = ({ table, plan }: { readonly table: MarketTable; readonly plan: ScanPlan }) =>
    Effect.gen(function*() {
      const column = plan.schema.fields.find((f) => f.name === "exchange_timestamp")
      // Bounds and transforms read as microseconds: another type's (nanoseconds) would place rows on wrong days.
      const ts = column?.type === "timestamptz" || column?.type === "timestamp" ? column.id : undefined
      if (ts === undefined) return { table, plan, days: plan.files.map(() => null) } satisfies PlannedTable
      const fields = plan.files.some((f) => needsSpec(f, ts))
        ? timeFields((yield* catalog.loadTable(plan.table)).metadata["partition-specs"], ts)
        : undefined
      return { table, plan, days: plan.files.map((f) => daysOfFile(f, ts, fields)) } satisfies PlannedTable
    })

  return planAll
}

/** Files of `p` that may hold rows of UTC day `day`. */
export const filesOfDay = (p: PlannedTable, day: number): ScanPlan => ({
  ...p.plan,
  files: p.plan.files.filter((_, i) => {
    const d = p.days[i]
    return d == null || (d[0] <= day && day <= d[1])
  })
})
