/**
 * `npm run compact` as a user runs it: `--dry-run` changes nothing, and a table that fails does not
 * hold back the others; the run then exits 1 naming it.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tradeColumns } from "../../src/domain/rows.ts"
import { tables } from "../../src/domain/tables.ts"
import { localPath } from "../../src/layers/iceberg/fileio.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { TableScanner } from "../../src/services/TableScanner.ts"
import { makeTrades } from "../support/fixtures.ts"
import { spawnProgram } from "../support/programs.ts"
import { tempWarehouse } from "../support/warehouse.ts"

const broken = { namespace: "market_data", name: "trades" }
const healthy = { namespace: "market_data", name: "trades_copy" }

describe("npm run compact", () => {
  it.live("--dry-run changes nothing; a failing table holds back no other, and the run exits 1", () =>
    Effect.gen(function*() {
      const dir = tempWarehouse()
      const options: Lakehouse.LakehouseOptions = { warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }
      const state = Effect.gen(function*() {
        const catalog = yield* Catalog
        const snapshots = (id: typeof broken) => Effect.map(catalog.loadTable(id), (t) => t.metadata.snapshots.length)
        return { broken: yield* snapshots(broken), healthy: yield* snapshots(healthy) }
      }).pipe(Effect.provide(Lakehouse.layer(options)))
      yield* Effect.gen(function*() {
        const sink = yield* IcebergSink
        for (const id of [broken, healthy]) {
          yield* sink.ensureTable({ ...tables.trades, ...id })
          for (let i = 0; i < 6; i++) yield* sink.append(id, tradeColumns(makeTrades({ count: 50, days: 1, offsetBase: i * 50 })))
        }
        // A data file gone from under one table: its compaction fails.
        fs.rmSync(localPath((yield* (yield* TableScanner).plan(broken)).files[0]!.filePath))
      }).pipe(Effect.provide(Lakehouse.layer(options)))
      const compact = (extra: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const run = spawnProgram("compact", [
            "--warehouse", dir,
            "--tables", "market_data.trades,market_data.trades_copy",
            // 0.36 s: the files of this test are older, and 0 is refused (in-flight commits); nothing
            // else writes to this warehouse.
            "--orphan-grace-hours", "0.0001",
            "--allow-short-orphan-grace",
            ...extra
          ])
          return { code: yield* Effect.promise(() => run.exited), output: run.output() }
        })
      const dry = yield* compact(["--dry-run"])
      assert.strictEqual(dry.code, 0, dry.output)
      assert.include(dry.output, "would be removed")
      assert.deepStrictEqual(yield* state, { broken: 6, healthy: 6 })
      // Expiry's flag in the run that expires: a dry run refuses it (it expires nothing).
      const real = yield* compact(["--expire-older-than-hours", "0"])
      assert.strictEqual(real.code, 1, real.output)
      assert.include(real.output, "market_data.trades failed")
      // The healthy table was maintained, and the broken one expired all the same.
      assert.deepStrictEqual(yield* state, { broken: 1, healthy: 1 })
    }), 120_000)
})

describe("npm run compact, bad options", () => {
  for (const [flag, value] of [["--orphan-grace-hours", "0"], ["--retain-last", "0"], ["--target-file-size-mb", "0"], ["--expire-older-than-hours", "-1"]]) {
    it.effect(`${flag} ${value} is refused before anything runs`, () =>
      Effect.gen(function*() {
        const dir = tempWarehouse()
        const run = spawnProgram("compact", ["--warehouse", dir, flag!, value!])
        assert.strictEqual(yield* Effect.promise(() => run.exited), 2, run.output())
        assert.include(run.output(), `Invalid value for flag ${flag}`)
      }))
  }
  it.effect("an orphan grace under an hour is refused unless allowed (a writer's files wait for their commit), except for a dry run", () =>
    Effect.gen(function*() {
      const dir = tempWarehouse()
      const short = spawnProgram("compact", ["--warehouse", dir, "--orphan-grace-hours", "0.5"])
      assert.strictEqual(yield* Effect.promise(() => short.exited), 2, short.output())
      assert.include(short.output(), "--allow-short-orphan-grace")
      for (const extra of [["--allow-short-orphan-grace"], ["--dry-run"]]) {
        // Past the options: the run goes on to find the (empty) warehouse has no catalog.
        const run = spawnProgram("compact", ["--warehouse", dir, "--orphan-grace-hours", "0.5", ...extra])
        assert.strictEqual(yield* Effect.promise(() => run.exited), 1, run.output())
        assert.include(run.output(), "no warehouse at")
      }
      // Orphan removal skipped, its grace is a flag of a step not taken (compact-nothing.test.ts).
      const skipped = spawnProgram("compact", ["--warehouse", dir, "--orphan-grace-hours", "0.5", "--skip-orphans"])
      assert.strictEqual(yield* Effect.promise(() => skipped.exited), 2, skipped.output())
      assert.include(skipped.output(), "--orphan-grace-hours: for a step this run does not take")
    }))

  it.effect("a value past the largest it takes is refused naming that bound, not the lower one", () =>
    Effect.gen(function*() {
      const run = spawnProgram("compact", ["--warehouse", tempWarehouse(), "--expire-older-than-hours", "1e308"])
      assert.strictEqual(yield* Effect.promise(() => run.exited), 2, run.output())
      assert.include(run.output(), "at most 9007199254740991")
    }))
})

describe("npm run compact and the table's write.target-file-size-bytes (ADR-99)", () => {
  it.live("without --target-file-size-mb the property is read: a bad one fails the table naming it, nothing compacted", () =>
    Effect.gen(function*() {
      const dir = tempWarehouse()
      const options: Lakehouse.LakehouseOptions = { warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }
      const snapshots = Effect.gen(function*() {
        return (yield* (yield* Catalog).loadTable(broken)).metadata.snapshots.length
      }).pipe(Effect.provide(Lakehouse.layer(options)))
      yield* Effect.gen(function*() {
        const sink = yield* IcebergSink
        yield* sink.ensureTable(tables.trades)
        for (let i = 0; i < 4; i++) yield* sink.append(broken, tradeColumns(makeTrades({ count: 50, days: 1, offsetBase: i * 50 })))
        yield* (yield* Catalog).commitTable(broken, [], [{ action: "set-properties", updates: { "write.target-file-size-bytes": "512MB" } }])
      }).pipe(Effect.provide(Lakehouse.layer(options)))
      const before = yield* snapshots
      const compact = (extra: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const run = spawnProgram("compact", ["--warehouse", dir, "--tables", "market_data.trades", "--skip-expiry", "--skip-orphans", ...extra])
          return { code: yield* Effect.promise(() => run.exited), output: run.output() }
        })
      const refused = yield* compact([])
      assert.strictEqual(refused.code, 1, refused.output)
      assert.include(refused.output, "write.target-file-size-bytes")
      assert.include(refused.output, "\"512MB\"")
      assert.strictEqual(yield* snapshots, before)
      // The flag given decides over the property: the day is compacted.
      const given = yield* compact(["--target-file-size-mb", "64"])
      assert.strictEqual(given.code, 0, given.output)
      assert.strictEqual(yield* snapshots, before + 1)
    }), 120_000)
})
