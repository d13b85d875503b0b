/**
 * `withConnection`: a connection borrowed from the pool in the caller's turn (connectionTurns.ts),
 * the wait for it counted in the request's `ConnectionWaits` and in /metrics.
 */
import type { DuckDBConnection } from "@duckdb/node-api"
import { Clock, Effect, Pool } from "effect"
import { monotonicMillisOf } from "../elapsed.ts"
import * as Metrics from "../telemetry/metrics.ts"
import { CurrentConnectionOwner, connectionTurns } from "./connectionTurns.ts"
import { CurrentConnectionWaits } from "./connectionWaits.ts"
import type { DuckDbError } from "./duckDbError.ts"

export type WithConnection = <A, E, R>(
  use: (connection: DuckDBConnection) => Effect.Effect<A, E, R>
) => Effect.Effect<A, E | DuckDbError, R>

/** `withConnection` over `pool` of `size` connections, its gauges registered. */
export const connectionBorrow = Effect.fnUntraced(function*(pool: Pool.Pool<DuckDBConnection, DuckDbError>, size: number) {
  // For /metrics: a busy pool is what makes queries wait (and time out) before they run.
  const counts = { inUse: 0, waiting: 0 }
  yield* Metrics.registerGauge(Metrics.duckDbConnections, () => size)
  yield* Metrics.registerGauge(Metrics.duckDbConnectionsInUse, () => counts.inUse)
  yield* Metrics.registerGauge(Metrics.duckDbConnectionWaiters, () => counts.waiting)

  const { takeTurn, giveTurn } = connectionTurns(size)

  const withConnection: WithConnection = (use) =>
    Effect.flatMap(CurrentConnectionWaits, (waits) =>
      Effect.flatMap(CurrentConnectionOwner, (owner) =>
        Clock.clockWith((clock) =>
          Effect.suspend(() => {
            let borrowed = false
            const stopWaiting = () => {
              borrowed = true
              counts.waiting--
              waits?.ended(monotonicMillisOf(clock))
            }
            counts.waiting++
            waits?.started(monotonicMillisOf(clock))
            const borrow = Pool.use(pool, (connection) =>
              Effect.suspend(() => {
                stopWaiting()
                counts.inUse++
                return use(connection)
              }).pipe(Effect.ensuring(Effect.sync(() => void counts.inUse--))))
            // The wait for a turn may be interrupted (it leaves the line); a turn taken is always given back.
            return Effect.uninterruptibleMask((restore) =>
              Effect.flatMap(restore(takeTurn(owner)), () => restore(borrow).pipe(Effect.ensuring(giveTurn(owner))))
            ).pipe(
              // Left while waiting (interrupted, or the pool failed to connect): no longer waiting.
              Effect.ensuring(Effect.sync(() => void (borrowed || stopWaiting())))
            )
          })
        )))
  return withConnection
})
