/** serve in-process over a warehouse of its own whose reads race table maintenance (test/support/maintenanceRace.ts). */
import { Effect, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import * as Server from "../../../src/layers/http/server.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { testOptions } from "../../integration/http-support.ts"
import { compactNow, maintenanceLayer, racingScanner } from "../../support/maintenanceRace.ts"
import { genTrades } from "../query/data.ts"
import { lakehouse, TRADES } from "../query/fixture.ts"

export const racingServer = (dir: string) =>
  Server.layer({ ...testOptions(), warehouse: dir }).pipe(
    Layer.provideMerge(Layer.mergeAll(QueryLayer.layer(), ReplayLayer.layer, maintenanceLayer).pipe(Layer.provideMerge(racingScanner))),
    Layer.provideMerge(lakehouse(dir)),
    Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1" }))
  )

/** Compaction of trades now, with this server's maintenance: the step `afterNextPlan` runs. */
export const compactTrades = Effect.gen(function*() {
  return Effect.provideService(compactNow(TRADES), Maintenance, yield* Maintenance)
})

/** The tables made, trades holding 300 rows of one day in three files (compaction has work); the sink, to append more. */
export const threeTradeFiles = Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.ensureTable(tables.quotes)
  for (const seed of [1, 2, 3]) yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed, days: 1, idPrefix: `s${seed}-` })))
  return sink
})
