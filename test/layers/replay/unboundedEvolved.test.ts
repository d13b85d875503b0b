/**
 * A replay of tables another engine evolved (evolvedFixture.ts: exchange_timestamp renamed, files
 * read by field id) whose files say nothing of their days (no column bounds, no partition values,
 * as some engines write them): over a follow's range (to 2200) it plays the days the rows fall on,
 * found in one statement, not every day to 2200, and gives the events of a short range's replay.
 */
import type { DuckDBConnection } from "@duckdb/node-api"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { type ScanPlan, TableScanner } from "../../../src/services/TableScanner.ts"
import * as Ref from "../../domain/query/reference.ts"
import { spiedDuckDb, spy } from "../../support/spy.ts"
import { DAY, T0 } from "../query/data.ts"
import { Evolved, evolvedWarehouse } from "../query/evolvedFixture.ts"

const FOLLOW_END = Date.UTC(2200, 0, 1) * 1000

/** Profiles statements run (one per day played); past 100 the replay fails at once. */
let days = 0
const counting = spiedDuckDb((c: DuckDBConnection) =>
  spy(c, {
    prepare: (sql: string) => {
      if (/SELECT DISTINCT/.test(sql) && ++days > 100) throw new Error("more than 100 days played")
      return c.prepare(sql)
    }
  })
)

const unplaced = (plan: ScanPlan): ScanPlan => ({
  ...plan,
  files: plan.files.map((f) => ({ ...f, lowerBounds: new Map(), upperBounds: new Map(), partition: {} }))
})
const unbounded = Layer.effect(TableScanner)(Effect.gen(function*() {
  const real = yield* TableScanner
  return TableScanner.of({
    ...real,
    plan: (table, request) => Effect.map(real.plan(table, request), unplaced),
    planTogether: (reads, snapshot) => Effect.map(real.planTogether(reads, snapshot), (plans) => plans.map(unplaced))
  })
}))

const warehouse = evolvedWarehouse()
// Fresh: the warehouse built the (memoized) replay layer over the real scanner and DuckDB already.
const app = Layer.merge(warehouse, Layer.fresh(ReplayLayer.layer).pipe(Layer.provide(Layer.mergeAll(counting, unbounded)), Layer.provide(warehouse)))

layer(app, { timeout: 120_000, excludeTestServices: true })("replay of evolved tables whose files say nothing of their days", (it) => {
  it.effect("to 2200: the days holding rows only, the events of the short range in order", () =>
    Effect.gen(function*() {
      const f = yield* Evolved
      const replay = yield* ReplayEngine
      const ids = (to: number) =>
        Stream.runCollect(replay.stream({ from: T0 - DAY, to, tables: ["trades", "quotes"] })).pipe(Effect.map((es) => es.map((e) => e.message_id)))
      const short = yield* ids(T0 + 6 * DAY)
      days = 0
      const long = yield* ids(FOLLOW_END)
      const range = { from: T0 - DAY, to: FOLLOW_END }
      assert.strictEqual(long.length, Ref.selectRows(f.trades, range).length + Ref.selectRows(f.quotes, range).length)
      assert.deepStrictEqual(long, short)
      // The rows' three days and the big trade's (BIG_DAY).
      assert.strictEqual(days, 4)
    }))
})
