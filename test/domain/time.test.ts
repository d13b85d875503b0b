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
