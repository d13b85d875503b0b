/**
 * `npm run compact` told to do nothing: every step skipped, or `--dry-run` (no compaction, no
 * expiry) with `--skip-orphans`. It printed each table's name and exited 0, as if maintained
 * (under --every, forever): a cron line that looks fine and never does anything. Refused (exit 2),
 * before the warehouse is touched. Read in-process, as test/programs/ingest-options.test.ts does.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Option } from "effect"
import { Command } from "effect/cli"
import { UsageError } from "../../src/programs/cli/common.ts"
import { compactCommand } from "../../src/programs/compact.ts"

/** What `args` end with: the usage error, or the error of the run past the options (no warehouse). */
const outcome = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const warehouse = fs.mkdtempSync(path.join(os.tmpdir(), "k2-compact-nothing-"))
    const exit = yield* Command.runWith(compactCommand, { version: "0" })(["--warehouse", warehouse, ...args]).pipe(
      Effect.provide(Layer.merge(NodeServices.layer, ConfigProvider.layer(ConfigProvider.fromEnvRecord({})))),
      Effect.exit
    )
    assert.deepStrictEqual(fs.readdirSync(warehouse), [], "the warehouse is untouched")
    return Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
  })

describe("npm run compact, nothing left to do", () => {
  for (
    const args of [
      ["--skip-compaction", "--skip-expiry", "--skip-orphans"],
      ["--dry-run", "--skip-orphans"],
      ["--dry-run", "--skip-orphans", "--every", "60"]
    ]
  ) {
    it.effect(`${args.join(" ")} is refused`, () =>
      Effect.gen(function*() {
        const error = yield* outcome(args)
        assert.instanceOf(error, UsageError, String(error))
        assert.include((error as UsageError).message, "nothing to do")
      }), 30_000)
  }

  it.effect("one step left is not refused (the run goes on to find no warehouse)", () =>
    Effect.gen(function*() {
      for (const args of [["--skip-compaction", "--skip-expiry"], ["--dry-run"], ["--skip-orphans", "--skip-expiry"]]) {
        const error = yield* outcome(args)
        assert.notInstanceOf(error, UsageError, String(error))
        assert.include(String(error), "no warehouse at")
      }
    }), 30_000)
})

/**
 * A flag of a step the run does not take, given: `--dry-run` neither compacts nor expires, yet
 * took --target-file-size-mb, --expire-older-than-hours and --retain-last without a word, as
 * --skip-compaction took the compaction's and --skip-expiry the expiry's (--skip-orphans the
 * orphans'): a command line that reads as a setting and sets nothing. Refused, naming them, as
 * ingest refuses a flag of its other mode (test/programs/ingest-options.test.ts).
 */
describe("npm run compact, a flag of a step not taken", () => {
  for (
    const [args, named, because] of [
      [["--dry-run", "--target-file-size-mb", "64"], "--target-file-size-mb: ", "--dry-run"],
      [["--dry-run", "--expire-older-than-hours", "1", "--retain-last", "3"], "--expire-older-than-hours, --retain-last: ", "--dry-run"],
      [["--dry-run", "--target-file-size-mb", "64", "--retain-last", "3"], "--retain-last, --target-file-size-mb: ", "--dry-run"],
      [["--skip-compaction", "--target-file-size-mb", "64"], "--target-file-size-mb: ", "--skip-compaction"],
      [["--skip-expiry", "--expire-older-than-hours", "1"], "--expire-older-than-hours: ", "--skip-expiry"],
      [["--skip-expiry", "--retain-last", "3"], "--retain-last: ", "--skip-expiry"],
      [["--skip-orphans", "--orphan-grace-hours", "48"], "--orphan-grace-hours: ", "--skip-orphans"],
      [["--skip-orphans", "--orphan-grace-hours", "0.5", "--allow-short-orphan-grace"], "--allow-short-orphan-grace, --orphan-grace-hours: ", "--skip-orphans"],
      // A flag's default given as a value is still given.
      [["--skip-compaction", "--target-file-size-mb", "128"], "--target-file-size-mb: ", "--skip-compaction"],
      [["--skip-compaction", "--skip-expiry", "--target-file-size-mb", "64", "--retain-last", "2"], "--retain-last, --target-file-size-mb: ", "--skip-expiry"]
    ] as const
  ) {
    it.effect(`${args.join(" ")} is refused`, () =>
      Effect.gen(function*() {
        const error = yield* outcome(args)
        assert.instanceOf(error, UsageError, String(error))
        const message = (error as UsageError).message
        assert.include(message, named, message)
        assert.include(message, because, message)
      }), 30_000)
  }

  it.effect("a step's flags with the step taken are not refused (the run goes on to find no warehouse)", () =>
    Effect.gen(function*() {
      for (
        const args of [
          ["--dry-run", "--orphan-grace-hours", "2"],
          ["--skip-expiry", "--target-file-size-mb", "64"],
          ["--skip-compaction", "--expire-older-than-hours", "1", "--retain-last", "3"],
          ["--skip-orphans", "--target-file-size-mb", "64", "--retain-last", "3"],
          ["--target-file-size-mb", "64", "--expire-older-than-hours", "1", "--retain-last", "3", "--orphan-grace-hours", "48"]
        ]
      ) {
        const error = yield* outcome(args)
        assert.notInstanceOf(error, UsageError, String(error))
        assert.include(String(error), "no warehouse at")
      }
    }), 30_000)
})
