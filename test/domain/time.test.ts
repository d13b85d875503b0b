import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { Schema } from "effect"
import { civilOfDay, dayOfCivil, daysOfIsoDate, dayText, floorDiv, formatIsoMicros, IsoDate, parseIsoMicros, TimestampMicros } from "../../src/domain/time.ts"

/** The definition: Date's millisecond ISO text with the three sub-millisecond digits appended. */
const reference = (micros: number) => {
  const ms = Math.floor(micros / 1000)
  const iso = new Date(ms).toISOString()
  return `${iso.slice(0, -1)}${String(micros - ms * 1000).padStart(3, "0")}Z`
}

describe("formatIsoMicros", () => {
  it("formats known instants", () => {
    assert.strictEqual(formatIsoMicros(253_402_300_800_000_000), "+010000-01-01T00:00:00.000000Z")
    assert.strictEqual(formatIsoMicros(0), "1970-01-01T00:00:00.000000Z")
    assert.strictEqual(formatIsoMicros(-1), "1969-12-31T23:59:59.999999Z")
    assert.strictEqual(formatIsoMicros(1_709_164_800_000_001), "2024-02-29T00:00:00.000001Z")
    assert.strictEqual(formatIsoMicros(951_782_400_000_000), "2000-02-29T00:00:00.000000Z")
    assert.strictEqual(formatIsoMicros(4_107_542_399_999_999), "2100-02-28T23:59:59.999999Z")
    assert.strictEqual(formatIsoMicros(Number.MAX_SAFE_INTEGER), "2255-06-05T23:47:34.740991Z")
    assert.strictEqual(formatIsoMicros(-Number.MAX_SAFE_INTEGER), "1684-07-28T00:12:25.259009Z")
  })

  it("agrees with Date over the whole safe-integer range and round-trips", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
          // Dense around market data: 1900..2200.
          fc.integer({ min: -2_208_988_800_000_000, max: 7_258_118_400_000_000 })
        ),
        (micros) => {
          const text = formatIsoMicros(micros)
          assert.strictEqual(text, reference(micros))
          assert.strictEqual(parseIsoMicros(text), micros)
        }
      ),
      { numRuns: 20_000 }
    )
  })
})

describe("parseIsoMicros", () => {
  it("reads offsets and fractions", () => {
    assert.strictEqual(parseIsoMicros("2024-03-10T10:05:44.516Z"), Date.UTC(2024, 2, 10, 10, 5, 44, 516) * 1000)
    assert.strictEqual(parseIsoMicros("2024-03-10T12:05:44+02:00"), Date.UTC(2024, 2, 10, 10, 5, 44) * 1000)
    assert.strictEqual(parseIsoMicros("2024-03-10T04:35:44.0000019-0530"), Date.UTC(2024, 2, 10, 10, 5, 44) * 1000 + 1)
    assert.strictEqual(parseIsoMicros("2024-03-10T23:59:59.999999Z"), Date.UTC(2024, 2, 10, 23, 59, 59, 999) * 1000 + 999)
  })

  it("reads RFC 3339's lowercase t and z, and hh:mm without seconds (ISO 8601)", () => {
    const t = Date.UTC(2024, 2, 10, 10, 5) * 1000
    assert.strictEqual(parseIsoMicros("2024-03-10t10:05:00z"), t)
    assert.strictEqual(parseIsoMicros("2024-03-10T10:05Z"), t)
    assert.strictEqual(parseIsoMicros("2024-03-10t12:05+02:00"), t)
    assert.strictEqual(parseIsoMicros("2024-03-10T10:05.5Z"), undefined, "a fraction needs its seconds")
  })

  it("rounds up past the microsecond on request, whichever digit past it is set", () => {
    const t = Date.UTC(2024, 2, 10, 10, 5, 44) * 1000
    assert.strictEqual(parseIsoMicros("2024-03-10T10:05:44.0000001Z", "up"), t + 1)
    assert.strictEqual(parseIsoMicros("2024-03-10T10:05:44.000000001Z", "up"), t + 1)
    assert.strictEqual(parseIsoMicros("2024-03-10T10:05:44.000000000Z", "up"), t)
    assert.strictEqual(parseIsoMicros("2024-03-10T10:05:44.0000001Z"), t)
  })

  it("refuses fields out of range instead of rolling them over", () => {
    for (
      const text of [
        "2024-03-10T10:75:00Z", // minute 75 read as 11:15
        "2024-03-10T10:05:60Z",
        "2024-03-10T24:00:00Z",
        "2024-02-30T10:00:00Z",
        "2024-13-01T10:00:00Z",
        "2024-03-10T10:00:00+24:00",
        "2024-03-10T10:00:00+02:60",
        "0050-03-10T10:00:00Z" // Date.UTC reads years below 100 as 19xx
      ]
    ) assert.strictEqual(parseIsoMicros(text), undefined, text)
  })
})

describe("calendar arithmetic", () => {
  it("floors a division toward minus infinity, exact quotients unchanged", () => {
    assert.strictEqual(floorDiv(-10n, 5n), -2n)
    assert.strictEqual(floorDiv(-11n, 5n), -3n)
    assert.strictEqual(floorDiv(11n, 5n), 2n)
  })

  it("days of a civil date agree with Date.UTC on every day of 1900-2200, and back", () => {
    for (let day = Date.UTC(1900, 0, 1) / 86_400_000; day < Date.UTC(2200, 0, 1) / 86_400_000; day++) {
      const d = new Date(day * 86_400_000)
      assert.strictEqual(dayOfCivil(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()), day)
      assert.deepStrictEqual(civilOfDay(day), [d.getUTCFullYear(), d.getUTCMonth() + 1])
    }
  })

  // A date is no instant: 9999-12-31, an instrument master's "no end date", was refused (read as
  // microseconds, which a safe integer holds only from 1685 to 2255).
  it("takes every calendar date of a four-digit year as a date, and its day number, and nothing else", () => {
    const isDate = Schema.is(IsoDate)
    const first = dayOfCivil(0, 1, 1), last = dayOfCivil(9999, 12, 31)
    for (let day = first; day <= last; day += 97) {
      assert.isTrue(isDate(dayText(day)), dayText(day))
      assert.strictEqual(daysOfIsoDate(dayText(day)), day)
    }
    assert.strictEqual(daysOfIsoDate("9999-12-31"), last)
    assert.strictEqual(daysOfIsoDate("0000-02-29"), dayOfCivil(0, 2, 29))
    for (const text of ["2023-02-29", "2024-02-30", "2024-04-31", "2024-13-01", "2024-00-10", "2024-01-00", "10000-01-01", "999-01-01", "2024-1-01", "+2024-01-01"]) {
      assert.isFalse(isDate(text), text)
    }
  })

  it("holds instants from 1900 up to, not including, 2200", () => {
    const decode = Schema.decodeUnknownExit(TimestampMicros)
    assert.isTrue(decode(Date.UTC(1900, 0, 1) * 1000)._tag === "Success")
    assert.isTrue(decode(Date.UTC(2200, 0, 1) * 1000 - 1)._tag === "Success")
    assert.isTrue(decode(Date.UTC(2200, 0, 1) * 1000)._tag === "Failure")
    assert.isTrue(decode(Date.UTC(1900, 0, 1) * 1000 - 1)._tag === "Failure")
  })
})
