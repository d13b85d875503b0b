import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { formatIsoMicros, parseIsoMicros } from "../../src/domain/time.ts"

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
