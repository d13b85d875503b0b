/** DuckDB calls an interruption stops early but never abandons (`interruptibly`, `attempt`). */
import { Effect } from "effect"
import { type DuckDbError, duckDbError } from "./duckDbError.ts"

/** How often an interrupted call is interrupted again until it settles. */
const REINTERRUPT_MS = 10

/**
 * Runs a DuckDB call, its throw or rejection mapped by `onFailure`. An interruption (a client gone,
 * a timeout) never abandons the call: `interrupt` (typically `connection.interrupt()`) stops it
 * early, and the fiber waits until it settles. An abandoned statement would keep its connection
 * busy after it went back to the pool, and closing a connection mid-statement deadlocks DuckDB, so
 * the process never exits.
 *
 * `interrupt` is repeated until the call settles: DuckDB forgets an interrupt that finds no
 * statement running (one still being prepared, reading its files' footers), and the statement
 * prepared next would then run to its end for a client long gone.
 */
export const interruptibly = <A, E>(
  f: () => A | Promise<A>,
  onFailure: (cause: unknown) => E,
  interrupt?: () => void
): Effect.Effect<A, E> =>
  Effect.callback<A, E>((resume) => {
    let done = false
    const settled = new Promise<A>((resolve) => resolve(f())).then(
      (a) => resume(Effect.succeed(a)),
      (cause) => resume(Effect.fail(onFailure(cause)))
    ).finally(() => {
      done = true
    })
    return Effect.promise(() => {
      if (interrupt !== undefined && !done) {
        interrupt()
        const again = setInterval(interrupt, REINTERRUPT_MS)
        return settled.finally(() => clearInterval(again))
      }
      return settled
    })
  })

/** Runs one DuckDB call (see `interruptibly`), failing with a `DuckDbError` that says what it was for. */
export const attempt = <A>(purpose: string, f: () => A | Promise<A>, interrupt?: () => void): Effect.Effect<A, DuckDbError> =>
  interruptibly(f, (cause) => duckDbError(purpose, cause), interrupt)
