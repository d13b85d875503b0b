/**
 * A SQL answer's instants are ISO-8601 UTC with microseconds whatever their year: those more than
 * ~285 years from 1970 (2^53 µs) were DuckDB's own text ("1500-01-01 00:00:00+00"), so one column
 * could hold two formats (`exchange_timestamp - INTERVAL 400 YEAR`) and a strict ISO parser failed.
 */
import { DuckDBTimestampTZValue, DuckDBTimestampValue, TIMESTAMP, TIMESTAMPTZ } from "@duckdb/node-api"
import { assert, describe, it } from "@effect/vitest"
import { toJson } from "../../../src/layers/http/sqlJson.ts"

const micros = (iso: string, extra: bigint) => BigInt(Date.parse(iso)) * 1000n + extra

describe("SQL answers' instants", () => {
  it("are ISO-8601 UTC with microseconds far from 1970 too, as Date.toISOString writes such years", () => {
    const tz = (us: bigint) => toJson(new DuckDBTimestampTZValue(us), TIMESTAMPTZ, toJson)
    assert.strictEqual(tz(micros("1500-01-01T00:00:00Z", 123_456n)), "1500-01-01T00:00:00.123456Z")
    assert.strictEqual(tz(micros("1500-01-01T00:00:00Z", -1n)), "1499-12-31T23:59:59.999999Z")
    assert.strictEqual(tz(micros("2300-06-30T12:34:56.789Z", 1n)), "2300-06-30T12:34:56.789001Z")
    assert.strictEqual(tz(micros("-000044-03-15T00:00:00Z", 0n)), "-000044-03-15T00:00:00.000000Z")
    assert.strictEqual(
      toJson(new DuckDBTimestampValue(micros("+012345-01-02T03:04:05.006Z", 7n)), TIMESTAMP, toJson),
      "+012345-01-02T03:04:05.006007Z"
    )
    // Within 2^53 µs as before; the infinities keep DuckDB's words.
    assert.strictEqual(tz(micros("2024-01-02T10:00:00Z", 5n)), "2024-01-02T10:00:00.000005Z")
    assert.strictEqual(tz(DuckDBTimestampTZValue.PosInf.micros), "infinity")
    assert.strictEqual(tz(DuckDBTimestampTZValue.NegInf.micros), "-infinity")
  })
})
