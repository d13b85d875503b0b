/**
 * `npm run ingest` with no broker: the embedded default (simulator → in-process Kafka → a local
 * warehouse) as a user runs it, in its own process. It must end by itself once everything is in
 * the tables, print a summary that adds up, leave tables that hold exactly what it says, and
 * ingest nothing twice when run again.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { checkTables } from "../support/ingestHarness.ts"
import { spawnProgram } from "../support/programs.ts"
import { warehouseOptions } from "../support/warehouse.ts"

const summaryCount = (out: string, label: string) => {
  const m = new RegExp(`^\\s*${label}\\s+(\\d+)$`, "m").exec(out)
  assert.isNotNull(m, `"${label}" in the summary:\n${out}`)
  return Number(m![1])
}

describe("npm run ingest (embedded default)", () => {
  it.effect("ingests the simulated day, ends by itself, and the tables hold what the summary says", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      const ingest = spawnProgram("ingest", ["--warehouse", options.warehouse, "--events", "500", "--partitions", "3"])
      const code = yield* Effect.promise(() => ingest.exited)
      const out = ingest.output()
      assert.strictEqual(code, 0, out)
      const consumed = summaryCount(out, "consumed")
      const trades = summaryCount(out, "trades written")
      const quotes = summaryCount(out, "quotes written")
      const instruments = summaryCount(out, "instruments written")
      assert.isAbove(trades, 0)
      assert.isAbove(quotes, 0)
      assert.strictEqual(trades + quotes + instruments + summaryCount(out, "dead-lettered"), consumed)
      const expected = {
        trades: { rows: trades, distinctCoordinates: trades, distinctMessageIds: trades },
        quotes: { rows: quotes, distinctCoordinates: quotes, distinctMessageIds: quotes }
      }
      const scenario = { exchange: "ASX", group: "k2-ingest", partitions: 3, options }
      assert.deepStrictEqual(yield* checkTables(scenario), expected)

      // Again on the same warehouse: the same day is published, and nothing is ingested twice.
      const again = spawnProgram("ingest", ["--warehouse", options.warehouse, "--events", "500", "--partitions", "3"])
      assert.strictEqual(yield* Effect.promise(() => again.exited), 0, again.output())
      assert.strictEqual(summaryCount(again.output(), "trades written"), 0)
      assert.strictEqual(summaryCount(again.output(), "quotes written"), 0)
      assert.deepStrictEqual(yield* checkTables(scenario), expected)
    }), 120_000)

  it.effect("a topic named twice is ingested once (a Kafka client refuses to create a topic listed twice)", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      const topics = "market.equities.trades.asx,market.equities.quotes.asx,reference.instruments.asx,market.equities.trades.asx"
      const ingest = spawnProgram("ingest", ["--warehouse", options.warehouse, "--events", "20", "--partitions", "1", "--topics", topics])
      const code = yield* Effect.promise(() => ingest.exited)
      const out = ingest.output()
      assert.strictEqual(code, 0, out)
      const trades = summaryCount(out, "trades written")
      assert.isAbove(trades, 0)
      assert.strictEqual(trades + summaryCount(out, "quotes written") + summaryCount(out, "instruments written") + summaryCount(out, "dead-lettered"), summaryCount(out, "consumed"))
    }), 60_000)

  it.effect("--help documents the options", () =>
    Effect.gen(function*() {
      const help = spawnProgram("ingest", ["--help"])
      assert.strictEqual(yield* Effect.promise(() => help.exited), 0)
      for (const flag of ["--brokers", "--warehouse", "--catalog", "--commit-interval-ms", "--flush-rows", "--events"]) {
        assert.include(help.output(), flag)
      }
    }))
})
