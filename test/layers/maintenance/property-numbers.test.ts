/**
 * The numeric table properties maintenance reads (`history.expire.max-snapshot-age-ms`,
 * `history.expire.min-snapshots-to-keep`, `history.expire.max-ref-age-ms`,
 * `write.target-file-size-bytes`) are read as Java's Iceberg reads them (PropertyUtil.propertyAsLong /
 * propertyAsInt: Long.parseLong / Integer.parseInt): a leading `+` is taken, a space or a number
 * beyond the Java type is not. A value refused names the table, the property and the value.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { markerKey } from "../../../src/domain/ingest/marker.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as MaintenanceLayer from "../../../src/layers/maintenance/maintenance.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { maintainedLakehouse, warehouseOptions } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }
const far = 30 * 86_400_000

const appendMany = (commits: number) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    for (let i = 0; i < commits; i++) {
      const rows = makeTrades({ count: 10, days: 1, offsetBase: i * 10, idPrefix: "p" })
      yield* sink.append(trades, tradeColumns(rows), { properties: { [markerKey("g1")]: JSON.stringify({ t: { "0": i * 10 + 10 } }) } })
    }
  })

const setProperties = (updates: Record<string, string>) =>
  Effect.gen(function*() {
    yield* (yield* Catalog).commitTable(trades, [], [{ action: "set-properties", updates }])
  })

const snapshotCount = Effect.gen(function*() {
  return (yield* (yield* Catalog).loadTable(trades)).metadata.snapshots.length
})

describe("Maintenance: numeric table properties read as Java's Iceberg reads them", () => {
  it.effect("history.expire.min-snapshots-to-keep of \"+4\" keeps 4, as Integer.parseInt reads it", () =>
    Effect.gen(function*() {
      yield* appendMany(6)
      yield* setProperties({ "history.expire.min-snapshots-to-keep": "+4" })
      const r = yield* (yield* Maintenance).expireSnapshots(trades, { nowMs: far })
      assert.strictEqual(r.snapshotsAfter, 4)
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("history.expire.max-snapshot-age-ms of \"+<a year>\" keeps every snapshot, as Long.parseLong reads it", () =>
    Effect.gen(function*() {
      yield* appendMany(3)
      yield* setProperties({ "history.expire.max-snapshot-age-ms": `+${365 * 86_400_000}` })
      const r = yield* (yield* Maintenance).expireSnapshots(trades, { nowMs: far })
      assert.strictEqual(r.snapshotsAfter, 3)
    }).pipe(Effect.provide(maintainedLakehouse())))

  it.effect("history.expire.max-ref-age-ms of Long.MAX_VALUE (Java's own default, written out) is taken", () =>
    Effect.gen(function*() {
      yield* appendMany(2)
      yield* setProperties({ "history.expire.max-ref-age-ms": "+9223372036854775807" })
      const r = yield* (yield* Maintenance).expireSnapshots(trades, { nowMs: far })
      assert.strictEqual(r.snapshotsAfter, 1)
    }).pipe(Effect.provide(maintainedLakehouse())))

  // Each refused by Java's parse (a space, a lone sign, two signs, hex, exponent, a fraction, beyond
  // the Java type) or by K2 (not positive): refused naming table, property and value, nothing expired.
  const refused: ReadonlyArray<readonly [string, string]> = [
    ["history.expire.max-snapshot-age-ms", " 5"],
    ["history.expire.max-snapshot-age-ms", "5 "],
    ["history.expire.max-snapshot-age-ms", "+"],
    ["history.expire.max-snapshot-age-ms", "++5"],
    ["history.expire.max-snapshot-age-ms", "0x10"],
    ["history.expire.max-snapshot-age-ms", "1e3"],
    ["history.expire.max-snapshot-age-ms", "-5"],
    ["history.expire.max-snapshot-age-ms", "9223372036854775808"],
    ["history.expire.min-snapshots-to-keep", "+ 4"],
    ["history.expire.min-snapshots-to-keep", "2147483648"],
    ["history.expire.min-snapshots-to-keep", "+0"],
    ["history.expire.max-ref-age-ms", "9223372036854775808"]
  ]
  for (const [key, value] of refused) {
    it.effect(`${key} of ${JSON.stringify(value)} is refused naming table, property and value`, () =>
      Effect.gen(function*() {
        yield* appendMany(2)
        yield* setProperties({ [key]: value })
        const before = yield* snapshotCount
        const error = yield* Effect.flip((yield* Maintenance).expireSnapshots(trades, { nowMs: far }))
        assert.strictEqual(error._tag, "MaintenanceRefused")
        assert.include(error.message, "market_data.trades")
        assert.include(error.message, key)
        assert.include(error.message, JSON.stringify(value))
        assert.strictEqual(yield* snapshotCount, before)
      }).pipe(Effect.provide(maintainedLakehouse())))
  }

  it.effect("write.target-file-size-bytes within Java's long but past 2^53 is taken: a day compacted as one file", () =>
    Effect.gen(function*() {
      yield* appendMany(3)
      yield* setProperties({ "write.target-file-size-bytes": "+9223372036854775807" })
      const r = yield* (yield* Maintenance).compact(trades)
      assert.strictEqual(r.filesBefore, 3)
      assert.strictEqual(r.filesAfter, 1)
    }).pipe(Effect.provide(maintainedLakehouse())), 60_000)
})

describe("Maintenance: expiry's metadata.json size", () => {
  it.effect("with nothing committed meanwhile, the metadata.json is read once for its size, not twice", () => {
    const reads: Array<string> = []
    const counting = Layer.effect(FileIO)(Effect.gen(function*() {
      const io = yield* FileIO
      return FileIO.of({ ...io, read: (location) => Effect.suspend(() => (reads.push(location), io.read(location))) })
    }))
    const layer = MaintenanceLayer.layer().pipe(Layer.provide(counting), Layer.provideMerge(Lakehouse.layer(warehouseOptions("sqlite"))))
    return Effect.gen(function*() {
      yield* appendMany(1)
      const current = (yield* (yield* Catalog).loadTable(trades)).metadataLocation
      const r = yield* (yield* Maintenance).expireSnapshots(trades, { nowMs: far })
      assert.deepStrictEqual(r.expired, [])
      assert.isAbove(r.metadataBytesBefore, 0)
      assert.strictEqual(r.metadataBytesAfter, r.metadataBytesBefore)
      assert.strictEqual(reads.filter((l) => l === current).length, 1)
    }).pipe(Effect.provide(layer))
  })
})
