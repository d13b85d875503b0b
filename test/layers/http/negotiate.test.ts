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
})
