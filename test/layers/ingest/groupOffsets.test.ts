/**
 * The consumer group's offsets (DESIGN.md step 3: for lag tools, never for recovery): they reach
 * the end of an idle partition once everything before it is in the tables or the DLQ, and never
 * pass what the tables' markers say is ingested.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, Schedule, Stream } from "effect"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { DEFAULT_INGEST_GROUP } from "../../../src/domain/ingest/marker.ts"
import { identifierOf } from "../../../src/domain/tables.ts"
import type { Instrument } from "../../../src/domain/reference.ts"
import { dlqTopicName, instrumentsTopicName, sourceTopicSpecs } from "../../../src/domain/wire.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { Catalog, catalogError, CommitStateUnknown } from "../../../src/services/Catalog.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { kafkaError, KafkaUnavailable, type PartitionBatch, tpKey } from "../../../src/services/KafkaSource.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { wrappingCommits, wrappingConsumers } from "../../support/kafkaFaults.ts"
import { markerIn } from "../../support/marker.ts"
import { ASX_TOPICS, ingestorOver, ingestUntil, tradeRecords } from "../../support/memoryFeed.ts"
import { assertTablesHoldOnce } from "../../support/tableCheck.ts"
import { lakehouseWrapping, warehouseOptions } from "../../support/warehouse.ts"

const TOPIC = ASX_TOPICS[0]!
const wire = makeWireCodec()

const SETTINGS = { topics: [TOPIC], commitIntervalMs: 50, checkpointIntervalMs: 0 }

/**
 * Polls `probe` until it holds: what it waits for happens within a few flushes and a restart's
 * backoff; the bound (~20 s) only stops a broken run, on a machine however loaded, and fails the
 * test: a wait that ran out must not pass for one that ended.
 */
const eventually = (probe: Effect.Effect<boolean>) =>
  probe.pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (ok) => ok, times: 1_000 }),
    Effect.flatMap((ok) => ok ? Effect.void : Effect.die(new Error("the awaited condition never held")))
  )

describe("Consumer group offsets", () => {
  it.live("reach the end of a partition whose last record is poison after its flush's sequence_events commit landed unanswered", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      // One attempt a commit: an answer lost fails the flush with its outcome unknown, and the
      // partition restarts from the tables (which hold the commit: the unknown-outcome path).
      const options = { ...warehouseOptions("sqlite"), sink: { maxCommitAttempts: 1 } }
      let loseAnswers = 0
      let tables: Catalog["Service"] | undefined
      const lakehouse = lakehouseWrapping(options, (catalog) =>
        tables = Catalog.of({
          ...catalog,
          commitTable: (id, requirements, updates) =>
            Effect.andThen(catalog.commitTable(id, requirements, updates), (committed) =>
              id.name === "sequence_events" && loseAnswers-- > 0
                ? Effect.fail(catalogError(new CommitStateUnknown({ table: id.name, detail: "injected: the answer was lost" })))
                : Effect.succeed(committed))
        }))
      // Every group commit, with the lesser of the tables' marks and the letters sent when it was made.
      const commits: Array<{ offset: bigint; marked: bigint; lettered: number }> = []
      const recording = wrappingCommits(kafka, (offsets, own) =>
        Effect.gen(function*() {
          const marks = yield* Effect.forEach(["trades", "sequence_events"] as const, (name) =>
            Effect.map(Effect.orDie(tables!.loadTable(identifierOf(name))), (t) =>
              markerIn(t.metadata, DEFAULT_INGEST_GROUP)?.offsets.get(TOPIC)?.get(0) ?? 0n))
          const marked = marks[0]! < marks[1]! ? marks[0]! : marks[1]!
          const lettered = broker.topics.get(dlqTopicName(TOPIC))?.partitions.flat().length ?? 0
          for (const c of offsets) commits.push({ offset: c.offset, marked, lettered })
          return yield* own(offsets)
        }))
      const committed = () => broker.groups.get(DEFAULT_INGEST_GROUP)?.committed.get(tpKey(TOPIC, 0))
      const result = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 1)!)
        const sink = yield* KafkaSink
        const ingestor = yield* Ingestor
        const fiber = yield* Effect.forkChild(ingestor.run)
        yield* sink.send(tradeRecords(makeTrades({ count: 30, symbols: ["XYZ"], days: 0.01 })))
        yield* eventually(Effect.sync(() => committed() === 30n))
        assert.strictEqual(committed(), 30n)
        // The partition's last record is poison, and the flush that passes it loses sequence_events' answer.
        loseAnswers = 1
        yield* sink.send([{ topic: TOPIC, key: "XYZ", value: new Uint8Array(20), partition: 0 }])
        yield* eventually(Effect.map(ingestor.progress, (p) => p.restarts === 1 && p.position === 31 && p.uncommitted === 0))
        // Idle now: the group's offset follows the tables' marks to the end within a few flushes.
        yield* eventually(Effect.sync(() => committed() === 31n))
        const whileRunning = committed()
        const progress = yield* ingestor.progress
        yield* Fiber.interrupt(fiber)
        return { whileRunning, progress }
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse, settings: SETTINGS, over: [recording] })))
      assert.strictEqual(loseAnswers, 0)
      // Never ahead of what is durable: the tables' marks, and the poison record's letter.
      for (const c of commits) {
        assert.isTrue(c.offset <= c.marked, `group commit at ${c.offset}, tables at ${c.marked}`)
        if (c.offset === 31n) assert.strictEqual(c.lettered, 1)
      }
      assert.strictEqual(result.progress.restarts, 1)
      assert.strictEqual(broker.topic(dlqTopicName(TOPIC)).partitions.flat().length, 1)
      assert.strictEqual(result.whileRunning, 31n)
      // Not ahead of the tables: both markers are at the end.
      const marks = yield* Effect.gen(function*() {
        const catalog = yield* Catalog
        return yield* Effect.forEach(["trades", "sequence_events"] as const, (name) =>
          Effect.map(catalog.loadTable(identifierOf(name)), (t) => markerIn(t.metadata, DEFAULT_INGEST_GROUP)?.offsets.get(TOPIC)?.get(0)))
      }).pipe(Effect.provide(Lakehouse.layer(options)))
      assert.deepStrictEqual(marks, [31n, 31n])
      yield* assertTablesHoldOnce(options, 30)
    }), 60_000)

  it.live("reach past a transaction marker that ends an idle partition, the lag at 0 (an empty batch moves the position)", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const options = warehouseOptions("sqlite")
      // The memory log has no transactions: its consumers see a commit marker at offset 30, after
      // the 30 records, as a broker's read_committed consumers do: the log ends at 31, and the
      // batch after the records holds none and moves the position past the marker.
      const MARKER = 30n
      const withMarker = wrappingConsumers((consumer) => ({
        ...consumer,
        batches: consumer.batches.pipe(
          Stream.flatMap((b) => {
            if (b.partition !== 0 || b.nextOffset !== MARKER) return Stream.make(b)
            const moved: PartitionBatch = { ...b, records: [], fromOffset: MARKER, firstOffset: MARKER + 1n, nextOffset: MARKER + 1n, highWatermark: MARKER + 1n }
            return Stream.make({ ...b, highWatermark: MARKER + 1n }, moved)
          })
        ),
        watermarks: (topic) =>
          Effect.map(consumer.watermarks(topic), (marks) => marks.map((m) => m.partition === 0 && m.high === MARKER ? { ...m, high: MARKER + 1n } : m))
      })).pipe(Layer.provide(kafka))
      const committed = () => broker.groups.get(DEFAULT_INGEST_GROUP)?.committed.get(tpKey(TOPIC, 0))
      const result = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 1)!)
        const ingestor = yield* Ingestor
        const fiber = yield* Effect.forkChild(ingestor.run)
        yield* (yield* KafkaSink).send(tradeRecords(makeTrades({ count: 30, symbols: ["XYZ"], days: 0.01 })))
        yield* eventually(Effect.map(ingestor.progress, (p) => committed() === MARKER + 1n && p.uncommitted === 0))
        // A few lag refreshes: the log end (31) less the position stays 0.
        yield* Effect.sleep("2500 millis")
        const progress = yield* ingestor.progress
        yield* Fiber.interrupt(fiber)
        return { committed: committed(), progress }
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: SETTINGS, over: [withMarker] })))
      assert.strictEqual(result.committed, MARKER + 1n)
      assert.strictEqual(result.progress.lag, 0)
      assert.strictEqual(result.progress.position, 31)
      yield* assertTablesHoldOnce(options, 30)
    }), 60_000)

  it.live("reach the end of a partition whose last flush's group commit failed", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const options = warehouseOptions("sqlite")
      // Group commits fail while `refuse` holds (a broker busy rebalancing, say); the tables commit.
      let refuse = false
      let refused = 0
      let subscribed = 0
      const refusing = wrappingCommits(kafka, (offsets, own) =>
        Effect.suspend(() =>
          refuse && offsets.length > 0
            ? (refused++, Effect.fail(kafkaError(new KafkaUnavailable({ operation: "commit", detail: "injected" }))))
            : own(offsets)
        ), () => subscribed++)
      const committed = () => broker.groups.get(DEFAULT_INGEST_GROUP)?.committed.get(tpKey(TOPIC, 0))
      const trades = tradeRecords(makeTrades({ count: 40, symbols: ["XYZ"], days: 0.01 }))
      const whileRunning = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 1)!)
        const sink = yield* KafkaSink
        const ingestor = yield* Ingestor
        const fiber = yield* Effect.forkChild(ingestor.run)
        yield* sink.send(trades.slice(0, 20))
        yield* eventually(Effect.sync(() => committed() === 20n))
        assert.strictEqual(committed(), 20n)
        refuse = true
        yield* sink.send(trades.slice(20))
        yield* eventually(Effect.map(ingestor.progress, (p) => refused > 0 && p.position === 40 && p.uncommitted === 0))
        // The tables hold every record; the next flushes commit the group's offset the failure skipped.
        refuse = false
        yield* eventually(Effect.sync(() => committed() === 40n))
        const whileRunning = committed()
        yield* Fiber.interrupt(fiber)
        return whileRunning
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: SETTINGS, over: [refusing] })))
      assert.isAbove(refused, 0)
      // A group commit that fails is owed, not a fault: the run never rejoined.
      assert.strictEqual(subscribed, 1)
      assert.strictEqual(whileRunning, 40n)
      yield* assertTablesHoldOnce(options, 40)
    }), 60_000)

  // A broker alive but unresponsive (a paused JVM, a full GC, a hung disk) answers no commit: the
  // clients wait minutes for one (request timeouts times retries). Held in the flush, that wait
  // stalled every later flush and a stop's drain, whose rows were in the tables already.
  it.live("a group commit that gets no answer holds up neither the next flushes nor the drain", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const options = warehouseOptions("sqlite")
      let unanswered = false
      let waiting = 0
      const silent = wrappingCommits(kafka, (offsets, own) =>
        Effect.suspend(() => unanswered ? (waiting++, Effect.never) : own(offsets)))
      const committed = () => broker.groups.get(DEFAULT_INGEST_GROUP)?.committed.get(tpKey(TOPIC, 0))
      const trades = tradeRecords(makeTrades({ count: 60, symbols: ["XYZ"], days: 0.01 }))
      const stop = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 1)!)
        const sink = yield* KafkaSink
        const ingestor = yield* Ingestor
        const fiber = yield* Effect.forkChild(ingestor.run)
        yield* sink.send(trades.slice(0, 20))
        yield* eventually(Effect.sync(() => committed() === 20n))
        unanswered = true
        yield* sink.send(trades.slice(20, 40))
        yield* eventually(Effect.map(ingestor.progress, (p) => waiting > 0 && p.written.trades === 40))
        // The next records are flushed though the last group commit still has no answer.
        yield* sink.send(trades.slice(40))
        yield* eventually(Effect.map(ingestor.progress, (p) => p.written.trades === 60 && p.uncommitted === 0))
        // So is the stop: bounded, not as long as the broker stays silent (for ever here).
        return yield* Fiber.interrupt(fiber).pipe(Effect.timeoutOption("30 seconds"))
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: { ...SETTINGS, groupCommitWaitMs: 200 }, over: [silent] })))
      assert.isTrue(Option.isSome(stop), "the drain ended")
      assert.strictEqual(committed(), 20n, "no group commit was answered after the broker went silent")
      yield* assertTablesHoldOnce(options, 60)
    }), 60_000)

  it.live("a rerun of the embedded default over its tables commits their marks once its log is published again, which releases it", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      const trades = tradeRecords(makeTrades({ count: 30, symbols: ["XYZ"], days: 0.01 }))
      // Each run's log is made again from the same feed, and drops what the group committed (ADR-22).
      const run = Effect.gen(function*() {
        const broker = new KafkaMemory.MemoryBroker()
        const kafka = KafkaMemory.layerMemory(broker, { releaseCommitted: true })
        yield* Effect.gen(function*() {
          yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 1)!)
          yield* (yield* KafkaSink).send(trades)
        }).pipe(Effect.provide(kafka))
        const released = () => broker.topic(TOPIC).base[0]
        yield* Effect.gen(function*() {
          const ingestor = yield* Ingestor
          const fiber = yield* Effect.forkChild(ingestor.run)
          yield* eventually(Effect.map(ingestor.progress, (p) => p.partitions === 1 && p.uncommitted === 0 && released() === 30))
          yield* Fiber.interrupt(fiber)
        }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: { ...SETTINGS, logRemadeEachRun: true } })))
        return released()
      })
      assert.strictEqual(yield* run, 30, "the first run ingests the log and releases it")
      assert.strictEqual(yield* run, 30, "the rerun, with nothing to ingest, releases it too")
      yield* assertTablesHoldOnce(options, 30)
    }), 60_000)

  // A mark of 1: an empty log ends at 0, just below it.
  for (const written of [30, 1]) {
    it.live(`are not put at a table's mark in a log that does not reach it (a topic re-created empty, the table's mark at ${written})`, () =>
      Effect.gen(function*() {
        const broker = new KafkaMemory.MemoryBroker()
        const kafka = KafkaMemory.layerMemory(broker)
        const options = warehouseOptions("sqlite")
        const committed = () => broker.groups.get(DEFAULT_INGEST_GROUP)?.committed.get(tpKey(TOPIC, 0))
        const layer = ingestorOver({ kafka, lakehouse: options, settings: SETTINGS })
        yield* Effect.gen(function*() {
          yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 1)!)
          yield* (yield* KafkaSink).send(tradeRecords(makeTrades({ count: written, symbols: ["XYZ"], days: 0.01 })))
        }).pipe(Effect.provide(kafka))
        yield* ingestUntil((p) => p.written.trades === written && p.uncommitted === 0).pipe(Effect.provide(layer))
        assert.strictEqual(committed(), BigInt(written))
        // Deleted (with the group's offsets of it) and made again, empty: the table's mark is `written`.
        yield* Effect.gen(function*() {
          const admin = yield* KafkaAdmin
          yield* admin.deleteTopics([TOPIC])
          yield* admin.ensureTopics(sourceTopicSpecs([TOPIC], 1)!)
        }).pipe(Effect.provide(kafka))
        assert.isUndefined(committed())
        // A refresh of the log ends tells the new log (ADR-24): the run ends, its drain's flush
        // done, and the group's offset is still unset.
        const exit = yield* Effect.flatMap(Ingestor, (ingestor) => Effect.exit(ingestor.run)).pipe(
          Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.die(new Error("the run did not end")) }),
          Effect.provide(layer)
        )
        const failure = Exit.findErrorOption(exit)
        assert.isTrue(Option.isSome(failure) && (failure.value as { readonly _tag?: string })._tag === "LogBehindTable", String(exit))
        assert.isUndefined(committed())
      }), 60_000)
  }
  it.live("are not set for a partition the tables hold none of (nothing to put a mark at)", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const options = warehouseOptions("sqlite")
      const committed = (partition: number) => broker.groups.get(DEFAULT_INGEST_GROUP)?.committed.get(tpKey(TOPIC, partition))
      const layer = ingestorOver({ kafka, lakehouse: options, settings: SETTINGS })
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 2)!)
        yield* (yield* KafkaSink).send(tradeRecords(makeTrades({ count: 30, symbols: ["XYZ"], days: 0.01 })))
      }).pipe(Effect.provide(kafka))
      yield* Effect.gen(function*() {
        const ingestor = yield* Ingestor
        const fiber = yield* Effect.forkChild(ingestor.run)
        yield* eventually(Effect.sync(() => committed(0) === 30n))
        // Past a refresh of the log ends (which tells partition 1's end, 0) and many flushes.
        yield* Effect.sleep("1500 millis")
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(layer))
      assert.strictEqual(committed(0), 30n)
      assert.isUndefined(committed(1))
    }), 60_000)

  const INSTRUMENTS_TOPIC = instrumentsTopicName("ASX")
  const instruments = Array.from({ length: 30 }, (_, i): Instrument => ({
    symbol: `S${i}`, exchange: "ASX", company_id: null, name: `S${i} LTD`, isin: null, currency: "AUD", asset_class: "equities", listing_date: null, delisting_date: null
  }))
  for (const [topic, values] of [
    [TOPIC, makeTrades({ count: 30, symbols: ["XYZ"], days: 0.01 }).map((t) => wire.encodeTrade(t))],
    [INSTRUMENTS_TOPIC, instruments.map((i) => wire.encodeInstrument(i))]
  ] as const) {
    it.live(`are committed once a mark, not at every flush of an idle partition, in the run that flushed it and in a rerun (${topic})`, () =>
      Effect.gen(function*() {
        const broker = new KafkaMemory.MemoryBroker()
        const kafka = KafkaMemory.layerMemory(broker)
        const options = warehouseOptions("sqlite")
        // Every group commit of partition 0, in order.
        const commits: Array<bigint> = []
        const counting = wrappingCommits(kafka, (offsets, own) =>
          Effect.andThen(own(offsets), Effect.sync(() => {
            for (const c of offsets) if (c.topic === topic && c.partition === 0) commits.push(c.offset)
          })))
        const committed = () => broker.groups.get(DEFAULT_INGEST_GROUP)?.committed.get(tpKey(topic, 0))
        yield* Effect.gen(function*() {
          yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([topic], 1)!)
          yield* (yield* KafkaSink).send(values.map((value, i) => ({ topic, key: `k${i}`, value, partition: 0 })))
        }).pipe(Effect.provide(kafka))
        // Idle past a refresh of the log ends and many flushes (50 ms apart), then stopped.
        const idleRun = Effect.gen(function*() {
          const ingestor = yield* Ingestor
          const fiber = yield* Effect.forkChild(ingestor.run)
          yield* eventually(Effect.sync(() => committed() === 30n))
          yield* Effect.sleep("1500 millis")
          yield* Fiber.interrupt(fiber)
        }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: { ...SETTINGS, topics: [topic] }, over: [counting] })))
        yield* idleRun
        assert.deepStrictEqual(commits.filter((o) => o === 30n), [30n], "the flush that wrote the records commits their mark once")
        commits.length = 0
        // A rerun over the tables owes the group their mark (it may never have heard of it): once.
        yield* idleRun
        assert.deepStrictEqual(commits, [30n])
      }), 60_000)
  }
})
