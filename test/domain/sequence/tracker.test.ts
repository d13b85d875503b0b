import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { sequenceEventColumns } from "../../../src/domain/sequence/events.ts"
import {
  type Observation,
  type SequenceInput,
  SequenceTrackerState,
  forEachKept
} from "../../../src/domain/sequence/tracker.ts"
import type { QuoteRow, TradeRow } from "../../../src/domain/rows.ts"
import { sequenceEventsSchema } from "../../../src/domain/tables.ts"

// Ingestion's rows are tracker input as they are (a compile-time check).
export const rowsFit = (row: TradeRow | QuoteRow): SequenceInput => row

const T0 = Date.UTC(2024, 2, 4, 0) * 1000
let offset = 0n
const msg = (symbol: string, seq: number | bigint | null, tsSeconds = 0, exchange = "ASX"): SequenceInput => ({
  exchange,
  symbol,
  source_sequence: seq === null ? null : BigInt(seq),
  exchange_timestamp: T0 + tsSeconds * 1_000_000,
  message_id: `${exchange}:${symbol}:${seq}:${tsSeconds}`,
  kafka_topic: "trades",
  kafka_partition: 3,
  kafka_offset: offset++
})
const kinds = (o: Observation) => o.events.map((e) => `${e.symbol}:${e.kind}:${e.received}`)

describe("SequenceTrackerState", () => {
  it("keeps streams apart by (exchange, symbol)", () => {
    const t = new SequenceTrackerState()
    const o = t.observe([msg("BHP", 1), msg("BHP", 1, 0, "CHIA"), msg("CBA", 7), msg("BHP", 2), msg("BHP", 3, 1, "CHIA")], 0)
    assert.deepStrictEqual(kinds(o), ["BHP:GAP:3"])
    assert.strictEqual(o.events[0]!.exchange, "CHIA")
    assert.strictEqual(t.size, 3)
  })

  it("reports duplicates by index and leaves them out of what is written", () => {
    const t = new SequenceTrackerState()
    const rows = [msg("BHP", 1), msg("BHP", 2), msg("BHP", 2), msg("BHP", 3), msg("BHP", 1)]
    const o = t.observe(rows, 0)
    assert.deepStrictEqual(o.duplicates, [2, 4])
    const kept = (observation: typeof o) => {
      const out: Array<[typeof rows[number], number]> = []
      forEachKept(rows, observation, (row, i) => out.push([row, i]))
      return out
    }
    assert.deepStrictEqual(kept(o), [[rows[0]!, 0], [rows[1]!, 1], [rows[3]!, 3]])
    const clean = t.observe([msg("BHP", 4)], 0)
    assert.deepStrictEqual(kept(clean), rows.map((r, i) => [r, i]))
  })

  it("turns every verdict but OK into a sequence_events row with the Kafka coordinates", () => {
    const t = new SequenceTrackerState()
    const rows = [msg("BHP", 1, 0), msg("BHP", 4, 1), msg("BHP", 2, 2), msg("BHP", 2, 3)]
    const o = t.observe(rows, 1_700_000_000_000_000)
    assert.deepStrictEqual(o.events[0], {
      detected_at: 1_700_000_000_000_000,
      symbol: "BHP",
      exchange: "ASX",
      kind: "GAP",
      expected: 2n,
      received: 4n,
      gap_size: 2n,
      exchange_timestamp: T0 + 1_000_000,
      message_id: rows[1]!.message_id,
      kafka_topic: "trades",
      kafka_partition: 3,
      kafka_offset: rows[1]!.kafka_offset!
    })
    assert.deepStrictEqual(o.events.map((e) => [e.kind, e.gap_size]), [["GAP", 2n], ["GAP_FILLED", 1n], ["DUPLICATE", null]])
    const stats = t.stats()
    assert.deepStrictEqual(stats.verdicts, { OK: 1, GAP: 1, DUPLICATE: 1, OUT_OF_ORDER: 0, RESET: 0, GAP_FILLED: 1 })
  })

  describe("gaps given up, counted by reason", () => {
    // A gap still open at a RESET is given up every day on a feed that never fills it (normal);
    // one dropped beyond maxGaps is a stream losing data badly: an operator alerts on that alone.
    it("the oldest ranges dropped beyond maxGaps count under limit, ranges still open at a RESET under reset", () => {
      const t = new SequenceTrackerState({ maxGaps: 2 })
      // 1, 3, 5, 7, 9: four gaps, two kept; the two oldest are dropped.
      t.observe([1, 3, 5, 7, 9].map((seq, i) => msg("BHP", seq, i)), 0)
      assert.deepStrictEqual(t.stats().gapsGivenUp, { reset: 0, limit: 2 })
      // 40 minutes idle, the numbering starts again: the two ranges still open are given up.
      assert.deepStrictEqual(kinds(t.observe([msg("BHP", 1, 40 * 60)], 0)), ["BHP:RESET:1"])
      assert.deepStrictEqual(t.stats().gapsGivenUp, { reset: 2, limit: 2 })
    })

    it("a session begun by a forward step that restarts its numbering gives up the old session's ranges under reset", () => {
      const t = new SequenceTrackerState()
      const o = t.observe([
        msg("BHP", 1, 0),
        msg("BHP", 3, 1), // GAP 2
        msg("BHP", 10, 40 * 60), // after 40 minutes idle, a forward step: GAP 4..9
        msg("BHP", 1, 41 * 60) // the numbering restarted: RESET; the old session's 2 and 4..9 go
      ], 0)
      assert.deepStrictEqual(kinds(o), ["BHP:GAP:3", "BHP:GAP:10", "BHP:RESET:1"])
      assert.deepStrictEqual(t.stats().gapsGivenUp, { reset: 2, limit: 0 })
    })
  })

  it("rows without Kafka coordinates get nulls", () => {
    const t = new SequenceTrackerState()
    const o = t.observe([
      { exchange: "ASX", symbol: "X", source_sequence: 1n, exchange_timestamp: T0, message_id: "a" },
      { exchange: "ASX", symbol: "X", source_sequence: 3n, exchange_timestamp: T0, message_id: "b" }
    ], 0)
    assert.deepStrictEqual([o.events[0]!.kafka_topic, o.events[0]!.kafka_partition, o.events[0]!.kafka_offset], [null, null, null])
  })

  it("events at the top of the long range fit sequence_events' long columns: no expected beyond 2^63 - 1", () => {
    // The stream's head is the largest long: there is no next sequence to expect.
    const MAX = 2n ** 63n - 1n
    const t = new SequenceTrackerState()
    const o = t.observe([msg("X", MAX - 3n, 0), msg("X", MAX, 1), msg("X", MAX, 2), msg("X", MAX - 1n, 3), msg("X", MAX - 9n, 4), msg("X", 1, 7200)], 0)
    assert.deepStrictEqual(o.events.map((e) => [e.kind, e.expected, e.received, e.gap_size]), [
      ["GAP", MAX - 2n, MAX, 2n],
      ["DUPLICATE", null, MAX, null],
      ["GAP_FILLED", null, MAX - 1n, 1n],
      ["OUT_OF_ORDER", null, MAX - 9n, null],
      ["RESET", null, 1n, null]
    ])
    for (const column of ["expected", "received", "gap_size", "kafka_offset"] as const) {
      for (const v of sequenceEventColumns(o.events).columns[column]!) {
        if (v !== null) assert.isTrue(BigInt.asIntN(64, v as bigint) === v, `${column} ${v} is a long`)
      }
    }
  })

  describe("LRU", () => {
    it("evicts the least recently seen stream at capacity, counts it, and restarts it without a false gap", () => {
      const t = new SequenceTrackerState({ capacity: 3 })
      t.observe([msg("A", 1), msg("B", 1), msg("C", 1), msg("A", 2)], 0) // B is now the oldest
      assert.strictEqual(t.stats().evictions, 0)
      const o = t.observe([msg("D", 1)], 0)
      assert.strictEqual(t.size, 3)
      assert.strictEqual(t.stats().evictions, 1)
      assert.isUndefined(t.peek("ASX", "B"))
      assert.isDefined(t.peek("ASX", "A"))
      assert.deepStrictEqual(o.events, [])
      // B comes back far ahead: a fresh stream, no GAP; it evicts C, the oldest now.
      const back = t.observe([msg("B", 500), msg("B", 501), msg("A", 3), msg("D", 2)], 0)
      assert.deepStrictEqual(back.events, [])
      assert.isUndefined(t.peek("ASX", "C"))
      assert.deepStrictEqual(t.stats().evictions, 2)
      assert.deepStrictEqual(t.stats().verdicts.OK, 9)
    })

    it("holds exactly capacity streams under churn", () => {
      const t = new SequenceTrackerState({ capacity: 100 })
      for (let round = 1; round <= 3; round++) {
        const o = t.observe(Array.from({ length: 250 }, (_, i) => msg(`S${i}`, round * 10)), 0)
        assert.deepStrictEqual(o.events, [])
      }
      assert.strictEqual(t.size, 100)
      assert.strictEqual(t.stats().evictions, 650)
      assert.strictEqual(JSON.parse(t.checkpoint()).streams.length, 100)
    })

    it("holds no more exchanges than streams: those of evicted or forgotten streams go too", () => {
      const t = new SequenceTrackerState({ capacity: 10 })
      for (let i = 0; i < 1_000; i++) t.observe([msg("BHP", 1, 0, `X${i}`)], 0)
      assert.strictEqual(t.size, 10)
      assert.strictEqual(t.exchanges, 10)
      t.forget()
      assert.strictEqual(t.exchanges, 0)
      // Restoring over the only stream of an exchange keeps the restored one indexed.
      t.observe([msg("CBA", 5, 0, "SOLO")], 0)
      const json = t.checkpoint()
      t.observe([msg("CBA", 6, 0, "SOLO")], 0)
      assert.isTrue(Result.isSuccess(t.restore(json)))
      assert.strictEqual(t.peek("SOLO", "CBA")?.last, 5)
      assert.deepStrictEqual(kinds(t.observe([msg("CBA", 6, 0, "SOLO")], 0)), [])
    })

    it("a capacity of 10,000 streams by default", () => {
      assert.strictEqual(new SequenceTrackerState().stats().capacity, 10_000)
    })
  })

  describe("checkpoint and restore", () => {
    it("checkpointsOf gives each owner what checkpoint gives with a filter of its streams, in one pass", () => {
      const t = new SequenceTrackerState()
      const symbols = Array.from({ length: 40 }, (_, i) => `S${i}`)
      // Seen in an interleaved order, with gaps and a second exchange: the LRU order and the seenAt deltas matter.
      for (let round = 1; round <= 3; round++) {
        t.observe(symbols.flatMap((s, i) => i % round === 0 ? [msg(s, round * 2, round + i), msg(s, round * 2, round + i, "CHIA")] : []), round * 1000)
      }
      const ownerOf = (exchange: string, symbol: string) => (Number(symbol.slice(1)) + (exchange === "CHIA" ? 1 : 0)) % 7
      const owners = [0, 1, 2, 3, 4, 5, 6, 7]
      let asked = 0
      const texts = t.checkpointsOf(owners, (exchange, symbol) => {
        asked++
        // Owner 3 shares its streams with owner 7, which has none of its own.
        const owner = ownerOf(exchange, symbol)
        return owner === 3 ? [3, 7] : [owner]
      })
      assert.strictEqual(asked, t.size, "one question a stream")
      for (const owner of owners) {
        const filter = (exchange: string, symbol: string) => ownerOf(exchange, symbol) === (owner === 7 ? 3 : owner)
        assert.strictEqual(texts.get(owner), t.checkpoint(filter), `owner ${owner}`)
      }
    })

    it("a restart in the middle of a stream, with a gap on each side, reports exactly what an uninterrupted run does", () => {
      const before = [msg("BHP", 1, 0), msg("BHP", 2, 1), msg("BHP", 5, 2), msg("CBA", 10, 2), msg("BHP", 3, 3)] // GAP 3..4, fill 3
      const after = [msg("BHP", 6, 4), msg("BHP", 4, 5), msg("BHP", 9, 6), msg("BHP", 7, 7), msg("BHP", 7, 8), msg("CBA", 11, 9)]
      const whole = new SequenceTrackerState()
      const uninterrupted = whole.observe([...before, ...after], 0)

      const first = new SequenceTrackerState()
      const o1 = first.observe(before, 0)
      const checkpoint = first.checkpoint()
      const restarted = new SequenceTrackerState()
      assert.deepStrictEqual(restarted.restore(checkpoint), Result.succeed(2))
      const o2 = restarted.observe(after, 0)

      assert.deepStrictEqual(kinds(o1), ["BHP:GAP:5", "BHP:GAP_FILLED:3"])
      assert.deepStrictEqual(kinds(o2), ["BHP:GAP_FILLED:4", "BHP:GAP:9", "BHP:GAP_FILLED:7", "BHP:DUPLICATE:7"])
      assert.deepStrictEqual([...o1.events, ...o2.events], uninterrupted.events)
      assert.deepStrictEqual([...o1.duplicates, ...o2.duplicates.map((i) => i + before.length)], uninterrupted.duplicates)
      assert.strictEqual(restarted.checkpoint(), whole.checkpoint())
    })

    it("a restart after a RESET still knows where the session began: an old session's straggler stays OUT_OF_ORDER", () => {
      // BHP 10 at 10:00 (GAP 9), an idle RESET at 11:00 and 1..12, then 9, stamped after 10, comes late.
      const before = [msg("BHP", 8, 0), msg("BHP", 10, 60), ...Array.from({ length: 12 }, (_, i) => msg("BHP", i + 1, 3600 + i))]
      const after = [msg("BHP", 9, 90), msg("BHP", 13, 3612)]
      const whole = new SequenceTrackerState()
      const uninterrupted = whole.observe([...before, ...after], 0)
      assert.deepStrictEqual(kinds(uninterrupted).slice(-1), ["BHP:OUT_OF_ORDER:9"])

      const first = new SequenceTrackerState()
      const o1 = first.observe(before, 0)
      const restarted = new SequenceTrackerState()
      assert.isTrue(Result.isSuccess(restarted.restore(first.checkpoint())))
      const o2 = restarted.observe(after, 0)
      assert.deepStrictEqual([...o1.events, ...o2.events], uninterrupted.events)
      assert.deepStrictEqual(o2.duplicates, [])
      assert.strictEqual(restarted.checkpoint(), whole.checkpoint())
    })

    it("is compact, deterministic JSON, least recently seen first, each seen time after the one before", () => {
      const t = new SequenceTrackerState()
      t.observe([msg("BHP", 1, 0), msg("BHP", 4, 1), msg("CBA", 2n ** 60n, 2), msg("BHP", 5, 3)], 5)
      t.observe([msg("BHP", 1, 3600)], 7) // RESET after an hour
      assert.strictEqual(
        t.checkpoint(),
        `{"v":1,"streams":[["ASX","CBA","1152921504606846976",${T0 + 2_000_000},"1152921504606846976",null,[],5],` +
          `["ASX","BHP",1,${T0 + 3_600_000_000},1,${T0 + 3_000_000},[],2,${T0 + 3_600_000_000}]]}`
      )
      const open = new SequenceTrackerState()
      open.observe([msg("BHP", 1, 0), msg("BHP", 4, 1)], 0)
      assert.strictEqual(open.checkpoint(), `{"v":1,"streams":[["ASX","BHP",4,${T0 + 1_000_000},1,null,[2,3],0]]}`)
    })

    it("checkpoints only the selected streams, merges them on restore and forgets on request", () => {
      const t = new SequenceTrackerState()
      t.observe([msg("A", 1), msg("B", 1), msg("C", 1)], 0)
      const onlyB = t.checkpoint((_, symbol) => symbol === "B")
      assert.strictEqual(JSON.parse(onlyB).streams.length, 1)
      assert.strictEqual(t.forget((_, symbol) => symbol !== "A"), 2)
      assert.strictEqual(t.size, 1)
      assert.deepStrictEqual(t.restore(onlyB), Result.succeed(1))
      assert.strictEqual(t.size, 2)
      assert.deepStrictEqual(t.observe([msg("B", 2), msg("C", 5)], 0).events, [])
      assert.strictEqual(t.forget(), 3)
      assert.strictEqual(t.size, 0)
    })

    it("restores into a smaller capacity keeping the most recently seen", () => {
      const t = new SequenceTrackerState()
      t.observe([msg("A", 1), msg("B", 1), msg("C", 1)], 0)
      const small = new SequenceTrackerState({ capacity: 2 })
      small.restore(t.checkpoint())
      assert.isUndefined(small.peek("ASX", "A"))
      assert.isDefined(small.peek("ASX", "C"))
    })

    it("restoring several checkpoints rebuilds the order the streams were seen in: capacity evicts the stalest", () => {
      // Partition 0 carries X and Z, partition 1 Y and W; they are seen Y, X, W, Z. Restored one
      // partition after the other, X must not pass for newer than Y.
      const seen = [msg("Y", 1), msg("X", 1), msg("W", 1), msg("Z", 1)]
      const later = [[msg("V", 1)], [msg("X", 3)]]
      const whole = new SequenceTrackerState({ capacity: 4 })
      seen.forEach((m, i) => whole.observe([m], i))
      const p0 = whole.checkpoint((_, symbol) => symbol === "X" || symbol === "Z")
      const p1 = whole.checkpoint((_, symbol) => symbol === "Y" || symbol === "W")
      const uninterrupted = later.map((rows, i) => kinds(whole.observe(rows, 10 + i)))

      const restarted = new SequenceTrackerState({ capacity: 4 })
      assert.deepStrictEqual([restarted.restore(p0), restarted.restore(p1)], [Result.succeed(2), Result.succeed(2)])
      const after = later.map((rows, i) => kinds(restarted.observe(rows, 10 + i)))
      // V evicts Y, the least recently seen; X keeps its state and its gap is reported.
      assert.deepStrictEqual(after, [[], ["X:GAP:3"]])
      assert.deepStrictEqual(after, uninterrupted)
      assert.isUndefined(restarted.peek("ASX", "Y"))
      assert.strictEqual(restarted.checkpoint(), whole.checkpoint())
    })

    it("keeps the order it saw streams in through a checkpoint when its clock is behind the one restored", () => {
      const ahead = new SequenceTrackerState()
      ahead.observe([msg("X", 1)], 100)
      const t = new SequenceTrackerState({ capacity: 2 })
      t.restore(ahead.checkpoint())
      t.observe([msg("A", 1)], 50) // after X, by a clock behind
      const restarted = new SequenceTrackerState({ capacity: 2 })
      restarted.restore(t.checkpoint())
      restarted.observe([msg("B", 1)], 60)
      assert.isUndefined(restarted.peek("ASX", "X"))
      assert.isDefined(restarted.peek("ASX", "A"))
    })

    it("loads a checkpoint without last-seen times, taking the head's exchange time for it", () => {
      const old = (symbol: string, tsSeconds: number) =>
        JSON.stringify({ v: 1, streams: [["ASX", symbol, 5, T0 + tsSeconds * 1_000_000, 5, null, []]] })
      const t = new SequenceTrackerState({ capacity: 1 })
      assert.deepStrictEqual([t.restore(old("X", 2)), t.restore(old("Y", 1))], [Result.succeed(1), Result.succeed(1)])
      // Y's head is older than X's: Y is the one evicted.
      assert.isUndefined(t.peek("ASX", "Y"))
      assert.deepStrictEqual(kinds(t.observe([msg("X", 7, 3)], 0)), ["X:GAP:7"])
    })

    it("rejects a malformed checkpoint and changes nothing", () => {
      const t = new SequenceTrackerState()
      t.observe([msg("A", 1)], 0)
      for (const bad of ["", "{}", `{"v":2,"streams":[]}`, `{"v":1,"streams":[["ASX","B",1,0,1,null,[2]]]}`, `{"v":1,"streams":[["ASX","B","x",0,1,null,[]]]}`]) {
        assert.isTrue(Result.isFailure(t.restore(bad)), bad)
      }
      assert.strictEqual(t.size, 1)
    })

    it("rejects a checkpoint whose open gaps are out of order or outside the stream, changing nothing", () => {
      // Valid JSON of the right shape, but not a state the machine can reach: restored, a gap
      // out of order hides a late message (judged DUPLICATE and dropped).
      const t = new SequenceTrackerState()
      t.observe([msg("A", 1)], 0)
      const stream = (last: number | string, floor: number | string, gaps: Array<number | string>, prevTs: number | null = null) =>
        JSON.stringify({ v: 1, streams: [["ASX", "B", last, T0, floor, prevTs, gaps]] })
      for (
        const bad of [
          stream(10, 1, [7, 8, 3, 4]), // ranges not ascending
          stream(10, 1, [5, 3]), // lo > hi
          stream(10, 1, [3, 5, 5, 7]), // overlapping
          stream(10, 1, [3, 4, 5, 7]), // adjacent: no seen sequence between them
          stream(10, 4, [3, 5]), // below the floor
          stream(10, 1, [8, 10]), // up to the head, which was seen
          stream(5, 9, []), // floor above the head
          stream("10", "1", ["7", "8", "3", "4"]), // the same with bigints
          stream(10, 1, [], T0), // the previous session ends at or after the head
          JSON.stringify({ v: 1, streams: [["ASX", "B", 10, T0, 1, null, [], 0, T0]] }), // a session start without a RESET
          JSON.stringify({ v: 1, streams: [["ASX", "B", 10, T0, 1, T0 - 2, [], 0, T0 - 2]] }) // starting before the previous session ends
        ]
      ) {
        assert.isTrue(Result.isFailure(t.restore(bad)), bad)
      }
      assert.isTrue(Result.isSuccess(t.restore(stream(10, 1, [2, 3, 5, 8]))))
      assert.isTrue(Result.isSuccess(t.restore(stream(10, 10, [], T0 - 1))))
      assert.strictEqual(t.size, 2)
      assert.isDefined(t.peek("ASX", "A"))
    })

    it("10,000 streams checkpoint in well under a megabyte", () => {
      const t = new SequenceTrackerState()
      t.observe(Array.from({ length: 10_000 }, (_, i) => msg(`SYM${i}`, 1_000_000 + i, i)), 0)
      const json = t.checkpoint()
      assert.isBelow(json.length, 700_000)
      const u = new SequenceTrackerState()
      u.restore(json)
      assert.strictEqual(u.checkpoint(), json)
    })
  })
})

describe("a session begun by a forward step, across a checkpoint", () => {
  it("restores where the session began: the day's restarted numbering is a RESET, not dropped as duplicates", () => {
    const day2 = 86_400 // seconds: the next trading day in Sydney
    const first = new SequenceTrackerState()
    first.observe([msg("BHP", 1, 0), msg("BHP", 2, 1), msg("BHP", 3, 2), msg("BHP", 4, day2 + 4)], 0)
    const json = first.checkpoint()
    assert.deepStrictEqual(JSON.parse(json).streams[0].slice(8), [null, 4, T0 + 2_000_000, T0 + (day2 + 4) * 1_000_000])
    const second = new SequenceTrackerState()
    assert.isTrue(Result.isSuccess(second.restore(json)))
    const o = second.observe([msg("BHP", 1, day2 + 1), msg("BHP", 2, day2 + 2), msg("BHP", 3, day2 + 3), msg("BHP", 5, day2 + 5)], 1)
    assert.deepStrictEqual(o.duplicates, [])
    assert.deepStrictEqual(kinds(o), ["BHP:RESET:1", "BHP:GAP_FILLED:2", "BHP:GAP_FILLED:3"])
    // The restored tracker ends where one that never stopped ends.
    const whole = new SequenceTrackerState()
    whole.observe([msg("BHP", 1, 0), msg("BHP", 2, 1), msg("BHP", 3, 2), msg("BHP", 4, day2 + 4)], 0)
    whole.observe([msg("BHP", 1, day2 + 1), msg("BHP", 2, day2 + 2), msg("BHP", 3, day2 + 3), msg("BHP", 5, day2 + 5)], 1)
    assert.strictEqual(second.checkpoint(), whole.checkpoint())
    // A state the machine cannot reach is refused: the session's first sequence above the head, or inside a gap.
    const stream = JSON.parse(json).streams[0]
    for (
      const bad of [
        [...stream.slice(0, 9), 9, ...stream.slice(10)],
        [...stream.slice(0, 6), [2, 3], stream[7], null, 3, ...stream.slice(10)],
        stream.slice(0, 10),
        [...stream.slice(0, 10), stream[11], stream[10]]
      ]
    ) {
      assert.isTrue(Result.isFailure(new SequenceTrackerState().restore(JSON.stringify({ v: 1, streams: [bad] }))), JSON.stringify(bad))
    }
  })
})

describe("a session's late fills below its forward step, across a checkpoint", () => {
  it("a re-sent fill stays a DUPLICATE after a restart, and a damaged record of the fills is refused", () => {
    const day2 = 86_400 // seconds: the next trading day in Sydney
    const before = [msg("BHP", 1, 0), msg("BHP", 2, 60), msg("BHP", 5, day2 + 5), msg("BHP", 4, day2 + 4)]
    const first = new SequenceTrackerState()
    first.observe(before, 0)
    const json = first.checkpoint()
    const stream = JSON.parse(json).streams[0]
    assert.deepStrictEqual(stream.slice(9), [5, T0 + 60_000_000, T0 + (day2 + 5) * 1_000_000, [4, 4], T0 + (day2 + 4) * 1_000_000])
    const second = new SequenceTrackerState()
    assert.isTrue(Result.isSuccess(second.restore(json)))
    const after = () => [msg("BHP", 4, day2 + 4), msg("BHP", 3, day2 + 3), msg("BHP", 6, day2 + 6)]
    const o = second.observe(after(), 1)
    assert.deepStrictEqual(kinds(o), ["BHP:DUPLICATE:4", "BHP:GAP_FILLED:3"])
    assert.deepStrictEqual(o.duplicates, [0])
    const whole = new SequenceTrackerState()
    whole.observe(before, 0)
    whole.observe(after(), 1)
    assert.strictEqual(second.checkpoint(), whole.checkpoint())
    for (
      const bad of [
        [...stream.slice(0, 12), [4]],
        [...stream.slice(0, 12), [3, 4]], // 3 is still open
        [...stream.slice(0, 12), [5, 5]], // not below the forward step
        [...stream.slice(0, 12), [4, 4, 1, 1]] // not ascending
      ]
    ) {
      assert.isTrue(Result.isFailure(new SequenceTrackerState().restore(JSON.stringify({ v: 1, streams: [bad] }))), JSON.stringify(bad))
    }
  })
})

describe("a session restarted below its forward step begins at its earliest late fill, across a checkpoint", () => {
  it("the fill's re-send is a DUPLICATE and a later fill a GAP_FILLED; a fill's time not after the old head is refused", () => {
    const day2 = 86_400
    // Day 2's 6 first (a forward step, GAP 4..5), then its 5 stamped an hour earlier.
    const before = [msg("BHP", 1, 0), msg("BHP", 2, 60), msg("BHP", 3, 120), msg("BHP", 6, day2 + 3_600), msg("BHP", 5, day2)]
    const first = new SequenceTrackerState()
    first.observe(before, 0)
    const json = first.checkpoint()
    const stream = JSON.parse(json).streams[0]
    const second = new SequenceTrackerState()
    assert.isTrue(Result.isSuccess(second.restore(json)))
    // The numbering restarted at 1; then 5 (09:00) re-sent and 4, late.
    const after = () => [msg("BHP", 1, day2 + 3_900), msg("BHP", 5, day2), msg("BHP", 4, day2 + 60)]
    const o = second.observe(after(), 1)
    assert.deepStrictEqual(kinds(o), ["BHP:RESET:1", "BHP:DUPLICATE:5", "BHP:GAP_FILLED:4"])
    const whole = new SequenceTrackerState()
    whole.observe(before, 0)
    whole.observe(after(), 1)
    assert.strictEqual(second.checkpoint(), whole.checkpoint())
    const bad = [...stream.slice(0, 13), stream[10]]
    assert.isTrue(Result.isFailure(new SequenceTrackerState().restore(JSON.stringify({ v: 1, streams: [bad] }))), JSON.stringify(bad))
  })
})

describe("sequenceEventColumns", () => {
  it("has exactly the sequence_events columns with the value conventions", () => {
    const t = new SequenceTrackerState()
    const o = t.observe([msg("BHP", 1, 0), msg("BHP", 4, 1), { ...msg("BHP", 1, 2), kafka_topic: null }], 42)
    const batch = sequenceEventColumns(o.events)
    assert.strictEqual(batch.rowCount, 2)
    assert.deepStrictEqual(Object.keys(batch.columns).sort(), sequenceEventsSchema.fields.map((f) => f.name).sort())
    assert.deepStrictEqual(batch.columns.detected_at, [42n, 42n])
    assert.deepStrictEqual(batch.columns.kind, ["GAP", "DUPLICATE"])
    assert.deepStrictEqual(batch.columns.gap_size, [2n, null])
    assert.deepStrictEqual(batch.columns.exchange_timestamp, [BigInt(T0 + 1_000_000), BigInt(T0 + 2_000_000)])
    assert.deepStrictEqual(batch.columns.kafka_topic, ["trades", null])
    assert.strictEqual(typeof batch.columns.kafka_partition![0], "number")
    assert.strictEqual(typeof batch.columns.kafka_offset![0], "bigint")
  })
})
