/**
 * `npm run ingest` (embedded default) stopped or doubled as a user does it: Ctrl-C mid-run drains
 * what it read into the tables and says what it wrote; a second ingest on the same warehouse
 * meanwhile is refused, as its commits would interleave with the first's and record false gaps.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tables } from "../../src/domain/tables.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { checkTables } from "../support/ingestHarness.ts"
import { spawnProgram, written } from "../support/programs.ts"
import { warehouseOptions } from "../support/warehouse.ts"

const summaryCount = (out: string, label: string) => {
  const m = new RegExp(`^\\s*${label}\\s+(\\d+)$`, "m").exec(out)
  assert.isNotNull(m, `"${label}" in the summary:\n${out}`)
  return Number(m![1])
}

describe("npm run ingest (embedded default), stopped and doubled", () => {
  it.effect("SIGINT mid-run drains into the tables, prints the summary, exits 0; a rerun completes the day", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      const args = ["--warehouse", options.warehouse, "--events", "30000", "--partitions", "3"]
      const first = spawnProgram("ingest", args)
      // The first progress line (after 5 s): well before the end of 600k events.
      yield* written(first, "messages, ")
      first.child.kill("SIGINT")
      const code = yield* Effect.promise(() => first.exited)
      const out = first.output()
      assert.strictEqual(code, 0, out)
      assert.notInclude(out, "flush failed")
      // The summary alone reads as a whole day: it says the day was cut short and how to finish it.
      assert.include(out, "stopped before the end of the simulated day: run again with the same settings")
      const trades = summaryCount(out, "trades written")
      const quotes = summaryCount(out, "quotes written")
      const scenario = { exchange: "ASX", group: "k2-ingest", partitions: 3, options }
      const afterStop = yield* checkTables(scenario)
      assert.deepStrictEqual(afterStop, {
        trades: { rows: trades, distinctCoordinates: trades, distinctMessageIds: trades },
        quotes: { rows: quotes, distinctCoordinates: quotes, distinctMessageIds: quotes }
      })

      const rerun = spawnProgram("ingest", args)
      assert.strictEqual(yield* Effect.promise(() => rerun.exited), 0, rerun.output())
      assert.notInclude(rerun.output(), "stopped before the end")
      const allTrades = trades + summaryCount(rerun.output(), "trades written")
      const allQuotes = quotes + summaryCount(rerun.output(), "quotes written")
      assert.isAbove(allTrades, trades, "the rerun ingested the rest of the day")
      assert.deepStrictEqual(yield* checkTables(scenario), {
        trades: { rows: allTrades, distinctCoordinates: allTrades, distinctMessageIds: allTrades },
        quotes: { rows: allQuotes, distinctCoordinates: allQuotes, distinctMessageIds: allQuotes }
      })
    }), 180_000)

  it.effect("a second one on the same warehouse is refused while the first runs, and the first is unharmed", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      const args = ["--warehouse", options.warehouse, "--events", "5000", "--partitions", "3"]
      const first = spawnProgram("ingest", args)
      yield* written(first, "embedded default")
      const second = spawnProgram("ingest", args)
      const secondCode = yield* Effect.promise(() => second.exited)
      assert.strictEqual(secondCode, 1, second.output())
      assert.include(second.output(), "another ingest")
      assert.strictEqual(yield* Effect.promise(() => first.exited), 0, first.output())
      assert.strictEqual(summaryCount(first.output(), "sequence events"), 0, "no false gaps")
      // The first one let go of the warehouse when it ended.
      const third = spawnProgram("ingest", args)
      assert.strictEqual(yield* Effect.promise(() => third.exited), 0, third.output())
      assert.strictEqual(summaryCount(third.output(), "trades written"), 0)
    }), 180_000)

  it.effect("a lock left by a process that is gone (kill -9) does not stop the next run", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      const gone = spawnSync(process.execPath, ["-e", "0"]).pid!
      fs.writeFileSync(path.join(options.warehouse, ".ingest.lock"), `${gone}\n`)
      const run = spawnProgram("ingest", ["--warehouse", options.warehouse, "--events", "200", "--partitions", "1"])
      assert.strictEqual(yield* Effect.promise(() => run.exited), 0, run.output())
      assert.isAbove(summaryCount(run.output(), "trades written"), 0)
      assert.isFalse(fs.existsSync(path.join(options.warehouse, ".ingest.lock")), "released at the end")
    }), 60_000)

  it.effect("a run that fails on its own (a table it cannot write) ends with the error instead of waiting for ever", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      // Another engine buckets trades by symbol: every flush of trades is refused.
      yield* Effect.gen(function*() {
        yield* (yield* IcebergSink).ensureTable(tables.trades)
        const catalog = yield* Catalog
        const id = { namespace: tables.trades.namespace, name: tables.trades.name }
        const loaded = yield* catalog.loadTable(id)
        const symbol = tables.trades.schema.fields.find((f) => f.name === "symbol")!
        yield* catalog.commitTable(id, [{ type: "assert-table-uuid", uuid: loaded.metadata["table-uuid"] }], [
          { action: "add-spec", spec: { "spec-id": 1, fields: [{ "source-id": symbol.id, "field-id": 1000, name: "symbol_bucket", transform: "bucket[16]" }] } },
          { action: "set-default-spec", "spec-id": 1 }
        ])
      }).pipe(Effect.provide(Lakehouse.layer(options)))
      const run = spawnProgram("ingest", ["--warehouse", options.warehouse, "--events", "2000", "--partitions", "1"])
      const code = yield* Effect.promise(() => Promise.race([run.exited, new Promise<string>((resolve) => setTimeout(() => resolve("still running"), 60_000))]))
      if (code === "still running") run.child.kill("SIGKILL")
      assert.strictEqual(code, 1, run.output())
      assert.include(run.output(), "bucket[16]")
    }), 120_000)
})
