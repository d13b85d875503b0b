/**
 * Windows are cut at second boundaries from a per-second histogram. Before 1970 (the domain takes
 * instants from 1900) a second must still be keyed by its start: keyed by the next one, two
 * seconds count as one and a window holds more than `windowRows` though they could be cut apart.
 */
import type { DuckDBConnection, DuckDBPreparedStatement, DuckDBResult } from "@duckdb/node-api"
import { assert, layer } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import * as Ref from "../../domain/query/reference.ts"
import { DAY, genTrades } from "../query/data.ts"
import { spiedDuckDb, spiedReplayOverTrades, spy } from "../../support/spy.ts"

/** 1969-12-31T00:00:00Z: the last day before the epoch. */
const DAY0 = -DAY
/** 600 trades in each of three seconds before the epoch: two adjacent ones (-11 s, -10 s), and the last before 0. */
const second = (start: number, seed: number) => genTrades(600, { seed, start, days: 1e6 / DAY })
const rows = [
  ...second(-11_000_000, 61), // [-11 s, -10 s)
  ...second(-10_000_000, 62), // [-10 s, -9 s)
  ...second(-1_000_000, 63) // [-1 s, 0)
].map((r, i) => ({ ...r, message_id: `w${String(i).padStart(5, "0")}` }))

/** Rows each window statement of the replay returned, in the order they ran. */
const windows: Array<{ rows: number }> = []

const result = (r: DuckDBResult, w: { rows: number }) =>
  spy(r, {
    fetchChunk: async () => {
      const chunk = await r.fetchChunk()
      if (chunk !== null) w.rows += chunk.rowCount
      return chunk
    }
  })
const statement = (s: DuckDBPreparedStatement, sql: string) => {
  if (!sql.includes("ORDER BY ts, oseq")) return s
  const w = { rows: 0 }
  windows.push(w)
  return spy(s, { stream: async () => result(await s.stream(), w) })
}
const connection = (c: DuckDBConnection) => spy(c, { prepare: async (sql: string) => statement(await c.prepare(sql), sql) })
const counting = spiedDuckDb(connection)

const app = spiedReplayOverTrades(counting, rows)

layer(app, { timeout: 120_000, excludeTestServices: true })("replay windows before 1970", (it) => {
  it.effect("hold at most windowRows rows when whole seconds allow it, and replay every row in order", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const q = { from: DAY0, to: 0, tables: ["trades"] as const }
      const events = yield* Stream.runCollect(replay.stream({ ...q, windowRows: 1_000 }))
      assert.deepStrictEqual(events.map((e) => e.message_id), Ref.selectRows(rows, q).map((r) => r.message_id))
      assert.deepStrictEqual(windows.map((w) => w.rows), [600, 600, 600])
    }))
})
