/**
 * `npm run compact` reports what it did to a table whose compaction or expiry failed: the other
 * steps still ran (and committed, or deleted files), so their lines are printed before the failure.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { instrumentRows, tradeColumns } from "../../src/domain/rows.ts"
import { identifierOf, tables } from "../../src/domain/tables.ts"
import { localPath } from "../../src/layers/iceberg/fileio.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { TableScanner } from "../../src/services/TableScanner.ts"
import { makeTrades } from "../support/fixtures.ts"
import { spawnProgram } from "../support/programs.ts"
import { tempWarehouse } from "../support/warehouse.ts"

/** A warehouse whose trades table holds `appends` commits of 50 trades, then what `then` does to it. */
const warehouseWithTrades = (appends: number, then: Effect.Effect<void, unknown, Catalog | TableScanner> = Effect.void) =>
  Effect.gen(function*() {
    const dir = tempWarehouse()
    yield* Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      for (let i = 0; i < appends; i++) yield* sink.append(tables.trades, tradeColumns(makeTrades({ count: 50, days: 1, offsetBase: i * 50 })))
      yield* then
    }).pipe(Effect.provide(Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } })))
    return dir
  })

describe("npm run compact, a table whose compaction fails", () => {
  it.live("still prints the snapshots it expired and the orphans it removed, then exits 1 naming it", () =>
    Effect.gen(function*() {
      // A data file gone from under the table: its compaction fails.
      const dir = yield* warehouseWithTrades(6, Effect.gen(function*() {
        fs.rmSync(localPath((yield* (yield* TableScanner).plan(tables.trades)).files[0]!.filePath))
      }))
      const stray = path.join(dir, "market_data", "trades", "data", "stray.parquet")
      fs.writeFileSync(stray, "not referenced")
      const old = new Date(Date.now() - 3 * 86_400_000)
      fs.utimesSync(stray, old, old)
      const run = spawnProgram("compact", [
        "--warehouse", dir,
        "--tables", "market_data.trades",
        "--expire-older-than-hours", "0"
      ])
      const code = yield* Effect.promise(() => run.exited)
      const output = run.output()
      assert.strictEqual(code, 1, output)
      assert.include(output, "market_data.trades failed")
      assert.isFalse(fs.existsSync(stray), "orphan removal ran")
      // What expiry and orphan removal did is reported, not only the failure.
      assert.include(output, "snapshots          6 -> 1")
      assert.include(output, "orphans            1 removed")
    }), 60_000)

  it.live("a refused expiry after a committed compaction: the compaction is printed, then exit 1 naming the table once", () =>
    Effect.gen(function*() {
      const dir = yield* warehouseWithTrades(6, Effect.gen(function*() {
        yield* (yield* Catalog).commitTable(tables.trades, [], [{ action: "set-properties", updates: { "history.expire.max-snapshot-age-ms": "5 days" } }])
      }))
      const run = spawnProgram("compact", ["--warehouse", dir, "--tables", "market_data.trades"])
      const code = yield* Effect.promise(() => run.exited)
      const output = run.output()
      assert.strictEqual(code, 1, output)
      assert.include(output, "files              6 -> 1")
      assert.include(output, "market_data.trades failed: ")
      assert.include(output, "history.expire.max-snapshot-age-ms")
      assert.include(output, "maintenance failed for market_data.trades\n")
    }), 60_000)
})

describe("npm run compact on its default tables, some not created yet", () => {
  it.live("expiry alone (--skip-compaction --skip-orphans) skips the tables that are not there, as the full run does, and exits 0", () =>
    Effect.gen(function*() {
      const dir = yield* warehouseWithTrades(1)
      const run = spawnProgram("compact", ["--warehouse", dir, "--skip-compaction", "--skip-orphans"])
      const code = yield* Effect.promise(() => run.exited)
      const output = run.output()
      assert.strictEqual(code, 0, output)
      assert.include(output, "skipped: ")
      assert.notInclude(output, "failed")
    }), 60_000)

  it.live("reference_data.instruments is maintained by default, as an ingest reading it maintains it (its small files were left for good)", () =>
    Effect.gen(function*() {
      const dir = tempWarehouse()
      yield* Effect.gen(function*() {
        const sink = yield* IcebergSink
        yield* sink.ensureTable(tables.instruments)
        for (let b = 0; b < 4; b++) {
          const rows = instrumentRows()
          rows.push({
            symbol: `S${b}`, company_id: null, isin: null, asset_class: "equities", listing_date: null, delisting_date: null,
            kafka_topic: "reference.instruments.asx", kafka_partition: 0, exchange: "ASX", currency: "AUD", name: `v${b}`,
            ingestion_timestamp: 1_700_000_000_000_000 + b, kafka_offset: BigInt(b)
          })
          yield* sink.append(identifierOf("instruments"), rows.columns())
        }
      }).pipe(Effect.provide(Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } })))
      const run = spawnProgram("compact", ["--warehouse", dir])
      const code = yield* Effect.promise(() => run.exited)
      const output = run.output()
      assert.strictEqual(code, 0, output)
      assert.include(output, "reference_data.instruments\n  files              4 -> 1")
    }), 60_000)
})
