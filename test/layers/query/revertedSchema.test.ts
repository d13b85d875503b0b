/**
 * A column another engine renamed and then renamed back. Iceberg Java finds the schema after the
 * second rename identical to the first one and makes that schema current again (its builder reuses
 * a schema id): the table's current schema is then K2's, listed before the renamed one, while files
 * written in between hold the column under the other name. Read by name, their prices were null.
 */
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { defaultMergePolicy } from "../../../src/domain/iceberg/manifestPlan.ts"
import { dataDirectory, defaultSortOrder, defaultSpec } from "../../../src/domain/iceberg/metadata.ts"
import type { Schema, TableMetadata } from "../../../src/domain/iceberg/spec.ts"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { commitChange } from "../../../src/layers/iceberg/commit.ts"
import { writeDataFiles } from "../../../src/layers/iceberg/parquet.ts"
import { makeSnapshotFiles } from "../../../src/layers/iceberg/snapshotFiles.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import * as MaintenanceLayer from "../../../src/layers/maintenance/maintenance.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { lakehouseWrapping } from "../../support/warehouse.ts"
import * as Ref from "../../domain/query/reference.ts"
import { DAY, genTrades, HOUR, T0 } from "./data.ts"
import { TRADES, warehouseDir } from "./fixture.ts"

const renamed: Schema = {
  type: "struct",
  "schema-id": 1,
  fields: tables.trades.schema.fields.map((f) => (f.name === "price" ? { ...f, name: "trade_price" } : f))
}

/** The trades table as K2 meets it: K2's schema only, then renamed current, then K2's current again. */
let state: "k2" | "renamed" | "renamedBack" = "k2"
const asJavaLeftIt = (m: TableMetadata): TableMetadata =>
  state === "k2" || m["table-uuid"] === undefined
    ? m
    : { ...m, schemas: [...m.schemas, renamed], "current-schema-id": state === "renamed" ? 1 : 0 }

const dir = warehouseDir()
const lakehouse = lakehouseWrapping({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }, (catalog) =>
  Catalog.of({
    ...catalog,
    loadTable: (id) => Effect.map(catalog.loadTable(id), (t) => id.name === "trades" ? { ...t, metadata: asJavaLeftIt(t.metadata) } : t),
    commitTable: (id, requirements, updates) =>
      Effect.map(catalog.commitTable(id, requirements, updates), (t) => id.name === "trades" ? { ...t, metadata: asJavaLeftIt(t.metadata) } : t)
  }))

const ours = genTrades(300, { seed: 71, idPrefix: "k2" })
const theirs = genTrades(200, { seed: 72, idPrefix: "other" })
const oursAfter = genTrades(100, { seed: 73, idPrefix: "k2-after" })

/** The other engine's append under the renamed schema: its files hold `trade_price`. */
const theirAppend = (batch: ColumnBatch) =>
  Effect.gen(function*() {
    const m = (yield* (yield* Catalog).loadTable(TRADES)).metadata
    const added = yield* writeDataFiles(batch, {
      schema: renamed,
      spec: defaultSpec(m),
      sortOrder: defaultSortOrder(m),
      directory: dataDirectory(m),
      targetFileSizeBytes: 1 << 30,
      fileNamePrefix: "other-engine"
    })
    yield* commitChange(yield* makeSnapshotFiles({ cacheEntries: 100 }), TRADES, { operation: "append", added, removed: [], properties: {} }, {
      mergePolicy: defaultMergePolicy,
      maxAttempts: 3
    })
  })

const setUp = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.append(TRADES, tradeColumns(ours))
  state = "renamed"
  const batch = tradeColumns(theirs)
  const { price, ...rest } = batch.columns
  yield* theirAppend({ rowCount: batch.rowCount, columns: { ...rest, trade_price: price! } })
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
