/**
 * A column another engine renamed, then the schema K2 wrote under removed with the snapshots that
 * named it (Java's `expireSnapshots().cleanExpiredMetadata(true)`): K2's files, still live, hold
 * the column under its old name, which no schema of the table shows any more. Read by name, their
 * prices were null, and compaction wrote the nulls for every engine.
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

/** The trades table as K2 meets it: K2's schema only, then renamed current, then K2's schema removed. */
let state: "k2" | "renamed" | "cleaned" = "k2"
const asJavaLeftIt = (m: TableMetadata): TableMetadata =>
  state === "k2"
    ? m
    : { ...m, schemas: state === "renamed" ? [...m.schemas, priceRenamed] : [priceRenamed], "current-schema-id": 1 }

const dir = warehouseDir()
const lakehouse = lakehouseWithTradesAs(dir, asJavaLeftIt)

const ours = genTrades(300, { seed: 71, idPrefix: "k2" })
const theirs = genTrades(200, { seed: 72, idPrefix: "other" })

const setUp = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.append(TRADES, tradeColumns(ours))
  state = "renamed"
  yield* appendUnderRenamed(tradeColumns(theirs))
  state = "cleaned"
}))

layer(
  Layer.mergeAll(setUp, QueryLayer.layer(), MaintenanceLayer.layer()).pipe(Layer.provideMerge(lakehouse)),
  { timeout: 120_000, excludeTestServices: true }
)("a column renamed by another engine, K2's schema then removed", (it) => {
  it.effect("K2's files are read by field id, and compaction keeps their prices; K2's appends are refused, not written without prices", () =>
    Effect.gen(function*() {
      const plan = yield* (yield* TableScanner).plan(TRADES)
      assert.isTrue(plan.byFieldId)
      assert.isTrue(plan.schema.fields.some((f) => f.name === "trade_price"))
      // Java's price is no longer written by K2: which of renamed or dropped, the table cannot say.
      const refused = yield* Effect.flip((yield* IcebergSink).append(TRADES, tradeColumns(genTrades(10, { seed: 74, idPrefix: "late" }))))
      assert.strictEqual(refused._tag, "UnsupportedTableFeature")
      yield* (yield* Maintenance).compact(TRADES, { minInputFiles: 2 })
      // Read as Java reads it (by field id, every schema in view): every price kept through compaction.
      state = "renamed"
      const q = yield* QueryEngine
      const all = [...ours, ...theirs]
      const range = { from: T0, to: T0 + 3 * DAY }
      assert.deepStrictEqual((yield* q.bars({ ...range, interval: "1h" })).rows, Ref.bars(all, { ...range, size: HOUR }))
    }))
})
