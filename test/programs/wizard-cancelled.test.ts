/**
 * `--wizard` (effect/cli's interactive mode) whose input ends before it is done (stdin closed,
 * `</dev/null`, Ctrl-D) ran nothing, yet exited 0: a script took the cancelled run for one that
 * succeeded. It exits 130, as a cancelled prompt does, and says so.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnProgram } from "../support/programs.ts"

describe.concurrent("--wizard cancelled by the end of its input", () => {
  // One program with subcommands, one without: every program runs through runCommand.
  for (const [program, args] of [["query", []], ["compact", []]] as const) {
    it.effect(`${program} --wizard </dev/null exits 130`, () =>
      Effect.gen(function*() {
        // spawnProgram's stdin is /dev/null.
        const run = spawnProgram(program, [...args, "--wizard"])
        assert.strictEqual(yield* Effect.promise(() => run.exited), 130, run.output())
        assert.include(run.output(), "wizard cancelled: nothing was run")
      }), 30_000)
  }
})
