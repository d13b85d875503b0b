/**
 * `npm run replay` in-process, stopped by a signal (Ctrl-C, a job runner's SIGTERM on its timeout)
 * while the catalog and DuckDB are still opening: a replay of a range cut short must not end as a
 * whole one does (README, docs/query.md). test/programs/replay-stopped.test.ts covers the stop
 * once events stream.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option } from "effect"
import { Command } from "effect/cli"
import { vi } from "vitest"
import { DrainRecord, drainRecord, failedDrainOf, programExitCode } from "../../../src/programs/cli/run.ts"
import { replayCommandWith } from "../../../src/programs/replay.ts"
import type { Catalog } from "../../../src/services/Catalog.ts"
import type { ReplayEngine } from "../../../src/services/ReplayEngine.ts"

describe("replay stopped by a signal while the catalog and DuckDB are opening", () => {
  it.effect("a range: nothing on stdout, exit 1 saying so (not 0 without a word, which a script takes for the whole range)", () =>
    Effect.gen(function*() {
      const opening = yield* Deferred.make<void>()
      // Opening that does not finish (a catalog that does not answer, DuckDB starting up).
      const reads = () => Layer.effectContext(Effect.andThen(Deferred.succeed(opening, undefined), Effect.never)) as Layer.Layer<ReplayEngine | Catalog>
      let stdout = ""
      const spies = [
        vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
          stdout += String(chunk)
          return true
        }),
        vi.spyOn(process.stderr, "write").mockImplementation(() => true)
      ]
      const record = drainRecord()
      // Its type asks for KafkaSource, which only --follow and --topic use (and provide): a range needs none.
      const run = Command.runWith(replayCommandWith(reads), { version: "0" })(["--from", "2024-01-02", "--to", "2024-01-03"]) as Effect.Effect<
        void,
        unknown,
        Layer.Success<typeof NodeServices.layer>
      >
      const fiber = yield* run.pipe(
        Effect.provide(NodeServices.layer),
        Effect.provideService(DrainRecord, record),
        Effect.ensuring(Effect.sync(() => spies.forEach((spy) => spy.mockRestore()))),
        Effect.forkChild
      )
      yield* Deferred.await(opening)
      yield* Fiber.interrupt(fiber)
      const exit = yield* Fiber.await(fiber)
      assert.strictEqual(programExitCode(exit, record), 1, String(exit))
      const failed = failedDrainOf(exit, record)
      assert.include(String(Option.isSome(failed) ? (failed.value as { message?: string }).message : undefined), "replay stopped before its end: 0 events written")
      assert.strictEqual(stdout, "")
    }))
})
