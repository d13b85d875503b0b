import { assert, describe, it } from "@effect/vitest"
import { displayWidth, neutralise, renderTable } from "../../src/domain/textTable.ts"

describe("renderTable", () => {
  it("a symbol's ESC sequences, CR/LF and bidi overrides are shown escaped, never sent to the terminal", () => {
    const out = renderTable(["symbol", "n"], [["\u001b]0;pwned\u0007\u001b[31mBHP\r\nX", "1"], ["\u202eABC", "2"]])
    assert.notMatch(out, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/)
    assert.strictEqual(out.split("\n").length, 5) // header, rule, two rows, final newline
    assert.include(out, "\\u001b]0;pwned\\u0007\\u001b[31mBHP\\u000d\\u000aX")
    assert.include(out, "\\u202eABC")
  })

  it("columns line up after wide, combining and emoji cells (terminal columns, not UTF-16 units)", () => {
    const out = renderTable(["symbol", "n"], [["日本", "1"], ["Cafe\u0301", "2"], ["📈", "3"], ["👩‍💻", "4"], ["AB", "5"]])
    const at = out.trimEnd().split("\n").map((l) => displayWidth(l.slice(0, l.lastIndexOf(" ") + 1)))
    assert.deepStrictEqual(new Set(at).size, 1, out)
  })

  it("widths", () => {
    assert.strictEqual(displayWidth("BHP"), 3)
    assert.strictEqual(displayWidth("日本"), 4)
    assert.strictEqual(displayWidth("e\u0301"), 1)
    assert.strictEqual(displayWidth("📈"), 2)
    assert.strictEqual(neutralise("a\tb"), "a\\u0009b")
  })
})
