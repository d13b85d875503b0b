/**
 * A flag's value that begins with "-" (`--symbols -X`, `--speed -1`), in every program, in-process
 * as run.ts runs it. effect/cli's lexer does not know which flags take a value: it read `-X` as
 * flags ("Unrecognized flag", exit 2), and `--symbols -v` or `--fields -h` printed the version or
 * the help and exited 0, nothing run, a script taking that for a run.
 */
import { assert, describe, it } from "@effect/vitest"
import { CliError } from "effect/cli"
import { Effect, Exit, Layer, Option } from "effect"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import * as QueryLayer from "../../src/layers/query/engine.ts"
import { UsageError } from "../../src/programs/cli/common.ts"
import { attachDashValues, drainRecord, programExitCode, runWithArgs } from "../../src/programs/cli/run.ts"
import { compactCommand } from "../../src/programs/compact.ts"
import { ingestCommand } from "../../src/programs/ingest.ts"
import { produceCommand } from "../../src/programs/produce.ts"
import { queryCommand } from "../../src/programs/query.ts"
import { replayCommand } from "../../src/programs/replay.ts"
import { serveCommand } from "../../src/programs/serve.ts"
import { capturedCommand } from "../support/capturedCommand.ts"
import { tempDir } from "../support/tempDir.ts"

/** `query` over an empty in-memory catalog, its data files in `dir`. */
const queryOver = (dir: string) =>
  queryCommand(() => QueryLayer.layer().pipe(Layer.provideMerge(Lakehouse.layer({ warehouse: dir, catalog: { _tag: "memory" } }))))

type AnyCommand = Parameters<typeof runWithArgs>[0]

/** How `args` end: the exit code run.ts gives, what is said of the failure, and stdout. */
const outcome = (command: AnyCommand, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const run = yield* capturedCommand(runWithArgs(command, args) as Effect.Effect<void, unknown, never>)
    const error = Exit.isFailure(run.exit) ? Option.getOrUndefined(Exit.findErrorOption(run.exit)) : undefined
    const said = error instanceof UsageError
      ? error.message
      : CliError.isCliError(error) && error._tag === "ShowHelp"
      ? error.errors.map((e) => e.message).join("\n")
      : String(error)
    return { code: programExitCode(run.exit, drainRecord()), said, stdout: run.stdout }
  })

const day = ["--from", "2024-01-02", "--to", "2024-01-03"]

describe("attachDashValues", () => {
  it("a value beginning with - is attached to its flag; a long flag of the program, a boolean flag's neighbour, operands after -- are not", () => {
    const query = queryOver("/nonexistent")
    assert.deepStrictEqual(attachDashValues(query, ["trades", "--symbols", "-X", "-s", "-v", "--fields", "-h"]), ["trades", "--symbols=-X", "-s=-v", "--fields=-h"])
    assert.deepStrictEqual(attachDashValues(query, ["trades", "--symbols", "--help"]), ["trades", "--symbols", "--help"])
    assert.deepStrictEqual(attachDashValues(query, ["trades", "--symbols", "--fields=price"]), ["trades", "--symbols", "--fields=price"])
    assert.deepStrictEqual(attachDashValues(query, ["trades", "--symbols", "--", "-X"]), ["trades", "--symbols", "--", "-X"])
    assert.deepStrictEqual(attachDashValues(query, ["--log-level", "-x", "trades", "--limit", "-5"]), ["--log-level=-x", "trades", "--limit=-5"])
    assert.deepStrictEqual(attachDashValues(query, ["trades", "-o", "-v"]), ["trades", "-o=-v"])
    assert.deepStrictEqual(attachDashValues(replayCommand, ["--follow", "-v", "--symbols", "-X"]), ["--follow", "-v", "--symbols=-X"])
    for (const [command, flag] of [[ingestCommand, "--warehouse"], [serveCommand, "--host"], [compactCommand, "--tables"], [produceCommand, "--brokers"]] as const) {
      assert.deepStrictEqual(attachDashValues(command, [flag, "-x"]), [`${flag}=-x`], flag)
      assert.deepStrictEqual(attachDashValues(command, [flag, "--help"]), [flag, "--help"], flag)
    }
  })
})

describe("a value beginning with -, in every program", () => {
  it.effect("query: --symbols -X is the symbol -X (it runs: symbols answers), --symbols -v and --fields -h are refused naming them, not the version or help and 0", () =>
    Effect.gen(function*() {
      const query = queryOver(yield* tempDir("k2-dash-values-"))
      const symbol = yield* outcome(query, ["symbols", "--symbols", "-X", "-o", "csv"])
      assert.strictEqual(symbol.code, 0, symbol.said)
      assert.match(symbol.stdout, /^symbol,/)
      const version = yield* outcome(query, ["trades", ...day, "--symbols", "-v"])
      assert.strictEqual(version.code, 2, version.said)
      assert.include(version.said, "--symbols")
      const help = yield* outcome(query, ["trades", ...day, "--fields", "-h"])
      assert.strictEqual(help.code, 2, help.said)
      assert.include(help.said, "-h")
      const limit = yield* outcome(query, ["trades", ...day, "--limit", "-5"])
      assert.strictEqual(limit.code, 2, limit.said)
      assert.include(limit.said, "limit")
      assert.notInclude(limit.said, "Unrecognized")
      const asked = yield* outcome(query, ["trades", ...day, "--symbols", "--help"])
      assert.strictEqual(asked.code, 0, "a long flag after it is still that flag: the help")
    }))

  it.effect("ingest, serve, replay, compact, produce: a number flag given -v or a negative number is refused naming it (exit 2)", () =>
    Effect.gen(function*() {
      const warehouse = yield* tempDir("k2-dash-values-")
      const cases: ReadonlyArray<readonly [AnyCommand, ReadonlyArray<string>, string]> = [
        [ingestCommand, ["--warehouse", warehouse], "--flush-rows"],
        [serveCommand, ["--warehouse", warehouse], "--port"],
        [replayCommand, ["--warehouse", warehouse, ...day], "--speed"],
        [compactCommand, ["--warehouse", warehouse], "--retain-last"],
        [produceCommand, ["--brokers", "127.0.0.1:1"], "--days"]
      ]
      for (const [command, base, flag] of cases) {
        for (const value of ["-v", "-h", "-1"]) {
          const r = yield* outcome(command, [...base, flag, value])
          assert.strictEqual(r.code, 2, `${flag} ${value}: ${r.said}`)
          assert.include(r.said, flag.slice(2), `${flag} ${value}`)
          assert.notInclude(r.said, "Unrecognized", `${flag} ${value}`)
        }
      }
    }))
})
