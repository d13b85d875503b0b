/**
 * A paced replay reads each window whole before it plays it: a consumer that goes away (a client
 * disconnecting from /v1/replay) must stop that read at the chunk in flight, not at the window's end.
 */
import type { DuckDBConnection, DuckDBPreparedStatement, DuckDBResult } from "@duckdb/node-api"
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { DAY, genTrades, T0 } from "../query/data.ts"
import { spiedDuckDb, spiedReplayOverTrades, spy } from "../../support/spy.ts"

/** One day, one paced window (under its 50,000 rows), ~15 chunks of 2,048 rows. */
const rows = genTrades(30_000, { days: 1, seed: 51 })

let fetches = 0
let fetchStarted = () => {}
const firstFetch = new Promise<void>((resolve) => {
  fetchStarted = resolve
})

/** DuckDB, counting the chunks fetched from every streamed result. */
const result = (r: DuckDBResult) =>
  spy(r, {
    fetchChunk: () => {
      fetches++
      fetchStarted()
      return r.fetchChunk()
    }
  })
const statement = (s: DuckDBPreparedStatement) => spy(s, { stream: async () => result(await s.stream()) })
const connection = (c: DuckDBConnection) => spy(c, { prepare: async (sql: string) => statement(await c.prepare(sql)) })
const counting = spiedDuckDb(connection)

const app = spiedReplayOverTrades(counting, rows)

layer(app, { timeout: 120_000, excludeTestServices: true })("a paced replay whose consumer goes away", (it) => {
  it.effect("stops reading its window at the chunk in flight, and leaves the engine whole", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const q = { from: T0, to: T0 + DAY, tables: ["trades"] as const }
      const fiber = yield* Stream.runDrain(replay.stream({ ...q, pace: { _tag: "Paced", speed: 1 } })).pipe(Effect.forkChild)
      yield* Effect.promise(() => firstFetch)
      yield* Fiber.interrupt(fiber)
      assert.isAtMost(fetches, 2, "chunks fetched: the window was read to its end")
      const all = yield* Stream.runCollect(replay.stream(q))
      assert.strictEqual(all.length, rows.length)
    }))
})
