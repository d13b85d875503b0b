import { assert, describe, it } from "@effect/vitest"
import {
  compareBounds,
  decode,
  encode,
  truncateStringLower,
  truncateStringUpper
} from "../../../src/domain/iceberg/bounds.ts"
import type { PrimitiveType } from "../../../src/domain/iceberg/spec.ts"

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")
const unhex = (s: string) => new Uint8Array(Buffer.from(s, "hex"))

// Expected bytes are what Apache Iceberg Java 1.10.1 `Conversions.toByteBuffer` produces
// (checked with jshell against the interop classpath); values follow the spec's examples.
const vectors: ReadonlyArray<readonly [PrimitiveType, unknown, string]> = [
  ["boolean", true, "01"],
  ["boolean", false, "00"],
  ["int", 34, "22000000"],
  ["int", -2, "feffffff"],
  ["long", 34n, "2200000000000000"],
  ["date", 17486, "4e440000"], // 2017-11-16
  ["timestamptz", 1510871468123456n, "40a5282d215e0500"], // 2017-11-16T22:31:08.123456+00:00
  ["timestamp", 1510871468123456n, "40a5282d215e0500"],
  ["float", 1, "0000803f"],
  ["double", 1, "000000000000f03f"],
  ["string", "iceberg", "69636562657267"],
  ["decimal(9, 2)", 1420n, "058c"], // 14.20
  ["decimal(9, 2)", 128n, "0080"], // 1.28: a leading zero byte keeps it positive
  ["decimal(9, 2)", -129n, "ff7f"],
  ["decimal(18, 8)", 12345678901n, "02dfdc1c35"], // 123.45678901
  ["decimal(18, 8)", -12345678901n, "fd2023e3cb"], // -123.45678901
  ["decimal(18, 8)", -1n, "ff"], // -0.00000001
  ["decimal(18, 8)", 0n, "00"]
]

describe("bounds", () => {
  it("encodes the spec's single-value serialization byte for byte", () => {
    for (const [type, value, expected] of vectors) {
      assert.strictEqual(hex(encode(type, value as never)), expected, `${type} ${String(value)}`)
    }
  })

  it("decodes what it encodes", () => {
    for (const [type, value, bytes] of vectors) {
      assert.deepStrictEqual(decode(type, unhex(bytes)), value, `${type} ${bytes}`)
    }
    assert.deepStrictEqual(decode("binary", encode("binary", Uint8Array.of(0, 255))), Uint8Array.of(0, 255))
    assert.strictEqual(decode("string", encode("string", "bé😀")), "bé😀")
  })

  it("round-trips decimals at the edges of 64 and 128 bits", () => {
    for (const v of [2n ** 63n - 1n, -(2n ** 63n), 10n ** 38n - 1n, -(10n ** 38n) + 1n, 127n, -128n, 255n, -256n]) {
      assert.strictEqual(decode("decimal(38, 8)", encode("decimal(38, 8)", v)), v)
    }
    assert.strictEqual(encode("decimal(18, 8)", 127n).length, 1)
    assert.strictEqual(encode("decimal(18, 8)", -128n).length, 1)
    assert.strictEqual(encode("decimal(18, 8)", 255n).length, 2)
  })

  it("rejects values of the wrong kind or size", () => {
    assert.throws(() => encode("long", 1 as never))
    assert.throws(() => encode("int", 2 ** 31))
    assert.throws(() => decode("int", unhex("0100")))
  })

  it("truncates strings like Java's truncate(16)", () => {
    const long = "abcdefghijklmnopqrstuvwxyz"
    assert.strictEqual(truncateStringLower(long), "abcdefghijklmnop")
    assert.strictEqual(truncateStringUpper(long), "abcdefghijklmnoq")
    assert.strictEqual(truncateStringUpper("short"), "short")
    // exactly 16 code points is not truncated: the value is its own upper bound (as Java)
    assert.strictEqual(truncateStringUpper("abcdefghijklmnop"), "abcdefghijklmnop")
    assert.strictEqual(truncateStringLower("short"), "short")
    // counted in code points, not UTF-16 units
    assert.strictEqual(truncateStringLower("😀".repeat(20)), "😀".repeat(16))
    // the last code point is U+10FFFF: increment the one before it instead
    assert.strictEqual(truncateStringUpper("abcdefghijklmno\u{10FFFF}z"), "abcdefghijklmnp")
    // U+D7FF + 1 would be a surrogate: Java skips to U+E000
    assert.strictEqual(truncateStringUpper("abcdefghijklmno\uD7FFz"), "abcdefghijklmno\uE000")
    assert.strictEqual(truncateStringUpper("\u{10FFFF}".repeat(17)), null)
    // only the first code point can be incremented
    assert.strictEqual(truncateStringUpper(`a${"\u{10FFFF}".repeat(16)}`), "b")
  })

  it("compares bounds in the type's order", () => {
    const cmp = (type: PrimitiveType, a: unknown, b: unknown) =>
      Math.sign(compareBounds(type, encode(type, a as never), encode(type, b as never)))
    assert.strictEqual(cmp("int", -1, 1), -1)
    assert.strictEqual(cmp("long", 2n ** 40n, -(2n ** 40n)), 1)
    assert.strictEqual(cmp("timestamptz", 5n, 5n), 0)
    assert.strictEqual(cmp("decimal(18, 8)", -12345678901n, 1n), -1)
    assert.strictEqual(cmp("decimal(18, 8)", 256n, 255n), 1)
    assert.strictEqual(cmp("string", "B", "a"), -1)
    assert.strictEqual(cmp("string", "ab", "a"), 1)
    // code point order: U+FFFD sorts before U+1F600 although its UTF-16 unit is larger
    assert.strictEqual(cmp("string", "\uFFFD", "😀"), -1)
  })
})
