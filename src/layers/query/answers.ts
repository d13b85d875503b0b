/** What every QueryEngine answer carries: its rows, the plans it scanned and how long it took. */
import { Clock, Effect } from "effect"
import { type Answer, scannedOf } from "../../services/QueryEngine.ts"
import type { ScanPlan } from "../../services/TableScanner.ts"

/** A DuckDB number (DOUBLE, or BIGINT as a bigint) as a JS number. */
export const num = (v: unknown): number => (typeof v === "bigint" ? Number(v) : (v as number))

export const timed = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    // Monotonic: by the wall clock, set back during a read, it took minus an hour.
    const start = yield* Clock.monotonicTimeNanos
    const value = yield* body
    return { value, elapsedMs: Number((yield* Clock.monotonicTimeNanos) - start) / 1e6 }
  })

export const answer = <A>(rows: ReadonlyArray<A>, plans: ReadonlyArray<ScanPlan>, elapsedMs: number): Answer<A> => ({
  rows,
  scanned: plans.map(scannedOf),
  rowsReturned: rows.length,
  elapsedMs
})
