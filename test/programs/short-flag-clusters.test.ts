/**
 * A cluster of short flags (`-ocsv`, getopt's `-o csv`) is a usage error: effect/cli read each
 * letter as a flag, and a `v` among them printed the version and exited 0, the query never run.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { shortFlagCluster } from "../../src/programs/cli/run.ts"
import { spawnProgram } from "../support/programs.ts"

describe("shortFlagCluster", () => {
  it("a cluster of letters, or an attached value, is refused, saying what to write", () => {
    assert.strictEqual(
      shortFlagCluster(["trades", "--from", "2024-01-02", "-ocsv"]),
      "-ocsv: one flag per dash (short flags do not combine, nor take a value attached): write -o csv, or -o -c -s -v"
    )
    assert.include(shortFlagCluster(["-sBHP"]) ?? "", "write -s BHP")
    assert.include(shortFlagCluster(["-xv"]) ?? "", "write -x v, or -x -v")
    assert.include(shortFlagCluster(["-so=BHP"]) ?? "", "-so=BHP")
  })

  it("single short flags, long flags, negative numbers and operands after -- are not clusters", () => {
    for (
      const args of [
        ["-o", "csv", "-s", "BHP", "-v", "-h"],
        ["-o=csv", "--format=csv", "--from", "-1", "--seed", "-5", "--speed", "-.5", "--x", "-2e3"],
        ["trades", "--", "-ocsv"],
        []
      ]
    ) assert.isUndefined(shortFlagCluster(args), args.join(" "))
  })
})

describe("a program given a cluster", () => {
  it.effect("query trades ... -ocsv: exit 2 naming it, not the version and 0", () =>
    Effect.gen(function*() {
      const p = spawnProgram("query", ["trades", "--from", "2024-01-02", "--to", "2024-01-03", "-ocsv"], { K2_WAREHOUSE: "/nonexistent/k2-cluster-test" })
      const code = yield* Effect.promise(() => p.exited)
      assert.strictEqual(code, 2, p.output())
      assert.include(p.output(), "-ocsv: one flag per dash")
      assert.notInclude(p.output(), "v0.1.0")
    }), 60_000)
})
