/**
 * A trades table another engine changed: its schema with `price` renamed `trade_price`, the table's
 * metadata as that engine left it (a view over what the catalog holds), and that engine's append
 * under the renamed schema (its files hold `trade_price`).
 */
import * as path from "node:path"
import { Effect } from "effect"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import { defaultMergePolicy } from "../../../src/domain/iceberg/manifestPlan.ts"
import { dataDirectory, defaultSortOrder, defaultSpec } from "../../../src/domain/iceberg/metadata.ts"
import type { Schema, TableMetadata } from "../../../src/domain/iceberg/spec.ts"
import { tables } from "../../../src/domain/tables.ts"
import { commitChange } from "../../../src/layers/iceberg/commit.ts"
import { writeDataFiles } from "../../../src/layers/iceberg/parquet.ts"
import { makeSnapshotFiles } from "../../../src/layers/iceberg/snapshotFiles.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { lakehouseWrapping } from "../../support/warehouse.ts"
import { TRADES } from "./fixture.ts"

export const priceRenamed: Schema = {
  type: "struct",
  "schema-id": 1,
  fields: tables.trades.schema.fields.map((f) => (f.name === "price" ? { ...f, name: "trade_price" } : f))
}

/** A lakehouse over `dir` whose trades table reads as `view` makes of it. */
export const lakehouseWithTradesAs = (dir: string, view: (m: TableMetadata) => TableMetadata) =>
  lakehouseWrapping({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }, (catalog) =>
    Catalog.of({
      ...catalog,
      loadTable: (id) => Effect.map(catalog.loadTable(id), (t) => id.name === "trades" ? { ...t, metadata: view(t.metadata) } : t),
      commitTable: (id, requirements, updates) =>
        Effect.map(catalog.commitTable(id, requirements, updates), (t) => id.name === "trades" ? { ...t, metadata: view(t.metadata) } : t)
    }))

/** The other engine's append of trades `batch` under `priceRenamed`. */
export const appendUnderRenamed = (batch: ColumnBatch) =>
  Effect.gen(function*() {
    const { price, ...rest } = batch.columns
    const m = (yield* (yield* Catalog).loadTable(TRADES)).metadata
    const added = yield* writeDataFiles({ rowCount: batch.rowCount, columns: { ...rest, trade_price: price! } }, {
      schema: priceRenamed,
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
