/** The progress line's messages a second: of the last 5 s, so an idle feed shows 0, not a fading average. */
import { assert, describe, it, vi } from "@effect/vitest"
import { Effect } from "effect"
import { makeCounters, progressOf } from "../../src/layers/ingest/ingestProgress.ts"
import { progressLine, RecentRate } from "../../src/programs/cli/progress.ts"

describe("RecentRate", () => {
  it("is the rate since the start for the first 5 s, then of the last 5 s only", () => {
    const rate = new RecentRate()
    // A line a second, as a live ingest writes them: 10k messages a second for 10 s.
    for (let s = 1; s <= 10; s++) assert.strictEqual(rate.at(s * 10_000, s * 1_000), 10_000, `${s} s`)
    // Then 30k a second for 3 s: the last 5 s hold 2 s at 10k and 3 s at 30k.
    for (let s = 11; s <= 13; s++) rate.at(100_000 + (s - 10) * 30_000, s * 1_000)
    assert.strictEqual(rate.at(190_000, 13_000), 22_000)
    // The feed goes quiet: 0 once the last 5 s hold no traffic, where the average since the start
    // would still read 9,500/s at 20 s.
    for (let s = 14; s <= 17; s++) rate.at(190_000, s * 1_000)
    assert.isAbove(rate.at(190_000, 17_000), 0)
    assert.strictEqual(rate.at(190_000, 18_000), 0)
    assert.strictEqual(rate.at(190_000, 20_000), 0)
    assert.strictEqual(rate.at(195_000, 21_000), 1_000)
  })

  it("reads 0 at the very start rather than dividing by no time", () => {
    assert.strictEqual(new RecentRate().at(0, 0), 0)
  })
})

describe("progressLine", () => {
  it.effect("counts the rows committed to both tables, and the total when known", () =>
    Effect.gen(function*() {
      const p = { ...progressOf(makeCounters(), new Map()), consumed: 12, position: 12, written: { trades: 3, quotes: 7, instruments: 20, sequence_events: 1 } }
      const written: Array<string> = []
      const spy = vi.spyOn(process.stderr, "write").mockImplementation((c) => (written.push(String(c)), true))
      // As on a terminal, where every line is written (in place): off one, the module keeps when it last wrote.
      const tty = process.stderr.isTTY
      process.stderr.isTTY = true
      yield* progressLine(p, 1_000, new RecentRate(), { total: 40 }).pipe(Effect.ensuring(Effect.sync(() => {
        spy.mockRestore()
        process.stderr.isTTY = tty
      })))
      assert.strictEqual(written.length, 1)
      assert.match(written[0]!, /^\r12 of 40 messages, .* \| rows committed 10 \| dlq 0 \|/)
    }))

  // A resumed day: its partitions seek past what an earlier run ingested, which this one never
  // consumes. Counted as consumed, the whole day read ended at "100 of 400 messages".
  it.effect("counts a resumed day's records an earlier run ingested as read: the day ends at its total", () =>
    Effect.gen(function*() {
      const p = { ...progressOf(makeCounters(), new Map()), consumed: 100, alreadyIngested: 20, position: 400, written: { trades: 30, quotes: 70, instruments: 0, sequence_events: 0 } }
      const written: Array<string> = []
      const spy = vi.spyOn(process.stderr, "write").mockImplementation((c) => (written.push(String(c)), true))
      const tty = process.stderr.isTTY
      process.stderr.isTTY = true
      yield* progressLine(p, 1_000, new RecentRate(), { total: 400 }).pipe(Effect.ensuring(Effect.sync(() => {
        spy.mockRestore()
        process.stderr.isTTY = tty
      })))
      assert.match(written[0]!, /^\r400 of 400 messages, 100\/s \| rows committed 100 \|/)
    }))

  it.effect("is cut to fit a terminal narrower than it: rewritten in place, it never wraps", () =>
    Effect.gen(function*() {
      const p = { ...progressOf(makeCounters(), new Map()), consumed: 123_456, position: 123_456, partitions: 12, written: { trades: 50_000, quotes: 70_000, instruments: 20, sequence_events: 1 } }
      const written: Array<string> = []
      const spy = vi.spyOn(process.stderr, "write").mockImplementation((c) => (written.push(String(c)), true))
      const { isTTY, columns } = process.stderr
      process.stderr.isTTY = true
      process.stderr.columns = 60
      yield* progressLine(p, 1_000, new RecentRate(), { total: 200_000 }).pipe(Effect.ensuring(Effect.sync(() => {
        spy.mockRestore()
        process.stderr.isTTY = isTTY
        process.stderr.columns = columns
      })))
      assert.strictEqual(written.length, 1)
      assert.strictEqual(written[0], `\r${"123456 of 200000 messages, 123456/s | rows committed 120000 | dlq 0 | lag 0".slice(0, 59)}`)
    }))

  // A broker alive but frozen answers no lag refresh: the figure is the last one read, not a lag of now.
  it.effect("says the lag is unknown, and for how long Kafka has not answered, once its figures are stale", () =>
    Effect.gen(function*() {
      const lineOf = (p: ReturnType<typeof progressOf>) => {
        const written: Array<string> = []
        const spy = vi.spyOn(process.stderr, "write").mockImplementation((c) => (written.push(String(c)), true))
        const tty = process.stderr.isTTY
        process.stderr.isTTY = true
        return progressLine(p, 1_000, new RecentRate()).pipe(
          Effect.ensuring(Effect.sync(() => {
            spy.mockRestore()
            process.stderr.isTTY = tty
          })),
          Effect.map(() => written.join(""))
        )
      }
      const idle = { ...progressOf(makeCounters(), new Map()), lag: 0, partitions: 12 }
      assert.include(yield* lineOf({ ...idle, lagUnansweredMs: 12_400 }), "| lag ? (Kafka not answering for 12 s) |")
      assert.include(yield* lineOf(idle), "| lag 0 |")
    }))

  // A member whose group has not assigned it anything yet (a restart after a kill waits out the old
  // member's session, 30 s by default) read "lag 0 | partitions 0": caught up, while it read nothing.
  it.effect("says no partitions are assigned rather than a lag of 0, while the member holds none", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const spy = vi.spyOn(process.stderr, "write").mockImplementation((c) => (written.push(String(c)), true))
      const tty = process.stderr.isTTY
      process.stderr.isTTY = true
      const p = { ...progressOf(makeCounters(), new Map()), lag: 0, partitions: 0 }
      yield* progressLine(p, 15_000, new RecentRate()).pipe(Effect.ensuring(Effect.sync(() => {
        spy.mockRestore()
        process.stderr.isTTY = tty
      })))
      assert.include(written.join(""), "| dlq 0 | no partitions assigned yet (the group rebalancing?) | 15 s")
      assert.notInclude(written.join(""), "lag 0")
    }))

  // A stop's drain lets the partitions go and no longer reads the lag: the line read "partitions 0"
  // and the last lag figure (a frozen broker's "lag ?" back to a stale number), as if current.
  it.effect("says it is draining once a stop asked for it, not a lag or a partition count", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const spy = vi.spyOn(process.stderr, "write").mockImplementation((c) => (written.push(String(c)), true))
      const tty = process.stderr.isTTY
      process.stderr.isTTY = true
      const p = { ...progressOf(makeCounters(), new Map()), consumed: 50, lag: 1_234, partitions: 0, draining: true }
      yield* progressLine(p, 3_000, new RecentRate()).pipe(Effect.ensuring(Effect.sync(() => {
        spy.mockRestore()
        process.stderr.isTTY = tty
      })))
      assert.include(written.join(""), "| dlq 0 | draining (flush, commit, leave the group) | 3 s")
      assert.notInclude(written.join(""), "partitions")
      assert.notInclude(written.join(""), "lag")
    }))
})
