import { assert, describe, it } from "@effect/vitest"
import { ExchangeCalendars, ZoneCalendar } from "../../../src/domain/sequence/calendar.ts"
import {
  defaultRules,
  type SequenceMessage,
  SequenceMachine,
  type SequenceRules,
  type StreamState
} from "../../../src/domain/sequence/machine.ts"
import { transition, type Verdict } from "../../support/sequenceTransition.ts"

const calendars = new ExchangeCalendars()
const MIN = 60 * 1_000_000
/** 2024-03-04T10:00:00+11:00, a Monday morning in Sydney. */
const T0 = Date.UTC(2024, 2, 3, 23) * 1000

/** Feeds (sequence, micros) pairs to one ASX stream and returns the verdicts. */
const run = (messages: ReadonlyArray<readonly [bigint | number | null, number]>, rules: Partial<SequenceRules> = {}, zone?: string) => {
  const machine = new SequenceMachine({ ...defaultRules, ...rules })
  let state: StreamState | undefined
  const verdicts: Array<Verdict> = []
  messages.forEach(([seq, ts], i) => {
    const message: SequenceMessage = {
      source_sequence: seq === null ? null : BigInt(seq),
      exchange_timestamp: ts,
      message_id: `m${i}`
    }
    const calendar = zone === undefined ? calendars.forExchange("ASX") : new ZoneCalendar(zone)
    const next = transition(machine, calendar, "ASX", "BHP", state, message)
    state = next.state
    verdicts.push(next.verdict)
  })
  return { verdicts, kinds: verdicts.map((v) => v.kind), state: state!, machine }
}

/** Consecutive timestamps one second apart from T0. */
const seconds = (...seqs: Array<number | bigint | null>) => seqs.map((s, i) => [s, T0 + i * 1_000_000] as const)

describe("sequence verdicts", () => {
  it("OK for the first message and for each next sequence", () => {
    const { kinds, verdicts } = run(seconds(5, 6, 7))
    assert.deepStrictEqual(kinds, ["OK", "OK", "OK"])
    assert.deepStrictEqual(verdicts[0], { kind: "OK", expected: null, received: 5n, gapSize: null })
    assert.deepStrictEqual(verdicts[2], { kind: "OK", expected: 7n, received: 7n, gapSize: null })
  })

  it("OK without a source sequence, leaving the stream as it was", () => {
    const { kinds, state } = run(seconds(1, null, 2, null))
    assert.deepStrictEqual(kinds, ["OK", "OK", "OK", "OK"])
    assert.strictEqual(state.last, 2)
  })

  it("GAP with the missing range and size", () => {
    const { verdicts, state } = run(seconds(1, 2, 10, 11))
    assert.deepStrictEqual(verdicts[2], { kind: "GAP", expected: 3n, received: 10n, gapSize: 7n })
    assert.strictEqual(verdicts[3]!.kind, "OK")
    assert.deepStrictEqual(state.gaps, [3, 9])
  })

  it("GAP_FILLED for late messages, with what is still missing, until the gap closes", () => {
    const { verdicts, state } = run(seconds(1, 5, 3, 2, 4, 6))
    assert.deepStrictEqual(verdicts.map((v) => [v.kind, v.gapSize]), [
      ["OK", null],
      ["GAP", 3n],
      ["GAP_FILLED", 2n],
      ["GAP_FILLED", 1n],
      ["GAP_FILLED", 0n],
      ["OK", null]
    ])
    assert.deepStrictEqual(verdicts[2], { kind: "GAP_FILLED", expected: 6n, received: 3n, gapSize: 2n })
    assert.deepStrictEqual(state.gaps, [])
  })

  it("DUPLICATE for a sequence already seen, including a filled one", () => {
    const { kinds } = run(seconds(1, 2, 3, 2, 5, 4, 4, 3))
    assert.deepStrictEqual(kinds, ["OK", "OK", "OK", "DUPLICATE", "GAP", "GAP_FILLED", "DUPLICATE", "DUPLICATE"])
  })

  it("OUT_OF_ORDER for an older sequence never seen: below the stream's first", () => {
    const { verdicts } = run(seconds(10, 11, 9))
    assert.deepStrictEqual(verdicts[2], { kind: "OUT_OF_ORDER", expected: 12n, received: 9n, gapSize: null })
  })

  it("reordered neighbours are a gap then its fill, never a duplicate", () => {
    assert.deepStrictEqual(run(seconds(1, 3, 2, 4)).kinds, ["OK", "GAP", "GAP_FILLED", "OK"])
  })

  it("a backwards jump without a session boundary is not a RESET", () => {
    const { kinds } = run([[1000, T0], [1001, T0 + 29 * MIN], [1, T0 + 29 * MIN + 1], [2, T0 + 30 * MIN]])
    assert.deepStrictEqual(kinds, ["OK", "OK", "OUT_OF_ORDER", "OUT_OF_ORDER"])
  })

  it("RESET when the sequence restarts low after the idle time", () => {
    const { verdicts, kinds, state } = run([[1000, T0], [1001, T0 + MIN], [1, T0 + 31 * MIN], [2, T0 + 32 * MIN]])
    assert.deepStrictEqual(kinds, ["OK", "OK", "RESET", "OK"])
    assert.deepStrictEqual(verdicts[2], { kind: "RESET", expected: 1002n, received: 1n, gapSize: null })
    assert.strictEqual(state.last, 2)
  })

  it("the idle time is configurable", () => {
    const messages = [[1000, T0], [1, T0 + 10 * MIN]] as const
    assert.deepStrictEqual(run(messages).kinds, ["OK", "OUT_OF_ORDER"])
    assert.deepStrictEqual(run(messages, { idleMicros: 5 * MIN }).kinds, ["OK", "RESET"])
  })

  it("RESET on a change of trading day in Sydney, not of the UTC day", () => {
    // 23:59 and 00:01 Sydney (AEDT, UTC+11): a new local day two minutes later.
    const beforeMidnight = Date.UTC(2024, 2, 4, 12, 59) * 1000
    const { kinds } = run([[500, beforeMidnight], [1, beforeMidnight + 2 * MIN], [2, beforeMidnight + 3 * MIN]])
    assert.deepStrictEqual(kinds, ["OK", "RESET", "OK"])
    // 23:59 and 00:01 UTC are 10:59 and 11:01 in Sydney: the same trading day.
    const utcMidnight = Date.UTC(2024, 2, 4, 23, 59) * 1000
    assert.deepStrictEqual(run([[500, utcMidnight], [1, utcMidnight + 2 * MIN]]).kinds, ["OK", "OUT_OF_ORDER"])
    assert.deepStrictEqual(run([[500, beforeMidnight], [1, beforeMidnight + 2 * MIN]], { dayChange: false }).kinds, [
      "OK",
      "OUT_OF_ORDER"
    ])
  })

  it("RESET on the day DST ends in Sydney (2024-04-07, 03:00 AEDT → 02:00 AEST)", () => {
    // 23:50 AEDT on the 6th is 12:50 UTC; 13:10 UTC is 00:10 AEDT on the 7th (but still the
    // 6th on a fixed UTC+10 reading: the rule follows the zone's DST).
    const sat = Date.UTC(2024, 3, 6, 12, 50) * 1000
    const sunEarly = Date.UTC(2024, 3, 6, 13, 10) * 1000
    assert.deepStrictEqual(run([[9, sat], [1, sunEarly]]).kinds, ["OK", "RESET"])
    // 23:50 AEST on the 7th (13:50 UTC) to 00:10 AEST on the 8th (14:10 UTC): a new day after the change.
    const sunLate = Date.UTC(2024, 3, 7, 13, 50) * 1000
    assert.deepStrictEqual(run([[9, sunLate], [1, sunLate + 20 * MIN]]).kinds, ["OK", "RESET"])
    // 02:50 AEDT to 02:10 AEST, across the change (clocks go back): the same day.
    const repeated = Date.UTC(2024, 3, 6, 15, 50) * 1000
    assert.deepStrictEqual(run([[9, repeated], [1, repeated + 20 * MIN]]).kinds, ["OK", "OUT_OF_ORDER"])
  })

  it("RESET on the day DST starts in Sydney (2024-10-06, 02:00 AEST → 03:00 AEDT)", () => {
    // 23:50 AEST on the 5th = 13:50 UTC; 00:10 AEST on the 6th = 14:10 UTC.
    const t = Date.UTC(2024, 9, 5, 13, 50) * 1000
    assert.deepStrictEqual(run([[9, t], [1, t + 20 * MIN]]).kinds, ["OK", "RESET"])
    // 23:50 AEDT on the 6th = 12:50 UTC; 00:10 AEDT on the 7th = 13:10 UTC.
    const u = Date.UTC(2024, 9, 6, 12, 50) * 1000
    assert.deepStrictEqual(run([[9, u], [1, u + 20 * MIN]]).kinds, ["OK", "RESET"])
    // Midnight AEDT is 13:00 UTC (it was 14:00 UTC before the change): 12:55 → 13:05 UTC crosses it.
    const v = Date.UTC(2024, 9, 6, 12, 55) * 1000
    assert.deepStrictEqual(run([[9, v], [1, v + 10 * MIN]]).kinds, ["OK", "RESET"])
  })

  it("after a RESET, stragglers of the old session are OUT_OF_ORDER and its open gaps are given up", () => {
    const { kinds, machine } = run([
      [100, T0],
      [105, T0 + MIN], // GAP 101..104
      [1, T0 + 40 * MIN], // RESET
      [103, T0 + 30_000_000], // late from the old session: would be a GAP otherwise
      [2, T0 + 41 * MIN]
    ])
    assert.deepStrictEqual(kinds, ["OK", "GAP", "RESET", "OUT_OF_ORDER", "OK"])
    assert.deepStrictEqual(machine.gapsGivenUp, { reset: 1, limit: 0 })
  })

  it("a straggler stamped after the old session's head but before the boundary is OUT_OF_ORDER, never dropped", () => {
    // Sydney 15:49/15:50 on Wednesday; 99 is missing and comes late, stamped after 100.
    const day1 = Date.UTC(2024, 4, 1, 5, 50) * 1000
    const day2 = Date.UTC(2024, 4, 2, 0, 10) * 1000 // 10:10 Thursday
    const { kinds, state } = run([
      [8, day1 - MIN],
      [10, day1], // GAP 9
      ...Array.from({ length: 12 }, (_, i) => [i + 1, day2 + i * 1_000_000] as const), // RESET, then OK
      [9, day1 + 30_000_000], // never seen: was a DUPLICATE of today's 9, and not written
      [20, day1 + 40_000_000], // beyond today's head: was a GAP (13..19) moving the head back a day
      [13, day2 + 12_000_000] // was a second RESET
    ])
    assert.deepStrictEqual(kinds, ["OK", "GAP", "RESET", ...Array(11).fill("OK"), "OUT_OF_ORDER", "OUT_OF_ORDER", "OK"])
    assert.strictEqual(state.last, 13)
    // The new session itself may be stamped out of order: no boundary between them, so judged as usual.
    assert.deepStrictEqual(run([[100, day1], [1, day2 + 5_000_000], [2, day2], [3, day2 + 6_000_000]]).kinds, [
      "OK",
      "RESET",
      "OK",
      "OK"
    ])
  })

  it("a head stamped back across local midnight: a copy of the message before it is a DUPLICATE, not a RESET", () => {
    // 00:05 Sydney on 2024-03-05, then the next sequence stamped 23:55 the day before.
    const midnight = Date.UTC(2024, 2, 4, 13) * 1000
    const { kinds, state } = run([
      [4, midnight - 10 * MIN],
      [5, midnight + 5 * MIN],
      [6, midnight - 5 * MIN], // the head, stamped back over midnight
      [5, midnight + 5 * MIN], // 5 again: seen, and no boundary since it (was a RESET)
      [7, midnight + 6 * MIN],
      [1, midnight + 45 * MIN] // a restart 39 minutes after the latest head time: RESET
    ])
    assert.deepStrictEqual(kinds, ["OK", "OK", "OK", "DUPLICATE", "OK", "RESET"])
    assert.strictEqual(state.floor, 1)
  })

  it("a head stamped back by more than the idle time: a copy of an earlier message is a DUPLICATE", () => {
    const { kinds, state } = run([[1, T0 + 80 * MIN], [5, T0 + 20 * MIN], [1, T0 + 80 * MIN]])
    assert.deepStrictEqual(kinds, ["OK", "GAP", "DUPLICATE"])
    assert.strictEqual(state.lastTs, T0 + 80 * MIN)
  })

  it("a forward jump after a boundary is a GAP, not a RESET", () => {
    assert.deepStrictEqual(run([[10, T0], [20, T0 + 60 * MIN]]).kinds, ["OK", "GAP"])
  })

  it("keeps at most maxGaps open ranges, giving up the oldest and forgetting below it", () => {
    // gaps at 2, 4, 6, 8 with room for 2
    const { kinds, state, machine } = run(seconds(1, 3, 5, 7, 9, 2, 4, 6, 8), { maxGaps: 2 })
    assert.deepStrictEqual(kinds, ["OK", "GAP", "GAP", "GAP", "GAP", "OUT_OF_ORDER", "OUT_OF_ORDER", "GAP_FILLED", "GAP_FILLED"])
    assert.deepStrictEqual(machine.gapsGivenUp, { reset: 0, limit: 2 })
    assert.strictEqual(state.floor, 5)
  })

  it("splitting a gap counts against the bound too", () => {
    const { kinds, state, machine } = run(seconds(1, 10, 5, 3), { maxGaps: 2 })
    // 2..9 open; 5 splits it into 2..4 and 6..9; 3 splits 2..4: the oldest (2..2) is given up.
    assert.deepStrictEqual(kinds, ["OK", "GAP", "GAP_FILLED", "GAP_FILLED"])
    assert.deepStrictEqual(state.gaps, [4, 4, 6, 9])
    assert.strictEqual(state.floor, 3)
    assert.deepStrictEqual(machine.gapsGivenUp, { reset: 0, limit: 1 })
  })

  it("is exact beyond 2^53, switching a stream to bigints when it gets there", () => {
    const big = 2n ** 53n - 2n
    const { verdicts, state } = run(seconds(big, big + 1n, big + 2n, big + 4n, big + 3n, big + 3n))
    assert.deepStrictEqual(verdicts.map((v) => v.kind), ["OK", "OK", "OK", "GAP", "GAP_FILLED", "DUPLICATE"])
    assert.deepStrictEqual(verdicts[3], { kind: "GAP", expected: big + 3n, received: big + 4n, gapSize: 1n })
    assert.strictEqual(state.big, true)
    assert.strictEqual(state.last, big + 4n)
    const huge = 2n ** 63n - 1n
    assert.deepStrictEqual(run(seconds(huge - 10n, huge)).verdicts[1], {
      kind: "GAP",
      expected: huge - 9n,
      received: huge,
      gapSize: 9n
    })
    // Nothing can follow the largest long: no expected sequence (sequence_events.expected is a long).
    assert.deepStrictEqual(run(seconds(huge - 10n, huge, huge)).verdicts[2], {
      kind: "DUPLICATE",
      expected: null,
      received: huge,
      gapSize: null
    })
  })
})

describe("ExchangeCalendars", () => {
  it("caches a bounded number of exchanges: a feed naming endless exchanges does not grow it", () => {
    const c = new ExchangeCalendars({ ASX: "Australia/Sydney" })
    for (let i = 0; i < 25_000; i++) c.forExchange(`X${i}`)
    assert.isAtMost(c.size, 10_000)
    assert.strictEqual(c.forExchange("ASX").zone, "Australia/Sydney")
    assert.strictEqual(c.forExchange("X1").zone, "UTC")
  })

  it("local days are right where a zone changed its offset off a quarter hour (St. John's at 00:01 until 2011)", () => {
    // 2010-11-07 00:01 NDT (UTC-2:30, 02:31 UTC) went back to 23:01 NST (UTC-3:30) on the 6th.
    const calendar = new ZoneCalendar("America/St_Johns")
    const format = new Intl.DateTimeFormat("en-CA", { timeZone: "America/St_Johns", year: "numeric", month: "2-digit", day: "2-digit" })
    for (let ms = Date.UTC(2010, 10, 7, 2); ms <= Date.UTC(2010, 10, 7, 3); ms += 60_000) {
      const [y, m, d] = format.format(ms).split("-").map(Number)
      assert.strictEqual(calendar.localDay(ms * 1000), Date.UTC(y!, m! - 1, d!) / 86_400_000, new Date(ms).toISOString())
    }
    // 23:50 NDT then 23:05 NST on the 6th, a quarter of an hour later: the same trading day, no RESET.
    const { kinds } = run([[500, Date.UTC(2010, 10, 7, 2, 20) * 1000], [1, Date.UTC(2010, 10, 7, 2, 35) * 1000]], {}, "America/St_Johns")
    assert.deepStrictEqual(kinds, ["OK", "OUT_OF_ORDER"])
  })
})

describe("sessions that begin with a forward step", () => {
  // Sydney 15:49-15:51 on Wednesday, then 10:00 on Thursday.
  const day1 = Date.UTC(2024, 4, 1, 5, 49) * 1000
  const day2 = Date.UTC(2024, 4, 2, 0, 0) * 1000

  it("a new day's first sequences arriving after its later ones are not duplicates of the day before", () => {
    const { verdicts, state } = run([
      [1, day1],
      [2, day1 + MIN],
      [3, day1 + 2 * MIN],
      [4, day2 + 4_000_000], // day 2's 4 first: a forward step, OK as if the numbering went on
      [1, day2 + 1_000_000], // day 2 restarted at 1: was a DUPLICATE of day 1's 1, and not written
      [2, day2 + 2_000_000],
      [3, day2 + 3_000_000],
      [5, day2 + 5_000_000]
    ])
    assert.deepStrictEqual(verdicts.map((v) => [v.kind, v.gapSize]), [
      ["OK", null],
      ["OK", null],
      ["OK", null],
      ["OK", null],
      ["RESET", null],
      ["GAP_FILLED", 1n],
      ["GAP_FILLED", 0n],
      ["OK", null]
    ])
    assert.strictEqual(state.last, 5)
    assert.strictEqual(state.floor, 1)
  })

  it("the same after an idle time, and a real duplicate of the old session stays a DUPLICATE", () => {
    const { kinds } = run([
      [1, T0],
      [2, T0 + MIN],
      [3, T0 + 2 * MIN],
      [2, T0 + MIN], // re-sent with its own exchange time: a duplicate
      [6, T0 + 40 * MIN], // after 38 minutes idle: GAP 4..5 (the numbering may go on)
      [3, T0 + 2 * MIN], // day 1's 3 again: still a duplicate
      [2, T0 + 38 * MIN], // the new session's 2: the numbering restarted
      [3, T0 + 39 * MIN],
      [7, T0 + 41 * MIN]
    ])
    assert.deepStrictEqual(kinds, ["OK", "OK", "OK", "DUPLICATE", "GAP", "DUPLICATE", "RESET", "GAP_FILLED", "OK"])
  })

  it("the restarted session began at its forward step: messages stamped since are its own", () => {
    const { kinds, state } = run([
      [1, T0],
      [2, T0 + MIN],
      [3, T0 + 2 * MIN],
      [4, T0 + 40 * MIN], // a forward step after 38 minutes idle
      [5, T0 + 60 * MIN],
      [1, T0 + 85 * MIN], // the numbering restarted: RESET
      [6, T0 + 50 * MIN], // of this session (50 is 10 minutes after its first message at 40)
      [7, T0 + 86 * MIN]
    ])
    assert.deepStrictEqual(kinds, ["OK", "OK", "OK", "OK", "OK", "RESET", "OK", "OK"])
    assert.strictEqual(state.last, 7)
  })

  it("a stream numbered on across days keeps its fills and duplicates", () => {
    const { kinds, state } = run([
      [1, day1],
      [2, day1 + MIN],
      [5, day2], // GAP 3..4
      [3, day2 + 1_000_000], // a late fill, stamped on day 2
      [4, day1 + 2 * MIN], // a late fill, stamped on day 1
      [5, day2], // a duplicate
      [6, day2 + 2_000_000]
    ])
    assert.deepStrictEqual(kinds, ["OK", "OK", "GAP", "GAP_FILLED", "GAP_FILLED", "DUPLICATE", "OK"])
    assert.strictEqual(state.last, 6)
  })

  it("a message of the new session filled late and re-sent is a DUPLICATE, not a RESET of the session", () => {
    const { kinds, machine, state } = run([
      [1, day1],
      [2, day1 + MIN],
      [5, day2 + 5_000_000], // GAP 3..4: the numbering went on, 3 and 4 come late
      [4, day2 + 4_000_000], // day 2's 4, late
      [3, day2 + 3_000_000],
      [4, day2 + 4_000_000], // day 2's 4 re-sent: it was seen in this session
      [3, day2 + 3_000_000],
      [2, day1 + MIN], // day 1's 2 re-sent: still a duplicate (no RESET moved the session)
      [6, day2 + 6_000_000]
    ])
    assert.deepStrictEqual(kinds, ["OK", "OK", "GAP", "GAP_FILLED", "GAP_FILLED", "DUPLICATE", "DUPLICATE", "DUPLICATE", "OK"])
    assert.strictEqual(state.floor, 1)
    assert.deepStrictEqual(machine.gapsGivenUp, { reset: 0, limit: 0 })
  })

  it("after a new-session fill, a restarted numbering below it is still a RESET, and the fill's re-send is not", () => {
    const { kinds, state } = run([
      [1, T0],
      [2, T0 + MIN],
      [3, T0 + 2 * MIN],
      [7, T0 + 45 * MIN], // after 40 minutes idle: GAP 4..6
      [5, T0 + 43 * MIN], // the new session's 5, late
      [5, T0 + 43 * MIN], // re-sent
      [2, T0 + 41 * MIN], // the new session's 2: below the fill, seen in the old session only
      [5, T0 + 43 * MIN], // re-sent again: 5 was seen in this session
      [4, T0 + 42 * MIN] // the new session's 4, late: never seen
    ])
    assert.deepStrictEqual(kinds, ["OK", "OK", "OK", "GAP", "GAP_FILLED", "DUPLICATE", "RESET", "DUPLICATE", "GAP_FILLED"])
    assert.deepStrictEqual(state.gaps, [3, 3, 6, 6])
  })

  it("a restarted session began at its earliest late fill: the fill's re-send is a DUPLICATE, a later fill a GAP_FILLED", () => {
    const day1End = Date.UTC(2024, 4, 1, 6, 0) * 1000 // 16:00 in Sydney
    const { kinds, state } = run([
      [1, day1End - 2 * MIN],
      [2, day1End - MIN],
      [3, day1End],
      [6, day2], // day 2, 10:00: a forward step, GAP 4..5
      [5, day2 - 60 * MIN], // 09:00, late
      [1, day2 + 5 * MIN], // 10:05: the numbering restarted
      [5, day2 - 60 * MIN], // 09:00 again: it was seen in this session (was OUT_OF_ORDER, written twice)
      [4, day2 - 59 * MIN] // 09:01, late: never seen (was OUT_OF_ORDER, not reported as a fill)
    ])
    assert.deepStrictEqual(kinds, ["OK", "OK", "OK", "GAP", "GAP_FILLED", "RESET", "DUPLICATE", "GAP_FILLED"])
    assert.deepStrictEqual(state.gaps, [2, 3])
  })

  it("after an idle-time RESET, a straggler of the old session stamped after its head is OUT_OF_ORDER, not a GAP", () => {
    const { kinds, state } = run([
      [100, T0],
      [1, T0 + 40 * MIN], // RESET
      [101, T0 + MIN], // the old session's next, late
      [2, T0 + 41 * MIN]
    ])
    assert.deepStrictEqual(kinds, ["OK", "RESET", "OUT_OF_ORDER", "OK"])
    assert.strictEqual(state.last, 2)
  })
})
