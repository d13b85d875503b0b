/** Accept negotiation: wildcards name only the types they cover, and q=0 refuses a type even under a wildcard. */
import { assert, describe, it } from "@effect/vitest"
import { BadParam, negotiate } from "../../../src/domain/api/params.ts"

describe("format negotiation by Accept", () => {
  it("text/* is a text type: CSV on tabular routes, SSE on replay, never JSON or NDJSON", () => {
    assert.strictEqual(negotiate(undefined, "text/*", ["json", "csv", "parquet"]), "csv")
    assert.strictEqual(negotiate(undefined, "text/*", ["ndjson", "sse"]), "sse")
    assert.instanceOf(negotiate(undefined, "text/*", ["json", "parquet"]), BadParam)
  })
  it("application/* is an application type", () => {
    assert.strictEqual(negotiate(undefined, "application/*", ["json", "csv", "parquet"]), "json")
    assert.strictEqual(negotiate(undefined, "application/*", ["csv", "parquet"]), "parquet")
    assert.instanceOf(negotiate(undefined, "application/*", ["csv"]), BadParam)
  })
  it("a type refused with q=0 is not chosen through */*", () => {
    assert.strictEqual(negotiate(undefined, "application/json;q=0, */*", ["json", "csv", "parquet"]), "csv")
    assert.strictEqual(negotiate(undefined, "*/*, application/json; q=0", ["json", "csv", "parquet"]), "csv")
    assert.strictEqual(negotiate(undefined, "text/csv;q=0, text/*", ["json", "csv", "parquet"]) instanceof BadParam, true)
  })
  it("unchanged: explicit types, q order, defaults", () => {
    assert.strictEqual(negotiate(undefined, "*/*", ["json", "csv"]), "json")
    assert.strictEqual(negotiate(undefined, undefined, ["json", "csv"]), "json")
    assert.strictEqual(negotiate(undefined, "text/csv;q=0.9, application/json;q=0.1", ["json", "csv"]), "csv")
    assert.strictEqual(negotiate(undefined, "text/event-stream", ["ndjson", "sse"]), "sse")
    assert.instanceOf(negotiate(undefined, "image/png", ["json", "csv"]), BadParam)
  })
  it("a type's quality is that of the most specific range naming it (RFC 9110 12.5.1), not the first range by q that covers it", () => {
    // JSON only if nothing else: CSV (q=1 through */*) before JSON (its own q=0.1).
    assert.strictEqual(negotiate(undefined, "application/json;q=0.1, */*", ["json", "csv", "parquet"]), "csv")
    assert.strictEqual(negotiate(undefined, "*/*;q=0.8, application/json;q=0.5", ["json", "csv", "parquet"]), "csv")
    assert.strictEqual(negotiate(undefined, "application/json;q=0.5, application/*", ["json", "csv", "parquet"]), "parquet")
    assert.strictEqual(negotiate(undefined, "text/event-stream;q=0.2, */*;q=0.5", ["ndjson", "sse"]), "ndjson")
    // Still: the client's order among equals, and the route's default through a bare wildcard.
    assert.strictEqual(negotiate(undefined, "text/csv, application/json", ["json", "csv"]), "csv")
    assert.strictEqual(negotiate(undefined, "text/csv;q=0.5, */*;q=0.5", ["json", "csv"]), "csv")
    assert.strictEqual(negotiate(undefined, "application/json;q=0.5, */*;q=0.1", ["json", "csv"]), "json")
  })
})
