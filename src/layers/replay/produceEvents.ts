/**
 * A replay's events produced into its queue, day by day (UTC) and window by window: each window's
 * statement read whole or streamed out in order, one window ahead when unpaced (engine.ts says how).
 */
import { Cause, Deferred, Effect, Exit, Queue } from "effect"
import { MICROS_PER_DAY } from "../../domain/time.ts"
import type { Catalog } from "../../services/Catalog.ts"
import type { ReplayError, ReplayEvent } from "../../services/ReplayEngine.ts"
import type { DuckDb } from "../duckdb/DuckDb.ts"
import { blameFile, plannedPaths } from "../duckdb/readPlan.ts"
import { expiredWhileRead } from "../iceberg/planner.ts"
import { filteredFiles, Params } from "../query/sql.ts"
import { chunkReader } from "./chunkEvents.ts"
import { makePlayDays } from "./playDays.ts"
import { makeProfilesOf } from "./profiles.ts"
import type { CheckedRequest } from "./requestChecks.ts"
import { makeHistogram } from "./secondsHistogram.ts"
import { type DayRead, filesOfDay, type PlannedTable } from "./tablePlans.ts"
import { readAll, streamInto } from "./windowReads.ts"
import { cutWindows } from "./windows.ts"
import { windowPart, windowSql } from "./windowStatement.ts"

export const makeProduce = (duckDb: DuckDb["Service"], catalog: Catalog["Service"]) => {
  const profilesOf = makeProfilesOf(duckDb)
  const histogram = makeHistogram(duckDb)
  const playDays = makePlayDays(duckDb)

  const produce = (
    queue: Queue.Queue<ReplayEvent, ReplayError | Cause.Done>,
    plans: ReadonlyArray<PlannedTable>,
    c: CheckedRequest
  ) =>
    Effect.gen(function*() {
      if (c.range.from >= c.range.to) return yield* Queue.end(queue)
      /** Unpaced windows started and not yet streamed out, oldest first. */
      const inFlight: Array<Deferred.Deferred<void, ReplayError>> = []
      const days = yield* playDays(plans, c)
      const play = Effect.gen(function*() {
        for (const day of days) {
          const from = Math.max(c.range.from, day * MICROS_PER_DAY)
          const to = Math.min(c.range.to, (day + 1) * MICROS_PER_DAY)
          if (from >= to) continue
          const dayPlans = plans.map((p) => ({ table: p.table, plan: filesOfDay(p, day) })).filter((p) => p.plan.files.length > 0)
          if (dayPlans.length === 0) continue
          const paths = dayPlans.flatMap((p) => plannedPaths(p.plan))
          const read: DayRead = { plans: dayPlans, symbols: c.symbols, paths }
          const upperBound = dayPlans.reduce((n, p) => n + p.plan.files.reduce((m, f) => m + f.recordCount, 0), 0)
          const windows = upperBound <= c.windowRows
            ? [{ from, to, rows: upperBound }]
            : cutWindows(yield* histogram(read, from, to), c.windowRows, from, to)
          const { salt, profiles } = yield* profilesOf(read, from, to)
          const only = dayPlans.length > 1 ? undefined : dayPlans[0]!.table === "trades" ? 1 : 0
          for (const w of windows) {
            if (w.rows === 0) continue
            const params = new Params()
            const sql = windowSql(dayPlans.map(({ table, plan }) =>
              windowPart(table, dayPlans.length > 1, filteredFiles(params, plan, w.from, w.to, c.symbols), params.add(salt))
            ))
            const reader = (names: ReadonlyArray<string>) => chunkReader(names, only, profiles)
            if (c.whole) {
              const events = yield* duckDb.withConnection((connection) => readAll(connection, sql, params.values, reader)).pipe(
                Effect.mapError(blameFile(paths))
              )
              yield* Queue.offerAll(queue, events)
            } else {
              // One window ahead: the next statement runs (DuckDB reads and sorts it) while this one streams out.
              if (inFlight.length === 2) yield* Deferred.await(inFlight.shift()!)
              const turn = inFlight.at(-1)
              const done = yield* Deferred.make<void, ReplayError>()
              const window = duckDb.withConnection((connection) => streamInto(connection, sql, params.values, reader, queue, turn))
              const blamed = window.pipe(Effect.mapError((e) => e._tag === "DuckDbError" ? blameFile(paths)(e) : e))
              yield* Effect.forkChild(Deferred.into(blamed, done))
              inFlight.push(done)
            }
          }
        }
      })
      // Events stay in order up to a failure: the windows already started stream out before it.
      const exit = yield* Effect.exit(play)
      for (const done of inFlight) yield* Deferred.await(done)
      if (Exit.isFailure(exit)) return yield* exit
      yield* Queue.end(queue)
    }).pipe(
      // A long replay outlives its snapshot when maintenance expires it: said so, not as a missing file.
      Effect.catch(expiredWhileRead(catalog, plans.map((p) => p.plan)))
    )

  return produce
}
