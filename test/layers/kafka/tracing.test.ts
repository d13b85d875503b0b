/**
 * Trace context through Kafka: a send is a producer span whose traceparent every record
 * carries when spans are exported (and not otherwise); a consumer reads them back as links.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Tracer } from "effect"
import { formatTraceparent } from "../../../src/domain/traceContext.ts"
import { Header, topicSpecs } from "../../../src/domain/wire.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import { consumeAttributes, MAX_LINKS, producerLinks } from "../../../src/layers/kafka/tracing.ts"
import { KafkaAdmin, KafkaSink, type ProducerRecord } from "../../../src/services/KafkaSink.ts"
import type { KafkaRecord } from "../../../src/services/KafkaSource.ts"
import { recording } from "../../support/tracing.ts"

const TRADES = "market.equities.trades.asx"
const QUOTES = "market.equities.quotes.asx"


const record = (topic: string, i: number, headers: Record<string, string> = {}): ProducerRecord => ({
  topic,
  key: `S${i % 3}`,
  value: new Uint8Array([i]),
  headers: { [Header.correlationId]: `m-${i}`, ...headers }
})

/** Sends on a fresh memory broker and returns every stored record of `topic`. */
const sendAndRead = (sends: ReadonlyArray<ReadonlyArray<ProducerRecord>>) =>
  Effect.gen(function*() {
    const broker = new KafkaMemory.MemoryBroker()
    return yield* Effect.gen(function*() {
      yield* (yield* KafkaAdmin).ensureTopics(topicSpecs([
        { assetClass: "equities", dataType: "trades", exchange: "ASX", partitions: 2 },
        { assetClass: "equities", dataType: "quotes", exchange: "ASX", partitions: 2 }
      ]))
      const sink = yield* KafkaSink
      for (const records of sends) yield* sink.send(records)
      return (topic: string) => broker.topic(topic).partitions.flat()
    }).pipe(Effect.provide(KafkaMemory.layerMemory(broker)))
  })

const stored = (offset: bigint, headers: Record<string, string>): KafkaRecord => ({
  offset,
  key: "BHP",
  value: new Uint8Array([1]),
  headers,
  timestamp: 0
})

const traceparent = (n: number) => formatTraceparent({ traceId: n.toString(16).padStart(32, "a"), spanId: n.toString(16).padStart(16, "b"), sampled: true })

describe("Kafka trace context", () => {
  it.effect("traced: each send is a producer span and its records carry its traceparent", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recording()
      const read = yield* sendAndRead([
        Array.from({ length: 5 }, (_, i) => record(TRADES, i)),
        [record(QUOTES, 0, { [Header.traceparent]: traceparent(7), [Header.tracestate]: "vendor=x" }), record(TRADES, 9)]
      ]).pipe(Effect.withTracer(tracer))
      const producers = spans.filter((s) => s.kind === "producer")
      assert.deepStrictEqual(producers.map((s) => s.name), [`send ${TRADES}`, "send"])
      const [first, second] = producers as [Tracer.NativeSpan, Tracer.NativeSpan]
      assert.strictEqual(first.attributes.get("messaging.system"), "kafka")
      assert.strictEqual(first.attributes.get("messaging.destination.name"), TRADES)
      assert.strictEqual(first.attributes.get("messaging.batch.message_count"), 5)
      assert.isFalse(second.attributes.has("messaging.destination.name"), "two topics in one send: no single destination")

      const trades = read(TRADES)
      assert.strictEqual(trades.length, 6)
      const byFirst = trades.filter((r) => r.headers[Header.traceparent] === formatTraceparent(first))
      assert.strictEqual(byFirst.length, 5)
      assert.strictEqual(trades.find((r) => r.headers[Header.correlationId] === "m-9")!.headers[Header.traceparent], formatTraceparent(second))
      // A record that came with a context (a dead letter's copy of its source) gets this send's, without the stale tracestate.
      const [quote] = read(QUOTES)
      assert.strictEqual(quote!.headers[Header.traceparent], formatTraceparent(second))
      assert.isUndefined(quote!.headers[Header.tracestate])
      assert.strictEqual(quote!.headers[Header.correlationId], "m-0")
    }))

  it.effect("traced: a dead letter whose source's traceparent was not UTF-8 (its bytes beside it) carries this send's, not those bytes", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recording()
      // As deadLetters.ts copies a source record: headers as text, with the bytes of those that were not UTF-8.
      const letter: ProducerRecord = {
        ...record(TRADES, 1, { [Header.traceparent]: "00-\ufffd", [Header.tracestate]: "\ufffd" }),
        headerBytes: { [Header.traceparent]: Uint8Array.of(0x30, 0x30, 0x2d, 0xff), [Header.tracestate]: Uint8Array.of(0xfe) }
      }
      const read = yield* sendAndRead([[letter]]).pipe(Effect.withTracer(tracer))
      const [producer] = spans.filter((s) => s.kind === "producer") as [Tracer.NativeSpan]
      const [stored] = read(TRADES)
      assert.strictEqual(stored!.headers[Header.traceparent], formatTraceparent(producer))
      assert.isUndefined(stored!.headers[Header.tracestate])
      assert.isUndefined(stored!.headerBytes?.[Header.traceparent])
    }))

  it.effect("traced: a dead letter with every header (its source's names repeat) carries this send's context in place of the source's", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recording()
      const utf8 = (t: string) => new TextEncoder().encode(t)
      const letter: ProducerRecord = {
        ...record(TRADES, 1, { [Header.traceparent]: traceparent(3), [Header.tracestate]: "s", "x-hop": "2" }),
        headerList: [["x-hop", utf8("1")], [Header.traceparent, utf8(traceparent(3))], [Header.tracestate, utf8("s")], ["x-hop", utf8("2")]]
      }
      const read = yield* sendAndRead([[letter]]).pipe(Effect.withTracer(tracer))
      const [producer] = spans.filter((s) => s.kind === "producer") as [Tracer.NativeSpan]
      const [stored] = read(TRADES)
      assert.deepStrictEqual(
        stored!.headerList?.map(([k, v]) => [k, new TextDecoder().decode(v)]),
        [["x-hop", "1"], ["x-hop", "2"], [Header.traceparent, formatTraceparent(producer)]]
      )
      assert.strictEqual(stored!.headers[Header.traceparent], formatTraceparent(producer))
    }))

  it.effect("untraced (no exporter): records are sent as given", () =>
    Effect.gen(function*() {
      const read = yield* sendAndRead([[record(TRADES, 1), record(TRADES, 2, { [Header.traceparent]: traceparent(3) })]])
      const [a, b] = read(TRADES).sort((x, y) => x.headers[Header.correlationId]!.localeCompare(y.headers[Header.correlationId]!))
      assert.deepStrictEqual(a!.headers, { [Header.correlationId]: "m-1" })
      assert.strictEqual(b!.headers[Header.traceparent], traceparent(3))
    }))

  it("producerLinks: one link per distinct producer span, at most MAX_LINKS, malformed values skipped", () => {
    const records = [
      stored(10n, { [Header.traceparent]: traceparent(1) }),
      stored(11n, { [Header.traceparent]: traceparent(1) }),
      stored(12n, {}),
      stored(13n, { [Header.traceparent]: "garbage" }),
      stored(14n, { [Header.traceparent]: traceparent(2) }),
      stored(15n, { [Header.traceparent]: traceparent(1) })
    ]
    const links = producerLinks(records)
    assert.deepStrictEqual(links.map((l) => [l.span.traceId, l.span.spanId, l.attributes["messaging.kafka.offset"]]), [
      ["1".padStart(32, "a"), "1".padStart(16, "b"), 10n],
      ["2".padStart(32, "a"), "2".padStart(16, "b"), 14n]
    ])
    const many = Array.from({ length: MAX_LINKS + 10 }, (_, i) => stored(BigInt(i), { [Header.traceparent]: traceparent(i + 1) }))
    assert.strictEqual(producerLinks(many).length, MAX_LINKS)
    assert.strictEqual(producerLinks(many, 3).length, 3)
  })

  it("producerLinks: oversized traceparent values are skipped before they are kept or parsed", () => {
    // Past ~16k chars V8 hashes a string by its length only: a Set of distinct such values
    // degenerates to a list (2,000 of them took 3.5 s). The time itself is not asserted here.
    const pad = "x".repeat(17_000)
    const hostile = Array.from({ length: 200 }, (_, i) => stored(BigInt(i), { [Header.traceparent]: `${pad}${String(i).padStart(8, "0")}` }))
    hostile.push(stored(200n, { [Header.traceparent]: traceparent(1) }))
    assert.deepStrictEqual(producerLinks(hostile).map((l) => l.attributes["messaging.kafka.offset"]), [200n])
  })

  it("producerLinks: a later version's traceparent with fields appended is read within 512 characters, not past them", () => {
    const later = (fields: number) => `01-${"a".repeat(32)}-${"b".repeat(16)}-01-${"f".repeat(fields)}`
    assert.strictEqual(producerLinks([stored(0n, { [Header.traceparent]: later(100) })]).length, 1)
    assert.strictEqual(producerLinks([stored(0n, { [Header.traceparent]: later(600) })]).length, 0)
  })

  it("consumer span attributes follow the messaging conventions", () => {
    const attributes = consumeAttributes({
      topic: TRADES,
      partition: 3,
      records: [stored(40n, {}), stored(41n, {})],
      fromOffset: 40n,
      firstOffset: 40n,
      nextOffset: 42n,
      highWatermark: 50n
    }, "k2-ingest")
    assert.deepStrictEqual(attributes, {
      "messaging.system": "kafka",
      "messaging.operation.type": "process",
      "messaging.operation.name": "process",
      "messaging.destination.name": TRADES,
      "messaging.destination.partition.id": "3",
      "messaging.consumer.group.name": "k2-ingest",
      "messaging.batch.message_count": 2,
      "messaging.kafka.offset": 40n
    })
  })
})
