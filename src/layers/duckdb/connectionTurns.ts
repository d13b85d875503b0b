/**
 * The turns at the connection pool, handed out fairly between callers (fairQueue.ts, ADR-100), and
 * who a caller waits as (`CurrentConnectionOwner`).
 */
import { Context, Deferred, Effect } from "effect"
import { FairQueue } from "./fairQueue.ts"

/**
 * Who a `withConnection` waits for a connection as (ADR-100): serve's requests their caller (`key:<name>`,
 * or the client address without a valid key, as the rate limit counts), so that one caller's many
 * reads do not keep every other caller waiting behind all of them. Every other program is one caller:
 * first come, first served.
 */
export const CurrentConnectionOwner = Context.Reference<string>("k2/duckdb/ConnectionOwner", { defaultValue: () => "" })

export interface ConnectionTurns {
  /** Waits for a turn as `owner`, in line with its other waiters; interrupted, it leaves the line. */
  readonly takeTurn: (owner: string) => Effect.Effect<void>
  /** Gives `owner`'s turn back, to the next waiter or free. */
  readonly giveTurn: (owner: string) => Effect.Effect<void>
}

/**
 * `size` turns: as many as the pool's connections, so the pool itself never has a waiter and its own
 * line (first come, first served) is never the one that decides. A turn is a Deferred completed by
 * the one giving its turn back.
 */
export const connectionTurns = (size: number): ConnectionTurns => {
  let freeTurns = size
  const line = new FairQueue<Deferred.Deferred<void>>()
  /** A turn given back, or one handed to a waiter that gave up: to the next waiter, else free. */
  const handOn = () => {
    const next = line.next()
    if (next === undefined) freeTurns++
    else Deferred.doneUnsafe(next.waiter, Effect.void)
  }
  const takeTurn = (owner: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (freeTurns > 0) {
        freeTurns--
        line.served(owner)
        return Effect.void
      }
      const turn = Deferred.makeUnsafe<void>()
      line.enqueue(owner, turn)
      return Effect.onInterrupt(Deferred.await(turn), () =>
        Effect.sync(() => {
          // Not in the line: it was handed the turn as it gave up, which goes on to the next.
          if (!line.remove(owner, turn)) {
            line.released(owner)
            handOn()
          }
        }))
    })
  const giveTurn = (owner: string) =>
    Effect.sync(() => {
      line.released(owner)
      handOn()
    })
  return { takeTurn, giveTurn }
}
