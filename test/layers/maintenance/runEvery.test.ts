/**
 * `runEvery` (an ingest's --maintain-every and --expire-every): a table not there yet (the ingest
 * creates its tables as it starts, beside the first run) is skipped as `compact` skips it, not
 * reported as three failed steps; a table that is there is maintained on every run.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Logger } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as MaintenanceLayer from "../../../src/layers/maintenance/maintenance.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { maintainedLakehouse } from "../../support/warehouse.ts"

describe("Maintenance.runEvery", () => {
  it.effect("a table not created yet is skipped with a note, not warned about as failed steps; the others are maintained", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      for (let i = 0; i < 3; i++) yield* sink.append(tables.trades, tradeColumns(makeTrades({ count: 20, offsetBase: i * 20 })))
      const logged: Array<{ level: string; text: string }> = []
      const capture = Logger.make(({ logLevel, message }) =>
        void logged.push({ level: logLevel, text: (Array.isArray(message) ? message : [message]).map(String).join(" ") }))
      const fiber = yield* MaintenanceLayer.runEvery(
        [{ namespace: "market_data", name: "quotes" }, { namespace: "market_data", name: "trades" }],
        "60 seconds",
        { orphans: false }
      ).pipe(Effect.provide(Logger.layer([capture])), Effect.forkChild)
      while (!logged.some((l) => l.text.startsWith("market_data.trades"))) {
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
      }
      yield* Fiber.interrupt(fiber)
      const quotes = logged.filter((l) => l.text.includes("market_data.quotes"))
      assert.deepStrictEqual(quotes.filter((l) => l.level !== "Info"), [], JSON.stringify(quotes))
      assert.isTrue(quotes.some((l) => l.text.includes("skipped")), JSON.stringify(quotes))
      assert.isTrue(logged.some((l) => l.text.startsWith("market_data.trades") && l.text.includes("(1 partition rewritten)")), JSON.stringify(logged))
    }).pipe(Effect.provide(maintainedLakehouse())), 60_000)
})
