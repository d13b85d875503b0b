/**
 * Writing tables whose partition spec another engine changed: transforms K2 can compute exactly are
 * written as the spec defines them; any other is refused with a typed error before a file is written.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Bounds from "../../../src/domain/iceberg/bounds.ts"
import { addedEntries, describeManifest } from "../../../src/domain/iceberg/manifestPlan.ts"
import { newSnapshotId } from "../../../src/domain/iceberg/metadata.ts"
import type { PartitionField } from "../../../src/domain/iceberg/spec.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import { decodeManifest, decodeManifestList, encodeManifest, encodeManifestList } from "../../../src/layers/iceberg/manifests.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades, START_MICROS } from "../../support/fixtures.ts"

const trades = { namespace: "market_data", name: "trades" }
const HOUR = 3_600_000_000

const warehouse = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-specs-"))
  return { dir, layer: Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }) }
}

/** Another engine makes spec 1, of `fields`, the table's default. */
const evolveSpec = (fields: ReadonlyArray<PartitionField>) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    const loaded = yield* catalog.loadTable(trades)
    yield* catalog.commitTable(trades, [{ type: "assert-table-uuid", uuid: loaded.metadata["table-uuid"] }], [
      { action: "add-spec", spec: { "spec-id": 1, fields } },
      { action: "set-default-spec", "spec-id": 1 }
    ])
  })

const field = (id: number, name: string, sourceId: number, transform: string): PartitionField => ({
  "source-id": sourceId,
  "field-id": id,
  name,
  transform
})

const parquetFiles = (dir: string) =>
  fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".parquet"))

describe("partition specs set by another engine", () => {
  it.effect("writes hour, month, year, identity of an int and void fields as the spec defines them, and reads every row back", () => {
    const { layer } = warehouse()
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      const files = yield* FileIO
      yield* sink.ensureTable(tables.trades)
      yield* evolveSpec([
        field(1001, "ts_hour", 6, "hour"),
        field(1002, "ts_month", 6, "month"),
        field(1003, "ts_year", 6, "year"),
        field(1004, "kafka_partition", 15, "identity"),
        field(1005, "exchange_null", 4, "void")
      ])
      // One trade an hour for two days from 2023-12-31T20:00Z: across a year, a month and 48 hours.
      const start = START_MICROS - 28 * HOUR
      const rows = makeTrades({ count: 48, days: 2, startMicros: start })
      const appended = yield* sink.append(trades, tradeColumns(rows))

      const expected = new Map<string, number>()
      for (const r of rows) {
        const date = new Date(Math.floor(r.exchange_timestamp / 1000))
        const key = JSON.stringify({
          ts_hour: Math.floor(r.exchange_timestamp / HOUR),
          ts_month: (date.getUTCFullYear() - 1970) * 12 + date.getUTCMonth(),
          ts_year: date.getUTCFullYear() - 1970,
          kafka_partition: r.kafka_partition,
          exchange_null: null
        })
        expected.set(key, (expected.get(key) ?? 0) + 1)
      }
      const written = new Map(appended.files.map((f) => [JSON.stringify(f.partition), f.recordCount]))
      assert.deepStrictEqual(written, expected)
      assert.isTrue(appended.files.some((f) => localPath(f.filePath).includes("/ts_hour=2023-12-31-20/ts_month=2023-12/ts_year=2023/kafka_partition=0/exchange_null=null/")))

      // Each file holds exactly the rows of its partition.
      for (const f of appended.files) {
        const inFile = yield* selectPlanned(
          { ...(yield* (yield* TableScanner).plan(trades)), files: [f] },
          "DISTINCT kafka_partition, epoch_us(exchange_timestamp) // 3600000000 AS h"
        )
        for (const r of inFile) {
          assert.strictEqual(r.kafka_partition, f.partition.kafka_partition)
          assert.strictEqual(Number(r.h), f.partition.ts_hour)
        }
      }

      // The manifest holds the values with their types; the list's summaries bound them.
      const [manifest] = yield* decodeManifestList(yield* files.read(appended.snapshot["manifest-list"]), "list")
      assert.strictEqual(manifest!.partitionSpecId, 1)
      const entries = yield* decodeManifest(yield* files.read(manifest!.manifestPath), manifest!.manifestPath)
      assert.deepStrictEqual(
        new Map(entries.map((e) => [JSON.stringify(e.dataFile.partition), e.dataFile.recordCount])),
        expected
      )
      const [hour, month, year, partition, none] = manifest!.partitions!
      assert.deepStrictEqual([Bounds.decode("int", hour!.lowerBound!), Bounds.decode("int", hour!.upperBound!)], [
        Math.floor(start / HOUR),
        Math.floor(rows.at(-1)!.exchange_timestamp / HOUR)
      ])
      assert.deepStrictEqual([Bounds.decode("int", month!.lowerBound!), Bounds.decode("int", month!.upperBound!)], [647, 648])
      assert.deepStrictEqual([Bounds.decode("int", year!.lowerBound!), Bounds.decode("int", year!.upperBound!)], [53, 54])
      assert.deepStrictEqual([Bounds.decode("int", partition!.lowerBound!), Bounds.decode("int", partition!.upperBound!)], [0, 11])
      assert.deepStrictEqual(none, { containsNull: true, containsNan: false, lowerBound: null, upperBound: null })

      const plan = yield* (yield* TableScanner).plan(trades)
      assert.strictEqual((yield* selectPlanned(plan, "count(*)::INTEGER AS n"))[0]!.n, 48)
    }).pipe(Effect.provide(layer))
  })

  const refused: ReadonlyArray<readonly [string, PartitionField]> = [
    ["bucket[16](symbol)", field(1001, "symbol_bucket", 3, "bucket[16]")],
    // Partition values K2 holds are ints: strings and longs are refused rather than misplaced.
    ["identity(symbol)", field(1001, "symbol", 3, "identity")],
    ["truncate[4](symbol)", field(1001, "symbol_trunc", 3, "truncate[4]")],
    ["truncate[1000](kafka_offset)", field(1001, "offset_trunc", 16, "truncate[1000]")],
    ["identity(price)", field(1001, "price", 7, "identity")],
    ["zorder(symbol)", field(1001, "symbol_z", 3, "zorder")]
  ]
  for (const [shown, partitionField] of refused) {
    it.effect(`refuses to write under ${shown}: UnsupportedTableFeature naming the table, spec and transform; nothing written`, () => {
      const { dir, layer } = warehouse()
      return Effect.gen(function*() {
        const sink = yield* IcebergSink
        yield* sink.ensureTable(tables.trades)
        yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
        yield* evolveSpec([field(1000, "exchange_timestamp_day", 6, "day"), partitionField])
        const before = yield* (yield* Catalog).loadTable(trades)
        const error = yield* Effect.flip(sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 }))))
        assert.strictEqual(error._tag, "UnsupportedTableFeature")
        assert.include(error.message, "market_data.trades")
        assert.include(error.message, "partition spec 1")
        assert.include(error.message, shown)
        assert.strictEqual((yield* (yield* Catalog).loadTable(trades)).metadataLocation, before.metadataLocation)
        assert.strictEqual(parquetFiles(dir).length, 1)
      }).pipe(Effect.provide(layer))
    })
  }

  it.effect("refuses to rewrite another engine's manifest whose partition values K2 does not hold (identity of a long)", () => {
    const { layer } = warehouse()
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      const catalog = yield* Catalog
      const files = yield* FileIO
      yield* sink.ensureTable(tables.trades)
      const ours = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      // Another engine adds a file under spec 1, identity(kafka_offset), and keeps spec 0 the default.
      const m = (yield* catalog.loadTable(trades)).metadata
      const spec1 = { "spec-id": 1, fields: [field(1001, "kafka_offset", 16, "identity")] }
      const foreign = { ...ours.files[0]!, filePath: `${m.location}/data/kafka_offset=5/foreign.parquet`, partition: { kafka_offset: 5 } }
      // K2's encoder holds no long partition values: it writes this one as if the column were an int.
      const asInt = { ...tables.trades.schema, fields: tables.trades.schema.fields.map((f) => (f.id === 16 ? { ...f, type: "int" as const } : f)) }
      const entries = addedEntries([foreign])
      const bytes = encodeManifest(entries, { schema: asInt, spec: spec1 })
      const manifestPath = `${m.location}/metadata/foreign-m0.avro`
      yield* files.write(manifestPath, bytes)
      const snapshotId = newSnapshotId()
      const sequenceNumber = m["last-sequence-number"] + 1n
      const list = [
        describeManifest({ path: manifestPath, length: bytes.length }, spec1, entries, snapshotId, sequenceNumber),
        ...(yield* decodeManifestList(yield* files.read(ours.snapshot["manifest-list"]), "list"))
      ]
      const listPath = `${m.location}/metadata/snap-foreign.avro`
      yield* files.write(listPath, encodeManifestList(list, { snapshotId, parentSnapshotId: ours.snapshot["snapshot-id"], sequenceNumber }))
      yield* catalog.commitTable(trades, [], [
        { action: "add-spec", spec: spec1 },
        {
          action: "add-snapshot",
          snapshot: {
            "snapshot-id": snapshotId,
            "parent-snapshot-id": ours.snapshot["snapshot-id"],
            "sequence-number": sequenceNumber,
            "timestamp-ms": m["last-updated-ms"] + 1,
            "manifest-list": listPath,
            summary: { operation: "append" }
          }
        },
        { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": snapshotId }
      ])
      // Compacting the foreign file means rewriting its manifest, values and all.
      const error = yield* Effect.flip(sink.replace(trades, [foreign], tradeColumns(makeTrades({ count: 1 }))))
      assert.strictEqual(error._tag, "UnsupportedTableFeature")
      assert.include(error.message, "partition spec 1")
      assert.include(error.message, "identity(kafka_offset)")
      assert.strictEqual((yield* catalog.loadTable(trades)).metadata["current-snapshot-id"], snapshotId)
    }).pipe(Effect.provide(layer))
  })
})
