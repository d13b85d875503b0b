/** Replay's `speed`: any plain decimal above 0 the engine paces at, as the CLI's --speed takes it. */
import { assert, describe, it } from "@effect/vitest"
import { BadParam, parsePositiveNumber } from "../../../src/domain/api/params.ts"

describe("parsePositiveNumber", () => {
  it("reads a speed with more than nine places, and says why a refused one is refused", () => {
    assert.strictEqual(parsePositiveNumber("speed", "0.0000000001", 1_000_000), 1e-10)
    assert.strictEqual(parsePositiveNumber("speed", "1000000", 1_000_000), 1_000_000)
    for (const [bad, says] of [["0", "above 0"], ["1000000.5", "at most 1000000"], ["1e3", "plain decimal"], ["-1", "plain decimal"], ["x", "plain decimal"]]) {
      const refused = parsePositiveNumber("speed", bad!, 1_000_000)
      assert.instanceOf(refused, BadParam, bad)
      assert.include((refused as BadParam).detail, says!, bad)
    }
  })
})
