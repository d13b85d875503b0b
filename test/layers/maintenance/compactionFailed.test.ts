/**
 * CompactionFailed names each failed day as the progress log does: an unpartitioned table's one
 * "day" has the empty label, which read "day(s): : detail".
 */
import { assert, describe, it } from "@effect/vitest"
import { CompactionFailed } from "../../../src/services/Maintenance.ts"

describe("CompactionFailed", () => {
  it("names a day by its label, and an unpartitioned table's as (unpartitioned)", () => {
    const e = new CompactionFailed({
      table: "market_data.trades",
      days: [{ partition: "exchange_timestamp_day=2024-01-02", detail: "missing file" }, { partition: "", detail: "corrupt file" }]
    })
    assert.strictEqual(
      e.message,
      "compaction of market_data.trades failed for 2 day(s): exchange_timestamp_day=2024-01-02: missing file; (unpartitioned): corrupt file"
    )
  })
})
