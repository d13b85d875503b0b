/**
 * A partition's stream set (which sequence streams it owns) stays bounded by what the tracker
 * holds: the tracker is an LRU of K2_SEQUENCE_CAPACITY streams, but the set kept every
 * (exchange, symbol) the partition had carried since it was assigned, so an ingest running for
 * weeks over a feed whose symbols churn (options series, new listings) grew without end.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { claim } from "../../../src/domain/ingest/streamOwnership.ts"
import { type SequenceInput } from "../../../src/domain/sequence/tracker.ts"
import { type PartitionState, type Partitions, partitionState, type Trackers } from "../../../src/layers/ingest/partitionState.ts"
import { takeBuffers } from "../../../src/layers/ingest/tableCommits.ts"
import * as Tracker from "../../../src/layers/sequence/tracker.ts"

const CAPACITY = 50

const stateOf = (table: PartitionState["table"], partition: number): PartitionState =>
  partitionState({ tp: { topic: `market.equities.${table}.asx`, partition }, table, groupOwed: false })

const row = (symbol: string, day: number): SequenceInput => ({
  symbol,
  exchange: "ASX",
  source_sequence: 1n,
  exchange_timestamp: day * 86_400_000_000,
  message_id: `${symbol}-${day}`
} as SequenceInput)

/**
 * `days` flush cycles, each carrying `perDay` symbols never seen before: the tracker observes them
 * (evicting the least recently seen past its capacity), the partition claims them as the batch
 * intake does, and a flush takes the buffer with the checkpoint.
 */
const churn = (parts: Partitions, trackers: Trackers, part: PartitionState, days: number, perDay: number) =>
  Effect.gen(function*() {
    for (let day = 0; day < days; day++) {
      const rows = Array.from({ length: perDay }, (_, i) => row(`S${day}_${i}`, day))
      if (part.table !== "instruments") yield* trackers[part.table].observe(rows)
      for (const r of rows) if (!part.streams.has(r.exchange, r.symbol)) claim(parts, part, r.exchange, r.symbol)
      part.next += BigInt(perDay)
      yield* takeBuffers(parts, trackers, true)
      // The commit landed: its marks move to what it took.
      part.tableMark = part.next
      part.sequenceMark = part.next
    }
  })

describe("Ingestor: a partition's streams under symbol churn", () => {
  it.effect("stay within the tracker's capacity over 1,000 days of new symbols", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker.make({ capacity: CAPACITY })
      const trackers: Trackers = { trades: tracker, quotes: tracker }
      const part = stateOf("trades", 0)
      const parts: Partitions = new Map([[part.key, part]])
      yield* churn(parts, trackers, part, 1_000, 10)
      assert.strictEqual((yield* tracker.stats).streams, CAPACITY)
      assert.isAtMost(part.streams.size, CAPACITY, "the partition's streams are those the tracker still holds")
    }))

  it.effect("of an instruments partition (not sequence-tracked) do not pile up", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker.make({ capacity: CAPACITY })
      const trackers: Trackers = { trades: tracker, quotes: tracker }
      const part = stateOf("instruments", 0)
      const parts: Partitions = new Map([[part.key, part]])
      yield* churn(parts, trackers, part, 1_000, 10)
      assert.isAtMost(part.streams.size, CAPACITY)
    }))

  it.effect("a stream that moved to another partition keeps its owner while the tracker no longer holds it", () =>
    Effect.gen(function*() {
      const tracker = yield* Tracker.make({ capacity: CAPACITY })
      const trackers: Trackers = { trades: tracker, quotes: tracker }
      const from = stateOf("trades", 0)
      const to = stateOf("trades", 1)
      const parts: Partitions = new Map([[from.key, from], [to.key, to]])
      // MOVED is carried by partition 0, then by partition 1 (the topic gained partitions).
      yield* tracker.observe([row("MOVED", 0)])
      claim(parts, from, "ASX", "MOVED")
      claim(parts, to, "ASX", "MOVED")
      assert.isTrue(from.left.has("ASX", "MOVED"))
      // Evicted from the tracker by the churn on partition 1.
      yield* churn(parts, trackers, to, 100, 10)
      assert.isNull((yield* tracker.checkpoint((e, s) => e === "ASX" && s === "MOVED")).match(/MOVED/))
      // Still partition 1's: partition 0 restarting restarts with it, and does not restore it.
      assert.isTrue(to.streams.has("ASX", "MOVED"))
    }))
})
