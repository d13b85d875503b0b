/**
 * `--help` of every program prints its help and touches nothing: no warehouse, catalog or
 * connection is made for it.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnProgram } from "../support/programs.ts"

describe("--help", () => {
  for (const [program, args] of [["query", []], ["query", ["bars"]], ["replay", []], ["compact", []], ["serve", []]] as const) {
    it.effect(`${program} ${args.join(" ")} --help creates no warehouse`, () =>
      Effect.gen(function*() {
        const warehouse = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "k2-help-")), "warehouse")
        const run = spawnProgram(program, [...args, "--help"], { K2_WAREHOUSE: warehouse })
        assert.strictEqual(yield* Effect.promise(() => run.exited), 0, run.output())
        assert.include(run.output(), "USAGE")
        assert.isFalse(fs.existsSync(warehouse), `${program} --help made ${warehouse}`)
      }))
  }
})
