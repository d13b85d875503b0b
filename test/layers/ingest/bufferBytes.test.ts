/**
 * The buffers are bounded by what their rows hold, not only by their count: rows with large
 * vendor_data maps (or long conditions lists) flush by their size, and actors wait for room by it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { PrometheusMetrics } from "effect/observability"
import type { TradeRow } from "../../../src/domain/rows.ts"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { ASX_TOPICS, ingestorOver, tradeRecords } from "../../support/memoryFeed.ts"
import { checkTable } from "../../support/tableCheck.ts"
import { lakehouseStallingCommits, warehouseOptions } from "../../support/warehouse.ts"
import { waitForProgress } from "../../support/ingestorProgress.ts"
import { parseExposition } from "../telemetry/opsMetrics.ts"

const TOPIC = ASX_TOPICS[0]!

const backpressureOf = (exposition: string) =>
  Number(parseExposition(exposition).series.find((s) => s.name === "k2_ingest_backpressure_seconds_total")!.value)


describe("Ingestor buffers bounded in bytes", () => {
  it.live("rows with large vendor_data maps are flushed by their size, and wait for room by it", () =>
    Effect.gen(function*() {
      const kafka = KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker(), { maxBatchRecords: 100 })
      const options = warehouseOptions("sqlite")
      // Once stalled, commits wait for `release` (a slow catalog), saying so with `stalled`.
      const { lakehouse, release, stall, stalled } = yield* lakehouseStallingCommits(options)
      // Flushed and bounded by bytes only: by rows and time, nothing would flush before the drain.
      const ingestor = ingestorOver({
        kafka,
        lakehouse,
        settings: {
          topics: [TOPIC],
          commitIntervalMs: 3_600_000,
          flushRows: 1_000_000,
          maxBufferedRows: 1_000_000,
          flushBytes: 1_000_000,
          maxBufferedBytes: 2_000_000,
          checkpointIntervalMs: 0
        }
      })
      // 1,000 trades of ~2 KB each on the wire: 50 vendor_data entries.
      const vendorData: Record<string, string> = {}
      for (let i = 0; i < 50; i++) vendorData[`field_${i}`] = `value-${i}-${"x".repeat(20)}`
      const rows = makeTrades({ count: 1_000, symbols: ["AAA"], days: 0.01 }).map((t) => ({ ...t, vendor_data: vendorData }))
      const { consumed, flushedBySize, progress, scrapedWhileHeld, waitedWhileHeld } = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 1)!)
        const fiber = yield* Effect.forkChild((yield* Ingestor).run)
        yield* waitForProgress((p) => p.partitions === 1, "15 seconds")
        stall(true)
        yield* (yield* KafkaSink).send(tradeRecords(rows))
        const flushedBySize = yield* Deferred.await(stalled).pipe(
          Effect.as(true),
          Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.succeed(false) })
        )
        // While that commit waits, the actor buffers up to the room in bytes, then waits.
        const { consumed, waitedForRoomMs: waited } = yield* waitForProgress((p) => p.consumed >= 1_000, "2 seconds")
        const scraped = backpressureOf(yield* PrometheusMetrics.format())
        yield* Effect.sleep("100 millis")
        const waitedWhileHeld = (yield* (yield* Ingestor).progress).waitedForRoomMs - waited
        const scrapedWhileHeld = backpressureOf(yield* PrometheusMetrics.format()) - scraped
        yield* release
        // The last rows, below flushBytes, wait for the drain.
        yield* waitForProgress((p) => p.consumed >= 1_000, "15 seconds")
        yield* Fiber.interrupt(fiber)
        const progress = yield* (yield* Ingestor).progress
        return { consumed, flushedBySize, progress, scrapedWhileHeld, waitedWhileHeld }
      }).pipe(Effect.provide(ingestor))
      assert.isTrue(flushedBySize, "a flush came when the buffered rows reached flushBytes")
      assert.isBelow(consumed, 1_000, "the actor waited for room while the flush committed")
      // The wait shows while it lasts, not only once the flush lets the actor go on.
      assert.isAbove(progress.waitedForRoomMs, 0)
      assert.isAbove(waitedWhileHeld, 0, "the figure grows while the actor waits")
      assert.isAbove(scrapedWhileHeld, 0, "so does k2_ingest_backpressure_seconds_total")
      assert.strictEqual(progress.written.trades, 1_000)
      const trades = yield* checkTable("trades").pipe(Effect.provide(Lakehouse.layer(options)))
      assert.strictEqual(trades.rows, 1_000)
      assert.strictEqual(trades.distinctCoordinates, 1_000)
    }), 60_000)

  /**
   * Trades written after one trade of `row` is sent, with flushes by bytes (1 MB) only: the row is
   * ~100 KB on the wire and over 1 MB buffered, so only an estimate that counts what it holds flushes
   * it before the drain.
   */
  const writtenByBytes = (row: TradeRow) =>
    Effect.gen(function*() {
      yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 1)!)
      const fiber = yield* Effect.forkChild((yield* Ingestor).run)
      yield* (yield* KafkaSink).send(tradeRecords([row]))
      const progress = yield* waitForProgress((p) => p.written.trades === 1, "15 seconds")
      yield* Fiber.interrupt(fiber)
      return progress.written.trades
    }).pipe(Effect.provide(ingestorOver({
      kafka: KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker()),
      lakehouse: warehouseOptions("sqlite"),
      settings: { topics: [TOPIC], commitIntervalMs: 3_600_000, flushRows: 1_000_000, flushBytes: 1_000_000 }
    })))

  it.live("rows with long conditions lists are flushed by the heap their items hold, not only by their size on the wire", () =>
    Effect.gen(function*() {
      // An empty string is 1 byte on the wire and a pointer and more in the row's array: 60 records
      // of 900,000 (54 MB) held 11.6 times their size, past what ingest's 256 MB heap held.
      const row = { ...makeTrades({ count: 1, symbols: ["AAA"] })[0]!, conditions: Array.from({ length: 100_000 }, () => "") }
      assert.strictEqual(yield* writtenByBytes(row), 1, "flushed by the heap its 100,000 items hold (~1.2 MB)")
    }), 60_000)

  it.live("rows with large vendor_data maps are flushed by the heap their entries hold, not only by their size on the wire", () =>
    Effect.gen(function*() {
      // An entry of a short key and an empty value is ~6 B on the wire and ~97 B buffered.
      const vendor_data = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i.toString(36)}`, ""]))
      const row = { ...makeTrades({ count: 1, symbols: ["AAA"] })[0]!, vendor_data }
      assert.strictEqual(yield* writtenByBytes(row), 1, "flushed by the heap its 20,000 entries hold (~1.9 MB)")
    }), 60_000)
})
