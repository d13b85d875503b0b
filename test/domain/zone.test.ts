import { assert, describe, it } from "@effect/vitest"
import { isKnownZone, makeZone } from "../../src/domain/zone.ts"

const sydney = makeZone("Australia/Sydney")
const utc = (...a: [number, number, number, number, number, number?, number?]) =>
  Date.UTC(a[0], a[1] - 1, a[2], a[3], a[4], a[5] ?? 0, a[6] ?? 0)

describe("zone", () => {
  it("uses daylight saving (AEDT, +11) in summer and standard time (AEST, +10) in winter", () => {
    assert.strictEqual(sydney.toUtcMillis(2014, 3, 10, 10, 5, 44, 516), utc(2014, 3, 9, 23, 5, 44, 516))
    assert.strictEqual(sydney.toUtcMillis(2014, 7, 1, 10, 0, 0, 0), utc(2014, 7, 1, 0, 0))
  })

  it("follows the change back on 2014-04-06 (03:00 AEDT -> 02:00 AEST)", () => {
    assert.strictEqual(sydney.toUtcMillis(2014, 4, 6, 1, 30, 0, 0), utc(2014, 4, 5, 14, 30))
    // 02:30 happens twice: the earlier instant (still AEDT) is taken.
    assert.strictEqual(sydney.toUtcMillis(2014, 4, 6, 2, 30, 0, 0), utc(2014, 4, 5, 15, 30))
    assert.strictEqual(sydney.toUtcMillis(2014, 4, 6, 3, 0, 0, 0), utc(2014, 4, 5, 17, 0))
    assert.strictEqual(sydney.toUtcMillis(2014, 4, 6, 10, 0, 0, 0), utc(2014, 4, 6, 0, 0))
  })

  it("follows the change forward on 2014-10-05 (02:00 AEST -> 03:00 AEDT)", () => {
    assert.strictEqual(sydney.toUtcMillis(2014, 10, 5, 1, 59, 59, 999), utc(2014, 10, 4, 15, 59, 59, 999))
    // 02:30 does not exist: read with the offset before the change, i.e. 03:30 AEDT.
    assert.strictEqual(sydney.toUtcMillis(2014, 10, 5, 2, 30, 0, 0), utc(2014, 10, 4, 16, 30))
    assert.strictEqual(sydney.toUtcMillis(2014, 10, 5, 3, 0, 0, 0), utc(2014, 10, 4, 16, 0))
    assert.strictEqual(sydney.toUtcMillis(2014, 10, 6, 10, 0, 0, 0), utc(2014, 10, 5, 23, 0))
  })

  it("works for zones west of UTC and reports offsets", () => {
    const ny = makeZone("America/New_York")
    assert.strictEqual(ny.toUtcMillis(2024, 3, 8, 9, 30, 0, 0), utc(2024, 3, 8, 14, 30))
    assert.strictEqual(ny.toUtcMillis(2024, 3, 11, 9, 30, 0, 0), utc(2024, 3, 11, 13, 30))
    assert.strictEqual(sydney.offsetAt(utc(2014, 1, 1, 0, 0)), 11 * 3_600_000)
    assert.isTrue(isKnownZone("Australia/Sydney"))
    assert.isFalse(isKnownZone("Mars/Olympus_Mons"))
  })
})
