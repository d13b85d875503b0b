/**
 * `npm run ingest` refuses bad options before it starts: the help and what is wrong, exit code 2,
 * whether the value comes from a flag or from its environment variable.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnProgram } from "../support/programs.ts"

const refused = (args: ReadonlyArray<string>, says: string, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const run = spawnProgram("ingest", [...args], env)
    assert.strictEqual(yield* Effect.promise(() => run.exited), 2, run.output())
    assert.include(run.output(), says)
  })

describe("npm run ingest, bad options", () => {
  it.effect("no partitions", () => refused(["--partitions", "0"], "Invalid value for flag --partitions"))

  it.effect("a flush of no rows", () => refused(["--flush-rows", "0"], "Invalid value for flag --flush-rows"))

  it.effect("a metrics port out of range, from the environment", () =>
    refused([], "Invalid value for flag --metrics-port", { K2_METRICS_PORT: "70000" }))

  it.effect("sequence tracker settings from the environment are read and checked", () =>
    Effect.gen(function*() {
      yield* refused([], "K2_SEQUENCE_CAPACITY", { K2_SEQUENCE_CAPACITY: "0" })
      yield* refused([], "K2_SEQUENCE_ZONES", { K2_SEQUENCE_ZONES: "ASX=Mars/Olympus" })
    }))

  it.effect("--help names each option's environment variable and default", () =>
    Effect.gen(function*() {
      const run = spawnProgram("ingest", ["--help"])
      assert.strictEqual(yield* Effect.promise(() => run.exited), 0, run.output())
      assert.include(run.output(), "(env K2_FLUSH_ROWS; default 15000)")
    }))
})
