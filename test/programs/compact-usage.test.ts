/**
 * `npm run compact` as a user gets it wrong: a period of no time, a table name that is not
 * namespace.name or not there, a warehouse that is not there; and what `--dry-run` promises.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnProgram } from "../support/programs.ts"
import { tempWarehouse, tradesWarehouse } from "../support/warehouse.ts"


/** Its exit code and output; one still running after `ms` is killed and counts as null. */
const compact = (args: ReadonlyArray<string>, ms = 30_000) =>
  Effect.gen(function*() {
    const p = spawnProgram("compact", args)
    const timer = setTimeout(() => p.child.kill("SIGKILL"), ms)
    const code = yield* Effect.promise(() => p.exited)
    clearTimeout(timer)
    return { code: p.child.signalCode === "SIGKILL" ? null : code, output: p.output() }
  })

describe.concurrent("npm run compact, bad options", () => {
  it.effect("--every 0 or below is refused (it ran maintenance back to back without end)", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse()
      for (const every of ["0", "-5"]) {
        const r = yield* compact(["--warehouse", dir, "--every", every], 15_000)
        assert.strictEqual(r.code, 2, r.output)
        assert.include(r.output, "Invalid value for flag --every")
      }
    }), 60_000)

  it.effect("a table that is not namespace.name is refused; one named and missing fails the run", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse()
      const bare = yield* compact(["--warehouse", dir, "--tables", "trades"])
      assert.strictEqual(bare.code, 2, bare.output)
      assert.include(bare.output, `--tables: "trades" is not namespace.name`)
      const missing = yield* compact(["--warehouse", dir, "--tables", "market_data.trades,market_data.tradez"])
      assert.strictEqual(missing.code, 1, missing.output)
      assert.include(missing.output, "market_data.tradez failed: no such table")
      assert.include(missing.output, "files              1 -> 1", "the table that is there was maintained")
    }), 60_000)

  it.effect("a warehouse that does not exist is refused, and not made", () =>
    Effect.gen(function*() {
      const missing = path.join(tempWarehouse(), "typo")
      const r = yield* compact(["--warehouse", missing])
      assert.strictEqual(r.code, 1, r.output)
      assert.include(r.output, `no warehouse at ${missing}`)
      assert.isFalse(fs.existsSync(missing))
    }), 60_000)
})

describe.concurrent("npm run compact --dry-run", () => {
  it.effect("lists each orphan file it would remove, and removes none", () =>
    Effect.gen(function*() {
      const dir = yield* tradesWarehouse()
      const stray = path.join(dir, "market_data", "trades", "data", "stray.parquet")
      fs.writeFileSync(stray, "not referenced")
      const old = new Date(Date.now() - 3 * 86_400_000)
      fs.utimesSync(stray, old, old)
      const r = yield* compact(["--warehouse", dir, "--tables", "market_data.trades", "--dry-run"])
      assert.strictEqual(r.code, 0, r.output)
      assert.include(r.output, "1 would be removed")
      assert.include(r.output, stray)
      assert.isTrue(fs.existsSync(stray))
    }), 60_000)
})
