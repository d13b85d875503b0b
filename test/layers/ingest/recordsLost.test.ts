/**
 * Records deleted from a source log (retention, DeleteRecords) before ingest read them: lost to
 * the tables, so said loudly (an error naming the partition and the offsets, and a counter), and
 * ingestion goes on from the log start (ADR-68). A new group on a log whose start has moved is no
 * loss: it starts there, as auto.offset.reset=earliest does.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Logger, Stream } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import { makeConsumeBatch } from "../../../src/layers/ingest/batchIntake.ts"
import { makeDeadLetter } from "../../../src/layers/ingest/deadLetters.ts"
import * as Ingest from "../../../src/layers/ingest/ingestor.ts"
import { makeRejudged } from "../../../src/layers/ingest/ingestMetrics.ts"
import { makeCounters } from "../../../src/layers/ingest/ingestProgress.ts"
import { type PartitionState, type Partitions, partitionState } from "../../../src/layers/ingest/partitionState.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as Tracker from "../../../src/layers/sequence/tracker.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { kafkaError, KafkaSource, KafkaUnavailable, type PartitionBatch, tpKeyOf } from "../../../src/services/KafkaSource.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { type Progress, waitForProgress } from "../../support/ingestorProgress.ts"
import { wrappingConsumers } from "../../support/kafkaFaults.ts"
import { ASX_TOPICS, ingestorOver, ingestUntil, tradeRecords } from "../../support/memoryFeed.ts"
import { checkTable } from "../../support/tableCheck.ts"
import { lakehouseRefusingCommits, warehouseOptions } from "../../support/warehouse.ts"
import { parseExposition } from "../telemetry/opsMetrics.ts"

const [TRADES] = ASX_TOPICS
const SETTINGS = { commitIntervalMs: 200, topics: [TRADES!] }

/** k2_ingest_offsets_lost_total of a trades topic's partition (0 while not exposed). The registry is the process's: tests compare before and after. */
const lostOffsetsOf = (partition: number) =>
  Effect.map(PrometheusMetrics.format(), (text) =>
    Number(
      parseExposition(text).series.find((s) =>
        s.name === "k2_ingest_offsets_lost_total" && s.labels["topic"] === TRADES && s.labels["partition"] === String(partition)
      )?.value ?? 0
    ))
const lostOffsets = lostOffsetsOf(0)

const capturing = () => {
  const logged: Array<{ level: string; text: string }> = []
  const layer = Logger.layer([Logger.make(({ logLevel, message }) =>
    void logged.push({ level: String(logLevel), text: (Array.isArray(message) ? message : [message]).map(String).join(" ") })
  )])
  return { logged, layer }
}

describe("records deleted before ingest read them", () => {
  it.live("past the tables' marker while ingest was down: an error naming the partition and offsets, counted; the rest lands", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const options = warehouseOptions("sqlite")
      const trades = makeTrades({ count: 300, symbols: ["XYZ"], days: 0.01 })
      const before = yield* lostOffsets
      const { layer, logged } = capturing()
      const run = (done: Parameters<typeof ingestUntil>[0]) =>
        ingestUntil(done).pipe(Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: SETTINGS, over: [layer] })))

      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TRADES!], 1)!)
        yield* (yield* KafkaSink).send(tradeRecords(trades.slice(0, 100)))
      }).pipe(Effect.provide(kafka))
      yield* run((p) => p.written.trades >= 100 && p.uncommitted === 0)
      assert.isFalse(logged.some((l) => l.text.includes("DATA LOSS")))

      // Down: 200 more arrive, and retention deletes up to offset 180 before ingest is back.
      yield* Effect.gen(function*() {
        yield* (yield* KafkaSink).send(tradeRecords(trades.slice(100)))
      }).pipe(Effect.provide(kafka))
      broker.deleteRecords(TRADES!, 0, 180)
      yield* run((p) => p.written.trades >= 120 && p.uncommitted === 0 && p.lag === 0)

      const loss = logged.filter((l) => l.text.includes("DATA LOSS"))
      assert.strictEqual(loss.length, 1, logged.map((l) => l.text).join("\n"))
      assert.strictEqual(loss[0]!.level, "Error")
      assert.include(loss[0]!.text, `${TRADES}:0: offsets 100 to 179 (80)`)
      assert.strictEqual((yield* lostOffsets) - before, 80)
      const table = yield* checkTable("trades").pipe(Effect.provide(Lakehouse.layer(options)))
      assert.strictEqual(table.rows, 220)
      assert.strictEqual(table.distinctCoordinates, 220)
    }), 60_000)

  it.live("a partition restarted before its next commit passes the log start reads the loss again, but tells and counts it once", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const options = { ...warehouseOptions("sqlite"), sink: { maxCommitAttempts: 1 } }
      const trades = makeTrades({ count: 300, symbols: ["XYZ"], days: 0.01 })
      const before = yield* lostOffsets
      const { layer, logged } = capturing()
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TRADES!], 1)!)
        yield* (yield* KafkaSink).send(tradeRecords(trades.slice(0, 100)))
      }).pipe(Effect.provide(kafka))
      yield* ingestUntil((p) => p.written.trades >= 100 && p.uncommitted === 0).pipe(
        Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: SETTINGS, over: [layer] }))
      )
      yield* Effect.gen(function*() {
        yield* (yield* KafkaSink).send(tradeRecords(trades.slice(100)))
      }).pipe(Effect.provide(kafka))
      broker.deleteRecords(TRADES!, 0, 180)
      // The first trades commit after the loss fails: the partition restarts from the tables' mark
      // (100) and reads the batch past the deleted records again.
      let failuresLeft = 1
      const lakehouse = lakehouseRefusingCommits(options, (table) => table === "trades" && failuresLeft-- > 0)
      const progress = yield* ingestUntil((p) => p.written.trades >= 120 && p.uncommitted === 0 && p.lag === 0).pipe(
        Effect.provide(ingestorOver({ kafka, lakehouse, settings: SETTINGS, over: [layer] }))
      )
      assert.isAbove(progress.restarts, 0)
      const loss = logged.filter((l) => l.text.includes("DATA LOSS"))
      // Before, told and counted twice (160).
      assert.strictEqual(loss.length, 1, logged.map((l) => l.text).join("\n"))
      assert.strictEqual((yield* lostOffsets) - before, 80)
      const table = yield* checkTable("trades").pipe(Effect.provide(Lakehouse.layer(options)))
      assert.strictEqual(table.rows, 220)
    }), 60_000)

  // Its table's mark stays below the log start while the catalog refuses commits (an outage): the
  // partition revoked and assigned back reads the loss again. Before, told and counted twice.
  const ways = [
    {
      name: "a second member joins and leaves",
      make: (_kafka: ReturnType<typeof KafkaMemory.layerMemory>) => ({
        layers: [],
        assignBack: Effect.scoped(Effect.gen(function*() {
          const other = yield* (yield* KafkaSource).subscribe({ groupId: Ingest.defaultIngestConfig.groupId, topics: [TRADES!] })
          assert.deepStrictEqual(yield* other.assignment, [{ topic: TRADES!, partition: 1 }])
        }))
      })
    },
    {
      name: "the run rejoins after its fetches failed",
      make: (kafka: ReturnType<typeof KafkaMemory.layerMemory>) => {
        let subscriptions = 0
        const outage = Deferred.makeUnsafe<void>()
        const layer = wrappingConsumers((consumer) =>
          ++subscriptions > 1 ? consumer : {
            ...consumer,
            batches: Stream.merge(
              consumer.batches,
              Stream.fromEffect(Effect.andThen(
                Deferred.await(outage),
                Effect.fail(kafkaError(new KafkaUnavailable({ operation: "fetch", detail: "injected" })))
              ))
            )
          }
        ).pipe(Layer.provide(kafka))
        return {
          layers: [layer],
          assignBack: Effect.gen(function*() {
            yield* Deferred.succeed(outage, undefined)
            yield* waitForProgress((p) => subscriptions === 2 && p.partitions === 2)
            assert.strictEqual(subscriptions, 2)
          })
        }
      }
    }
  ]
  it.live.each(ways)("a partition revoked and assigned back before a commit passes the log start ($name) tells and counts the loss once", ({ make }) =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const options = { ...warehouseOptions("sqlite"), sink: { maxCommitAttempts: 1 } }
      let refusing = false
      const lakehouse = lakehouseRefusingCommits(options, (table) => table === "trades" && refusing)
      const trades = makeTrades({ count: 150, symbols: ["XYZ"], days: 0.01 })
      const before = yield* lostOffsetsOf(1)
      const { layer, logged } = capturing()
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TRADES!], 2)!)
        yield* (yield* KafkaSink).send(tradeRecords(trades.slice(0, 100), 1))
      }).pipe(Effect.provide(kafka))
      yield* ingestUntil((p) => p.written.trades >= 100 && p.uncommitted === 0).pipe(
        Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: SETTINGS, over: [layer] }))
      )
      yield* Effect.gen(function*() {
        yield* (yield* KafkaSink).send(tradeRecords(trades.slice(100), 1))
      }).pipe(Effect.provide(kafka))
      broker.deleteRecords(TRADES!, 1, 150)
      refusing = true
      const way = make(kafka)
      yield* Effect.gen(function*() {
        const fiber = yield* Effect.forkChild((yield* Ingestor).run)
        const caughtUp = (p: Progress) => p.partitions === 2 && p.position === 150 && p.lag === 0
        assert.isTrue(caughtUp(yield* waitForProgress(caughtUp)))
        yield* way.assignBack
        refusing = false
        // Back, its new state starts at the table's mark (100), reads to the log start again, and its
        // table commits there.
        const committed = (p: Progress) => caughtUp(p) && p.unwritten === 0
        assert.isTrue(committed(yield* waitForProgress(committed)))
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse, settings: SETTINGS, over: [...way.layers, layer] })))
      const loss = logged.filter((l) => l.text.includes("DATA LOSS"))
      assert.strictEqual(loss.length, 1, logged.map((l) => l.text).join("\n"))
      assert.include(loss[0]!.text, `${TRADES}:1: offsets 100 to 149 (50)`)
      assert.strictEqual((yield* lostOffsetsOf(1)) - before, 50)
    }), 60_000)

  it.live("every record past the marker deleted, none after: the loss is reported and the partition reads as caught up", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const options = warehouseOptions("sqlite")
      const trades = makeTrades({ count: 150, symbols: ["XYZ"], days: 0.01 })
      const before = yield* lostOffsets
      const { layer, logged } = capturing()
      const run = (done: Parameters<typeof ingestUntil>[0]) =>
        ingestUntil(done).pipe(Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: SETTINGS, over: [layer] })))
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TRADES!], 1)!)
        yield* (yield* KafkaSink).send(tradeRecords(trades.slice(0, 100)))
      }).pipe(Effect.provide(kafka))
      yield* run((p) => p.written.trades >= 100 && p.uncommitted === 0)
      yield* Effect.gen(function*() {
        yield* (yield* KafkaSink).send(tradeRecords(trades.slice(100)))
      }).pipe(Effect.provide(kafka))
      // An idle topic: the whole log is deleted (DeleteRecords to its end) and nothing more comes.
      broker.deleteRecords(TRADES!, 0, 150)
      // Before, nothing was delivered: the position stayed at 100, lag 50 for good (a stalled
      // partition to the alerts), and the loss went unsaid until a record came.
      const after = yield* run((p) => p.partitions === 1 && p.position === 150 && p.lag === 0)
      assert.strictEqual(after.lag, 0)
      const loss = logged.filter((l) => l.text.includes("DATA LOSS"))
      assert.strictEqual(loss.length, 1, logged.map((l) => l.text).join("\n"))
      assert.include(loss[0]!.text, `${TRADES}:0: offsets 100 to 149 (50)`)
      assert.strictEqual((yield* lostOffsets) - before, 50)
    }), 90_000)

  it.live("a new group on a log whose start moved past 0 starts there: a warning, no loss counted", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const options = warehouseOptions("sqlite")
      const trades = makeTrades({ count: 100, symbols: ["XYZ"], days: 0.01 })
      const before = yield* lostOffsets
      const { layer, logged } = capturing()
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TRADES!], 1)!)
        yield* (yield* KafkaSink).send(tradeRecords(trades))
      }).pipe(Effect.provide(kafka))
      broker.deleteRecords(TRADES!, 0, 40)
      yield* ingestUntil((p) => p.written.trades >= 60 && p.uncommitted === 0 && p.lag === 0).pipe(
        Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: SETTINGS, over: [layer] }))
      )
      assert.isFalse(logged.some((l) => l.text.includes("DATA LOSS")), logged.map((l) => l.text).join("\n"))
      assert.isTrue(logged.some((l) => l.level === "Warn" && l.text.includes(`${TRADES}:0: the log starts at 40`)), logged.map((l) => l.text).join("\n"))
      assert.strictEqual((yield* lostOffsets) - before, 0)
      const table = yield* checkTable("trades").pipe(Effect.provide(Lakehouse.layer(options)))
      assert.strictEqual(table.rows, 60)
    }), 60_000)
})

/**
 * The batch intake alone, over one partition's state: a loss told, the partition restarted (as a
 * failed flush does: its marks from the tables, what it told carried), then its topic deleted and
 * made again. The memory broker revokes a deleted topic's partitions (a fresh state), and an id
 * other than the table's ends the run (ADR-29); a state installed from tables that recorded no id
 * (written under kafkajs, or before ADR-29) and kafkajs, which tells no ids, go on reading.
 */
describe("a loss told, then the topic made again", () => {
  const tp = { topic: TRADES!, partition: 0 }
  const key = tpKeyOf(tp)
  /** The state a restart installs: the tables' marks (100; no topic id recorded), what was told kept. */
  const installed = (previous?: PartitionState): PartitionState =>
    partitionState({ tp, table: "trades", tableMark: 100n, sequenceMark: 100n, lag: previous?.lag ?? 0n, logEnd: previous?.logEnd, lost: previous?.lost })
  /** What tells records deleted from the position to the log start: an empty batch there (as kafkajs' reset check sends). */
  const deletedTo = (logStart: bigint, highWatermark: bigint, topicId: string | undefined): PartitionBatch => ({
    ...tp, records: [], fromOffset: 100n, firstOffset: logStart, nextOffset: logStart, highWatermark, logStartOffset: logStart,
    ...(topicId === undefined ? {} : { topicId })
  })

  /**
   * The losses told and counted over the old log (its records below 1000 deleted) and then `again`,
   * the first state having read to `readTo` (past the table's mark, 100: buffered, not committed).
   */
  const told = (oldId: string | undefined, again: { readonly logStart: bigint; readonly topicId: string | undefined }, readTo = 100n) =>
    Effect.gen(function*() {
      const parts: Partitions = new Map()
      const tracker = yield* Tracker.make({})
      const consume = makeConsumeBatch({
        group: "k2-ingest", codec: makeWireCodec(), writerSchemas: undefined, trackers: { trades: tracker, quotes: tracker }, parts,
        counters: makeCounters(), rejudged: makeRejudged(), deadLetter: makeDeadLetter(yield* KafkaSink), logRemadeEachRun: false
      })
      const { layer, logged } = capturing()
      const before = yield* lostOffsets
      parts.set(key, { ...installed(), next: readTo })
      yield* consume(deletedTo(1000n, 1000n, oldId)).pipe(Effect.provide(layer))
      parts.set(key, installed(parts.get(key)))
      yield* consume(deletedTo(again.logStart, 1500n, again.topicId)).pipe(Effect.provide(layer))
      const loss = logged.filter((l) => l.text.includes("DATA LOSS")).map((l) => l.text)
      return { loss, counted: (yield* lostOffsets) - before }
    }).pipe(Effect.provide(KafkaMemory.layerMemory()))

  it.effect("the same log read again: told and counted once", () =>
    Effect.gen(function*() {
      for (const id of ["id-old", undefined]) {
        const { counted, loss } = yield* told(id, { logStart: 1000n, topicId: id })
        assert.strictEqual(loss.length, 1, loss.join("\n"))
        assert.include(loss[0], `${TRADES}:0: offsets 100 to 999 (900)`)
        assert.strictEqual(counted, 900)
      }
    }))

  // Made again and written to 1500, its records below 600 deleted before ingest read them. Before,
  // that loss went untold: below the old log's 1000, read as told already.
  it.effect("on a client telling topic ids, the new log's loss below what the old one told is told and counted", () =>
    Effect.gen(function*() {
      const { counted, loss } = yield* told("id-old", { logStart: 600n, topicId: "id-made" })
      assert.strictEqual(loss.length, 2, loss.join("\n"))
      assert.include(loss[1], `${TRADES}:0: offsets 100 to 599 (500)`)
      assert.strictEqual(counted, 1400)
    }))

  // The first state had read 100 to 149 (buffered, not committed) when the log start passed 1000:
  // it told 150 to 999. Restarted or revoked and assigned back, the state starts at the table's mark
  // (100) and 100 to 149, deleted too, are lost to the table: told and counted, not taken as told.
  it.effect("records read but not committed before a loss told, the state reinstalled from the mark: those are told and counted too", () =>
    Effect.gen(function*() {
      const { counted, loss } = yield* told(undefined, { logStart: 1000n, topicId: undefined }, 150n)
      assert.strictEqual(loss.length, 2, loss.join("\n"))
      assert.include(loss[0], `${TRADES}:0: offsets 150 to 999 (850)`)
      assert.include(loss[1], `${TRADES}:0: offsets 100 to 149 (50)`)
      assert.strictEqual(counted, 900)
    }))

  it.effect("on kafkajs (no ids), a log start gone back below what was told is another log's: told and counted", () =>
    Effect.gen(function*() {
      const { counted, loss } = yield* told(undefined, { logStart: 600n, topicId: undefined })
      assert.strictEqual(loss.length, 2, loss.join("\n"))
      assert.include(loss[1], `${TRADES}:0: offsets 100 to 599 (500)`)
      assert.strictEqual(counted, 1400)
    }))
})
