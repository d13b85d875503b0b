/** A refused argument is named in the message, cut short: a message never repeats a megabyte of input. */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { checkDate, checkDecimal, checkFields, checkSymbols } from "../../../src/domain/query/validate.ts"

const messageOf = <A>(result: Result.Result<A, { readonly message: string }>) => {
  assert.isTrue(Result.isFailure(result))
  return Result.isFailure(result) ? result.failure.message : ""
}

describe("refused arguments in messages", () => {
  it("a long decimal, date, symbol or field list is shown by its start, not whole", () => {
    const long = "9".repeat(100_000)
    for (const message of [
      messageOf(checkDecimal("price max", long)),
      messageOf(checkDate("from_day", long)),
      messageOf(checkSymbols([long])),
      messageOf(checkFields(Array.from({ length: 10_000 }, (_, i) => `${long.slice(0, 50)}${i}`), ["price"]))
    ]) {
      assert.include(message, "9".repeat(40))
      assert.isBelow(message.length, 400, message.slice(0, 500))
    }
    // What they were refused for is still said.
    assert.include(messageOf(checkDecimal("price max", long)), "is not a decimal with at most 10 integer digits and 8 places")
    assert.include(messageOf(checkFields(["a", "b"], ["price"])), "unknown a, b; known: price")
  })
})
