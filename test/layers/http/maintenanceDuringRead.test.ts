/**
 * A read over HTTP racing `compact` on the same warehouse: maintenance expires the snapshot the read
 * planned and removes its files before DuckDB opens them. A read of the latest state is answered
 * from the state latest now; one pinned to that snapshot is a 404 saying it is gone, never a 500
 * "data file could not be read", which reads as a damaged table.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { auth, baseUrl, get, KEYS } from "../../integration/http-support.ts"
import { afterNextPlan } from "../../support/maintenanceRace.ts"
import { compactTrades, racingServer, threeTradeFiles } from "./racingServer.ts"
import { genTrades, T0 } from "../query/data.ts"
import { TRADES, warehouseDir } from "../query/fixture.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const range = `from=${iso(T0)}&to=${iso(T0 + 86_400_000_000)}`

const dir = warehouseDir()
const app = racingServer(dir)

layer(app, { timeout: 120_000, excludeTestServices: true })("reads while maintenance expires their snapshot", (it) => {
  it.effect("a read of the latest state answers whole from the state now latest; one by id is a 404 naming the expiry", () =>
    Effect.gen(function*() {
      const sink = yield* threeTradeFiles
      const base = yield* baseUrl

      yield* afterNextPlan(yield* compactTrades)
      const latest = yield* get(`${base}/v1/trades?${range}&limit=10000`, auth(KEYS.full))
      const body = yield* Effect.promise(() => latest.json() as Promise<{ data: Array<unknown> }>)
      assert.strictEqual(latest.status, 200, JSON.stringify(body))
      assert.strictEqual(body.data.length, 300)

      // A read pinned to a snapshot that the next run expires.
      yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed: 4, days: 1, idPrefix: "b-" })))
      const pinned = (yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed: 5, days: 1, idPrefix: "c-" })))).snapshot["snapshot-id"]
      yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed: 6, days: 1, idPrefix: "d-" })))
      yield* afterNextPlan(yield* compactTrades)
      const byId = yield* get(`${base}/v1/trades?${range}&limit=10000&snapshot_id=${pinned}`, auth(KEYS.full))
      const problem = yield* Effect.promise(() => byId.json() as Promise<{ code?: string; detail?: string }>)
      assert.strictEqual(byId.status, 404, JSON.stringify(problem))
      assert.include(JSON.stringify(problem), "expired")
    }))

  it.effect("SQL over the latest state answers from the state now latest, not as the user's SQL failing", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      for (const seed of [7, 8]) yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed, days: 1, idPrefix: `q${seed}-` })))
      const base = yield* baseUrl
      const expected = 300 + 3 * 100 + 200

      yield* afterNextPlan(yield* compactTrades)
      const res = yield* Effect.promise(() =>
        fetch(`${base}/v1/sql`, {
          method: "POST",
          headers: { ...auth(KEYS.full), "content-type": "application/json" },
          body: JSON.stringify({ sql: "SELECT count(*) AS n FROM trades" })
        })
      )
      const body = yield* Effect.promise(() => res.json() as Promise<{ data?: Array<{ n: unknown }> }>)
      assert.strictEqual(res.status, 200, JSON.stringify(body))
      assert.strictEqual(Number(body.data?.[0]?.n), expected)
    }))
})
