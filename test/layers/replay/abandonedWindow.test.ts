/**
 * A replay window is one streamed DuckDB statement whose state (the sorted window: up to a
 * million rows) DuckDB keeps on its connection until that connection's next statement. A consumer
 * that goes away mid-window (a client disconnecting from /v1/replay) must not leave that memory
 * held by a pooled connection that may stay idle for hours.
 */
import type { DuckDBConnection } from "@duckdb/node-api"
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { DuckDb } from "../../../src/layers/duckdb/DuckDb.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { DAY, genTrades, T0 } from "../query/data.ts"
import { spiedDuckDb, spiedReplayOverTrades, spy } from "../../support/spy.ts"

const rows = genTrades(200_000, { days: 1, seed: 53 })

/** The connection that ran the replay window, and a signal once its first chunk was fetched. */
let windowConnection: DuckDBConnection | undefined
let fetched = () => {}
const nextFetch = () =>
  new Promise<void>((resolve) => {
    fetched = resolve
  })
/** When set, a window's later fetches wait for it: the window stays mid-read. */
let gate: Promise<void> | undefined
const recording = spiedDuckDb((c) =>
  spy(c, {
    prepare: async (sql: string) => {
      const statement = await c.prepare(sql)
      if (!/ORDER BY ts/.test(sql)) return statement
      windowConnection = c
      return spy(statement, {
        stream: async () => {
          const result = await statement.stream()
          return spy(result, {
            fetchChunk: async () => {
              const chunk = await result.fetchChunk()
              fetched()
              if (gate !== undefined) await gate
              return chunk
            }
          })
        }
      })
    }
  })
)

const app = spiedReplayOverTrades(recording, rows)

/** DuckDB's memory in use, read on `connection`. */
const memoryOn = (connection: DuckDBConnection) =>
  Effect.promise(async () =>
    (await connection.runAndReadAll("SELECT sum(memory_usage_bytes)::DOUBLE AS bytes FROM duckdb_memory()")).getRowObjectsJS()[0]!["bytes"] as number
  )

layer(app, { timeout: 120_000, excludeTestServices: true })("a replay whose consumer goes away mid-window", (it) => {
  it.effect("leaves no window held in DuckDB's memory by its pooled connection", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const duckDb = yield* DuckDb
      const firstFetch = nextFetch()
      // A consumer that takes one event and then waits: the window stays mid-stream.
      const fiber = yield* replay.stream({ from: T0, to: T0 + DAY, tables: ["trades"] }).pipe(
        Stream.runForEach(() => Effect.never),
        Effect.forkChild
      )
      yield* Effect.promise(() => firstFetch)
      // The window holds one of the two pooled connections: this borrows the other.
      const during = yield* duckDb.withConnection(memoryOn)
      yield* Fiber.interrupt(fiber)
      // Both borrowed at once, and read on the one that did not run the window (a statement on it would end the window's).
      const after = yield* duckDb.withConnection((a) => duckDb.withConnection((b) => memoryOn(a === windowConnection ? b : a)))
      assert.isAbove(during, 10_000_000, "the window's sort holds memory while it streams")
      assert.isBelow(after, during / 10, `${after} bytes still held after the consumer went away (${during} while streaming)`)
    }))

  it.effect("paced, whose window is read whole before it plays: leaves none held either", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const duckDb = yield* DuckDb
      const firstFetch = nextFetch()
      let open = () => {}
      gate = new Promise<void>((resolve) => {
        open = resolve
      })
      const fiber = yield* Stream.runDrain(replay.stream({ from: T0, to: T0 + DAY, tables: ["trades"], pace: { _tag: "Paced", speed: 1 } }))
        .pipe(Effect.forkChild)
      yield* Effect.promise(() => firstFetch)
      const during = yield* duckDb.withConnection(memoryOn)
      const stopping = yield* Fiber.interrupt(fiber).pipe(Effect.forkChild)
      open()
      gate = undefined
      yield* Fiber.join(stopping)
      const after = yield* duckDb.withConnection((a) => duckDb.withConnection((b) => memoryOn(a === windowConnection ? b : a)))
      assert.isAbove(during, 1_000_000, "the window's sort holds memory while it is read")
      assert.isBelow(after, during / 10, `${after} bytes still held after the consumer went away (${during} while reading)`)
    }))
})
