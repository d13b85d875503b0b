/**
 * `npm run bench -- --help` lists every K2_BENCH_* variable a section reads, and a value that is
 * not a count stops the run naming the variable (it measured NaN events before). `-h` is help too,
 * and any other option is refused: both were dropped, and the run went on to every section (hours).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { repo, spawnNode } from "../support/programs.ts"

const bench = path.join(repo, "bench")

describe("bench settings", () => {
  it.effect("--help lists every variable the sections read", () =>
    Effect.gen(function*() {
      const read = new Set(
        fs.readdirSync(bench).filter((f) => f.endsWith(".ts") && f !== "settings.ts")
          .flatMap((f) => [...fs.readFileSync(path.join(bench, f), "utf8").matchAll(/\bK2_BENCH_[A-Z_]+/g)].map((m) => m[0]))
      )
      assert.isAbove(read.size, 10)
      const run = spawnNode(["--disable-warning=ExperimentalWarning", path.join(bench, "run.ts"), "--help"], {})
      assert.strictEqual(yield* Effect.promise(() => run.exited), 0, run.output())
      for (const name of read) assert.include(run.output(), name)
    }))

  it.effect("a value that is not a count is refused with the variable named", () =>
    Effect.gen(function*() {
      const run = spawnNode(["--disable-warning=ExperimentalWarning", path.join(bench, "run.ts"), "feeds"], { K2_BENCH_FEED_EVENTS: "1e6" })
      assert.strictEqual(yield* Effect.promise(() => run.exited), 2, run.output())
      assert.include(run.output(), `K2_BENCH_FEED_EVENTS="1e6": expected a whole number`)
      assert.notInclude(run.output(), "events/s")
    }))

  // A small section named beside the option, so that a run that ignores the option ends soon.
  const small = { K2_BENCH_FEED_EVENTS: "1000" }

  it.effect("-h prints the help and runs nothing", () =>
    Effect.gen(function*() {
      const run = spawnNode(["--disable-warning=ExperimentalWarning", path.join(bench, "run.ts"), "feeds", "-h"], small)
      assert.strictEqual(yield* Effect.promise(() => run.exited), 0, run.output())
      assert.include(run.output(), "usage: npm run bench")
      assert.notInclude(run.output(), "## ")
    }))

  it.effect("an option it does not know is refused with the usage, and nothing is run", () =>
    Effect.gen(function*() {
      const run = spawnNode(["--disable-warning=ExperimentalWarning", path.join(bench, "run.ts"), "feeds", "--quick"], small)
      assert.strictEqual(yield* Effect.promise(() => run.exited), 2, run.output())
      assert.include(run.output(), "unknown option --quick")
      assert.include(run.output(), "usage: npm run bench")
      assert.notInclude(run.output(), "## ")
    }))
})
