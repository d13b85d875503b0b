/** Ctrl-C twice: the first asks for a drain, the second ends the process at once. */
import { EventEmitter } from "node:events"
import { assert, describe, it } from "@effect/vitest"
import { exitOnSecondSignal } from "../../src/programs/cli/run.ts"

describe("a second signal", () => {
  it("exits with 130 on the second SIGINT or SIGTERM, never on the first", () => {
    for (const [first, second] of [["SIGINT", "SIGINT"], ["SIGTERM", "SIGINT"], ["SIGINT", "SIGTERM"]] as const) {
      const signals = new EventEmitter()
      const codes: Array<number> = []
      exitOnSecondSignal(signals, (code) => codes.push(code))
      signals.emit(first)
      assert.deepStrictEqual(codes, [], `${first} alone drains`)
      signals.emit(second)
      assert.deepStrictEqual(codes, [130], `${first} then ${second}`)
    }
  })

  it("says what becomes of unfinished work only where the program says (ingest), not in serve or query", () => {
    const said: Array<string> = []
    const write = process.stderr.write
    process.stderr.write = ((line: string) => (said.push(line), true)) as typeof process.stderr.write
    try {
      for (const afterwards of [undefined, "what was not committed is read again on the next start"]) {
        const signals = new EventEmitter()
        exitOnSecondSignal(signals, () => {}, afterwards)
        signals.emit("SIGTERM")
        signals.emit("SIGTERM")
      }
    } finally {
      process.stderr.write = write
    }
    assert.deepStrictEqual(said, [
      "second signal: stopping without finishing\n",
      "second signal: stopping without finishing; what was not committed is read again on the next start\n"
    ])
  })
})
