/** The ids of replayed SSE events and where a `Last-Event-ID` resumes. */
import { assert, describe, it } from "@effect/vitest"
import { BadParam } from "../../../src/domain/api/params.ts"
import {
  checkResume,
  END_EVENT_ID,
  eventId,
  parseLastEventId,
  positions,
  queryFingerprint,
  type ReplayPosition,
  ReplayResumeMismatch,
  type ResumePosition
} from "../../../src/domain/api/replayResume.ts"

const snapshots = { trades: "8123456789012345678", quotes: null }
const shape = { from: 0, to: 86_400_000_000, symbols: ["BHP", "CBA"], tables: ["trades", "quotes"], snapshot: { _tag: "Latest" } } as const
const query = queryFingerprint(shape)

describe("replay resume ids", () => {
  it("an id reads back as the position it was made from, before 1970 too", () => {
    for (const p of [{ at: 1_704_153_600_000_000, index: 0, snapshots }, { at: -86_400_000_001, index: 41, snapshots: { trades: null, quotes: "-5" } }]) {
      assert.deepStrictEqual(parseLastEventId(eventId(p, query)), { ...p, query })
    }
    assert.strictEqual(parseLastEventId(undefined), undefined)
    assert.strictEqual(parseLastEventId(""), undefined)
    assert.strictEqual(parseLastEventId(END_EVENT_ID), END_EVENT_ID)
  })

  it("anything else is a BadParam naming the header", () => {
    for (const text of ["12", "1.2.3", "a.0.-.-", "1.0.x.-", "99999999999999999.0.-.-", "1.0.-.-.extra", "1.-1.-.-"]) {
      const parsed = parseLastEventId(text)
      assert.isTrue(parsed instanceof BadParam, text)
      assert.strictEqual((parsed as BadParam).name, "Last-Event-ID")
    }
  })

  it("numbers events by their place within their instant, and resuming drops exactly those already sent", () => {
    const instants = [10, 10, 10, 20, 20, 30]
    const first = positions(snapshots, undefined)
    const all = instants.map((at) => first.next(at)!)
    assert.deepStrictEqual(all.map((p) => `${p.at}.${p.index}`), ["10.0", "10.1", "10.2", "20.0", "20.1", "30.0"])
    // The client got up to the second event of instant 20; a resumed replay reads from instant 20 on.
    const last = parseLastEventId(eventId(all[4]!, query)) as ReplayPosition
    const resumed = positions(last.snapshots, last)
    const sent = instants.slice(3).map((at) => resumed.next(at)).filter((p) => p !== undefined)
    assert.deepStrictEqual(sent.map((p) => eventId(p, query)), [eventId(all[5]!, query)])
  })

  it("an id carries its query's fingerprint (ADR-97): another query's is refused, an id from before fingerprints is taken", () => {
    // Order and repeats of symbols and tables are not another query; the range, symbols, tables and snapshot are.
    assert.strictEqual(queryFingerprint({ ...shape, symbols: ["CBA", "BHP", "BHP"], tables: ["quotes", "trades"] }), query)
    assert.match(query, /^[A-Za-z0-9_-]{8}$/)
    const others = [
      { ...shape, symbols: ["BHP"] },
      { ...shape, symbols: [] },
      { ...shape, tables: ["trades"] },
      { ...shape, from: 1 },
      { ...shape, to: 86_400_000_001 },
      { ...shape, snapshot: { _tag: "ById", snapshotId: 5n } as const },
      { ...shape, snapshot: { _tag: "AsOf", timestampMs: 5 } as const }
    ]
    assert.strictEqual(new Set([query, ...others.map(queryFingerprint)]).size, others.length + 1)
    const at = { at: 10, index: 2, snapshots }
    const mine = parseLastEventId(eventId(at, query)) as ResumePosition
    assert.deepStrictEqual(checkResume(mine, query), mine)
    const theirs = checkResume(mine, queryFingerprint(others[0]!))
    assert.isTrue(theirs instanceof ReplayResumeMismatch)
    assert.include((theirs as ReplayResumeMismatch).message, "Last-Event-ID belongs to another replay")
    const legacy = parseLastEventId(`10.2.${snapshots.trades}.-`) as ResumePosition
    assert.deepStrictEqual(legacy, { ...at, query: undefined })
    assert.deepStrictEqual(checkResume(legacy, query), legacy)
  })
})
