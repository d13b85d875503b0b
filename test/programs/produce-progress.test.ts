/**
 * `npm run produce` says how far it is also when stderr is not a terminal (a log file, docker
 * logs, CI): a plain line every few seconds, as ingest and replay do.
 */
import { afterEach, assert, describe, it, vi } from "@effect/vitest"
import { Effect } from "effect"
import { progressBar } from "../../src/programs/produce.ts"

describe("npm run produce, progress", () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it.effect("off a terminal, a line every few seconds (there was none until the end)", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      // The test's stderr is a pipe (isTTY unset), as in a log file or CI.
      vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
        written.push(String(chunk))
        return true
      })
      for (const elapsedMs of [200, 1_000, 5_000, 6_000, 10_000]) yield* progressBar(elapsedMs * 10, elapsedMs, 200_000)
      vi.restoreAllMocks()
      assert.deepStrictEqual(written.map((l) => l.split(",")[0]), ["50000 events", "100000 events"])
      for (const line of written) assert.isTrue(line.endsWith("\n"), JSON.stringify(line))
    }))
})
