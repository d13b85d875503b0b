/** serve in-process over a warehouse of its own whose reads race table maintenance (test/support/maintenanceRace.ts). */
import { Layer } from "effect"
import * as Server from "../../../src/layers/http/server.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { testOptions } from "../../integration/http-support.ts"
import { maintenanceLayer, racingScanner } from "../../support/maintenanceRace.ts"
import { lakehouse } from "../query/fixture.ts"

export const racingServer = (dir: string) =>
  Server.layer({ ...testOptions(), warehouse: dir }).pipe(
    Layer.provideMerge(Layer.mergeAll(QueryLayer.layer(), ReplayLayer.layer, maintenanceLayer).pipe(Layer.provideMerge(racingScanner))),
    Layer.provideMerge(lakehouse(dir)),
    Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1" }))
  )
