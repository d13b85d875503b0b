/**
 * A replay of the latest state whose pinned snapshot table maintenance expires before the replay
 * is planned: the client asked for no snapshot, so it is replayed over the state latest now, as
 * every other latest read is (reads.ts againIfLatestExpired). It was refused 404 snapshot_not_found.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as Server from "../../../src/layers/http/server.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { auth, baseUrl, get, KEYS, testOptions } from "../../integration/http-support.ts"
import { afterNextPlan, compactNow, maintenanceLayer, racingScanner, runArmed } from "../../support/maintenanceRace.ts"
import { genTrades, T0 } from "../query/data.ts"
import { lakehouse, TRADES, warehouseDir } from "../query/fixture.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const range = `from=${iso(T0)}&to=${iso(T0 + 86_400_000_000)}`

/** The replay engine running the armed step before it plans: after the route pinned the snapshots. */
const replayRacing = Layer.effect(ReplayEngine)(Effect.gen(function*() {
  const real = yield* ReplayEngine
  return ReplayEngine.of({ ...real, plan: (request) => Effect.andThen(runArmed, real.plan(request)) })
})).pipe(Layer.provide(ReplayLayer.layer))

const dir = warehouseDir()
const app = Server.layer({ ...testOptions(), warehouse: dir }).pipe(
  Layer.provideMerge(Layer.mergeAll(QueryLayer.layer(), replayRacing, maintenanceLayer).pipe(Layer.provideMerge(racingScanner))),
  Layer.provideMerge(lakehouse(dir)),
  Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1" }))
)

layer(app, { timeout: 120_000, excludeTestServices: true })("a replay while maintenance expires its pinned snapshot", (it) => {
  it.effect("of the latest state: replayed whole over the state latest now; pinned by id: a 404", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.ensureTable(tables.quotes)
      let pinned = ""
      for (const seed of [1, 2, 3]) {
        const { snapshot } = yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed, days: 1, idPrefix: `s${seed}-` })))
        if (seed === 2) pinned = String(snapshot["snapshot-id"])
      }
      const base = yield* baseUrl
      const compact = Effect.provideService(compactNow(TRADES), Maintenance, yield* Maintenance)

      yield* afterNextPlan(compact)
      const latest = yield* get(`${base}/v1/replay?${range}&tables=trades&format=ndjson`, auth(KEYS.full))
      const text = yield* Effect.promise(() => latest.text())
      assert.strictEqual(latest.status, 200, text)
      const lines = text.split("\n").filter((l) => l !== "")
      assert.strictEqual(lines.length, 300, lines.at(-1))
      assert.notInclude(text, "\"error\"")

      // A replay by id of a snapshot expired since stays a 404.
      const byId = yield* get(`${base}/v1/replay?${range}&tables=trades&format=ndjson&snapshot_id=${pinned}`, auth(KEYS.full))
      const problem = yield* Effect.promise(() => byId.text())
      assert.strictEqual(byId.status, 404, problem)
    }))
})
