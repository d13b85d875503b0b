/**
 * `npm run compact --every` in-process: each run opens DuckDB and closes it before waiting for the
 * next, so the idle process holds none of DuckDB's memory (kept open, it held 660-835 MB between
 * runs, docs/operations.md); a run that fails is reported, and the next one runs.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { DuckDBInstance } from "@duckdb/node-api"
import { assert, describe, it } from "@effect/vitest"
import { Console, Effect, Fiber } from "effect"
import { Command } from "effect/cli"
import { TestClock } from "effect/testing"
import { vi } from "vitest"
import { compactCommand } from "../../src/programs/compact.ts"
import { tradesWarehouse } from "../support/warehouse.ts"

describe("npm run compact --every", () => {
  it.effect("DuckDB is closed after each run, a failed one too, and the next run opens its own", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse(10)
      // What happened, in order: DuckDB opened and closed, and each run's failure of the missing table.
      const events: Array<string> = []
      const create = DuckDBInstance.create
      const closeSync = DuckDBInstance.prototype.closeSync
      const spies = [
        vi.spyOn(DuckDBInstance, "create").mockImplementation((...args) => {
          events.push("open")
          return create.apply(DuckDBInstance, args)
        }),
        vi.spyOn(DuckDBInstance.prototype, "closeSync").mockImplementation(function(this: DuckDBInstance) {
          events.push("close")
          closeSync.call(this)
        })
      ]
      yield* Effect.addFinalizer(() => Effect.sync(() => spies.forEach((spy) => spy.mockRestore())))
      const console: Console.Console = Object.assign(Object.create(globalThis.console), {
        log: () => {},
        error: (text: string) => void (String(text).startsWith("market_data.nope failed") && events.push("failed"))
      })
      // A table named and missing: every run fails after maintaining the other.
      const fiber = yield* Command.runWith(compactCommand, { version: "0" })(
        ["--warehouse", dir, "--tables", "market_data.trades,market_data.nope", "--every", "600"]
      ).pipe(Effect.provide(NodeServices.layer), Effect.provideService(Console.Console, console), Effect.forkChild)
      // Each run reads and writes files for real: the clock moves on until the second run is done.
      while (events.filter((e) => e === "close").length < 2) {
        yield* TestClock.adjust("600 seconds")
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
      }
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(events.slice(0, 6), ["open", "failed", "close", "open", "failed", "close"])
    }), 60_000)
})
