/** A refused argument is named in the message, cut short: a message never repeats a megabyte of input. */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { checkDate, checkDecimal, checkFields, checkSymbols, MAX_SYMBOLS } from "../../../src/domain/query/validate.ts"

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

describe("accepted arguments", () => {
  it("a field list comes back in the table's column order, each once", () => {
    assert.deepStrictEqual(checkFields(["price", "symbol", "price"], ["symbol", "exchange", "price"]), Result.succeed(["symbol", "price"]))
  })

  it("takes exactly the most symbols allowed, sorted and without repeats", () => {
    const symbols = Array.from({ length: MAX_SYMBOLS }, (_, i) => `S${i}`)
    const checked = checkSymbols(symbols)
    assert.isTrue(Result.isSuccess(checked))
    assert.strictEqual(Result.isSuccess(checked) ? checked.success.length : 0, MAX_SYMBOLS)
    assert.isTrue(Result.isFailure(checkSymbols([...symbols, "EXTRA"])))
    assert.deepStrictEqual(checkSymbols(["CBA", "BHP", "CBA"]), Result.succeed(["BHP", "CBA"]))
  })
})
