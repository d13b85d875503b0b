import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { BadParam, negotiate, parseFields, parseFilters, parseInstant, parseIntParam, parseSnapshot, parseSymbols, parseTables } from "../../../src/domain/api/params.ts"
import { InvalidServerConfig, parseKeys, sha256Hex } from "../../../src/layers/http/config.ts"
import { RateLimiter } from "../../../src/layers/http/rateLimiter.ts"
import { etagMatches, present } from "../../../src/layers/http/respond.ts"

describe("API params", () => {
  it("integers out of range: limit_out_of_range for a limit, bad_request for another parameter", () => {
    assert.strictEqual((parseIntParam("limit", "0", { min: 1, max: 10 }) as BadParam).code, "limit_out_of_range")
    const lookback = parseIntParam("lookback_us", "99", { min: 0, max: 10 })
    assert.instanceOf(lookback, BadParam)
    assert.isUndefined((lookback as BadParam).code)
    assert.include((lookback as BadParam).detail, "must be from 0 to 10")
  })

  it("integers at either end of the range are in it", () => {
    assert.strictEqual(parseIntParam("limit", "1", { min: 1, max: 10 }), 1)
    assert.strictEqual(parseIntParam("limit", "10", { min: 1, max: 10 }), 10)
    assert.strictEqual(parseIntParam("lookback_us", "0", { min: 0, max: 10 }), 0)
  })

  it("a negative integer is out of range (limit=-1 was \"not an integer\")", () => {
    const limit = parseIntParam("limit", "-1", { min: 1, max: 10 }) as BadParam
    assert.strictEqual(limit.code, "limit_out_of_range")
    assert.strictEqual(limit.detail, "must be from 1 to 10, got -1")
    assert.strictEqual((parseIntParam("lookback_us", "-5", { min: 0, max: 10 }) as BadParam).detail, "must be from 0 to 10, got -5")
    assert.strictEqual((parseIntParam("limit", "-x", { min: 1, max: 10 }) as BadParam).detail, "\"-x\" is not an integer")
  })

  it.effect("a filter whose min is above its max is refused as an inverted range, not answered with no rows", () =>
    Effect.sync(() => {
      for (const text of ["price:12:11", "price:11.00000001:11", "quantity:-1:-2", "bid_price:100:99.99999999"]) {
        const refused = parseFilters(text)
        assert.instanceOf(refused, BadParam, text)
        assert.strictEqual((refused as BadParam).code, "inverted_range", text)
        assert.include((refused as BadParam).detail, "is above its max", text)
      }
      // Equal bounds are one value; exact decimals compare exactly (10 is not below 9.99999999 as text is).
      for (const text of ["price:11:11", "price:11.0:11", "price:9.99999999:10", "price:-2:-1", "price:10", "price::1", "price:1:1e3"]) {
        assert.notInstanceOf(parseFilters(text), BadParam, text)
      }
    }))

  it("instants: ISO, dates, micros; junk and out-of-range refused", () => {
    assert.strictEqual(parseInstant("from", "2024-01-02"), Date.UTC(2024, 0, 2) * 1000)
    assert.strictEqual(parseInstant("from", "2024-01-02T00:00:00.000001Z"), Date.UTC(2024, 0, 2) * 1000 + 1)
    assert.strictEqual(parseInstant("from", "2024-02-29"), Date.UTC(2024, 1, 29) * 1000)
    assert.strictEqual(parseInstant("from", "2000-02-29"), Date.UTC(2000, 1, 29) * 1000)
    // Epoch seconds or milliseconds of today, read as microseconds, would be a day in 1970.
    // So would those of a day before 1970, read as a moment of 1969-12-31.
    for (const text of ["1704153600", "1704153600000", "-1704153600", "-1704153600000"]) {
      const refused = parseInstant("from", text)
      assert.instanceOf(refused, BadParam)
      assert.include((refused as BadParam).detail, "milliseconds")
    }
    assert.strictEqual(parseInstant("from", "1704153600000000"), 1704153600000000)
    // A compact date (yyyymmdd) read as microseconds would be 20 seconds after 1970 began.
    const compact = parseInstant("from", "20240102")
    assert.instanceOf(compact, BadParam)
    assert.include((compact as BadParam).detail, "2024-01-02")
    assert.strictEqual(parseInstant("from", "0"), 0)
    assert.strictEqual(parseInstant("from", "12345678"), 12_345_678, "not a date: microseconds")
    for (const bad of ["", "x", "2024-02-30", "2023-02-29", "2100-02-29", "2024-00-10", "2024-13-01", "2024-04-31", "2024-01-00", "1e309", "99999999999999999999", "-99999999999999999", "2024-01-02T00:00:00"]) {
      assert.instanceOf(parseInstant("from", bad), BadParam, bad)
    }
  })
  it("instants past the microsecond: a range bound rounds up, an as-of down (rows are whole microseconds)", () => {
    const day = Date.UTC(2024, 0, 2) * 1000
    // [from, to) with to = day + 0.5 µs holds the row at `day`; from = day + 0.5 µs does not.
    assert.strictEqual(parseInstant("to", "2024-01-02T00:00:00.0000005Z"), day + 1)
    assert.strictEqual(parseInstant("from", "2024-01-02T00:00:00.000000001Z"), day + 1)
    assert.strictEqual(parseInstant("from", "2024-01-02T00:00:00.000001000Z"), day + 1, "zeros past the microsecond change nothing")
    assert.strictEqual(parseInstant("to", "2024-01-02T00:00:00.999999999+11:00"), day - 11 * 3_600_000_000 + 1_000_000)
    // As of 00:00:00.000999999 is before the millisecond 00:00:00.001, at which a snapshot may have committed.
    assert.deepStrictEqual(parseSnapshot(undefined, "2024-01-02T00:00:00.000999999Z"), { _tag: "AsOf", timestampMs: day / 1000 })
  })
  it("the exclusive end of the domain (2200-01-01) is a range's `to`: the last microsecond K2 stores is readable", () => {
    const end = Date.UTC(2200, 0, 1) * 1000
    // Ingest accepts 2199-12-31T23:59:59.999999Z; with `to` refused at 2200 no [from, to) held it.
    assert.strictEqual(parseInstant("to", "2200-01-01", "up", "end"), end)
    assert.strictEqual(parseInstant("to", "2199-12-31T23:59:59.9999999Z", "up", "end"), end)
    assert.strictEqual(parseInstant("to", String(end), "up", "end"), end)
    // Past it, and as a start or an as-of, it is refused as before.
    assert.instanceOf(parseInstant("to", "2200-01-01T00:00:00.000001Z", "up", "end"), BadParam)
    assert.instanceOf(parseInstant("from", "2200-01-01"), BadParam)
    assert.instanceOf(parseSnapshot(undefined, "2200-01-01"), BadParam)
  })
  it("epoch nanoseconds (pandas' Timestamp.value, 19 digits) are refused saying so, as seconds and milliseconds are", () => {
    // -2208988800000000000 is 1900-01-01T00:00:00Z, the first instant K2 holds.
    // 31536000000000000 (17 digits) is 1971-01-01 in nanoseconds.
    for (const text of ["1704153600000000000", "-1704153600000000000", "170415360000000000", "-2208988800000000000", "31536000000000000"]) {
      const refused = parseInstant("from", text)
      assert.instanceOf(refused, BadParam, text)
      assert.include((refused as BadParam).detail, "nanoseconds", text)
    }
  })
  it("RFC 3339's lowercase t and z, and ISO 8601's hh:mm without seconds, are instants", () => {
    const at = Date.UTC(2024, 0, 2, 10) * 1000
    for (const text of ["2024-01-02t10:00:00z", "2024-01-02T10:00:00z", "2024-01-02t10:00:00Z", "2024-01-02T10:00Z", "2024-01-02t10:00z", "2024-01-02T21:00+11:00", "2024-01-02T21:00+1100", "2024-01-02T21:00+11", "2024-01-02T21:00 11:00", "2024-01-02t21:00:00 11:00", "2024-01-02 10:00Z"]) {
      assert.strictEqual(parseInstant("from", text), at, text)
    }
    // A fraction needs its seconds; hours alone are not a time.
    for (const text of ["2024-01-02T10:00.5Z", "2024-01-02T10Z", "2024-01-02T1000Z", "2024-01-02T10:0Z"]) {
      assert.instanceOf(parseInstant("from", text), BadParam, text)
    }
  })
  it("a time without an offset is refused saying so, with examples of the forms taken", () => {
    for (const text of ["2024-01-02T10:00:00", "2024-01-02T10:00", "2024-01-02 10:00:00.5"]) {
      const refused = parseInstant("from", text) as BadParam
      assert.instanceOf(refused, BadParam, text)
      assert.include(refused.detail, "has no offset", text)
      assert.include(refused.detail, "Z", text)
    }
    const junk = parseInstant("from", "soon") as BadParam
    assert.include(junk.detail, "2024-01-02T10:00:00Z")
    assert.notInclude(junk.detail, "has no offset")
  })
  it("any number of digits past the second: those past the microsecond round a bound up, an as-of down", () => {
    const at = Date.UTC(2024, 0, 2, 10) * 1000
    assert.strictEqual(parseInstant("from", "2024-01-02T10:00:00.0000010001Z"), at + 2)
    assert.strictEqual(parseInstant("as_of", "2024-01-02T10:00:00.0000019999999999+00:00", "truncate"), at + 1)
    assert.strictEqual(parseInstant("to", "2024-01-02T10:00:00.000001000000000000Z"), at + 1)
  })
  it("epoch microseconds with leading zeros are the same microseconds, not nanoseconds (17 digits with a leading 0)", () => {
    assert.strictEqual(parseInstant("from", "01704153600000000"), 1704153600000000)
    assert.strictEqual(parseInstant("from", "-0001704153600000000"), -1704153600000000)
    // Seconds and milliseconds, and nanoseconds, are told by their significant digits too.
    assert.include((parseInstant("from", "0001704153600000") as BadParam).detail, "milliseconds")
    assert.include((parseInstant("from", "01704153600000000000") as BadParam).detail, "nanoseconds")
  })
  it("symbols and snapshots", () => {
    assert.deepStrictEqual(parseSymbols("CBA,BHP,CBA", 10), ["BHP", "CBA"])
    assert.instanceOf(parseSymbols("bhp'--", 10), BadParam)
    assert.instanceOf(parseSymbols("A,B,C", 2), BadParam)
    // A name given twice counts once against the limit; a list naming none is not every symbol.
    assert.deepStrictEqual(parseSymbols("A,B,A,B", 2), ["A", "B"])
    assert.deepStrictEqual(parseSymbols(undefined, 2), [])
    assert.strictEqual((parseSymbols(" , ", 2) as BadParam).detail, `" , " names no symbol: leave symbols out for every symbol`)
    assert.deepStrictEqual(parseSnapshot("123", undefined), { _tag: "ById", snapshotId: 123n })
    assert.instanceOf(parseSnapshot("1", "2024-01-01"), BadParam)
    assert.instanceOf(parseSnapshot("99999999999999999999", undefined), BadParam)
  })
  it("fields and replay tables: none given is all, a list given that names none is refused", () => {
    assert.deepStrictEqual(parseFields(undefined), [])
    assert.deepStrictEqual(parseFields(" price , quantity,"), ["price", "quantity"])
    assert.strictEqual((parseFields(" , ") as BadParam).message, `fields: " , " names no column: leave fields out for every column`)
    assert.strictEqual((parseFields("") as BadParam).name, "fields")
    assert.deepStrictEqual(parseTables(undefined), ["trades", "quotes"])
    assert.deepStrictEqual(parseTables("quotes"), ["quotes"])
    assert.strictEqual((parseTables(",") as BadParam).message, `tables: "," names no table: leave tables out for trades,quotes`)
    assert.strictEqual((parseTables("both") as BadParam).message, `tables: "both" is not trades, quotes or trades,quotes (comma-separated)`)
  })
  it("format negotiation", () => {
    assert.strictEqual(negotiate(undefined, undefined, ["json", "csv"]), "json")
    assert.strictEqual(negotiate(undefined, "text/csv;q=0.9, application/json;q=0.1", ["json", "csv"]), "csv")
    assert.strictEqual(negotiate("csv", "application/json", ["json", "csv"]), "csv")
    assert.instanceOf(negotiate(undefined, "image/png", ["json", "csv"]), BadParam)
    assert.instanceOf(negotiate("xml", undefined, ["json", "csv"]), BadParam)
  })
})

describe("server config", () => {
  it("keys are name:sha256:scopes; errors never echo a hash", () => {
    const hash = sha256Hex("secret")
    const keys = parseKeys(`alice:${hash}:read+sql, bob:${sha256Hex("other").toUpperCase()}:*`)
    assert.ok(Array.isArray(keys))
    const [a, b] = keys as ReadonlyArray<{ name: string; sha256: string; scopes: ReadonlySet<string> }>
    assert.deepStrictEqual([...a!.scopes].sort(), ["read", "sql"])
    assert.strictEqual(b!.sha256, sha256Hex("other"))
    assert.strictEqual(b!.scopes.size, 4)
    const bad = parseKeys(`carol:${hash}:admin`)
    assert.instanceOf(bad, InvalidServerConfig)
    assert.notInclude((bad as InvalidServerConfig).message, hash)
    assert.instanceOf(parseKeys("dave:short:read"), InvalidServerConfig)
  })
  it("rate limiter: fixed windows per key", () => {
    const l = new RateLimiter(2, 10)
    assert.isTrue(l.hit("a", 1_000).allowed)
    assert.isTrue(l.hit("a", 2_000).allowed)
    const third = l.hit("a", 3_000)
    assert.isFalse(third.allowed)
    assert.strictEqual(third.reset, 7)
    assert.isTrue(l.hit("b", 3_000).allowed)
    assert.isTrue(l.hit("a", 10_000).allowed)
  })
  it("ETags and values", () => {
    assert.isTrue(etagMatches("\"x\", \"y\"", "\"y\""))
    assert.isTrue(etagMatches("W/\"y\"", "\"y\""))
    assert.isFalse(etagMatches(undefined, "\"y\""))
    assert.deepStrictEqual(present({ exchange_timestamp: 1_704_153_600_000_001, source_sequence: 5n, price: "1.00000000" }), {
      exchange_timestamp: "2024-01-02T00:00:00.000001Z",
      source_sequence: "5",
      price: "1.00000000"
    })
    // A map key "__proto__" (vendor_data keeps it, as ingestion does) is a key like any other.
    const vendor: Record<string, string> = {}
    Object.defineProperty(vendor, "__proto__", { value: "x", enumerable: true, writable: true, configurable: true })
    assert.strictEqual(JSON.stringify(present({ vendor_data: vendor })), "{\"vendor_data\":{\"__proto__\":\"x\"}}")
  })
})
