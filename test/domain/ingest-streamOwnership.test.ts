import { assert, describe, it } from "@effect/vitest"
import { claim, newestCheckpoints, ownerOf, StreamSet } from "../../src/domain/ingest/streamOwnership.ts"

const part = (key: string, table = "trades") => ({ key, table, streams: new StreamSet() })

/** A checkpoint holding one stream whose last sequence is `last`. */
const checkpoint = (symbol: string, last: number) => JSON.stringify({ v: 1, streams: [["ASX", symbol, last, 0, 0, null, []]] })

describe("stream ownership", () => {
  it("a stream belongs to the partition that last carried it", () => {
    const [p0, p1] = [part("t:0"), part("t:1")]
    claim([p0, p1], p1, "ASX", "XYZ")
    claim([p0, p1], p0, "ASX", "XYZ")
    assert.isTrue(p0.streams.has("ASX", "XYZ"))
    assert.isFalse(p1.streams.has("ASX", "XYZ"))
    assert.strictEqual(p1.streams.size, 0)
    assert.strictEqual(ownerOf([p0, p1], "trades", "ASX", "XYZ", (key) => key === "t:1"), p0)
    assert.isUndefined(ownerOf([p0, p1], "trades", "ASX", "XYZ", (key) => key === "t:0"))
  })

  it("tables own their streams apart", () => {
    const [trades, quotes] = [part("t:0"), part("q:0", "quotes")]
    claim([trades, quotes], trades, "ASX", "XYZ")
    claim([trades, quotes], quotes, "ASX", "XYZ")
    assert.isTrue(trades.streams.has("ASX", "XYZ") && quotes.streams.has("ASX", "XYZ"))
  })

  it("checkpoints restored together: a stream comes from the one furthest along its sequence (heads at the same time)", () => {
    const from = newestCheckpoints([
      { key: "t:0", table: "trades", json: checkpoint("XYZ", 50) },
      { key: "t:1", table: "trades", json: checkpoint("XYZ", 100) },
      { key: "q:0", table: "quotes", json: checkpoint("XYZ", 7) }
    ])
    assert.strictEqual(from("trades", "ASX", "XYZ"), "t:1")
    assert.strictEqual(from("quotes", "ASX", "XYZ"), "q:0")
    assert.isUndefined(from("trades", "ASX", "ABC"))
  })

  it("a stream that moved and restarted its sequence on a new day comes from the checkpoint of the new day", () => {
    // t:0 carried XYZ up to 5,000 on Monday (a writer that never saw it leave keeps checkpointing
    // that); from Tuesday it comes on t:1, numbered from 1 again.
    const monday = Date.UTC(2024, 2, 4, 5) * 1000
    const tuesday = Date.UTC(2024, 2, 5, 0) * 1000
    const at = (last: number, lastTs: number) => JSON.stringify({ v: 1, streams: [["ASX", "XYZ", last, lastTs, 1, null, []]] })
    const from = newestCheckpoints([
      { key: "t:0", table: "trades", json: at(5_000, monday) },
      { key: "t:1", table: "trades", json: at(300, tuesday) }
    ])
    assert.strictEqual(from("trades", "ASX", "XYZ"), "t:1")
  })
})
