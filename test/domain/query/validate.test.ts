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

describe("checkDate", () => {
  // Date.UTC reads years 0-99 as 1900-1999: 0050-01-02 was refused as "not a date yyyy-mm-dd", which it is.
  it("refuses a date outside the years K2 holds by its range, not as no date", () => {
    for (const text of ["0050-01-02", "0000-01-01", "0099-12-31", "1899-12-31", "2200-01-01", "9999-12-31"]) {
      const message = messageOf(checkDate("fromDay", text))
      assert.include(message, "outside the years 1900-2199", text)
      assert.notInclude(message, "is not a date", text)
    }
    // Not a date at all: said so.
    for (const text of ["2023-02-29", "2024-13-01", "2024-1-1", "20240101", "0050-02-29"]) {
      assert.include(messageOf(checkDate("fromDay", text)), "is not a date yyyy-mm-dd", text)
    }
    assert.deepStrictEqual(checkDate("d", "1900-01-01"), Result.succeed(-25567))
    assert.deepStrictEqual(checkDate("d", "2199-12-31"), Result.succeed(84005))
    assert.deepStrictEqual(checkDate("d", "2024-02-29"), Result.succeed(19782))
  })
})
