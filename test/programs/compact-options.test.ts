/**
 * `npm run compact` in-process (test/programs/compact*.test.ts run the program): the hours its
 * options give are hours, so a file or snapshot younger than them stays.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { Console, Effect, Exit } from "effect"
import { Command } from "effect/cli"
import { UsageError } from "../../src/programs/cli/common.ts"
import { drainRecord, programExitCode } from "../../src/programs/cli/run.ts"
import { compactCommand, MaintenanceFailed } from "../../src/programs/compact.ts"
import { tradesWarehouse } from "../support/warehouse.ts"

const quiet: Console.Console = Object.assign(Object.create(console), { log: () => {}, error: () => {} })

const compact = (args: ReadonlyArray<string>, console = quiet) =>
  Command.runWith(compactCommand, { version: "0" })(args).pipe(Effect.provide(NodeServices.layer), Effect.provideService(Console.Console, console))

describe("npm run compact, grace and age in hours", () => {
  it.effect("an orphan file younger than --orphan-grace-hours stays; one older goes, unless it is a dry run", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse(10)
      const data = fs.readdirSync(dir, { recursive: true, withFileTypes: true }).find((e) => e.isFile() && e.name.endsWith(".parquet"))!.parentPath
      const young = path.join(data, "orphan-young.parquet"), old = path.join(data, "orphan-old.parquet")
      const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000)
      fs.writeFileSync(young, "x")
      fs.utimesSync(young, minutesAgo(30), minutesAgo(30))
      fs.writeFileSync(old, "x")
      fs.utimesSync(old, minutesAgo(200), minutesAgo(200))
      yield* compact(["--warehouse", dir, "--tables", "market_data.trades", "--orphan-grace-hours", "2", "--dry-run"])
      assert.isTrue(fs.existsSync(old), "a dry run removes nothing")
      yield* compact(["--warehouse", dir, "--tables", "market_data.trades", "--skip-compaction", "--skip-expiry", "--orphan-grace-hours", "2"])
      assert.isTrue(fs.existsSync(young), "30 minutes old, under a 2-hour grace")
      assert.isFalse(fs.existsSync(old), "200 minutes old")
    }))

  it.effect("a dry run may list orphans under a short grace (it removes nothing); a table named and missing fails the run", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse(10)
      yield* compact(["--warehouse", dir, "--tables", "market_data.trades", "--orphan-grace-hours", "0.5", "--dry-run"])
      const logged: Array<string> = []
      const logging: Console.Console = Object.assign(Object.create(quiet), { log: (text: unknown) => void logged.push(String(text)) })
      const missing = yield* Effect.flip(compact(["--warehouse", dir, "--tables", "market_data.trades,market_data.nope"], logging))
      // Typed, naming the failed table alone: `error: maintenance failed for market_data.nope`, exit 1.
      assert.instanceOf(missing, MaintenanceFailed)
      assert.deepStrictEqual((missing as MaintenanceFailed).tables, ["market_data.nope"])
      assert.strictEqual((missing as MaintenanceFailed).message, "maintenance failed for market_data.nope")
      assert.strictEqual(programExitCode(Exit.fail(missing), drainRecord()), 1)
      // The run failed: its last line does not say it was done.
      assert.isFalse(logged.some((line) => line.startsWith("maintenance done")), logged.join("\n"))
      const unnamed = yield* Effect.flip(compact(["--warehouse", dir, "--tables", ".trades"]))
      assert.instanceOf(unnamed, UsageError)
    }))

  // It was maintained, and reported, once a naming: a stop's message then said it was done with the
  // table while the run was cut short at its second turn.
  it.effect("a table named twice is maintained once", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse(10)
      const logged: Array<string> = []
      const logging: Console.Console = Object.assign(Object.create(quiet), { log: (text: unknown) => void logged.push(String(text)) })
      yield* compact(["--warehouse", dir, "--tables", "market_data.trades, market_data.trades", "--skip-orphans"], logging)
      assert.strictEqual(logged.filter((text) => text.startsWith("market_data.trades\n")).length, 1, logged.join("\n"))
    }))
})
