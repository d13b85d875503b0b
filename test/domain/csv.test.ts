/** CSV fields as K2 writes them: an empty string and a null stay apart (RFC 4180 quoting). */
import { assert, describe, it } from "@effect/vitest"
import { csvCell } from "../../src/domain/csv.ts"

describe("csvCell", () => {
  it("writes a null as an empty field and an empty string as a quoted one", () => {
    // DuckDB's read_csv, like its COPY ... TO, reads `""` as '' and an empty field as NULL.
    assert.strictEqual(csvCell(null), "")
    assert.strictEqual(csvCell(undefined), "")
    assert.strictEqual(csvCell(""), "\"\"")
  })

  it("quotes a field holding a quote, comma or line break, and nested values as JSON", () => {
    assert.strictEqual(csvCell("say \"hi\", then\nleave"), "\"say \"\"hi\"\", then\nleave\"")
    assert.strictEqual(csvCell("Zürich"), "Zürich")
    // A lone carriage return is a line break to RFC 4180 readers too.
    assert.strictEqual(csvCell("a\rb"), "\"a\rb\"")
    assert.strictEqual(csvCell(["a", "b,c"]), "\"[\"\"a\"\",\"\"b,c\"\"]\"")
    assert.strictEqual(csvCell({ k: 1n }), "\"{\"\"k\"\":\"\"1\"\"}\"")
  })
})
