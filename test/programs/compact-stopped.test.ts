/**
 * `npm run compact` (a single run) stopped by a signal (a job runner's SIGTERM on its timeout, a
 * container stopped) before its end: not every table was maintained, so it must not end as a whole
 * run does. It exited 0 without a word, and a cron job took it for done. `--every` ends on a signal: 0.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { Console, Effect, Fiber, Option } from "effect"
import { Command } from "effect/cli"
import { DrainRecord, drainRecord, programExitCode } from "../../src/programs/cli/run.ts"
import { compactCommand } from "../../src/programs/compact.ts"
import { tradesWarehouse } from "../support/warehouse.ts"

/** Runs compact with `args`, interrupted (as a signal does) as it prints the report of market_data.trades. */
const stoppedAfterTrades = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const dir = yield* tradesWarehouse(10)
    const record = drainRecord()
    let fiber: Fiber.Fiber<unknown, unknown> | undefined
    let printed = ""
    const console: Console.Console = Object.assign(Object.create(globalThis.console), {
      log: (text: unknown) => {
        printed += `${String(text)}\n`
        // The first table is done: the signal comes before the next one is.
        if (String(text).startsWith("market_data.trades")) fiber?.interruptUnsafe()
      },
      error: () => {}
    })
    fiber = yield* Command.runWith(compactCommand, { version: "0" })(
      ["--warehouse", dir, "--tables", "market_data.trades,market_data.quotes", "--skip-compaction", "--skip-orphans", ...args]
    ).pipe(Effect.provide(NodeServices.layer), Effect.provideService(Console.Console, console), Effect.provideService(DrainRecord, record), Effect.forkChild)
    const exit = yield* Fiber.await(fiber)
    // The runner is handed the interruption alone: the stop's failure is in the run's record.
    const failure = Option.getOrUndefined(record.failure) as { message?: string } | undefined
    return { code: programExitCode(exit, record), printed, message: String(failure?.message) }
  })

describe("npm run compact, stopped by a signal", () => {
  it.effect("a single run stopped before its end exits 1, naming the tables it was done with and the ones it was not", () =>
    Effect.gen(function*() {
      const { code, message, printed } = yield* stoppedAfterTrades([])
      assert.strictEqual(code, 1, printed)
      assert.include(message, "compact stopped before its end: done with market_data.trades; cut short at market_data.quotes")
      assert.notInclude(printed, "maintenance done")
    }), 60_000)

  it.effect("--every ends on a signal: exit 0", () =>
    Effect.gen(function*() {
      const { code } = yield* stoppedAfterTrades(["--every", "600"])
      assert.strictEqual(code, 0)
    }), 60_000)
})
