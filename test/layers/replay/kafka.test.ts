/**
 * Replay's Kafka targets on the in-process broker: republishing to a topic (read back, it is
 * the replay, value for value and in order; a paced replay stays paced), and catch-up to live
 * (the table up to the marker, then the topic from the marker: exactly the produced set, each
 * record once by (topic, partition, offset), while a producer keeps producing).
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Fiber, Layer, Result, Stream } from "effect"
import { TestClock } from "effect/testing"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { tradeSchema } from "../../../src/domain/avro/schemas.ts"
import { encodeOffsets, markerKey, type Offsets } from "../../../src/domain/ingest/marker.ts"
import { quoteColumns, type QuoteRow, tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { Header } from "../../../src/domain/wire.ts"
import { layerMemory, MemoryBroker } from "../../../src/layers/kafka/memory.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { eventOf } from "../../../src/layers/replay/live.ts"
import { paced } from "../../../src/layers/replay/pace.ts"
import { republish } from "../../../src/layers/replay/republish.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { KafkaAdmin, KafkaSink, type ProducerRecord } from "../../../src/services/KafkaSink.ts"
import { KafkaSource } from "../../../src/services/KafkaSource.ts"
import { type LiveStart, type ReplayEvent, ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { registryError, SchemaNotFound } from "../../../src/services/SchemaRegistry.ts"
import * as Ref from "../../domain/query/reference.ts"
import { DAY, genQuotes, genTrades, T0 } from "../query/data.ts"
import { fill, lakehouse, QUOTES, TRADES } from "../query/fixture.ts"
import { catchUpStack } from "../../support/catchUp.ts"

const codec = makeWireCodec()
const key = (e: { kafka_topic: string | null; kafka_partition: number | null; kafka_offset: bigint | null }) =>
  `${e.kafka_topic}:${e.kafka_partition}:${e.kafka_offset}`
/** A trade or quote off the wire (this topic carries nothing else). */
const decodeMarket = (bytes: Uint8Array) => {
  const m = Result.getOrThrow(codec.decode(bytes))
  if (m.kind === "instrument") throw new Error("an instrument among trades and quotes")
  return m
}
const tagged = (e: ReplayEvent) => `${e._tag === "Trade" ? "T" : "Q"}:${e.message_id}`

/** Every record of a topic, read back through a fresh consumer group. */
const readTopic = (topic: string, count: number) =>
  Effect.scoped(Effect.gen(function*() {
    const consumer = yield* (yield* KafkaSource).subscribe({ groupId: `read-${crypto.randomUUID()}`, topics: [topic] })
    return yield* consumer.batches.pipe(Stream.flatMap((b) => Stream.fromArray(b.records)), Stream.take(count), Stream.runCollect)
  }))

describe("republish", () => {
  const broker = new MemoryBroker()
  const warehouse = Layer.mergeAll(fill(), ReplayLayer.layer, layerMemory(broker)).pipe(Layer.provideMerge(lakehouse()))

  layer(warehouse, { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("read back from the topic, the records are the replay: same order, every value, the producer's headers", () =>
      Effect.gen(function*() {
        const replay = yield* ReplayEngine
        const q = { from: T0, to: T0 + 3 * DAY }
        const events = yield* Stream.runCollect(replay.stream(q))
        yield* (yield* KafkaAdmin).ensureTopics([{ name: "backtest", partitions: 1 }])
        const summary = yield* republish(replay.stream(q), { topic: "backtest", codec, correlationId: "run-1" })
        const trades = events.filter((e) => e._tag === "Trade").length
        assert.deepStrictEqual([summary.events, summary.trades, summary.quotes], [events.length, trades, events.length - trades])
        const records = yield* readTopic("backtest", events.length)
        assert.strictEqual(records.length, events.length)
        records.forEach((r, i) => {
          const e = events[i]!
          // Lineage is not on the wire: take it from the original (K2's own row: none null) to compare everything else exactly.
          assert.deepStrictEqual(eventOf(decodeMarket(r.value!), e as Parameters<typeof eventOf>[1]), e)
          assert.strictEqual(r.key, e.symbol)
          assert.deepStrictEqual(r.headers, {
            [Header.schemaId]: String(e._tag === "Trade" ? codec.tradeSchemaId : codec.quoteSchemaId),
            [Header.correlationId]: "run-1"
          })
        })
      }))

    it.effect("on several partitions each symbol keeps its order", () =>
      Effect.gen(function*() {
        const replay = yield* ReplayEngine
        const q = { from: T0, to: T0 + DAY }
        const events = yield* Stream.runCollect(replay.stream(q))
        yield* (yield* KafkaAdmin).ensureTopics([{ name: "backtest-4", partitions: 4 }])
        yield* republish(replay.stream(q), { topic: "backtest-4", codec })
        const perSymbol = (ids: ReadonlyArray<{ symbol: string; id: string }>) => {
          const m = new Map<string, Array<string>>()
          for (const x of ids) m.set(x.symbol, [...(m.get(x.symbol) ?? []), x.id])
          return Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)))
        }
        const partitions = broker.topics.get("backtest-4")!.partitions
        const read = partitions.flatMap((log) =>
          log.map((r) => {
            const m = decodeMarket(r.value!)
            return { symbol: m.value.symbol, id: m.value.message_id }
          })
        )
        assert.deepStrictEqual(perSymbol(read), perSymbol(events.map((e) => ({ symbol: e.symbol, id: e.message_id }))))
        assert.isAbove(partitions.filter((log) => log.length > 0).length, 1)
      }))
  })
})

describe("republish, paced", () => {
  it.effect("a paced replay reaches the topic at its pace, not in batches", () => {
    const broker = new MemoryBroker()
    return Effect.gen(function*() {
      // Five trades 0, 1, 1, 3 and 6 seconds apart in exchange time, played at 2x.
      const events = [0, 1, 1, 3, 6].map((s, i): ReplayEvent => {
        const t = genTrades(1, { seed: i })[0]!
        return {
          _tag: "Trade", ...t, exchange_timestamp: T0 + s * 1_000_000, price: Ref.text8(t.price), quantity: Ref.text8(t.quantity)
        }
      })
      yield* (yield* KafkaAdmin).ensureTopics([{ name: "paced", partitions: 1 }])
      const sent = () => broker.topics.get("paced")!.partitions[0]!.length
      const fiber = yield* republish(Stream.fromArray(events).pipe(paced(2)), { topic: "paced", codec }).pipe(Effect.forkChild)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(sent(), 1)
      yield* TestClock.adjust("499 millis")
      assert.strictEqual(sent(), 3)
      yield* TestClock.adjust("999 millis")
      assert.strictEqual(sent(), 3)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(sent(), 4)
      yield* TestClock.adjust("1500 millis")
      assert.strictEqual((yield* Fiber.join(fiber)).events, 5)
      assert.strictEqual(sent(), 5)
    }).pipe(Effect.provide(layerMemory(broker)))
  })
})

// ---------------------------------------------------------------------------------------
// Catch-up to live

const TRADES_TOPIC = "market.equities.trades.test"
const QUOTES_TOPIC = "market.equities.quotes.test"
const GROUP = "k2-ingest-test"

type Produced = { readonly kind: "T"; readonly row: TradeRow } | { readonly kind: "Q"; readonly row: QuoteRow }

/** Publishes rows as the producer does and returns them with the coordinates Kafka gave them. */
const produce = (rows: ReadonlyArray<Produced>, using = codec) =>
  Effect.gen(function*() {
    const records = rows.map((p): ProducerRecord =>
      p.kind === "T"
        ? { topic: TRADES_TOPIC, key: p.row.symbol, value: using.encodeTrade(p.row) }
        : { topic: QUOTES_TOPIC, key: p.row.symbol, value: using.encodeQuote(p.row) }
    )
    const sent = yield* (yield* KafkaSink).send(records)
    return rows.map((p, i): Produced => {
      const lineage = { kafka_topic: sent[i]!.topic, kafka_partition: sent[i]!.partition, kafka_offset: sent[i]!.baseOffset! }
      return p.kind === "T" ? { kind: "T", row: { ...p.row, ...lineage } } : { kind: "Q", row: { ...p.row, ...lineage } }
    })
  })

const setup = Effect.gen(function*() {
  yield* (yield* KafkaAdmin).ensureTopics([{ name: TRADES_TOPIC, partitions: 3 }, { name: QUOTES_TOPIC, partitions: 2 }])
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.ensureTable(tables.quotes)
  // Of the topics' exchange: ingestion dead-letters a record of another one (misrouted), and so the live part skips it.
  const trades = genTrades(900, { seed: 21, idPrefix: "c" }).map((row): Produced => ({ kind: "T", row: { ...row, exchange: "TEST" } }))
  const quotes = genQuotes(1_200, { seed: 22 }).map((row): Produced => ({ kind: "Q", row: { ...row, exchange: "TEST" } }))
  return { trades, quotes }
})

/**
 * Ingests by hand what the ingestor would have committed: per partition the records below a
 * marker (three quarters of what is there), the marker in the snapshot. Quotes partition 1 is
 * left out, as if its first commit had not happened yet.
 */
const ingestBelowMarkers = (produced: ReadonlyArray<Produced>) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    const counts = new Map<string, number>()
    for (const p of produced) counts.set(`${p.row.kafka_topic}:${p.row.kafka_partition}`, (counts.get(`${p.row.kafka_topic}:${p.row.kafka_partition}`) ?? 0) + 1)
    const marker = (topic: string, partitions: ReadonlyArray<number>): Offsets =>
      new Map([[topic, new Map(partitions.map((p) => [p, BigInt(Math.floor((counts.get(`${topic}:${p}`) ?? 0) * 0.75))]))]])
    const tradeMarker = marker(TRADES_TOPIC, [0, 1, 2])
    const quoteMarker = marker(QUOTES_TOPIC, [0])
    const below = (m: Offsets) => (p: Produced) => p.row.kafka_offset < (m.get(p.row.kafka_topic)?.get(p.row.kafka_partition) ?? 0n)
    const trades = produced.filter((p) => p.kind === "T").filter(below(tradeMarker))
    const quotes = produced.filter((p) => p.kind === "Q").filter(below(quoteMarker))
    yield* sink.append(TRADES, tradeColumns(trades.map((p) => p.row as TradeRow)), { properties: { [markerKey(GROUP)]: encodeOffsets(tradeMarker) } })
    yield* sink.append(QUOTES, quoteColumns(quotes.map((p) => p.row as QuoteRow)), { properties: { [markerKey(GROUP)]: encodeOffsets(quoteMarker) } })
    return { table: [...trades, ...quotes], tradeMarker, quoteMarker }
  })

/** The replay order computed independently: (time, sequence NULL first, message_id, Quote before Trade). */
const replayOrder = (rows: ReadonlyArray<Produced>) =>
  [...rows].sort((a, b) => Ref.compareRows(a.row, b.row) || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0))
    .map((p) => `${p.kind}:${p.row.message_id}`)

/** Runs a follow in the background, collecting its events; `settle` waits for `n` and a little longer for extras. */
const collect = (stream: Stream.Stream<ReplayEvent, unknown, KafkaSource>) =>
  Effect.gen(function*() {
    const events: Array<ReplayEvent> = []
    const fiber = yield* Stream.runForEach(stream, (e) => Effect.sync(() => void events.push(e))).pipe(Effect.forkChild)
    const settle = (n: number) =>
      Effect.gen(function*() {
        const deadline = Date.now() + 30_000
        while (events.length < n && Date.now() < deadline && fiber.pollUnsafe() === undefined) yield* Effect.sleep("10 millis")
        yield* Effect.sleep("300 millis")
        yield* Fiber.interrupt(fiber)
        return events
      })
    return { events, settle }
  })

describe("catch-up to live", () => {
  it.live("the table up to the marker, then the topic from it: every produced record once while the producer keeps producing", () => {
    const { layer: deps } = catchUpStack()
    return Effect.gen(function*() {
      const { trades, quotes } = yield* setup
      // Before: two thirds of everything, of which ingestion has committed three quarters per partition.
      const before = yield* produce([...trades.slice(0, 600), ...quotes.slice(0, 800)])
      const { table, tradeMarker, quoteMarker } = yield* ingestBelowMarkers(before)
      let start: LiveStart | undefined
      const replay = yield* ReplayEngine
      const run = yield* collect(replay.follow({ group: GROUP, from: T0, onLive: (s) => Effect.sync(() => void (start = s)) }))
      // The producer keeps producing while the replay catches up and goes live.
      const after: Array<Produced> = []
      const rest = [...trades.slice(600), ...quotes.slice(800)]
      for (let i = 0; i < rest.length; i += 50) {
        after.push(...(yield* produce(rest.slice(i, i + 50))))
        yield* Effect.sleep("5 millis")
      }
      const produced = [...before, ...after]
      const events = yield* run.settle(produced.length)

      // Exactly the produced set, each record once, by coordinates and by message_id.
      assert.strictEqual(events.length, produced.length)
      assert.strictEqual(new Set(events.map(key)).size, events.length, "no (topic, partition, offset) twice")
      assert.deepStrictEqual(new Set(events.map(key)), new Set(produced.map((p) => key(p.row))))
      assert.deepStrictEqual(new Set(events.map(tagged)), new Set(produced.map((p) => `${p.kind}:${p.row.message_id}`)))

      // The table part: the rows below the markers, in replay order; then the live part starts at the markers.
      assert.isDefined(start)
      assert.strictEqual(start!.tableEvents, table.length)
      assert.deepStrictEqual(events.slice(0, table.length).map(tagged), replayOrder(table))
      assert.deepStrictEqual(start!.offsets, new Map([
        [QUOTES_TOPIC, new Map([[0, quoteMarker.get(QUOTES_TOPIC)!.get(0)!], [1, 0n]])],
        [TRADES_TOPIC, tradeMarker.get(TRADES_TOPIC)!]
      ]))
      // Live: per partition contiguous offsets from the start, in offset order.
      const live = new Map<string, Array<bigint>>()
      for (const e of events.slice(table.length)) {
        const k = `${e.kafka_topic}:${e.kafka_partition}`
        live.set(k, [...(live.get(k) ?? []), e.kafka_offset!])
      }
      for (const [k, offsets] of live) {
        const [topic, partition] = [k.slice(0, k.lastIndexOf(":")), Number(k.slice(k.lastIndexOf(":") + 1))]
        const first = start!.offsets.get(topic)!.get(partition)!
        assert.deepStrictEqual(offsets, offsets.map((_, i) => first + BigInt(i)), `${k} is contiguous from ${first}`)
      }
      // Values of live events are exact, as the table would hold them.
      const byId = new Map(produced.map((p) => [p.row.message_id, p]))
      for (const e of events.slice(table.length, table.length + 200)) {
        const p = byId.get(e.message_id)!
        if (e._tag === "Trade" && p.kind === "T") {
          assert.deepStrictEqual([e.price, e.quantity, e.source_sequence, e.exchange_timestamp], [Ref.text8(p.row.price), Ref.text8(p.row.quantity), p.row.source_sequence, p.row.exchange_timestamp])
        } else if (e._tag === "Quote" && p.kind === "Q") {
          assert.deepStrictEqual([e.bid_price, e.ask_size], [Ref.text8(p.row.bid_price), Ref.text8(p.row.ask_size)])
        } else assert.fail(`${e.message_id} changed kind`)
      }
    }).pipe(Effect.provide(deps))
  }, 60_000)

  it.live("symbols, from and tables select the same records in both parts", () => {
    const { layer: deps } = catchUpStack()
    return Effect.gen(function*() {
      const { trades, quotes } = yield* setup
      const before = yield* produce([...trades.slice(0, 600), ...quotes.slice(0, 800)])
      yield* ingestBelowMarkers(before)
      const q = { from: T0 + DAY, symbols: ["BHP", "IBM"] }
      const run = yield* collect((yield* ReplayEngine).follow({ group: GROUP, ...q, tables: ["trades"] }))
      const after = yield* produce([...trades.slice(600), ...quotes.slice(800)])
      const want = [...before, ...after].filter((p) => p.kind === "T" && Ref.inRange(p.row, q.from, Number.MAX_SAFE_INTEGER, q.symbols))
      const events = yield* run.settle(want.length)
      assert.isAbove(want.length, 100)
      assert.strictEqual(events.length, want.length)
      assert.deepStrictEqual(new Set(events.map(key)), new Set(want.map((p) => key(p.row))))
    }).pipe(Effect.provide(deps))
  }, 60_000)

  it.live("live records framed with a registry's schema ids are replayed, and a writer schema met live is learned from it", () => {
    const { layer: deps } = catchUpStack()
    return Effect.gen(function*() {
      const { trades, quotes } = yield* setup
      // Producers and ingestion use a registry: its ids, not the embedded ones.
      const registered = makeWireCodec({ tradeSchemaId: 101, quoteSchemaId: 102, instrumentSchemaId: 103 })
      const before = yield* produce([...trades.slice(0, 600), ...quotes.slice(0, 800)], registered)
      const { table } = yield* ingestBelowMarkers(before)
      const lookups: Array<number> = []
      const resolveSchema = (id: number) =>
        Effect.sync(() => void lookups.push(id)).pipe(
          Effect.andThen(id === 201 ? Effect.succeed(tradeSchema) : Effect.fail(registryError(new SchemaNotFound({ what: `id ${id}` }))))
        )
      const run = yield* collect((yield* ReplayEngine).follow({ group: GROUP, from: T0, schemas: { codec: registered, resolveSchema } }))
      // Later, a producer on another version of the trade schema (id 201).
      const after = yield* produce(trades.slice(600), makeWireCodec({ tradeSchemaId: 201, quoteSchemaId: 102, instrumentSchemaId: 103 }))
      const produced = [...before, ...after]
      const events = yield* run.settle(produced.length)
      assert.isAbove(events.length, table.length)
      assert.strictEqual(events.length, produced.length)
      assert.deepStrictEqual(new Set(events.map(key)), new Set(produced.map((p) => key(p.row))))
      assert.deepStrictEqual(lookups, [201])
    }).pipe(Effect.provide(deps))
  }, 60_000)

  it.live("without a marker the topics named are followed from their start", () => {
    const { layer: deps } = catchUpStack()
    return Effect.gen(function*() {
      const { trades } = yield* setup
      const produced = yield* produce(trades.slice(0, 300))
      const replay = yield* ReplayEngine
      const refused = yield* Effect.flip(Stream.runCollect(replay.follow({ group: "nobody", from: T0 })))
      assert.strictEqual(refused._tag === "InvalidQuery" && refused.reason._tag === "InvalidArgument" && refused.reason.name, "topics")
      const run = yield* collect(replay.follow({ group: "nobody", from: T0, topics: [TRADES_TOPIC] }))
      const events = yield* run.settle(produced.length)
      assert.deepStrictEqual(events.map(key).sort(), produced.map((p) => key(p.row)).sort())
      const bad = yield* Effect.flip(Stream.runCollect(replay.follow({ group: "nobody", from: T0, topics: ["trades"] })))
      assert.strictEqual(bad._tag, "InvalidQuery")
    }).pipe(Effect.provide(deps))
  }, 60_000)

  it.live("a marker the log cannot continue (records deleted, or a log behind it) fails with CatchUpGap before any event", () => {
    const { layer: deps } = catchUpStack()
    return Effect.gen(function*() {
      yield* setup
      yield* produce(genTrades(20, { seed: 5 }).map((row): Produced => ({ kind: "T", row: { ...row, exchange: "TEST" } })))
      const rows = genTrades(5, { seed: 6 })
      const beyond = new Map([[TRADES_TOPIC, new Map([[0, 1_000n]])]])
      yield* (yield* IcebergSink).append(TRADES, tradeColumns(rows), { properties: { [markerKey(GROUP)]: encodeOffsets(beyond) } })
      const seen: Array<ReplayEvent> = []
      const error = yield* Effect.flip(Stream.runForEach((yield* ReplayEngine).follow({ group: GROUP, from: T0 }), (e) => Effect.sync(() => void seen.push(e))))
      assert.strictEqual(error._tag, "CatchUpGap")
      assert.include(error.message, `${TRADES_TOPIC}:0 cannot continue the table at offset 1000`)
      assert.strictEqual(seen.length, 0)
    }).pipe(Effect.provide(deps))
  }, 60_000)
})
