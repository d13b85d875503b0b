/**
 * Compaction keeps every row exactly: every column (lineage, decimals at full precision, nulls,
 * empty and non-empty lists and maps), each rewritten file within one day and sorted by the
 * table's sort order, and the markers findable afterwards.
 */
import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Effect } from "effect"
import { markerKey } from "../../../src/domain/ingest/marker.ts"
import { instrumentRows, tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { identifierOf, tables } from "../../../src/domain/tables.ts"
import { query } from "../../../src/layers/duckdb/DuckDb.ts"
import { DuckDb } from "../../../src/layers/duckdb/DuckDb.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades, START_MICROS } from "../../support/fixtures.ts"
import { markerIn } from "../../support/marker.ts"
import { maintainedLakehouse } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }
const DAY_MICROS = 86_400_000_000

/** Rows at the edges: day boundaries, extreme decimals, nulls, ties on (symbol, exchange_timestamp). */
const edgeRows = (batch: number): Array<TradeRow> =>
  makeTrades({ count: 40, days: 2, offsetBase: batch * 1_000, idPrefix: `b${batch}` }).map((r, i) => ({
    ...r,
    // The last microsecond of a day and the first of the next, and ties across batches.
    exchange_timestamp: i === 0 ? START_MICROS + DAY_MICROS - 1 : i === 1 ? START_MICROS + DAY_MICROS : i === 2 ? START_MICROS + 5 : r.exchange_timestamp,
    price: i === 3 ? BigDecimal.make(999_999_999_999_999_999n, 8) : i === 4 ? BigDecimal.make(1n, 8) : r.price,
    quantity: i === 5 ? BigDecimal.make(-999_999_999_999_999_999n, 8) : r.quantity,
    source_sequence: i % 5 === 0 ? null : r.source_sequence,
    conditions: i % 7 === 0 ? ["A", "B", "C"] : r.conditions,
    vendor_data: i % 3 === 0 ? { venue: "CXA", "ü-key": "väl,ue" } : r.vendor_data,
    kafka_partition: batch,
    kafka_offset: BigInt(batch * 1_000 + i) + 9_007_199_254_740_993n
  }))

const allRows = Effect.gen(function*() {
  const plan = yield* (yield* TableScanner).plan(trades)
  const rows = yield* selectPlanned(plan, "to_json(t)::VARCHAR AS j FROM (SELECT *", ") t ORDER BY j")
  return { rows: rows.map((r) => String(r["j"])), files: plan.files }
})

describe("Maintenance: compaction keeps rows exactly", () => {
  it.effect("every column of every row, one day per file, sorted by (symbol, exchange_timestamp), markers kept", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      for (let b = 0; b < 6; b++) {
        yield* sink.append(trades, tradeColumns(edgeRows(b)), {
          properties: { [markerKey("g1")]: JSON.stringify({ t: { [String(b)]: b * 1_000 + 40 } }) }
        })
      }
      const before = yield* allRows
      const markerBefore = markerIn((yield* (yield* Catalog).loadTable(trades)).metadata, "g1")
      const r = yield* (yield* Maintenance).compact(trades)
      assert.isAbove(r.partitions.length, 1)
      const after = yield* allRows
      assert.isBelow(after.files.length, before.files.length)
      assert.strictEqual(after.rows.length, 240)
      assert.deepStrictEqual(after.rows, before.rows)
      const m = (yield* (yield* Catalog).loadTable(trades)).metadata
      assert.deepStrictEqual(markerIn(m, "g1")?.offsets, markerBefore?.offsets)
      // Each file: one day, in sort order.
      const duckDb = yield* DuckDb
      for (const f of after.files) {
        const [check] = yield* duckDb.withConnection((c) =>
          query(c, "check", `SELECT count(DISTINCT (epoch_us(exchange_timestamp) // ${DAY_MICROS}))::INTEGER AS days,
            bool_and(ok)::VARCHAR AS sorted FROM (
              SELECT exchange_timestamp, coalesce((symbol, exchange_timestamp) >= lag((symbol, exchange_timestamp)) OVER (ORDER BY file_row_number), true) AS ok
              FROM read_parquet($1, file_row_number = true))`, [localPath(f.filePath)]))
        assert.strictEqual(check!["days"], 1)
        assert.strictEqual(check!["sorted"], "true")
      }
    }).pipe(Effect.provide(maintainedLakehouse())), 60_000)

  it.effect("an unpartitioned table without a sort order (reference_data.instruments): every row kept", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const id = identifierOf("instruments")
      yield* sink.ensureTable(tables.instruments)
      for (let b = 0; b < 4; b++) {
        const rows = instrumentRows()
        for (let i = 0; i < 5; i++) {
          rows.push({ symbol: `S${i}`, company_id: null, isin: i % 2 === 0 ? null : `AU000${i}`, asset_class: "equities", listing_date: null, delisting_date: null,
            kafka_topic: "k2.test", kafka_partition: 0, exchange: "ASX", currency: "AUD", name: `v${b}`, ingestion_timestamp: START_MICROS + b, kafka_offset: BigInt(b * 5 + i) })
        }
        yield* sink.append(id, rows.columns())
      }
      const read = Effect.gen(function*() {
        const plan = yield* (yield* TableScanner).plan(id)
        return { files: plan.files.length, rows: (yield* selectPlanned(plan, "to_json(t)::VARCHAR AS j FROM (SELECT *", ") t ORDER BY j")).map((r) => String(r["j"])) }
      })
      const before = yield* read
      const r = yield* (yield* Maintenance).run(id, { orphans: false })
      assert.isNull(r.compactFailure)
      assert.strictEqual(r.compact?.partitions.length, 1)
      const after = yield* read
      assert.strictEqual(after.files, 1)
      assert.strictEqual(after.rows.length, 20)
      assert.deepStrictEqual(after.rows, before.rows)
    }).pipe(Effect.provide(maintainedLakehouse())), 60_000)

  it.live("a tagged snapshot survives compaction, expiry of everything else and orphan removal with no grace: it reads every row it had", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const catalog = yield* Catalog
      const maintenance = yield* Maintenance
      yield* sink.ensureTable(tables.trades)
      for (let b = 0; b < 3; b++) yield* sink.append(trades, tradeColumns(edgeRows(b)))
      const tagged = (yield* catalog.loadTable(trades)).metadata["current-snapshot-id"]!
      yield* catalog.commitTable(trades, [], [{ action: "set-snapshot-ref", "ref-name": "eod", type: "tag", "snapshot-id": tagged }])
      const read = (snapshot: { readonly _tag: "ById"; readonly snapshotId: bigint } | undefined) =>
        Effect.gen(function*() {
          const plan = yield* (yield* TableScanner).plan(trades, snapshot === undefined ? {} : { snapshot })
          return (yield* selectPlanned(plan, "to_json(t)::VARCHAR AS j FROM (SELECT *", ") t ORDER BY j")).map((r) => String(r["j"]))
        })
      const before = yield* read({ _tag: "ById", snapshotId: tagged })
      for (let b = 3; b < 6; b++) yield* sink.append(trades, tradeColumns(edgeRows(b)))
      const r = yield* maintenance.run(trades, {
        compact: {},
        expire: { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 3_600_000 },
        orphans: { olderThanMs: 1, nowMs: Date.now() + 3_600_000 }
      })
      assert.isNull(r.compactFailure)
      assert.isNull(r.expireFailure)
      assert.isNull(r.orphanFailure)
      assert.isAbove(r.compact!.partitions.length, 0)
      assert.isAbove(r.orphans!.removed.length, 0)
      const m = (yield* catalog.loadTable(trades)).metadata
      assert.deepStrictEqual(m.snapshots.map((s) => s["snapshot-id"]).sort(), [tagged, m["current-snapshot-id"]!].sort())
      assert.deepStrictEqual(yield* read({ _tag: "ById", snapshotId: tagged }), before)
      assert.strictEqual((yield* read(undefined)).length, 240)
    }).pipe(Effect.provide(maintainedLakehouse())), 60_000)
})
