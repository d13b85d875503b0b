/**
 * `npm run compact` signalled through npm alone (`kill <npm's pid>`, a supervisor that signals the
 * pid it started): README says the signal is passed on to the program. npm passes it to the
 * process it started, which was `sh -c "... node ..."`: the shell (dash) died of it without passing
 * it on, and the program ran on, orphaned, never stopped (an `--every` compaction, an ingest, for
 * good). The scripts `exec` the program, so npm's child is the program itself.
 */
import { execFileSync, spawn } from "node:child_process"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tables } from "../../src/domain/tables.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { alive, repo } from "../support/programs.ts"
import { tempWarehouse } from "../support/warehouse.ts"

/** Every process below `pid` (Linux `ps`). */
const descendants = (pid: number): Array<number> => {
  let children: Array<number> = []
  try {
    children = execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
      .split("\n").map((s) => Number(s.trim())).filter((n) => n > 0)
  } catch { /* none */ }
  return children.flatMap((c) => [c, ...descendants(c)])
}

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

describe("npm run <program> and a signal to npm alone", () => {
  it.live("SIGTERM to npm's pid reaches `compact --every`, which ends: no program left running", () =>
    Effect.gen(function*() {
      const dir = tempWarehouse()
      const options: Lakehouse.LakehouseOptions = { warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }
      yield* Effect.gen(function*() {
        yield* (yield* IcebergSink).ensureTable(tables.trades)
      }).pipe(Effect.provide(Lakehouse.layer(options)))

      const npm = spawn("npm", ["run", "--silent", "compact", "--", "--warehouse", dir, "--tables", "market_data.trades", "--every", "3600"], {
        cwd: repo,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let out = ""
      npm.stdout.on("data", (d) => void (out += d))
      npm.stderr.on("data", (d) => void (out += d))
      // "exit", not "close": a program left running holds npm's pipes open.
      const exited = new Promise<void>((resolve) => npm.on("exit", () => resolve()))
      // The first run is done: the program is up, sleeping until the next.
      while (!out.includes("maintenance done") && npm.exitCode === null) yield* sleep(50)
      assert.include(out, "maintenance done")
      const below = descendants(npm.pid!)
      assert.isAbove(below.length, 0)
      try {
        process.kill(npm.pid!, "SIGTERM")
        yield* Effect.promise(() => exited)
        // `--every` ends on a signal at once (it was asleep): allow it generous time to exit.
        for (let i = 0; i < 300 && below.some(alive); i++) yield* sleep(100)
        assert.deepStrictEqual(below.filter(alive), [], `still running after npm was signalled: ${below.filter(alive).join(", ")}`)
      } finally {
        for (const pid of below.filter(alive)) process.kill(pid, "SIGKILL")
      }
    }), 90_000)
})
