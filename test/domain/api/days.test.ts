/** Summary's days are dates, yyyy-mm-dd only: an instant names no exchange-local day. */
import { assert, describe, it } from "@effect/vitest"
import { BadParam, parseDate, parseInstant } from "../../../src/domain/api/params.ts"

describe("parseDate", () => {
  it("reads yyyy-mm-dd as its midnight UTC, and refuses instants and impossible dates by name", () => {
    assert.strictEqual(parseDate("from_day", "2024-02-29"), Date.UTC(2024, 1, 29) * 1000)
    assert.strictEqual(parseDate("from_day", "1900-01-01"), Date.UTC(1900, 0, 1) * 1000)
    for (const bad of ["0", "12345678", "1704067200000000", "2024-01-01T00:00Z", "2024-01-01T00:00:00+10:00", "20240101", "2023-02-29", "2024-1-1", "1899-12-31", "2200-01-01", ""]) {
      const refused = parseDate("to_day", bad)
      assert.instanceOf(refused, BadParam, bad)
      assert.strictEqual((refused as BadParam).name, "to_day", bad)
      assert.include((refused as BadParam).detail, "is not a date yyyy-mm-dd", bad)
    }
  })
})

describe("years 0000-0099", () => {
  // Date.UTC reads years 0-99 as 1900-1999: 0050-01-02 passed for 1950-01-02, inside the years K2 holds.
  it("are refused as outside 1900-2199, not read as 19xx", () => {
    for (const text of ["0050-01-02", "0000-01-01", "0099-12-31", "0001-02-03"]) {
      const day = parseDate("from_day", text)
      assert.instanceOf(day, BadParam, text)
      assert.include((day as BadParam).detail, "(years 1900-2199)", text)
      assert.instanceOf(parseInstant("from", text), BadParam, text)
    }
  })
})
