/**
 * Compaction honours the table property `write.target-file-size-bytes` (ADR-99): without a
 * target given, a table that sets it is compacted into files near that size (a day over it as
 * several files, small files packed up to it); a value that is not a positive whole number is
 * refused naming the table and the property, and nothing is rewritten.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { Catalog, type TableIdentifier } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { maintainedLakehouse } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }
const probe = { namespace: "market_data", name: "probe" }

/** Sixteen small files of one day in `id`: each well below 3/4 of a third of the day compacted. */
const smallFiles = (id: TableIdentifier) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.ensureTable({ ...tables.trades, ...id })
    for (let i = 0; i < 16; i++) yield* sink.append(id, tradeColumns(makeTrades({ count: 500, days: 1, offsetBase: i * 500 })))
  })

const setTarget = (id: TableIdentifier, value: string) =>
  Effect.gen(function*() {
    yield* (yield* Catalog).commitTable(id, [], [{ action: "set-properties", updates: { "write.target-file-size-bytes": value } }])
  })

/** How large the day is as one compacted file (the same rows in another table). */
const dayBytes = Effect.gen(function*() {
  yield* smallFiles(probe)
  const whole = yield* (yield* Maintenance).compact(probe, { targetFileSizeBytes: 1024 * 1024 * 1024 })
  return whole.partitions[0]!.bytesAfter
})

const rowsOf = (id: TableIdentifier) =>
  Effect.gen(function*() {
    const plan = yield* (yield* TableScanner).plan(id)
    return { files: plan.files, rows: plan.files.reduce((n, f) => n + f.recordCount, 0) }
  })

describe("Maintenance: write.target-file-size-bytes", () => {
  it.effect("without a target given, the table's property is the target: small files packed into files near it", () =>
    Effect.gen(function*() {
      const day = yield* dayBytes
      yield* smallFiles(trades)
      // The default (128 MiB) would write the day as one file; the table asks for about a third of it.
      const target = Math.floor(day / 2.5)
      yield* setTarget(trades, String(target))
      const result = yield* (yield* Maintenance).compact(trades)
      assert.strictEqual(result.partitions.length, 1)
      assert.strictEqual(result.partitions[0]!.filesBefore, 16)
      assert.strictEqual(result.partitions[0]!.filesAfter, 3)
      const after = yield* rowsOf(trades)
      assert.strictEqual(after.rows, 8_000)
      for (const f of after.files) {
        assert.isAtMost(f.fileSizeInBytes, target * 1.1, `${f.filePath} above the target`)
        assert.isAtLeast(f.fileSizeInBytes, target * 0.5, `${f.filePath} far below the target`)
      }
    }).pipe(Effect.provide(maintainedLakehouse())), 60_000)

  it.effect("a target given (--target-file-size-mb) decides over the property", () =>
    Effect.gen(function*() {
      yield* smallFiles(trades)
      yield* setTarget(trades, "1000")
      const result = yield* (yield* Maintenance).compact(trades, { targetFileSizeBytes: 1024 * 1024 * 1024 })
      assert.strictEqual(result.partitions[0]!.filesAfter, 1)
    }).pipe(Effect.provide(maintainedLakehouse())), 60_000)

  for (const value of ["512MB", "0", "-536870912", "1.5", "", "99999999999999999999"]) {
    it.effect(`a property of ${JSON.stringify(value)} is refused naming table and property; nothing is rewritten`, () =>
      Effect.gen(function*() {
        yield* smallFiles(trades)
        yield* setTarget(trades, value)
        const before = (yield* (yield* Catalog).loadTable(trades)).metadata.snapshots.length
        const error = yield* Effect.flip((yield* Maintenance).compact(trades))
        assert.strictEqual(error._tag, "MaintenanceRefused")
        assert.include(error.message, "market_data.trades")
        assert.include(error.message, "write.target-file-size-bytes")
        assert.include(error.message, JSON.stringify(value))
        assert.strictEqual((yield* (yield* Catalog).loadTable(trades)).metadata.snapshots.length, before)
        assert.strictEqual((yield* rowsOf(trades)).files.length, 16)
        // The run reports it as the compaction's failure and still expires (it holds nothing back).
        const report = yield* (yield* Maintenance).run(trades, { orphans: false })
        assert.strictEqual(report.compactFailure?._tag, "MaintenanceRefused")
        assert.isNotNull(report.expire)
      }).pipe(Effect.provide(maintainedLakehouse())), 60_000)
  }
})
