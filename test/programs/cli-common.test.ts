/** The query and replay programs' shared options (--snapshot-id and --as-of read as the HTTP API reads them, lists) and output. */
import { assert, describe, it, vi } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import { parseInstant, printRows, snapshotOf, symbolsOf, usage, UsageError } from "../../src/programs/cli/common.ts"

const refused = (id: string | undefined, asOf: string | undefined) => {
  try {
    snapshotOf(Option.fromUndefinedOr(id), Option.fromUndefinedOr(asOf))
  } catch (e) {
    if (e instanceof UsageError) return e.message
    throw e
  }
  assert.fail(`${id} ${asOf} was accepted`)
}

describe("snapshotOf", () => {
  it("an id past signed 64 bits is a usage error, as in the API (it was looked up and not found: exit 1)", () => {
    assert.strictEqual(refused("99999999999999999999", undefined), `--snapshot-id: "99999999999999999999" is not a snapshot id`)
    assert.strictEqual(refused("9223372036854775808", undefined), "--snapshot-id: \"9223372036854775808\" is not a 64-bit snapshot id")
    assert.strictEqual(refused("-9223372036854775809", undefined), "--snapshot-id: \"-9223372036854775809\" is not a 64-bit snapshot id")
  })

  it("the 64-bit ends, an instant, or neither are read", () => {
    assert.deepStrictEqual(snapshotOf(Option.some("9223372036854775807"), Option.none()), { _tag: "ById", snapshotId: 9223372036854775807n })
    assert.deepStrictEqual(snapshotOf(Option.some("-9223372036854775808"), Option.none()), { _tag: "ById", snapshotId: -9223372036854775808n })
    assert.deepStrictEqual(snapshotOf(Option.none(), Option.some("2024-01-02")), { _tag: "AsOf", timestampMs: Date.UTC(2024, 0, 2) })
    assert.isUndefined(snapshotOf(Option.none(), Option.none()))
  })

  it("a malformed or empty value, or both flags, are usage errors naming the flag", () => {
    assert.strictEqual(refused("abc", undefined), `--snapshot-id: "abc" is not a snapshot id`)
    assert.strictEqual(refused("", undefined), `--snapshot-id: "" is not a snapshot id`)
    assert.match(refused(undefined, "yesterday"), /^--as-of: "yesterday" is not an instant/)
    assert.match(refused(undefined, ""), /^--as-of: "" is not an instant/)
    assert.strictEqual(refused("1", "2024-01-02"), "give --snapshot-id or --as-of, not both")
  })
})

describe("parseInstant", () => {
  it("an instant between two microseconds starts a range at the later one, as the API reads `from`", () => {
    const at = Date.UTC(2024, 0, 2) * 1000
    assert.strictEqual(parseInstant("from", "2024-01-02T00:00:00.0000001Z"), at + 1)
    assert.strictEqual(parseInstant("from", "2024-01-02T00:00:00.000001Z"), at + 1)
  })
})

describe("symbolsOf", () => {
  it("reads --symbols as the API reads symbols: blanks around and between the names dropped, each once; not given is all", () => {
    assert.deepStrictEqual(symbolsOf(Option.some(" WBC, CBA ,,BHP,CBA")), ["BHP", "CBA", "WBC"])
    assert.deepStrictEqual(symbolsOf(Option.none()), [])
  })
  it("given empty (an unset variable) or naming no symbol, a usage error, not every symbol", () => {
    for (const text of ["", " , "]) {
      assert.throws(() => symbolsOf(Option.some(text)), UsageError, "names no symbol: leave symbols out for every symbol")
    }
    assert.throws(() => symbolsOf(Option.some("bhp'--")), UsageError, "--symbols: \"bhp'--\" is not 1-32 of A-Z 0-9 . _ -")
  })
})

describe("usage", () => {
  it.effect("a UsageError thrown by a handler's body is its failure (exit 2 with the message), not a defect", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(usage<never, never, never>(() => {
        throw new UsageError({ message: "--x: no" })
      }))
      assert.deepStrictEqual(exit, Exit.fail(new UsageError({ message: "--x: no" })))
    }))
})

describe("printRows", () => {
  const captured = <A>(f: () => A) => {
    const out: Array<string> = [], err: Array<string> = []
    const o = vi.spyOn(process.stdout, "write").mockImplementation((c) => (out.push(String(c)), true))
    const e = vi.spyOn(process.stderr, "write").mockImplementation((c) => (err.push(String(c)), true))
    try {
      f()
    } finally {
      o.mockRestore()
      e.mockRestore()
    }
    return { out: out.join(""), err: err.join("") }
  }
  const rows = [{ symbol: "BHP", price: "45.67000000", vendor: { venue: "X" } }, { symbol: "CBA", price: "1.5", vendor: null }]
  const columns = ["symbol", "price", "vendor"]

  it("CSV: a header even for no rows, the scan report on stderr only", () => {
    const { out, err } = captured(() => Effect.runSync(printRows(rows, columns, "csv", { rowsReturned: 2 })))
    assert.strictEqual(out.split("\n")[0], "symbol,price,vendor")
    assert.strictEqual(out.split("\n").length, 4)
    assert.notInclude(out, "rowsReturned")
    assert.include(err, `"rowsReturned":2`)
    assert.strictEqual(captured(() => Effect.runSync(printRows([], columns, "csv"))).out, "symbol,price,vendor\n")
  })

  it("table: columns aligned to their widest cell, objects as JSON", () => {
    const { out } = captured(() => Effect.runSync(printRows(rows, columns, "table")))
    assert.deepStrictEqual(out.split("\n"), [
      "symbol  price        vendor",
      "------  -----------  -------------",
      `BHP     45.67000000  {"venue":"X"}`,
      "CBA     1.5",
      ""
    ])
  })

  it("JSON: the report (and a page's nextCursor) is part of the document", () => {
    const { out, err } = captured(() => Effect.runSync(printRows(rows, columns, "json", { nextCursor: "abc", big: 12345678901234567890n })))
    const doc = JSON.parse(out)
    assert.strictEqual(doc.nextCursor, "abc")
    assert.strictEqual(doc.big, "12345678901234567890")
    assert.strictEqual(doc.rows.length, 2)
    assert.strictEqual(err, "")
  })
})
