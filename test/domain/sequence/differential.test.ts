/**
 * Differential test: the tracker against the model written from the docs (oracle.ts) over
 * seeded random interleaved streams (in order, gaps, late fills, duplicates, resets to 1 on
 * idle and on local-date changes in the exchange's zone, stragglers of old sessions,
 * sequences near 2^53 and 2^63, more streams than the capacity), comparing every event,
 * the rows dropped and the stats; also across a restart from a checkpoint and a partition
 * moving between two trackers mid-stream.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { SequenceTrackerState } from "../../../src/domain/sequence/tracker.ts"
import { Oracle, type OracleOptions } from "./oracle.ts"
import { IDLE, scenario, ZONES } from "./streams.ts"

const options = (seed: number): OracleOptions => ({
  capacity: [4, 8, 10_000][seed % 3]!,
  idleMicros: IDLE,
  dayChange: seed % 5 !== 0,
  // Cycles of 3 and 4 seeds: every capacity meets every gap bound.
  maxGaps: [1, 3, 64, 64][seed % 4]!,
  zones: ZONES
})

const SEEDS = Array.from({ length: 40 }, (_, i) => i + 1)
const T0 = 1_900_000_000_000_000

const assertSameRun = (seed: number, batchIndex: number, tracker: ReturnType<SequenceTrackerState["observe"]>, oracle: ReturnType<Oracle["observe"]>) =>
  assert.deepStrictEqual(tracker, oracle, `seed ${seed}, batch ${batchIndex}`)

describe("tracker against the documented model", () => {
  it("agrees on every event, dropped row and count", () => {
    const givenUp = { reset: 0, limit: 0 }
    for (const seed of SEEDS) {
      const o = options(seed)
      const tracker = new SequenceTrackerState(o)
      const oracle = new Oracle(o)
      scenario(seed, 12, 1500).forEach((rows, b) => assertSameRun(seed, b, tracker.observe(rows, T0 + b), oracle.observe(rows, T0 + b)))
      const stats = tracker.stats()
      assert.deepStrictEqual(
        { verdicts: stats.verdicts, evictions: stats.evictions, gapsGivenUp: stats.gapsGivenUp, streams: stats.streams },
        { verdicts: oracle.counts, evictions: oracle.evictions, gapsGivenUp: oracle.gapsGivenUp, streams: oracle.size },
        `seed ${seed}`
      )
      givenUp.reset += stats.gapsGivenUp.reset
      givenUp.limit += stats.gapsGivenUp.limit
    }
    // Both reasons for giving up a gap occur: the split is compared, not two zeros.
    assert.isAbove(givenUp.reset, 0)
    assert.isAbove(givenUp.limit, 0)
  })

  it("agrees across a restart from a checkpoint in the middle of the streams", () => {
    for (const seed of SEEDS) {
      const o = options(seed)
      const batches = scenario(seed, 12, 800)
      const oracle = new Oracle(o)
      let tracker = new SequenceTrackerState(o)
      const cut = seed % batches.length
      batches.forEach((rows, b) => {
        if (b === cut) {
          const restarted = new SequenceTrackerState(o)
          assert.isTrue(Result.isSuccess(restarted.restore(tracker.checkpoint())))
          tracker = restarted
        }
        assertSameRun(seed, b, tracker.observe(rows, T0 + b), oracle.observe(rows, T0 + b))
      })
    }
  })

  it("agrees when a partition moves between two trackers mid-stream", () => {
    for (const seed of SEEDS) {
      // Unbounded: each tracker has its own LRU, which one model of one LRU cannot follow.
      const o = { ...options(seed), capacity: 10_000 }
      const batches = scenario(seed, 12, 800)
      const oracle = new Oracle(o)
      const a = new SequenceTrackerState(o)
      const b = new SequenceTrackerState(o)
      // Partitions 0 and 1 on a, 2 on b; partition 1 moves to b at the cut.
      const owner = new Map([[0, a], [1, a], [2, b]])
      const cut = seed % batches.length
      const partitionOf = new Map<string, number>()
      for (const rows of batches) for (const r of rows) partitionOf.set(`${r.exchange}/${r.symbol}`, r.kafka_partition!)
      const onPartition1 = (exchange: string, symbol: string) => partitionOf.get(`${exchange}/${symbol}`) === 1
      batches.forEach((rows, i) => {
        if (i === cut) {
          const json = a.checkpoint(onPartition1)
          a.forget(onPartition1)
          assert.isTrue(Result.isSuccess(b.restore(json, onPartition1)))
          owner.set(1, b)
        }
        const expected = oracle.observe(rows, T0 + i)
        // Each tracker judges its partitions' rows, in input order; the union is one run's.
        const events: typeof expected.events = []
        const duplicates: Array<number> = []
        for (const tracker of new Set(owner.values())) {
          const mine = rows.flatMap((r, index) => owner.get(r.kafka_partition!) === tracker ? [index] : [])
          const got = tracker.observe(mine.map((index) => rows[index]!), T0 + i)
          events.push(...got.events)
          duplicates.push(...got.duplicates.map((d) => mine[d]!))
        }
        const byId = (e: { message_id: string }) => e.message_id
        assert.deepStrictEqual(
          { duplicates: duplicates.sort((x, y) => x - y), events: events.sort((x, y) => Number(byId(x).slice(1)) - Number(byId(y).slice(1))) },
          expected,
          `seed ${seed}, batch ${i}`
        )
      })
    }
  })
})
