/**
 * Compaction reaches a fixed point: the files it writes for a day larger than the target (equal
 * runs of its rows, each possibly below the small-file threshold) are not rewritten by the next
 * run, again and again, each time adding a replace snapshot and a copy of the day to keep.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { maintainedLakehouse } from "../../support/warehouse.ts"

describe("Maintenance: compaction settles", () => {
  it.effect("a day compacted into equal runs just over the target is left alone by the next run", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      // The same day in two tables: `probe` tells how large the day is as one compacted file.
      const trades = { namespace: "market_data", name: "trades" }
      const probe = { namespace: "market_data", name: "probe" }
      for (const id of [trades, probe]) {
        yield* sink.ensureTable({ ...tables.trades, ...id })
        for (let i = 0; i < 8; i++) yield* sink.append(id, tradeColumns(makeTrades({ count: 1_000, days: 1, offsetBase: i * 1_000 })))
      }
      const whole = yield* maintenance.compact(probe, { targetFileSizeBytes: 1024 * 1024 * 1024 })
      const dayBytes = whole.partitions[0]!.bytesAfter
      // A target a little under the day: it is written as two equal halves, each below 3/4 of the target.
      const target = Math.floor(dayBytes / 1.2)
      const first = yield* maintenance.compact(trades, { targetFileSizeBytes: target })
      assert.strictEqual(first.partitions.length, 1)
      assert.strictEqual(first.partitions[0]!.filesAfter, 2)
      const snapshots = (yield* (yield* Catalog).loadTable(trades)).metadata.snapshots.length

      // Rewriting the two halves would write the same two halves again: nothing to do.
      const second = yield* maintenance.compact(trades, { targetFileSizeBytes: target })
      assert.deepStrictEqual(second.partitions, [])
      assert.strictEqual(second.snapshotId, null)
      assert.strictEqual((yield* (yield* Catalog).loadTable(trades)).metadata.snapshots.length, snapshots)

      // A late small file of that day is still taken in: three files in, two out.
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, days: 1, offsetBase: 8_000 })))
      const late = yield* maintenance.compact(trades, { targetFileSizeBytes: target })
      assert.strictEqual(late.partitions.length, 1)
      assert.strictEqual(late.partitions[0]!.filesBefore, 3)
      assert.strictEqual(late.partitions[0]!.filesAfter, 2)
      assert.strictEqual(late.partitions[0]!.rows, 8_010)
    }).pipe(Effect.provide(maintainedLakehouse())), 60_000)
})
