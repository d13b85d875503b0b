/**
 * Hundreds of partitions with a backlog: what the ingestor holds is bounded in total, not per
 * partition. A partition's batches waiting in its mailbox or in its actor were outside the buffer
 * room, ~2 x 256 KB of records a partition (as JS objects, several times that), and with 240
 * partitions `npm run ingest` ran out of its 256 MB heap (ADR-57).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Stream } from "effect"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import { StreamSet } from "../../../src/domain/ingest/streamOwnership.ts"
import { type Durability, DurabilityRef } from "../../../src/layers/iceberg/durable.ts"
import { type PartitionState, partitionState, type Trackers } from "../../../src/layers/ingest/partitionState.ts"
import { takeBuffers } from "../../../src/layers/ingest/tableCommits.ts"
import * as SequenceTrackers from "../../../src/layers/sequence/tracker.ts"
import type { SequenceTracker } from "../../../src/services/SequenceTracker.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { wrappingConsumers } from "../../support/kafkaFaults.ts"
import { ASX_TOPICS, ingestorOver, tradeRecords } from "../../support/memoryFeed.ts"
import { waitForProgress } from "../../support/ingestorProgress.ts"
import { assertTablesHoldOnce } from "../../support/tableCheck.ts"
import { warehouseOptions } from "../../support/warehouse.ts"

const TOPIC = ASX_TOPICS[0]!
const PARTITIONS = 200
const PER_PARTITION = 300
const BATCH = 100
const ROOM = 1_000

/** Records the consumers handed to the ingestor (its `batches` stream), counted as they pass. */
const countingDelivered = () => {
  const delivered = { records: 0 }
  const layer = wrappingConsumers((consumer) => ({
    ...consumer,
    batches: consumer.batches.pipe(Stream.tap((b) => Effect.sync(() => void (delivered.records += b.records.length))))
  }))
  return { delivered, layer }
}

/** Runs the ingestor until `count` trades are written and committed; its progress then. */
const everyTradeCommitted = (count: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild((yield* Ingestor).run)
    const p = yield* waitForProgress((p) => p.written.trades >= count && p.uncommitted === 0, "60 seconds")
    yield* Fiber.interrupt(fiber)
    return p
  })

describe("Ingestor over many partitions", () => {
  it.live("holds at most the buffer room (and one batch) of fetched records, whatever the partitions", () =>
    Effect.gen(function*() {
      const kafka = KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker(), { maxBatchRecords: BATCH })
      const options = warehouseOptions("sqlite")
      const trades = makeTrades({ count: PARTITIONS * PER_PARTITION, symbols: ["AAA"], days: 0.01 })
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], PARTITIONS)!)
        for (let p = 0; p < PARTITIONS; p++) {
          yield* (yield* KafkaSink).send(tradeRecords(trades.slice(p * PER_PARTITION, (p + 1) * PER_PARTITION), p))
        }
      }).pipe(Effect.provide(kafka))
      const base = { topics: [TOPIC], checkpointIntervalMs: 0, maxBufferedRows: ROOM, maxBufferedBytes: 1e9, flushBytes: 1e9 }

      // No flush comes (by rows, bytes or time): the room fills and stays full, every fetch waits.
      const stalled = countingDelivered()
      const held = yield* Effect.gen(function*() {
        const ingestor = yield* Ingestor
        const fiber = yield* Effect.forkChild(ingestor.run)
        yield* waitForProgress((p) => p.partitions === PARTITIONS && p.consumed >= ROOM - BATCH, "30 seconds")
        // Whatever the fetch loop can still hand over meanwhile.
        yield* Effect.sleep("500 millis")
        const consumed = (yield* ingestor.progress).consumed
        yield* Fiber.interrupt(fiber)
        return stalled.delivered.records - consumed
      }).pipe(Effect.provide(ingestorOver({
        kafka,
        lakehouse: options,
        settings: { ...base, groupId: "stalled", commitIntervalMs: 3_600_000, flushRows: 1_000_000 },
        over: [stalled.layer.pipe(Layer.provide(kafka))]
      })))
      // Before: a batch in each mailbox and one in each actor waiting for room, ~2 x 200 x 100.
      assert.isAtMost(held, ROOM + BATCH, "records handed to the ingestor but not yet in its buffers")

      // And with flushes, every record lands once.
      const flowingOptions = warehouseOptions("sqlite")
      const progress = yield* everyTradeCommitted(trades.length).pipe(Effect.provide(ingestorOver({
        kafka,
        lakehouse: flowingOptions,
        settings: { ...base, groupId: "flowing", commitIntervalMs: 200, flushRows: 400 }
      })))
      assert.strictEqual(progress.written.trades, trades.length)
      assert.isAbove(progress.waitedForRoomMs, 0, "the room was what held the fetches back")
      yield* assertTablesHoldOnce(flowingOptions, trades.length)
    }), 120_000)

  it.live("a checkpoint commit writes its partitions' side files side by side, not one fsync after another", () =>
    Effect.gen(function*() {
      const kafka = KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker())
      const options = warehouseOptions("sqlite")
      const partitions = 64
      const trades = makeTrades({ count: partitions * 5, symbols: ["AAA"], days: 0.01 })
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], partitions)!)
        for (let p = 0; p < partitions; p++) yield* (yield* KafkaSink).send(tradeRecords(trades.slice(p * 5, (p + 1) * 5), p))
      }).pipe(Effect.provide(kafka))
      // Syncs of checkpoint side files in progress at once (each held a moment, as a disk's is).
      let syncing = 0
      let mostAtOnce = 0
      let checkpointSyncs = 0
      const durability: Durability = {
        sync: async (handle, file) => {
          if (!/k2-sequence-[^/]*\.json$/.test(file)) return handle.sync()
          checkpointSyncs++
          mostAtOnce = Math.max(mostAtOnce, ++syncing)
          await new Promise((resolve) => setTimeout(resolve, 2))
          await handle.sync()
          syncing--
        }
      }
      const progress = yield* everyTradeCommitted(trades.length).pipe(
        Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: { topics: [TOPIC], commitIntervalMs: 200, checkpointIntervalMs: 0 } })),
        Effect.provideService(DurabilityRef, durability)
      )
      assert.strictEqual(progress.written.trades, trades.length)
      assert.isAtLeast(checkpointSyncs, partitions, "a side file a partition")
      // Before: 1, so a commit took a disk's fsync times twice the partitions (2.1-2.4 s at 960 here).
      assert.isAbove(mostAtOnce, 1)
      yield* assertTablesHoldOnce(options, trades.length)
    }), 120_000)

  it.effect("a flush takes every partition's checkpoint in one pass over the tracker's streams, not one a partition", () =>
    Effect.gen(function*() {
      const partitions = 100
      const streams = 2_000
      const tracker = yield* SequenceTrackers.make()
      const symbols = Array.from({ length: streams }, (_, i) => `S${i}`)
      yield* tracker.observe(symbols.map((symbol, i) => ({
        exchange: "ASX", symbol, source_sequence: 1n, exchange_timestamp: 1_700_000_000_000_000 + i, message_id: symbol
      })))
      const parts = new Map<string, PartitionState>()
      for (let p = 0; p < partitions; p++) {
        const tp = { topic: TOPIC, partition: p }
        const owned = new StreamSet()
        for (let i = p; i < streams; i += partitions) owned.add("ASX", symbols[i]!)
        parts.set(`${TOPIC}:${p}`, partitionState({ tp, table: "trades", next: 10n, streams: owned, groupOwed: false }))
      }
      // The streams the tracker is asked about (each filter or owner question is one).
      let asked = 0
      const counting: SequenceTracker["Service"] = {
        ...tracker,
        checkpoint: (filter) => tracker.checkpoint(filter === undefined ? undefined : (e, sym) => (asked++, filter(e, sym))),
        checkpointsOf: (keys, owners) => tracker.checkpointsOf(keys, (e, sym) => (asked++, owners(e, sym)))
      }
      const trackers: Trackers = { trades: counting, quotes: counting }
      const expected = new Map<string, string>()
      for (const part of parts.values()) expected.set(part.key, yield* tracker.checkpoint((e, sym) => part.streams.has(e, sym)))
      const { checkpoints, taken } = yield* takeBuffers(parts, trackers, true)
      assert.isTrue(checkpoints)
      assert.strictEqual(taken.length, partitions)
      for (const t of taken) assert.strictEqual(t.checkpoint, expected.get(t.part.key), t.part.key)
      // Before: every partition's filter over every stream, 100 x 2,000 (at 480 partitions of 50,000
      // streams, 550 ms a table every checkpoint flush, the event loop held).
      assert.isAtMost(asked, streams)
    }))
})
