import { assert, describe, it } from "@effect/vitest"
import { jsonLine } from "../../src/domain/ndjson.ts"

describe("jsonLine", () => {
  it("U+2028 and U+2029 as escapes: no line terminator of any reader inside, the same value back", () => {
    const value = { v: "a\u2028b\u2029c\n", big: 12345678901234567890n }
    const line = jsonLine(value, (_, v) => (typeof v === "bigint" ? v.toString() : v))
    assert.notMatch(line, /[\n\r\u2028\u2029]/)
    assert.deepStrictEqual(JSON.parse(line), { v: "a\u2028b\u2029c\n", big: "12345678901234567890" })
  })
})
