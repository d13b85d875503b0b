import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { identifierOf, tables } from "../../../src/domain/tables.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { genTrades } from "./data.ts"
import { lakehouse } from "./fixture.ts"

layer(QueryLayer.layer().pipe(Layer.provideMerge(lakehouse())), { timeout: 120_000, excludeTestServices: true })("snapshot history", (it) => {
  it.effect("after another engine rolled main back, the snapshots it rolled back are still listed", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const q = yield* QueryEngine
      const catalog = yield* Catalog
      const table = identifierOf("trades")
      yield* sink.ensureTable(tables.trades)
      for (const seed of [1, 2, 3]) yield* sink.append(table, tradeColumns(genTrades(10, { seed, days: 1, idPrefix: `s${seed}` })))
      const m = (yield* catalog.loadTable(table)).metadata
      const [first, second, third] = m.snapshots.map((s) => s["snapshot-id"])
      yield* catalog.commitTable(table, [{ type: "assert-table-uuid", uuid: m["table-uuid"] }], [
        { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": first! }
      ])
      // The HTTP route lists up to the pinned (current) snapshot: the rolled-back ones are still
      // readable by snapshot_id, and are what an operator looks for after a rollback.
      const listed = yield* q.snapshots("trades", { upTo: first! })
      assert.deepStrictEqual(listed.map((s) => [s.snapshotId, s.current]), [[first, true], [second, false], [third, false]])
      // A commit since the pin is still left out.
      yield* sink.append(table, tradeColumns(genTrades(10, { seed: 4, days: 1, idPrefix: "s4" })))
      const again = yield* q.snapshots("trades", { upTo: first! })
      assert.deepStrictEqual(again.map((s) => s.snapshotId), [first, second, third])
      assert.strictEqual((yield* q.snapshots("trades")).length, 4)
    }))
})
