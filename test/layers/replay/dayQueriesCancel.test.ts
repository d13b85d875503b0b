/**
 * Before it plays a day, a replay asks DuckDB for the day's histogram (to cut windows) and its
 * profiles. A consumer that goes away (a client disconnecting from /v1/replay) during either must
 * interrupt the statement: the replay waits for it to settle before its connection goes back to
 * the pool, so a statement left running holds the connection, and the consumer, until it ends.
 */
import type { DuckDBConnection, DuckDBPreparedStatement } from "@duckdb/node-api"
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Stream } from "effect"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { DAY, genTrades, T0 } from "../query/data.ts"
import { spiedDuckDb, spiedReplayOverTrades, spy } from "../../support/spy.ts"

/** One day of more rows than a window of 1,000 holds: the day is cut by its histogram. */
const rows = genTrades(3_000, { days: 1, seed: 52 })

/** The statement to hold (matched on its text) and what happens to it; none held when undefined. */
let held: { readonly sql: RegExp; readonly started: Deferred.Deferred<void>; interrupts: number; release: () => void } | undefined

/**
 * DuckDB whose held statement runs until its connection is interrupted, as a long one does: it
 * settles (failed, as DuckDB's INTERRUPT) only then.
 */
const connection = (c: DuckDBConnection) => {
  let stop = () => {}
  const statement = (s: DuckDBPreparedStatement, sql: string) => {
    const h = held
    if (h === undefined || !h.sql.test(sql)) return s
    return spy(s, {
      runAndReadAll: () =>
        new Promise((_, reject) => {
          stop = () => reject(new Error("INTERRUPT Error: Interrupted!"))
          h.release = stop
          Deferred.doneUnsafe(h.started, Effect.void)
        })
    })
  }
  return spy(c, {
    prepare: async (sql: string) => statement(await c.prepare(sql), sql),
    interrupt: () => {
      if (held !== undefined) held.interrupts++
      stop()
    }
  })
}
const holding = spiedDuckDb(connection)

const app = spiedReplayOverTrades(holding, rows)

const request = { from: T0, to: T0 + DAY, tables: ["trades"] as const, windowRows: 1_000 }

/** A replay whose consumer goes away while the statement matching `sql` runs: that statement is interrupted. */
const goneDuring = (sql: RegExp) =>
  Effect.gen(function*() {
    const replay = yield* ReplayEngine
    const h = { sql, started: yield* Deferred.make<void>(), interrupts: 0, release: () => {} }
    held = h
    const fiber = yield* Stream.runDrain(replay.stream(request)).pipe(Effect.forkChild)
    yield* Deferred.await(h.started)
    // Without the interruption this waits for ever (the test's timeout fails it).
    yield* Fiber.interrupt(fiber)
    held = undefined
    assert.strictEqual(h.interrupts, 1)
    // The engine is whole: its connections are back, and a replay reads every row.
    const all = yield* Stream.runCollect(replay.stream(request))
    assert.strictEqual(all.length, rows.length)
  }).pipe(
    // A failed test still lets the held statement settle, so the pool can close.
    Effect.ensuring(Effect.sync(() => {
      held?.release()
      held = undefined
    }))
  )

layer(app, { timeout: 120_000, excludeTestServices: true })("a replay whose consumer goes away before the day plays", (it) => {
  it.effect("interrupts the day's histogram", () => goneDuring(/GROUP BY s ORDER BY s/), 30_000)
  it.effect("interrupts the day's profiles", () => goneDuring(/SELECT DISTINCT/), 30_000)
})
