/**
 * A column another engine renamed and then renamed back. Iceberg Java finds the schema after the
 * second rename identical to the first one and makes that schema current again (its builder reuses
 * a schema id): the table's current schema is then K2's, listed before the renamed one, while files
 * written in between hold the column under the other name. Read by name, their prices were null.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { TableMetadata } from "../../../src/domain/iceberg/spec.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import * as MaintenanceLayer from "../../../src/layers/maintenance/maintenance.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import * as Ref from "../../domain/query/reference.ts"
import { DAY, genTrades, HOUR, T0 } from "./data.ts"
import { TRADES, warehouseDir } from "./fixture.ts"
import { appendUnderRenamed, lakehouseWithTradesAs, priceRenamed } from "./otherEngine.ts"

/** The trades table as K2 meets it: K2's schema only, then renamed current, then K2's current again. */
let state: "k2" | "renamed" | "renamedBack" = "k2"
const asJavaLeftIt = (m: TableMetadata): TableMetadata =>
  state === "k2" || m["table-uuid"] === undefined
    ? m
    : { ...m, schemas: [...m.schemas, priceRenamed], "current-schema-id": state === "renamed" ? 1 : 0 }

const dir = warehouseDir()
const lakehouse = lakehouseWithTradesAs(dir, asJavaLeftIt)

const ours = genTrades(300, { seed: 71, idPrefix: "k2" })
const theirs = genTrades(200, { seed: 72, idPrefix: "other" })
const oursAfter = genTrades(100, { seed: 73, idPrefix: "k2-after" })

const setUp = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.append(TRADES, tradeColumns(ours))
  state = "renamed"
  yield* appendUnderRenamed(tradeColumns(theirs))
  state = "renamedBack"
  // Ingestion goes on: the current snapshot is K2's again, under the schema made current again.
  yield* sink.append(TRADES, tradeColumns(oursAfter))
}))

layer(
  Layer.mergeAll(setUp, QueryLayer.layer(), MaintenanceLayer.layer()).pipe(Layer.provideMerge(lakehouse)),
  { timeout: 120_000, excludeTestServices: true }
)("a column renamed and renamed back by another engine", (it) => {
  it.effect("files written under the other name are read by field id: every price, in bars as after compaction", () =>
    Effect.gen(function*() {
      const plan = yield* (yield* TableScanner).plan(TRADES)
      assert.isTrue(plan.byFieldId)
      const q = yield* QueryEngine
      const all = [...ours, ...theirs, ...oursAfter]
      const range = { from: T0, to: T0 + 3 * DAY }
      assert.deepStrictEqual((yield* q.bars({ ...range, interval: "1h" })).rows, Ref.bars(all, { ...range, size: HOUR }))
      // Compaction reads the files as the current schema: by name it wrote their prices as null.
      yield* (yield* Maintenance).compact(TRADES, { minInputFiles: 2 })
      assert.deepStrictEqual((yield* q.bars({ ...range, interval: "1h" })).rows, Ref.bars(all, { ...range, size: HOUR }))
    }))
})
