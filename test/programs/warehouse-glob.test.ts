/**
 * A warehouse path DuckDB would read as a glob pattern (`*`, `?`, `[`) is refused before the
 * program opens it: `read_parquet` of `<root>/a*b/...` also reads the same files of a directory
 * `axb` beside it, and of `<root>/a[x]b/...` only those of `axb`, so queries and compaction would
 * quietly take in another warehouse's rows.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnProgram } from "../support/programs.ts"

const run = (program: "compact" | "query", args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const p = spawnProgram(program, args, env)
    const timer = setTimeout(() => p.child.kill("SIGKILL"), 30_000)
    const code = yield* Effect.promise(() => p.exited)
    clearTimeout(timer)
    return { code, output: p.output() }
  })

describe("a warehouse path with glob characters", () => {
  it.effect("is refused up front, by flag and by K2_WAREHOUSE, naming the characters", () =>
    Effect.gen(function*() {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "k2-glob-"))
      for (const name of ["a*b", "a?b", "a[x]b"]) {
        const dir = path.join(root, name)
        fs.mkdirSync(dir)
        fs.writeFileSync(path.join(dir, "catalog.db"), "")
        const byFlag = yield* run("compact", ["--warehouse", dir, "--dry-run"])
        assert.strictEqual(byFlag.code, 2, byFlag.output)
        assert.include(byFlag.output, "--warehouse")
        assert.include(byFlag.output, "*, ? or [")
        const byEnv = yield* run("query", ["symbols"], { K2_WAREHOUSE: dir })
        assert.strictEqual(byEnv.code, 2, byEnv.output)
        assert.include(byEnv.output, "*, ? or [")
      }
    }), 120_000)
})
