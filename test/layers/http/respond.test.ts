import * as zlib from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { acceptsGzip, columnsOf, csvRows, flatten, gzipEnd, gzipStart, present, problemBody } from "../../../src/layers/http/respond.ts"

describe("response encoding", () => {
  it("present: exact, JSON-safe values at any depth; nothing left for a replacer", () => {
    const out = present({
      symbol: "BHP",
      bucket: 1_704_153_600_000_000,
      tradeCount: 3,
      source_sequence: 7n,
      conditions: ["XT", 1n],
      vendor_data: { first: "kept as text" },
      trades: { count: 2, first: -1, last: 1.5 },
      at: new Date(0),
      missing: null
    })
    assert.deepStrictEqual(out, {
      symbol: "BHP",
      bucket: "2024-01-02T00:00:00.000000Z",
      tradeCount: 3,
      source_sequence: "7",
      conditions: ["XT", "1"],
      vendor_data: { first: "kept as text" },
      // Instant keys at depth; a non-integer is not an instant.
      trades: { count: 2, first: "1969-12-31T23:59:59.999999Z", last: 1.5 },
      at: "1970-01-01T00:00:00.000Z",
      missing: null
    })
    assert.doesNotThrow(() => JSON.stringify(out))
  })

  it("Accept-Encoding: gzip named or *, unless q=0", () => {
    assert.isTrue(acceptsGzip("gzip"))
    assert.isTrue(acceptsGzip("br, GZIP;q=0.5"))
    assert.isTrue(acceptsGzip("x-gzip"))
    assert.isTrue(acceptsGzip("*"))
    assert.isTrue(acceptsGzip("gzip;q=1, *;q=0"))
    assert.isFalse(acceptsGzip(undefined))
    assert.isFalse(acceptsGzip(""))
    assert.isFalse(acceptsGzip("identity"))
    assert.isFalse(acceptsGzip("br, deflate"))
    assert.isFalse(acceptsGzip("gzip;q=0"))
    assert.isFalse(acceptsGzip("gzip;q=0.000, *"))
    assert.isFalse(acceptsGzip("*;q=0"))
    // x-gzip is gzip: either named above 0 takes it.
    assert.isTrue(acceptsGzip("x-gzip;q=0, gzip"))
    // identity named above gzip is preferred; at the same quality, or not named, gzip goes.
    assert.isFalse(acceptsGzip("gzip;q=0.1, identity;q=1"))
    assert.isFalse(acceptsGzip("identity, *;q=0.5"))
    // `*` gives identity its quality when identity is not named.
    assert.isFalse(acceptsGzip("gzip;q=0.5, *;q=1"))
    assert.isTrue(acceptsGzip("gzip, identity"))
    assert.isTrue(acceptsGzip("gzip;q=0.5, identity;q=0"))
  })

  it.effect("a cached gzip start plus any tail is one valid gzip member of both", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ maxLength: 300_000 }),
          // Past 65,535 bytes the tail takes several stored blocks.
          fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 65_530, maxLength: 140_000 })),
          async (head, tail) => {
            const start = await Effect.runPromise(gzipStart(head))
            const member = Buffer.concat([start.bytes, gzipEnd(start.sums, tail)])
            const expected = Buffer.concat([head, tail])
            assert.isTrue(zlib.gunzipSync(member).equals(expected))
            // The trailer is checked: a wrong CRC is refused.
            const broken = Buffer.from(member)
            broken[broken.length - 8]! ^= 1
            assert.throws(() => zlib.gunzipSync(broken))
          }
        ),
        { numRuns: 40 }
      )
    ))

  it.effect("JSON data compresses", () =>
    Effect.gen(function*() {
      const json = Buffer.from(JSON.stringify(Array.from({ length: 2_000 }, (_, i) => ({ symbol: "BHP", price: `${40 + (i % 7)}.12500000` }))))
      const start = yield* gzipStart(json)
      assert.isBelow(start.bytes.length, json.length / 5)
    }))
})

describe("CSV columns", () => {
  it("a column first seen past the 1000th row still gets its header (symbols: 1000 quote-only symbols, then one with trades)", () => {
    const quoteOnly = Array.from({ length: 1_000 }, (_, i) => flatten({ symbol: `Q${i}`, trades: null, quotes: { count: 1, first: "a", last: "b" } }))
    const traded = flatten({ symbol: "ZZZ", trades: { count: 2, first: "c", last: "d" }, quotes: null })
    const rows = [...quoteOnly, traded]
    const columns = columnsOf(rows)
    assert.includeMembers(columns, ["trades_first", "trades_last"])
    const last = csvRows([traded], columns).trimEnd().split(",")
    assert.strictEqual(last[columns.indexOf("trades_first")], "c")
  })

  it("a symbol with no rows in a table has every stat of that table as an empty cell, the columns a traded symbol has", () => {
    const none = flatten({ symbol: "X", trades: null, quotes: null })
    assert.deepStrictEqual(none, {
      symbol: "X", trades_count: null, trades_first: null, trades_last: null, quotes_count: null, quotes_first: null, quotes_last: null
    })
    const traded = flatten({ symbol: "Y", trades: { count: 2, first: "c", last: "d" }, quotes: { count: 1, first: "a", last: "b" } })
    assert.deepStrictEqual(columnsOf([none]), columnsOf([traded]))
    assert.strictEqual(csvRows([none], columnsOf([none])).trimEnd(), "X,,,,,,")
  })
})

describe("problem bodies", () => {
  it("every status the API answers with a problem has a reason as title, not the fallback (501 unsupported_table was \"Error\")", () => {
    for (const status of [400, 401, 403, 404, 405, 406, 408, 413, 415, 429, 431, 500, 501, 503]) {
      assert.notStrictEqual(JSON.parse(problemBody(status, "x", "", "c")).title, "Error", String(status))
    }
    assert.strictEqual(JSON.parse(problemBody(501, "x", "", "c")).title, "Not Implemented")
  })
})
