/**
 * `--log-level`, which every program's `--help` lists among its global flags, sets the level:
 * the program's logger set its own (K2_LOG_LEVEL, else info) beneath the CLI's, so the flag was
 * ignored. As for every flag, it wins over its variable.
 */
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnProgram } from "../support/programs.ts"
import { tempWarehouse } from "../support/warehouse.ts"

// A warning logged as the program's telemetry starts, before compact refuses the missing warehouse (exit 1).
const warning = "traces are not exported"
const compact = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const p = spawnProgram("compact", ["--warehouse", path.join(tempWarehouse(), "missing"), ...args], {
      OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://collector",
      ...env
    })
    const code = yield* Effect.promise(() => p.exited)
    assert.strictEqual(code, 1, p.output())
    return p.output()
  })

describe.concurrent("--log-level", () => {
  it.effect("below the level given, nothing is logged (the warning was written all the same)", () =>
    Effect.gen(function*() {
      assert.include(yield* compact([]), warning)
      assert.notInclude(yield* compact(["--log-level", "error"]), warning)
    }), 60_000)

  it.effect("the flag wins over K2_LOG_LEVEL, as every flag over its variable", () =>
    Effect.gen(function*() {
      assert.notInclude(yield* compact([], { K2_LOG_LEVEL: "error" }), warning)
      assert.include(yield* compact(["--log-level=warn"], { K2_LOG_LEVEL: "error" }), warning)
    }), 60_000)
})
