/**
 * Catch-up to live on the real broker: a producer keeps producing while `ingest` (an OS
 * process) lands the data; a replay started mid-stream plays the tables up to the group's
 * marker, then the live topics, and must yield every produced message exactly once, checked
 * by message_id and by (topic, partition, offset) against the topics read independently.
 * Also: republish to a topic on the broker and read it back.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Result, Stream } from "effect"
import { makeWireCodec } from "../../src/domain/avro/codec.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import * as Platformatic from "../../src/layers/kafka/platformatic.ts"
import * as ReplayLayer from "../../src/layers/replay/engine.ts"
import { republish } from "../../src/layers/replay/republish.ts"
import { KafkaAdmin } from "../../src/services/KafkaSink.ts"
import { type KafkaRecord, KafkaSource } from "../../src/services/KafkaSource.ts"
import { type LiveStart, type ReplayEvent, ReplayEngine } from "../../src/services/ReplayEngine.ts"
import { createTopics, publish, type Scenario, spawnIngest, stop, topicsOf, uniqueExchange, waitForRows } from "../support/ingestHarness.ts"
import { ensureBroker, kafkaBrokers } from "../support/kafka.ts"
import { warehouseOptions } from "../support/warehouse.ts"

const codec = makeWireCodec()

const scenario = (): Scenario => {
  const exchange = uniqueExchange()
  return { exchange, group: `k2-test-${exchange.toLowerCase()}`, partitions: 4, options: warehouseOptions("sqlite") }
}

const coordinates = (e: { kafka_topic: string | null; kafka_partition: number | null; kafka_offset: bigint | null }) =>
  `${e.kafka_topic}:${e.kafka_partition}:${e.kafka_offset}`

/** The first `count` records of some topics, read by a fresh consumer group from the start. */
const readTopics = (topics: ReadonlyArray<string>, count: number) =>
  Effect.scoped(Effect.gen(function*() {
    const consumer = yield* (yield* KafkaSource).subscribe({ groupId: `k2-test-read-${crypto.randomUUID()}`, topics })
    return yield* consumer.batches.pipe(
      Stream.flatMap((b) => Stream.fromArray(b.records.map((r) => ({ topic: b.topic, partition: b.partition, record: r })))),
      Stream.take(count),
      Stream.runCollect
    )
  })).pipe(Effect.timeout("120 seconds"))

/** The message_id of a trade or quote record. */
const idOf = (r: KafkaRecord) => {
  const m = Result.getOrThrow(codec.decode(r.value!))
  return m.kind === "instrument" ? `instrument ${m.value.symbol}` : m.value.message_id
}

const kafka = Platformatic.layerPlatformatic({ brokers: kafkaBrokers, clientId: "k2-test-replay" })

beforeAll(() => ensureBroker(), 600_000)

describe("replay on the real broker", () => {
  it.live("catch-up to live started mid-stream yields every produced message exactly once", () => {
    const s = scenario()
    return Effect.gen(function*() {
      yield* createTopics(s)
      // 30 s of producing: room for the ingest process to start and commit on a loaded machine.
      const producer = yield* Effect.forkChild(
        publish(s, { eventsPerSymbolPerDay: 3_000, pacing: { _tag: "Rate", eventsPerSecond: 2_000 } })
      )
      const ingest = spawnIngest(s)
      const landed = yield* waitForRows(s, 1, 120_000)
      assert.isAbove(landed!.trades.rows + landed!.quotes.rows, 0, ingest.output())
      assert.isUndefined(producer.pollUnsafe(), "the producer is still producing when the replay starts")

      const events: Array<ReplayEvent> = []
      let start: LiveStart | undefined
      const follower = yield* (yield* ReplayEngine).follow({
        group: s.group,
        from: 0,
        topics: topicsOf(s.exchange),
        onLive: (l) => Effect.sync(() => void (start = l))
      }).pipe(Stream.runForEach((e) => Effect.sync(() => void events.push(e))), Effect.forkChild)

      const r = yield* Fiber.join(producer)
      const produced = r.totals.trades + r.totals.quotes
      const truth = yield* readTopics(topicsOf(s.exchange), produced)
      const deadline = Date.now() + 180_000
      while (events.length < produced && Date.now() < deadline && follower.pollUnsafe() === undefined) {
        yield* Effect.sleep("200 millis")
      }
      // Anything past the produced set (an overlap) would arrive now.
      yield* Effect.sleep("2 seconds")
      const exit = follower.pollUnsafe()
      yield* Fiber.interrupt(follower)
      yield* stop(ingest)

      assert.isUndefined(exit, `the follow is still running (it failed otherwise: ${String(exit)})`)
      assert.strictEqual(truth.length, produced)
      assert.isDefined(start, "the replay went live")
      assert.isAbove(start!.tableEvents, 0, "part of it came from the table")
      assert.isBelow(start!.tableEvents, produced, "part of it came live")
      assert.strictEqual(events.length, produced, `every produced message once (table part ${start!.tableEvents})`)
      assert.deepStrictEqual(new Set(events.map((e) => e.message_id)), new Set(truth.map((t) => idOf(t.record))))
      assert.strictEqual(new Set(events.map((e) => e.message_id)).size, produced, "no message_id twice")
      assert.deepStrictEqual(
        new Set(events.map(coordinates)),
        new Set(truth.map((t) => coordinates({ kafka_topic: t.topic, kafka_partition: t.partition, kafka_offset: t.record.offset })))
      )
    }).pipe(Effect.provide(Layer.mergeAll(ReplayLayer.layer, kafka).pipe(Layer.provideMerge(Lakehouse.layer(s.options)))))
  }, 600_000)

  it.live("republished to a topic, read back: the replay in order", () => {
    const s = scenario()
    return Effect.gen(function*() {
      yield* createTopics(s)
      const r = yield* publish(s, { eventsPerSymbolPerDay: 200 })
      const ingest = spawnIngest(s)
      const landed = yield* waitForRows(s, r.totals.trades + r.totals.quotes, 180_000)
      yield* stop(ingest)
      assert.strictEqual(landed!.trades.rows + landed!.quotes.rows, r.totals.trades + r.totals.quotes, ingest.output())
      const replay = yield* ReplayEngine
      const q = { from: 0, to: Date.UTC(2100, 0, 1) * 1000 }
      const events = yield* Stream.runCollect(replay.stream(q))
      const topic = `k2-test-backtest-${s.exchange.toLowerCase()}`
      yield* (yield* KafkaAdmin).ensureTopics([{ name: topic, partitions: 1 }])
      const summary = yield* republish(replay.stream(q), { topic, codec })
      assert.strictEqual(summary.events, events.length)
      const back = yield* readTopics([topic], events.length)
      assert.deepStrictEqual(back.map((t) => idOf(t.record)), events.map((e) => e.message_id))
      assert.deepStrictEqual(back.map((t) => t.record.key), events.map((e) => e.symbol))
    }).pipe(Effect.provide(Layer.mergeAll(ReplayLayer.layer, kafka).pipe(Layer.provideMerge(Lakehouse.layer(s.options)))))
  }, 600_000)
})
