import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { claim, holdAll, keepOnly, letGoAll, movedAmong, newestCheckpoints, ownerOf, restartingTogether, StreamSet } from "../../src/domain/ingest/streamOwnership.ts"
import { type SequenceInput, SequenceTrackerState } from "../../src/domain/sequence/tracker.ts"

const part = (key: string, table = "trades") => ({ key, table, streams: new StreamSet(), left: new StreamSet() })
type Part = ReturnType<typeof part>
const byKey = (...parts: ReadonlyArray<Part>) => new Map(parts.map((p) => [p.key, p]))

/** A checkpoint holding one stream whose last sequence is `last`. */
const checkpoint = (symbol: string, last: number) => JSON.stringify({ v: 1, streams: [["ASX", symbol, last, 0, 0, null, []]] })

describe("stream ownership", () => {
  it("a stream set answers every question before its first stream, and after its last one left", () => {
    const set = new StreamSet()
    const asked = () => {
      assert.strictEqual(set.size, 0)
      assert.isFalse(set.has("ASX", "BHP"))
      assert.isFalse(set.some(() => true))
      set.delete("ASX", "BHP")
      set.retain(() => false)
      assert.strictEqual(set.size, 0)
    }
    asked()
    set.add("ASX", "BHP")
    set.add("ASX", "BHP")
    set.add("CHIA", "CBA")
    assert.strictEqual(set.size, 2)
    assert.isTrue(set.has("ASX", "BHP"))
    set.delete("ASX", "BHP")
    set.retain((exchange) => exchange !== "CHIA")
    asked()
    set.add("ASX", "BHP")
    assert.isTrue(set.some((exchange, symbol) => exchange === "ASX" && symbol === "BHP"))
  })

  it("a stream belongs to the partition that last carried it", () => {
    const [p0, p1] = [part("t:0"), part("t:1")]
    const installed = byKey(p0, p1)
    claim(installed, p1, "ASX", "XYZ")
    claim(installed, p0, "ASX", "XYZ")
    assert.isTrue(p0.streams.has("ASX", "XYZ"))
    assert.isFalse(p1.streams.has("ASX", "XYZ"))
    assert.strictEqual(p1.streams.size, 0)
    assert.strictEqual(ownerOf(installed, "trades", "ASX", "XYZ", (key) => key === "t:1"), p0)
    assert.isUndefined(ownerOf(installed, "trades", "ASX", "XYZ", (key) => key === "t:0"))
  })

  it("a claim asks no other partition whether it owns the stream: one lookup, however many partitions", () => {
    // 480 partitions of a table: every partition was asked, 40 µs a claim, on every record of a stream
    // new to its partition (a feed of more symbols than the tracker holds: nearly every record).
    let asked = 0
    const counted = (key: string) => {
      const p = part(key)
      const has = p.streams.has.bind(p.streams)
      p.streams.has = (exchange: string, symbol: string) => (asked++, has(exchange, symbol))
      return p
    }
    const parts = Array.from({ length: 480 }, (_, i) => counted(`t:${i}`))
    const installed = byKey(...parts)
    for (let i = 0; i < 1_000; i++) claim(installed, parts[i % 480]!, "ASX", `S${i}`)
    claim(installed, parts[1]!, "ASX", "S0")
    assert.isTrue(parts[0]!.left.has("ASX", "S0") && parts[1]!.streams.has("ASX", "S0") && !parts[0]!.streams.has("ASX", "S0"))
    assert.isAtMost(asked, 2 * 1_001)
  })

  it("a stream whose owner was uninstalled, or let it go, has none; a partition installed over it owns what it restored", () => {
    const [p0, p1] = [part("t:0"), part("t:1")]
    const installed = new Map([[p0.key, p0], [p1.key, p1]])
    claim(installed, p0, "ASX", "XYZ")
    claim(installed, p0, "ASX", "ABC")
    keepOnly(installed, p0, (_, symbol) => symbol === "ABC")
    assert.isUndefined(ownerOf(installed, "trades", "ASX", "XYZ", () => false))
    assert.strictEqual(ownerOf(installed, "trades", "ASX", "ABC", () => false), p0)
    // t:0 restarted: its new state restored ABC from its checkpoint.
    const again = part("t:0")
    again.streams.add("ASX", "ABC")
    letGoAll(installed, p0)
    installed.set(again.key, again)
    holdAll(installed, again)
    assert.strictEqual(ownerOf(installed, "trades", "ASX", "ABC", () => false), again)
    // Revoked: nobody owns it, and t:1 takes it without a move.
    letGoAll(installed, again)
    installed.delete(again.key)
    assert.isUndefined(ownerOf(installed, "trades", "ASX", "ABC", () => false))
    claim(installed, p1, "ASX", "ABC")
    assert.isFalse(p1.left.has("ASX", "ABC"))
  })

  it("partitions that carried a stream in common restart together, transitively, within their table", () => {
    const [p0, p1, p2, p3, q0] = [part("t:0"), part("t:1"), part("t:2"), part("t:3"), part("q:0", "quotes")]
    const all = [p0, p1, p2, p3, q0]
    const installed = byKey(...all)
    claim(installed, p0, "ASX", "XYZ")
    claim(installed, p1, "ASX", "XYZ")
    claim(installed, p1, "ASX", "ABC")
    claim(installed, p2, "ASX", "ABC")
    claim(installed, p3, "ASX", "DEF")
    claim(installed, q0, "ASX", "XYZ")
    assert.isTrue(p0.left.has("ASX", "XYZ") && p1.left.has("ASX", "ABC") && p1.streams.has("ASX", "XYZ"))
    const keys = (parts: ReadonlyArray<{ readonly key: string }>) => parts.map((p) => p.key).sort()
    assert.deepStrictEqual(keys(restartingTogether(all, [p0])), ["t:0", "t:1", "t:2"])
    assert.deepStrictEqual(keys(restartingTogether(all, [p2])), ["t:0", "t:1", "t:2"])
    assert.deepStrictEqual(keys(restartingTogether(all, [p3])), ["t:3"])
    assert.deepStrictEqual(keys(restartingTogether(all, [q0])), ["q:0"])
  })

  it("a stream moved when a partition of its table has it in left, whichever partition", () => {
    const [p0, p1, q0] = [part("t:0"), part("t:1"), part("q:0", "quotes")]
    const installed = byKey(p0, p1, q0)
    claim(installed, p0, "ASX", "XYZ")
    claim(installed, p1, "ASX", "XYZ")
    claim(installed, p0, "ASX", "ABC")
    claim(installed, q0, "ASX", "XYZ")
    const moved = movedAmong(installed.values())
    assert.isTrue(moved("trades", "ASX", "XYZ"))
    assert.isFalse(moved("trades", "ASX", "ABC"))
    assert.isFalse(moved("quotes", "ASX", "XYZ"))
    assert.isFalse(moved("trades", "CXA", "XYZ"))
  })

  it("tables own their streams apart", () => {
    const [trades, quotes] = [part("t:0"), part("q:0", "quotes")]
    const installed = byKey(trades, quotes)
    claim(installed, trades, "ASX", "XYZ")
    claim(installed, quotes, "ASX", "XYZ")
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

  it("checkpoints restored together: the one furthest along wins whichever comes first", () => {
    const from = newestCheckpoints([
      { key: "t:1", table: "trades", json: checkpoint("XYZ", 100) },
      { key: "t:0", table: "trades", json: checkpoint("XYZ", 50) }
    ])
    assert.strictEqual(from("trades", "ASX", "XYZ"), "t:1")
  })

  it("two partitions that both carried a stream since moved on restart together, its present owner gone", () => {
    const [p0, p1, p2] = [part("t:0"), part("t:1"), part("t:2")]
    const installed = byKey(p0, p1, p2)
    claim(installed, p0, "ASX", "XYZ")
    claim(installed, p1, "ASX", "XYZ")
    claim(installed, p2, "ASX", "XYZ")
    assert.isTrue(p0.left.has("ASX", "XYZ") && p1.left.has("ASX", "XYZ"))
    // t:2, which owns it now, was revoked: t:0 and t:1 each fed the stream's state.
    assert.deepStrictEqual(restartingTogether([p0, p1], [p0]).map((p) => p.key).sort(), ["t:0", "t:1"])
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

describe("stream ownership across a restart", () => {
  const T0 = Date.UTC(2024, 2, 4, 0) * 1000
  const trade = (seq: number, tsSeconds: number): SequenceInput => ({
    exchange: "ASX",
    symbol: "XYZ",
    source_sequence: BigInt(seq),
    exchange_timestamp: T0 + tsSeconds * 1_000_000,
    message_id: `XYZ:${seq}`
  })

  it("a moved stream whose new partition only filled a gap comes back from the new partition's checkpoint", () => {
    // One tracker: XYZ on t:0 with 2 missing, checkpointed; it moves to t:1, where 2 comes late.
    // t:0 carries nothing more, so its checkpoint (XYZ with 2 open) is the one its summary keeps.
    const tracker = new SequenceTrackerState()
    tracker.observe([trade(1, 1), trade(3, 3)], T0)
    const t0 = tracker.checkpoint()
    assert.deepStrictEqual(tracker.observe([trade(2, 2)], T0 + 1_000_000).events.map((e) => e.kind), ["GAP_FILLED"])
    const t1 = tracker.checkpoint()
    // The head (3, at 3 s) is the same in both: only when each was last judged tells them apart.
    for (const order of [[["t:0", t0], ["t:1", t1]], [["t:1", t1], ["t:0", t0]]] as const) {
      const from = newestCheckpoints(order.map(([key, json]) => ({ key, table: "trades", json })))
      assert.strictEqual(from("trades", "ASX", "XYZ"), "t:1")
    }
    // Restored from it, 2 sent again is a duplicate (not written), as in one uninterrupted run.
    const restarted = new SequenceTrackerState()
    assert.isTrue(Result.isSuccess(restarted.restore(t1)))
    assert.deepStrictEqual(restarted.observe([trade(2, 2)], T0 + 2_000_000).duplicates, [0])
  })

  it("a moved stream whose exchange time went back on its new partition comes back from the new partition's checkpoint", () => {
    // 11 is stamped a microsecond before 10 (two matching engines): the head's exchange time goes back.
    const tracker = new SequenceTrackerState()
    tracker.observe([trade(9, 9), trade(10, 10)], T0)
    const t0 = tracker.checkpoint()
    tracker.observe([{ ...trade(11, 10), exchange_timestamp: T0 + 10_000_000 - 1 }], T0 + 1_000_000)
    const t1 = tracker.checkpoint()
    const from = newestCheckpoints([{ key: "t:0", table: "trades", json: t0 }, { key: "t:1", table: "trades", json: t1 }])
    assert.strictEqual(from("trades", "ASX", "XYZ"), "t:1")
  })
})
