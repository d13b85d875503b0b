/**
 * ReplayEngine over the TableScanner and DuckDB.
 *
 * Per UTC day (the days of a file: domain/iceberg/fileDays.ts; a file over several days is read in each, filtered by time), the day's range is cut into windows of at
 * most `windowRows` rows (windows.ts). One statement per window reads the planned files of both
 * tables (UNION ALL), already filtered by time and symbol, and DuckDB sorts it in the replay
 * order; its result is streamed chunk by chunk (2048 rows) into a bounded queue, the next chunk
 * fetched while one becomes events. Unpaced, the next window's statement runs while the current
 * one streams out. Memory: at most two windows inside DuckDB plus the queue. Connections: one
 * pooled connection per window in flight; a paced window (or any, with `wholeWindows`) is read
 * whole first so no connection waits on the pace or on a consumer that stalls.
 *
 * `follow` replays each table at its catch-up point, then the live topics (live.ts).
 *
 * - The request checked (requestChecks.ts), its tables planned with each file's days (tablePlans.ts);
 *   the days to play (playDays.ts): those, and for files whose days are unknown or span more than 2 of the range the days of their rows.
 * - Day by day, window by window into the queue (produceEvents.ts): a day's windows cut by its
 *   histogram (secondsHistogram.ts), its rows' profiles (profiles.ts), each window's statement
 *   (windowStatement.ts) read whole or streamed (windowReads.ts), chunk by chunk to events (chunkEvents.ts).
 * - Catch-up points and `follow` (follow.ts).
 */
import { Effect, Layer, Stream } from "effect"
import { Catalog } from "../../services/Catalog.ts"
import { ReplayEngine, type ReplayError, type ReplayEvent, type ReplayRequest } from "../../services/ReplayEngine.ts"
import { TableScanner } from "../../services/TableScanner.ts"
import { DuckDb } from "../duckdb/DuckDb.ts"
import { makeFollow } from "./follow.ts"
import { paced } from "./pace.ts"
import { makeProduce } from "./produceEvents.ts"
import { checkRequest } from "./requestChecks.ts"
import { makePlanAll } from "./tablePlans.ts"

export type { ChunkReader } from "./chunkEvents.ts"
export type { Profile } from "./profiles.ts"

const QUEUE_EVENTS = 4_096

export const layer = Layer.effect(ReplayEngine)(Effect.gen(function*() {
  const scanner = yield* TableScanner
  const duckDb = yield* DuckDb
  const catalog = yield* Catalog

  const planAll = makePlanAll(scanner, catalog)
  const produce = makeProduce(duckDb, catalog)

  const plan = Effect.fn("ReplayEngine.plan")(function*(request: ReplayRequest) {
    const c = yield* checkRequest(request)
    const plans = yield* planAll(request, c)
    const events = Stream.callback<ReplayEvent, ReplayError>((queue) => produce(queue, plans, c), { bufferSize: QUEUE_EVENTS })
    return c.pace._tag === "Paced" ? events.pipe(paced(c.pace.speed)) : events
  })

  const stream = (request: ReplayRequest): Stream.Stream<ReplayEvent, ReplayError> => Stream.unwrap(plan(request))

  const { catchUpPoint, follow } = makeFollow(catalog, stream)

  return ReplayEngine.of({ plan, stream, catchUpPoint, follow })
}))
