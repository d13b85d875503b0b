/**
 * `serve` stopped by a signal while the catalog and DuckDB are still opening (a PostgreSQL catalog
 * that is slow to answer): it exited 0 without a word, as if it had served and drained.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Logger } from "effect"
import { drainRecord, programExitCode } from "../../src/programs/cli/run.ts"
import { serveOpening } from "../../src/programs/cli/serveOpening.ts"

describe("serve, stopped while opening", () => {
  it.effect("says it stopped before it was ready; the stop it was asked for is still exit 0", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      let opening = false
      const neverOpens = Layer.effectDiscard(Effect.andThen(Effect.sync(() => void (opening = true)), Effect.never))
      const fiber = yield* Effect.forkChild(Effect.scoped(Layer.build(serveOpening(neverOpens))).pipe(Effect.provide(Logger.layer([capture]))))
      while (!opening) yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(programExitCode(exit, drainRecord()), 0)
      assert.strictEqual(logged.length, 1, logged.join("; "))
      assert.include(logged[0], "stopped before it was ready")
      assert.include(logged[0], "catalog and DuckDB")
    }))

  it.effect("opened, it says nothing", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push(String(message)))
      yield* Effect.scoped(Layer.build(serveOpening(Layer.empty))).pipe(Effect.provide(Logger.layer([capture])))
      assert.deepStrictEqual(logged, [])
    }))
})
