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

  it("under npm run, npm's copy of a signal sent to the process group (Ctrl-C, timeout) is not a second signal", () => {
    // The terminal signals npm and the program alike, and npm passes the signal on to its child,
    // which is the program (the scripts exec it): the drain was cut short at once, "second signal".
    let clock = 0
    const npm = { running: true, now: () => clock }
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      const signals = new EventEmitter()
      const codes: Array<number> = []
      exitOnSecondSignal(signals, (code) => codes.push(code), undefined, npm)
      signals.emit(signal)
      clock += 5
      signals.emit(signal)
      assert.deepStrictEqual(codes, [], `${signal} and npm's copy of it drain`)
      // A second request later (Ctrl-C again) still ends it at once.
      clock += 2000
      signals.emit(signal)
      assert.deepStrictEqual(codes, [130], `${signal} again`)
    }
    // Another signal right after, or the same one outside npm, is a second request.
    for (const [running, first, second] of [[true, "SIGINT", "SIGTERM"], [false, "SIGINT", "SIGINT"]] as const) {
      const signals = new EventEmitter()
      const codes: Array<number> = []
      exitOnSecondSignal(signals, (code) => codes.push(code), undefined, { running, now: () => clock })
      signals.emit(first)
      signals.emit(second)
      assert.deepStrictEqual(codes, [130], `${first} then ${second}, under npm: ${running}`)
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
