/**
 * `npm run replay | head`: a reader that stops early ends the replay quietly, exit 0, as a tool
 * killed by SIGPIPE would; before, Node printed an unhandled EPIPE error.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnProgram } from "../support/programs.ts"
import { warehouseOptions } from "../support/warehouse.ts"

describe("npm run replay", () => {
  it.effect("a reader that closes stdout early ends it quietly, exit 0", () =>
    Effect.gen(function*() {
      const { warehouse } = warehouseOptions("sqlite")
      const ingest = spawnProgram("ingest", ["--warehouse", warehouse, "--events", "2000", "--partitions", "3"])
      assert.strictEqual(yield* Effect.promise(() => ingest.exited), 0, ingest.output())
      const replay = spawnProgram("replay", ["--from", "2024-01-01T00:00:00Z", "--to", "2024-01-03T00:00:00Z"], { K2_WAREHOUSE: warehouse })
      // Like `head -1`: read the first chunk, then close the pipe.
      yield* Effect.promise(() => new Promise<void>((resolve) => replay.child.stdout!.once("data", () => resolve())))
      replay.child.stdout!.destroy()
      assert.strictEqual(yield* Effect.promise(() => replay.exited), 0, replay.output())
      assert.notInclude(replay.output(), "EPIPE")
    }), { timeout: 120_000 })
})
