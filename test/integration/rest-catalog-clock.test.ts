/**
 * K2 on a host whose clock runs behind the REST catalog server's: Apache Iceberg's server stamps a
 * table's creation (and any change without a snapshot) with its own clock, and refuses for good
 * (400) a commit whose snapshot is stamped over a minute before the base's last-updated-ms.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { tradeColumns } from "../../src/domain/rows.ts"
import { tables } from "../../src/domain/tables.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { ensureRestCatalog, restCatalogUri, uniqueParent } from "../interop/restCatalog.ts"
import { makeTrades } from "../support/fixtures.ts"
import { makeSteppedClock } from "../support/steppedClock.ts"
import { tempWarehouse } from "../support/warehouse.ts"

beforeAll(() => ensureRestCatalog())

const trades = { namespace: tables.trades.namespace, name: tables.trades.name }

describe("REST catalog: K2's clock behind the server's", () => {
  it.live("appends to a table the server created by its own clock, 5 minutes ahead of K2's", () =>
    Effect.gen(function*() {
      const stepped = yield* makeSteppedClock
      yield* Effect.gen(function*() {
        const sink = yield* IcebergSink
        const created = yield* sink.ensureTable(tables.trades)
        // As though the server's clock ran 5 minutes ahead when it stamped the creation.
        yield* stepped.step(-300_000)
        const first = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
        const second = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))
        assert.isAtLeast(first.snapshot["timestamp-ms"], created.metadata["last-updated-ms"])
        const loaded = yield* (yield* Catalog).loadTable(trades)
        assert.strictEqual(loaded.metadata["current-snapshot-id"], second.snapshot["snapshot-id"])
        assert.strictEqual(loaded.metadata.snapshots.length, 2)
      }).pipe(
        Effect.provide(Lakehouse.layer({
          warehouse: tempWarehouse(),
          catalog: { _tag: "rest", uri: restCatalogUri, parentNamespace: uniqueParent("k2_clock") }
        })),
        Effect.provideService(Clock.Clock, stepped.clock)
      )
    }), 120_000)
})
