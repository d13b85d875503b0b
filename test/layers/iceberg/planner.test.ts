/**
 * TableScanner over tables another engine changed: what K2 cannot read right is refused with a
 * typed error naming the table (ADR-2), never misread.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Effect } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import * as Bounds from "../../../src/domain/iceberg/bounds.ts"
import type { DataFile, FieldSummary, ManifestFile, PartitionSpec, Schema } from "../../../src/domain/iceberg/spec.ts"
import { tables } from "../../../src/domain/tables.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import { decodeManifest, decodeManifestList, encodeManifest, encodeManifestList } from "../../../src/layers/iceberg/manifests.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { evolvingLakehouse, lakehouseWrapping, swappingLakehouse } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }

/** A warehouse whose catalog, once `evolve.schema` is set, loads its tables with that schema current (another engine's change). */
const evolvingWarehouse = (evolve: { schema?: Schema }, dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-planner-"))) =>
  evolvingLakehouse(dir, () => evolve.schema)

/** A partition value another engine wrote; see `swapIn`. */
type Written = { readonly name: string; readonly sourceId: number; readonly value: unknown; readonly summary?: FieldSummary }

const withSchema = (id: number, fields: Schema["fields"]): Schema => ({ type: "struct", "schema-id": id, fields })

describe("TableScanner: schema evolution by another engine", () => {
  const evolve: { schema?: Schema } = {}
  it.effect("a column dropped and added again under its old name is read by field id: the old files hold none of it", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      // Another engine drops source_sequence (id 12) and adds it back: a new column, id 21. The old
      // files hold id 12 only, so by Iceberg's rules every old row's source_sequence is null now.
      const s0 = tables.trades.schema
      evolve.schema = withSchema(1, [
        ...s0.fields.filter((f) => f.name !== "source_sequence"),
        { id: 21, name: "source_sequence", required: false, type: "long" }
      ])
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))
      const plan = yield* scanner.plan(trades)
      assert.isTrue(plan.byFieldId)
      // By name, the dropped column's values came back: 20.
      const [read] = yield* selectPlanned(plan, "count(source_sequence)::INTEGER AS n, count(*)::INTEGER AS rows")
      assert.deepStrictEqual(read, { n: 10, rows: 20 })
    }).pipe(Effect.provide(evolvingWarehouse(evolve))))

  const renamed: { schema?: Schema } = {}
  it.effect("swapped column names are read by field id under the names of the schema read (Java's), as K2's appends wrote them", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      yield* sink.ensureTable(tables.trades)
      const before = makeTrades({ count: 10 })
      yield* sink.append(trades, tradeColumns(before))
      renamed.schema = withSchema(1, tables.trades.schema.fields.map((f) =>
        f.name === "price" ? { ...f, name: "quantity" } : f.name === "quantity" ? { ...f, name: "price" } : f
      ))
      const after = makeTrades({ count: 10, offsetBase: 10 })
      yield* sink.append(trades, tradeColumns(after))
      const plan = yield* scanner.plan(trades)
      assert.isTrue(plan.byFieldId)
      const rows = yield* selectPlanned(plan, "message_id, price::VARCHAR AS price, quantity::VARCHAR AS quantity")
      const got = new Map(rows.map((r) => [r.message_id as string, [r.price as string, r.quantity as string]]))
      const same = (text: string | undefined, want: BigDecimal.BigDecimal) => text !== undefined && BigDecimal.equals(BigDecimal.fromStringUnsafe(text), want)
      assert.strictEqual(got.size, 20)
      // The first file's id 7 (K2's price) is called quantity now; K2's later rows wrote price into id 8.
      for (const r of before) assert.isTrue(same(got.get(r.message_id)?.[0], r.quantity) && same(got.get(r.message_id)?.[1], r.price), r.message_id)
      for (const r of after) assert.isTrue(same(got.get(r.message_id)?.[0], r.price) && same(got.get(r.message_id)?.[1], r.quantity), r.message_id)
    }).pipe(Effect.provide(evolvingWarehouse(renamed))))

  const kept: { schema?: Schema } = {}
  it.effect("a renamed K2 column is read by field id under K2's name, old files and new; time travel reads by name", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      yield* sink.ensureTable(tables.trades)
      const { snapshot } = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      kept.schema = withSchema(1, tables.trades.schema.fields.map((f) => f.name === "source_sequence" ? { ...f, name: "seq" } : f))
      // Another engine's rows under the new name: what K2's writer does with a column named seq.
      const batch = tradeColumns(makeTrades({ count: 10, offsetBase: 10 }))
      const { source_sequence, ...columns } = batch.columns
      yield* sink.append(trades, { rowCount: batch.rowCount, columns: { ...columns, seq: source_sequence! } })
      const plan = yield* scanner.plan(trades)
      assert.isTrue(plan.byFieldId)
      assert.include(plan.schema.fields.map((f) => f.name), "source_sequence")
      assert.notInclude(plan.schema.fields.map((f) => f.name), "seq")
      const [read] = yield* selectPlanned(plan, "count(source_sequence)::INTEGER AS n")
      assert.strictEqual(read!.n, 20)
      const old = yield* scanner.plan(trades, { snapshot: { _tag: "ById", snapshotId: snapshot["snapshot-id"] } })
      assert.isFalse(old.byFieldId)
      assert.strictEqual((yield* selectPlanned(old, "count(source_sequence)::INTEGER AS n"))[0]!.n, 10)
    }).pipe(Effect.provide(evolvingWarehouse(kept))))

  const renamedOptional: { schema?: Schema } = {}
  it.effect("an append after an optional column was renamed is refused, not written with the column all null", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      renamedOptional.schema = withSchema(1, tables.trades.schema.fields.map((f) => f.name === "source_sequence" ? { ...f, name: "seq" } : f))
      const failed = yield* Effect.flip(sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 }))))
      assert.strictEqual(failed._tag, "UnsupportedTableFeature")
      assert.include(failed.message, "source_sequence (id 12) was renamed to seq")
    }).pipe(Effect.provide(evolvingWarehouse(renamedOptional))))

  const retyped: { schema?: Schema } = {}
  it.effect("an append after price was dropped and added again as a double is refused, not written as unscaled doubles", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      retyped.schema = withSchema(1, [
        ...tables.trades.schema.fields.filter((f) => f.name !== "price"),
        { id: 21, name: "price", required: false, type: "double" }
      ])
      const failed = yield* Effect.flip(sink.append(trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 }))))
      assert.strictEqual(failed._tag, "UnsupportedTableFeature")
      assert.include(failed.message, "price (id 7) was dropped and added again as id 21 of type double")
      // Nothing landed.
      const plan = yield* scanner.plan(trades)
      assert.deepStrictEqual(yield* selectPlanned(plan, "count(*)::INTEGER AS n"), [{ n: 10 }])
    }).pipe(Effect.provide(evolvingWarehouse(retyped))))

  const added: { schema?: Schema } = {}
  it.effect("a table that only added a column is planned and read", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      added.schema = withSchema(1, [...tables.trades.schema.fields, { id: 21, name: "venue_note", required: false, type: "string" }])
      const plan = yield* scanner.plan(trades)
      assert.strictEqual(plan.files.length, 1)
      assert.isFalse(plan.byFieldId, "read by name, as K2's own tables")
      assert.strictEqual((yield* selectPlanned(plan, "count(*)::INTEGER AS n"))[0]!.n, 10)
    }).pipe(Effect.provide(evolvingWarehouse(added))))
})

describe("reading planned files", () => {
  // A directory named like a Hive partition anywhere in a file's path: DuckDB's automatic Hive
  // partitioning took `side=SELL` for the value of the side column of every row.
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "k2-planner-")), "side=SELL")
  fs.mkdirSync(dir)
  it.effect("values come from the files, never from directory names", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const scanner = yield* TableScanner
      yield* sink.ensureTable(tables.trades)
      const rows = makeTrades({ count: 30 })
      yield* sink.append(trades, tradeColumns(rows))
      const plan = yield* scanner.plan(trades)
      const read = yield* selectPlanned(plan, "*", "ORDER BY kafka_offset")
      assert.deepStrictEqual(read.map((r) => r.side), rows.map((r) => r.side))
      // K2's own partition directories (exchange_timestamp_day=...) add no column either.
      assert.deepStrictEqual(Object.keys(read[0]!), tables.trades.schema.fields.map((f) => f.name))
    }).pipe(Effect.provide(evolvingWarehouse({}, dir))))
})

describe("TableScanner: storage K2 does not reach", () => {
  it.effect("a table on s3:// (another engine's, in a shared REST catalog) is refused by name, not reported as a missing file", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-planner-"))
    const foreign = { on: false }
    const layer = lakehouseWrapping({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }, (catalog) =>
      Catalog.of({
        ...catalog,
        loadTable: (id) =>
          Effect.map(catalog.loadTable(id), (t) =>
            !foreign.on ? t : {
              ...t,
              metadata: {
                ...t.metadata,
                snapshots: t.metadata.snapshots.map((s) => ({ ...s, "manifest-list": `s3://bucket/trades/metadata/snap-${s["snapshot-id"]}.avro` }))
              }
            })
      }))
    return Effect.gen(function*() {
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      yield* (yield* IcebergSink).append(trades, tradeColumns(makeTrades({ count: 10 })))
      foreign.on = true
      const failed = yield* Effect.flip((yield* TableScanner).plan(trades))
      assert.strictEqual(failed._tag, "UnsupportedTableFeature")
      assert.include(failed.message, "market_data.trades uses storage at s3://bucket/trades/metadata/snap-")
    }).pipe(Effect.provide(layer))
  })
})

describe("TableScanner: row-level deletes", () => {
  // Another engine's merge-on-read delete: the snapshot's list names a delete manifest (content 1).
  const swapping = () => {
    const { swap, layer } = swappingLakehouse()
    /** Appends ten trades, then makes the snapshot's list name a delete manifest with these counts as well. */
    const withDeleteManifest = (counts: Partial<ManifestFile>) =>
      Effect.gen(function*() {
        const sink = yield* IcebergSink
        const files = yield* FileIO
        yield* sink.ensureTable(tables.trades)
        const { snapshot } = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
        const list = yield* decodeManifestList(yield* files.read(snapshot["manifest-list"]), "list")
        swap.list = `${snapshot["manifest-list"]}.with-deletes.avro`
        yield* files.write(swap.list, encodeManifestList([...list, { ...list[0]!, content: 1, ...counts }], {
          snapshotId: snapshot["snapshot-id"],
          parentSnapshotId: null,
          sequenceNumber: snapshot["sequence-number"]
        }))
      })
    return { layer, withDeleteManifest }
  }

  it.effect("a snapshot with delete files is refused, naming the table", () => {
    const { layer, withDeleteManifest } = swapping()
    return Effect.gen(function*() {
      const scanner = yield* TableScanner
      yield* withDeleteManifest({})
      // Even a filter whose days the delete manifest's summary misses must not skip the check.
      const failed = yield* Effect.flip(scanner.plan(trades, { filter: { time: { column: "exchange_timestamp", from: 0, to: 1 } } }))
      assert.strictEqual(failed._tag, "UnsupportedTableFeature")
      assert.include(failed.message, "market_data.trades")
      assert.include(failed.message, "delete files")
    }).pipe(Effect.provide(layer))
  })

  it.effect("a delete manifest holding no live delete file (another engine removed them all) is no delete file", () => {
    // What a snapshot that removes every delete file leaves in its list: its entries, all DELETED.
    const { layer, withDeleteManifest } = swapping()
    return Effect.gen(function*() {
      const scanner = yield* TableScanner
      yield* withDeleteManifest({ addedFilesCount: 0, existingFilesCount: 0, deletedFilesCount: 1, addedRowsCount: 0, existingRowsCount: 0, deletedRowsCount: 3 })
      const plan = yield* scanner.plan(trades)
      assert.strictEqual(plan.files.length, 1)
      assert.strictEqual((yield* selectPlanned(plan, "count(*) AS n"))[0]!.n, 10n)
    }).pipe(Effect.provide(layer))
  })
})

describe("TableScanner: another engine's partition specs", () => {
  // The table as another engine left it: its snapshot's list names `swap.manifests` (of spec `swap.spec`).
  const { swap, layer } = swappingLakehouse()
  const symbolId = tables.trades.schema.fields.find((f) => f.name === "symbol")!.id
  const offsetId = tables.trades.schema.fields.find((f) => f.name === "kafka_offset")!.id

  /**
   * A snapshot whose one manifest is of spec `specId`: its files with partition `written.name` =
   * `written.value`, written as void of column `written.sourceId` (whose Avro type the value then
   * has) and summarised by `written.summary`; as written, K2's manifest (day partitions) under that spec id.
   */
  const swapIn = (specId: number, spec: PartitionSpec | undefined, written: Written | "as written") =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const files = yield* FileIO
      yield* sink.ensureTable(tables.trades)
      const { snapshot } = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      const list = yield* decodeManifestList(yield* files.read(snapshot["manifest-list"]), "list")
      const entries = yield* decodeManifest(yield* files.read(list[0]!.manifestPath), "manifest")
      const manifestPath = written === "as written" ? list[0]!.manifestPath : `${list[0]!.manifestPath}.swapped.avro`
      if (written !== "as written") {
        const writtenAs: PartitionSpec = { "spec-id": specId, fields: [{ "source-id": written.sourceId, "field-id": 1000, name: written.name, transform: "void" }] }
        yield* files.write(manifestPath, encodeManifest(
          entries.map((e) => ({ ...e, dataFile: { ...e.dataFile, partition: { [written.name]: written.value as number } } })),
          { schema: tables.trades.schema, spec: writtenAs }
        ))
      }
      swap.spec = spec
      swap.list = `${snapshot["manifest-list"]}.swapped.avro`
      const partitionSummaries = written === "as written" ? list[0]!.partitions : written.summary === undefined ? null : [written.summary]
      yield* files.write(swap.list, encodeManifestList([{ ...list[0]!, manifestPath, partitionSpecId: specId, partitions: partitionSummaries }], {
        snapshotId: snapshot["snapshot-id"],
        parentSnapshotId: null,
        sequenceNumber: snapshot["sequence-number"]
      }))
    })
  const bySymbol: Written = { name: "symbol", sourceId: symbolId, value: "AAPL" }

  it.effect("identity(string) partitions are refused as UnsupportedTableFeature naming the field, not as a corrupt manifest", () =>
    Effect.gen(function*() {
      yield* swapIn(1, { "spec-id": 1, fields: [{ "source-id": symbolId, "field-id": 1000, name: "symbol", transform: "identity" }] }, bySymbol)
      const failed = yield* Effect.flip((yield* TableScanner).plan(trades))
      assert.strictEqual(failed._tag, "UnsupportedTableFeature")
      assert.include(failed.message, "identity(symbol)")
    }).pipe(Effect.provide(layer), Effect.ensuring(Effect.sync(() => (swap.list = swap.spec = undefined)))))

  it.effect("a manifest of a spec id the metadata lacks is a CorruptFile naming it, with or without a time filter", () =>
    Effect.gen(function*() {
      yield* swapIn(9, undefined, "as written")
      const scanner = yield* TableScanner
      for (const filter of [{}, { time: { column: "exchange_timestamp", from: 0, to: 1 } }]) {
        const failed = yield* Effect.flip(scanner.plan(trades, { filter }))
        assert.strictEqual(failed._tag, "TableFileError")
        assert.include(failed.message, "partition spec 9")
      }
    }).pipe(Effect.provide(layer), Effect.ensuring(Effect.sync(() => (swap.list = swap.spec = undefined)))))

  const byOffset = (value: bigint): Written => ({
    name: "kafka_offset",
    sourceId: offsetId,
    value,
    summary: { containsNull: false, containsNan: null, lowerBound: Bounds.encode("long", 0n), upperBound: Bounds.encode("long", value) }
  })
  const identityOfOffset: PartitionSpec = { "spec-id": 1, fields: [{ "source-id": offsetId, "field-id": 1000, name: "kafka_offset", transform: "identity" }] }

  it.effect("identity(long) partition values are read as numbers up to 2^53", () =>
    Effect.gen(function*() {
      yield* swapIn(1, identityOfOffset, byOffset(2n ** 53n - 1n))
      const plan = yield* (yield* TableScanner).plan(trades)
      assert.deepStrictEqual(plan.files.map((f) => f.partition), [{ kafka_offset: 2 ** 53 - 1 }])
    }).pipe(Effect.provide(layer), Effect.ensuring(Effect.sync(() => (swap.list = swap.spec = undefined)))))

  it.effect("identity(long) partition values past 2^53 are refused as UnsupportedTableFeature naming the field, not as a corrupt manifest", () =>
    Effect.gen(function*() {
      yield* swapIn(1, identityOfOffset, byOffset(2n ** 53n))
      const failed = yield* Effect.flip((yield* TableScanner).plan(trades))
      assert.strictEqual(failed._tag, "UnsupportedTableFeature")
      assert.include(failed.message, "identity(kafka_offset)")
      assert.include(failed.message, "9007199254740992")
    }).pipe(Effect.provide(layer), Effect.ensuring(Effect.sync(() => (swap.list = swap.spec = undefined)))))
})

describe("TableScanner: data files K2 does not read", () => {
  /** Appends ten trades, then makes the snapshot's list name a second manifest of the same files, as `change` makes them. */
  const withForeignFiles = (change: (file: DataFile) => DataFile) => {
    const { swap, layer } = swappingLakehouse()
    const changed: Array<string> = []
    const setUp = Effect.gen(function*() {
      const sink = yield* IcebergSink
      const files = yield* FileIO
      yield* sink.ensureTable(tables.trades)
      const { snapshot } = yield* sink.append(trades, tradeColumns(makeTrades({ count: 10 })))
      const list = yield* decodeManifestList(yield* files.read(snapshot["manifest-list"]), "list")
      const entries = yield* decodeManifest(yield* files.read(list[0]!.manifestPath), "manifest")
      const manifestPath = `${list[0]!.manifestPath}.foreign.avro`
      yield* files.write(manifestPath, encodeManifest(
        entries.map((e) => {
          const dataFile = change(e.dataFile)
          changed.push(dataFile.filePath)
          return { ...e, dataFile }
        }),
        { schema: tables.trades.schema, spec: tables.trades.spec }
      ))
      swap.list = `${snapshot["manifest-list"]}.foreign.avro`
      yield* files.write(swap.list, encodeManifestList([...list, { ...list[0]!, manifestPath }], {
        snapshotId: snapshot["snapshot-id"],
        parentSnapshotId: null,
        sequenceNumber: snapshot["sequence-number"]
      }))
    })
    return { layer, setUp, changed }
  }

  /** The plan's failure; a plan made is read, and what reading it gives is the failure. */
  const planOrRead = Effect.gen(function*() {
    const plan = yield* Effect.result((yield* TableScanner).plan(trades))
    if (plan._tag === "Failure") return plan.failure
    return yield* Effect.flip(selectPlanned(plan.success, "count(*) AS n"))
  })

  it.effect("an ORC or Avro data file (another engine's write.format.default) is refused by name, not read as a corrupt Parquet file", () => {
    const { layer, setUp, changed } = withForeignFiles((f) => ({ ...f, filePath: f.filePath.replace(/\.parquet$/, ".orc"), fileFormat: "ORC" }))
    return Effect.gen(function*() {
      yield* setUp
      // What an ORC file starts with; no Parquet reader takes it.
      for (const file of changed) yield* (yield* FileIO).write(file, new TextEncoder().encode("ORC\u0000not parquet"))
      const failed = yield* planOrRead
      assert.strictEqual(failed._tag, "UnsupportedTableFeature", failed.message)
      assert.include(failed.message, "market_data.trades")
      assert.include(failed.message, "ORC")
    }).pipe(Effect.provide(layer))
  })

  it.effect("a manifest on s3:// (another engine's write.metadata.path) is refused by name, not reported as a missing file", () => {
    const { swap, layer } = swappingLakehouse()
    return Effect.gen(function*() {
      const files = yield* FileIO
      yield* (yield* IcebergSink).ensureTable(tables.trades)
      const { snapshot } = yield* (yield* IcebergSink).append(trades, tradeColumns(makeTrades({ count: 10 })))
      const list = yield* decodeManifestList(yield* files.read(snapshot["manifest-list"]), "list")
      swap.list = `${snapshot["manifest-list"]}.foreign.avro`
      yield* files.write(swap.list, encodeManifestList(
        list.map((mf) => ({ ...mf, manifestPath: `s3://bucket/trades/metadata/${path.basename(mf.manifestPath)}` })),
        { snapshotId: snapshot["snapshot-id"], parentSnapshotId: null, sequenceNumber: snapshot["sequence-number"] }
      ))
      const failed = yield* planOrRead
      assert.strictEqual(failed._tag, "UnsupportedTableFeature", failed.message)
      assert.include(failed.message, "market_data.trades uses storage at s3://bucket/trades/metadata/")
    }).pipe(Effect.provide(layer))
  })

  it.effect("a data file on s3:// (another engine's write.data.path) is refused by name, not reported as a missing file", () => {
    const { layer, setUp } = withForeignFiles((f) => ({ ...f, filePath: `s3://bucket/trades/data/${path.basename(f.filePath)}` }))
    return Effect.gen(function*() {
      yield* setUp
      const failed = yield* planOrRead
      assert.strictEqual(failed._tag, "UnsupportedTableFeature", failed.message)
      assert.include(failed.message, "market_data.trades uses storage at s3://bucket/trades/data/")
    }).pipe(Effect.provide(layer))
  })
})
