import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Result } from "effect"
import * as fc from "fast-check"
import { MESSAGE_ID_MAX } from "../../../src/domain/marketData.ts"
import { decodeCursor, encodeCursor } from "../../../src/domain/query/cursor.ts"
import { approxDivRoundHalfEven, divideText, divRoundHalfEven, formatFixed, parseFixed, rescale } from "../../../src/domain/query/exact.ts"
import { checkDate, checkLimit, checkRange, checkSymbols } from "../../../src/domain/query/validate.ts"

/** Text at 8 places, half-even, as the engine rescales DuckDB's sums. */
const roundText = (text: string) => formatFixed(rescale(parseFixed(text), 8), 8)

describe("exact decimals", () => {
  it("rounds half to even", () => {
    assert.strictEqual(divRoundHalfEven(5n, 2n), 2n)
    assert.strictEqual(divRoundHalfEven(7n, 2n), 4n)
    assert.strictEqual(divRoundHalfEven(-5n, 2n), -2n)
    assert.strictEqual(divRoundHalfEven(-7n, 2n), -4n)
    assert.strictEqual(divRoundHalfEven(11n, 4n), 3n)
    assert.strictEqual(divRoundHalfEven(9n, 4n), 2n)
    assert.strictEqual(divRoundHalfEven(5n, -2n), -2n)
    assert.strictEqual(roundText("0.000000005"), "0.00000000")
    assert.strictEqual(roundText("0.000000015"), "0.00000002")
    assert.strictEqual(roundText("0.0000000150001"), "0.00000002")
    assert.strictEqual(divideText("1", "3"), "0.33333333")
    assert.strictEqual(divideText("2", "3"), "0.66666667")
    assert.strictEqual(divideText("1", "0"), null)
    assert.strictEqual(divideText("-0.00000003", "2"), "-0.00000002")
    // Fewer places than 8 are padded, not rounded (DuckDB answers sums at the columns' scale).
    assert.strictEqual(roundText("1.5"), "1.50000000")
    assert.strictEqual(roundText("-12"), "-12.00000000")
  })

  it("decides a quotient from doubles only when it rounds as the exact one, even at the worst allowed error", () => {
    // Numerators near a half of the divisor are where doubles could round the wrong way.
    const nearHalf = fc.tuple(fc.bigInt({ min: 1n, max: 2n ** 53n }), fc.bigInt({ min: 0n, max: 2n ** 47n }), fc.integer({ min: -3, max: 3 }))
      .map(([d, k, delta]) => ({ n: d * k + d / 2n + BigInt(delta), d }))
      .filter(({ n }) => n >= 0n)
    // Any remainder, with quotients up to 2^44 (prices to about 175,000 at 8 places).
    const anywhere = fc.tuple(fc.bigInt({ min: 1n, max: 2n ** 53n }), fc.bigInt({ min: 0n, max: 2n ** 44n }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }))
      .map(([d, k, r]) => ({ n: d * k + BigInt(Math.floor(Number(d) * r)), d }))
    let decided = 0
    fc.assert(fc.property(fc.oneof(nearHalf, anywhere), fc.constantFrom(1 - 2 ** -51, 1, 1 + 2 ** -51), ({ d, n }, error) => {
      const q = approxDivRoundHalfEven(Number(n) * error, Number(d))
      if (Number.isNaN(q)) return true
      decided++
      return BigInt(q) === divRoundHalfEven(n, d)
    }), { numRuns: 20_000 })
    assert.isAbove(decided, 5_000)
    assert.isNaN(approxDivRoundHalfEven(5, 2)) // an exact half is always left to the exact division
    assert.strictEqual(approxDivRoundHalfEven(1_000_000_007 * 3, 3), 1_000_000_007)
  })

  it("agrees with Effect BigDecimal on random quotients", () => {
    fc.assert(fc.property(
      fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
      fc.integer({ min: 0, max: 16 }),
      fc.bigInt({ min: 1n, max: 10n ** 20n }),
      fc.integer({ min: 0, max: 8 }),
      (n, ns, d, ds) => {
        const a = formatFixed(n, ns), b = formatFixed(d, ds)
        const want = BigDecimal.round(BigDecimal.divideUnsafe(BigDecimal.make(n, ns), BigDecimal.make(d, ds)), { scale: 8, mode: "half-even" })
        const got = parseFixed(divideText(a, b)!)
        return BigDecimal.equals(BigDecimal.make(got.unscaled, got.scale), want)
      }
    ), { numRuns: 2_000 })
  })

  it("formats and parses fixed text", () => {
    assert.strictEqual(formatFixed(-1n), "-0.00000001")
    assert.strictEqual(formatFixed(123_450_000_000n), "1234.50000000")
    assert.deepStrictEqual(parseFixed("-12.3400"), { unscaled: -123400n, scale: 4 })
  })
})

describe("cursors", () => {
  it("round-trip and reject what is not theirs", () => {
    const c = { table: "trades", snapshotId: 9_117_387_517_148_980_064n, exchangeTimestamp: 1_704_413_672_640_000, sequence: -1n, messageId: "id,with\"odd\u00e9" }
    const text = encodeCursor(c)
    assert.match(text, /^[A-Za-z0-9_-]+$/)
    assert.deepStrictEqual(decodeCursor(text), Result.succeed(c))
    assert.isTrue(Result.isFailure(decodeCursor("not a cursor")))
    assert.isTrue(Result.isFailure(decodeCursor(Buffer.from("[2,\"x\"]").toString("base64url"))))
    assert.isTrue(Result.isFailure(decodeCursor(Buffer.from("[1,\"trades\",null,1.5,\"1\",\"m\"]").toString("base64url"))))
    // A page of a join also pins the joined tables (null: none then).
    const joined = { ...c, table: "trades_with_quotes", joined: { quotes: 42n, other: null } }
    assert.deepStrictEqual(decodeCursor(encodeCursor(joined)), Result.succeed(joined))
    // The row's Kafka lineage breaks ties of the order key, with or without joined tables.
    const lineage = { topic: "market.equities.trades.asx", partition: 2, offset: 9_223_372_036_854_775_807n }
    assert.deepStrictEqual(decodeCursor(encodeCursor({ ...c, lineage })), Result.succeed({ ...c, lineage }))
    assert.deepStrictEqual(decodeCursor(encodeCursor({ ...joined, lineage })), Result.succeed({ ...joined, lineage }))
    // The longest cursor a row can make (the longest message id, every character escaped in
    // JSON; a topic name of Kafka's 249 characters) fits the API's 4,096-character parameter.
    const longest = { ...joined, messageId: "\u0001".repeat(MESSAGE_ID_MAX), lineage: { ...lineage, topic: "t".repeat(249) } }
    assert.isAtMost(encodeCursor(longest).length, 4_096)
    assert.deepStrictEqual(decodeCursor(encodeCursor(longest)), Result.succeed(longest))
    for (const bad of [["t", 1.5, "1"], ["t", 2 ** 31, "1"], ["t", 0, "9223372036854775808"], [1, 0, "1"], ["t", 0]]) {
      const text = Buffer.from(JSON.stringify([1, "trades", null, 1, "1", "m", null, bad])).toString("base64url")
      assert.isTrue(Result.isFailure(decodeCursor(text)), JSON.stringify(bad))
    }
    // Ids and sequences are longs: a value past int64 is a damaged cursor, not a DuckDB cast error later.
    const long = (snapshot: string | null, seq: string) => Buffer.from(JSON.stringify([1, "trades", snapshot, 1, seq, "m"])).toString("base64url")
    assert.isTrue(Result.isSuccess(decodeCursor(long("9223372036854775807", "-9223372036854775808"))))
    for (const [snapshot, seq] of [[null, "9223372036854775808"], [null, "-9223372036854775809"], [null, "99999999999999999999"], ["9223372036854775808", "1"]] as const) {
      assert.isTrue(Result.isFailure(decodeCursor(long(snapshot, seq))), `${snapshot} ${seq}`)
    }
    for (const bad of ["[1,\"t\",null,1,\"1\",\"m\",[\"1\"]]", "[1,\"t\",null,1,\"1\",\"m\",{\"quotes\":1}]", "[1,\"t\",null,1,\"1\",\"m\",null]"]) {
      assert.isTrue(Result.isFailure(decodeCursor(Buffer.from(bad).toString("base64url"))), bad)
    }
  })
})

describe("request checks", () => {
  it("accepts empty ranges, refuses inverted ones, limits and bad symbols", () => {
    assert.isTrue(Result.isSuccess(checkRange(5, 5)))
    assert.isTrue(Result.isFailure(checkRange(6, 5)))
    assert.isTrue(Result.isFailure(checkRange(1.5, 5)))
    assert.deepStrictEqual(checkLimit(undefined), Result.succeed(1000))
    assert.isTrue(Result.isFailure(checkLimit(0)))
    assert.isTrue(Result.isFailure(checkLimit(100_001)))
    assert.deepStrictEqual(checkSymbols(["CBA", "BHP", "CBA"]), Result.succeed(["BHP", "CBA"]))
    assert.isTrue(Result.isFailure(checkSymbols(["bhp"])))
    assert.deepStrictEqual(checkDate("d", "2024-01-02"), Result.succeed(19724))
    assert.isTrue(Result.isFailure(checkDate("d", "2024-02-30")))
  })
})
