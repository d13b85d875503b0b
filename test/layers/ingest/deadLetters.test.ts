/**
 * The dead-letter path at ingest (memory Kafka, SQLite warehouse): each kind of poison the wire
 * can carry reaches `<topic>.dlq` with its reason and source coordinates in headers, and the
 * original key, value bytes and headers unchanged; the records around it land.
 */
import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Effect, Exit, Fiber } from "effect"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import type { Instrument } from "../../../src/domain/reference.ts"
import { dlqTopicName, Header, instrumentsTopicName, instrumentsTopicSpecs, topicSpecs } from "../../../src/domain/wire.ts"
import { deadLetters, makeDeadLetter } from "../../../src/layers/ingest/deadLetters.ts"
import { DEFAULT_MAX_MESSAGE_BYTES, recordBatchBytes } from "../../../src/layers/kafka/batchBytes.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink, type ProducerRecord } from "../../../src/services/KafkaSink.ts"
import { kafkaError, type KafkaRecord, KafkaRejected } from "../../../src/services/KafkaSource.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { ingestorOver, ingestUntil } from "../../support/memoryFeed.ts"
import { warehouseOptions } from "../../support/warehouse.ts"

const TRADES = "market.equities.trades.asx"
const TOPICS = [TRADES, "market.equities.quotes.asx"]

describe("dead letters at ingest", () => {
  it.live("every poison reason reaches the DLQ with why and where from; key, value and headers unchanged", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const options = warehouseOptions("sqlite")
      const codec = makeWireCodec()
      const [a, b, c, d, e, f] = makeTrades({ count: 6, symbols: ["BHP"] })
      const good = codec.encodeTrade(a!)
      const unknownId = Buffer.from(good)
      unknownId.writeUInt32BE(4242, 1)
      // [value, reason, what the detail names]
      const poison: ReadonlyArray<readonly [Uint8Array | null, string, string]> = [
        [Buffer.from("not avro"), "NotFramed", "magic byte"],
        [good.subarray(0, good.length - 2), "Undecodable", "truncated"],
        [Buffer.concat([good, Buffer.from([0])]), "Undecodable", "trailing"],
        [unknownId, "UnknownSchemaId", "4242"],
        [codec.encodeTrade({ ...b!, price: BigDecimal.make(0n, 0) }), "SchemaInvalid", "price"],
        [codec.encodeTrade({ ...c!, quantity: BigDecimal.make(-1n, 0) }), "SchemaInvalid", "quantity"],
        [codec.encodeTrade({ ...d!, exchange_timestamp: Date.UTC(1800, 0, 1) * 1000 }), "SchemaInvalid", "exchange_timestamp"],
        [codec.encodeQuote({ ...e!, quote_id: "Q", bid_price: e!.price, bid_size: e!.quantity, ask_price: e!.price, ask_size: e!.quantity }), "WrongTopic", "quote"],
        // The topic names the exchange and the asset class: a record of another is on the wrong topic.
        [codec.encodeTrade({ ...a!, message_id: "other-exchange", exchange: "CHIA" }), "WrongTopic", "exchange CHIA"],
        [codec.encodeTrade({ ...a!, message_id: "other-class", asset_class: "futures" }), "WrongTopic", "asset class futures"],
        [null, "NotFramed", "tombstone"]
      ]
      const records: Array<ProducerRecord> = [
        { topic: TRADES, key: a!.symbol, value: good, partition: 0 },
        ...poison.map(([value], i): ProducerRecord => ({
          topic: TRADES,
          key: i % 2 === 0 ? `k-${i}` : null,
          value,
          partition: 0,
          headers: { "k2-correlation-id": `c-${i}`, "x-odd name": "ü\u0000", [Header.dlqReason]: "forged" }
        })),
        { topic: TRADES, key: f!.symbol, value: codec.encodeTrade(f!), partition: 0 }
      ]
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(topicSpecs(TOPICS.map((t) => ({
          assetClass: "equities", dataType: t.includes("trades") ? "trades" : "quotes", exchange: "ASX", partitions: 1
        }))))
        yield* (yield* KafkaSink).send(records)
      }).pipe(Effect.provide(kafka))

      const progress = yield* Effect.gen(function*() {
        const ingest = yield* Ingestor
        const fiber = yield* Effect.forkChild(ingest.run)
        for (let i = 0; i < 1500; i++) {
          const p = yield* ingest.progress
          if (p.deadLettered + p.written.trades >= records.length && p.uncommitted === 0) break
          yield* Effect.sleep("20 millis")
        }
        yield* Fiber.interrupt(fiber)
        return yield* ingest.progress
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: { topics: TOPICS, commitIntervalMs: 100 } })))
      assert.strictEqual(progress.written.trades, 2)
      assert.strictEqual(progress.deadLettered, poison.length)

      const dead = broker.topic(dlqTopicName(TRADES)).partitions.flat()
      assert.strictEqual(dead.length, poison.length)
      dead.forEach((letter, i) => {
        const [value, reason, detail] = poison[i]!
        const source = records[i + 1]!
        assert.strictEqual(letter.headers[Header.dlqReason], reason, `record ${i}`)
        assert.include(letter.headers[Header.dlqDetail], detail, `record ${i}`)
        assert.strictEqual(letter.headers[Header.dlqSourceTopic], TRADES)
        assert.strictEqual(letter.headers[Header.dlqSourcePartition], "0")
        assert.strictEqual(letter.headers[Header.dlqSourceOffset], String(i + 1))
        assert.strictEqual(letter.key, source.key)
        assert.deepStrictEqual(letter.value === null ? null : [...letter.value], value === null ? null : [...value], `record ${i}`)
        assert.strictEqual(letter.headers["k2-correlation-id"], `c-${i}`)
        assert.strictEqual(letter.headers["x-odd name"], "ü\u0000")
      })
    }), 60_000)
})

describe("instruments on the wrong topic", () => {
  it.live("an instrument of another exchange than its topic names is dead-lettered; the topic's own land, case aside", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const codec = makeWireCodec()
      const topic = instrumentsTopicName("ASX")
      const instrument = (symbol: string, exchange: string): Instrument => ({
        symbol, exchange, company_id: null, name: `${symbol} LTD`, isin: null, currency: "AUD", asset_class: "equities", listing_date: null, delisting_date: null
      })
      // A producer routes an instrument by its exchange in lower case (instrumentsTopicName): "asx" is on its topic.
      const sent = [instrument("AAA", "ASX"), instrument("BBB", "CHIA"), instrument("CCC", "asx")]
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(instrumentsTopicSpecs("ASX", 1))
        yield* (yield* KafkaSink).send(sent.map((i): ProducerRecord => ({ topic, key: i.symbol, value: codec.encodeInstrument(i), partition: 0 })))
      }).pipe(Effect.provide(kafka))
      const progress = yield* ingestUntil((p) => p.deadLettered + p.written.instruments >= sent.length && p.uncommitted === 0).pipe(
        Effect.provide(ingestorOver({ kafka, lakehouse: warehouseOptions("sqlite"), settings: { topics: [topic], commitIntervalMs: 100 } }))
      )
      assert.strictEqual(progress.written.instruments, 2)
      const dead = broker.topic(dlqTopicName(topic)).partitions.flat()
      assert.deepStrictEqual(dead.map((d) => [d.key, d.headers[Header.dlqReason]]), [["BBB", "WrongTopic"]])
      assert.include(dead[0]!.headers[Header.dlqDetail], `an instrument of exchange CHIA on ${topic}`)
    }), 60_000)
})

describe("a letter's own headers", () => {
  it("a source header named as one of ours is not copied: a whole letter carries no stripped mark", () => {
    const forged = { [Header.dlqStripped]: "forged", [Header.dlqReason]: "forged", "x-kept": "yes" }
    const record: KafkaRecord = {
      offset: 3n,
      key: "k",
      value: Buffer.from("not avro"),
      headers: forged,
      headerBytes: Object.fromEntries(Object.entries(forged).map(([k, v]) => [k, Buffer.from(v)])),
      timestamp: 0
    }
    const [letter] = deadLetters({ topic: TRADES, partition: 0 }, [{ record, reason: "NotFramed", detail: "magic byte" }])
    assert.isUndefined(letter!.headers![Header.dlqStripped])
    assert.isUndefined(letter!.headerBytes![Header.dlqStripped])
    assert.strictEqual(letter!.headers![Header.dlqReason], "NotFramed")
    assert.strictEqual(letter!.headers!["x-kept"], "yes")
    assert.deepStrictEqual([...letter!.headerBytes!["x-kept"]!], [...Buffer.from("yes")])
  })

  it("a record whose header names repeat: the letter carries every header in order, byte for byte, then ours", () => {
    const binary = Buffer.from([0xff, 0xfe])
    const record: KafkaRecord = {
      offset: 3n,
      key: "k",
      value: Buffer.from("not avro"),
      headers: { "x-hop": "\ufffd\ufffd", [Header.dlqReason]: "forged", b: "2" },
      headerBytes: { "x-hop": binary },
      headerList: [["x-hop", Buffer.from("1")], [Header.dlqReason, Buffer.from("forged")], ["b", Buffer.from("2")], ["x-hop", binary]],
      timestamp: 0
    }
    const source = { topic: TRADES, partition: 0 }
    const [letter] = deadLetters(source, [{ record, reason: "NotFramed", detail: "magic byte" }])
    const ours = [Header.dlqReason, Header.dlqDetail, Header.dlqSourceTopic, Header.dlqSourcePartition, Header.dlqSourceOffset]
    assert.deepStrictEqual(
      letter!.headerList?.map(([k, v]) => [k, Buffer.from(v).toString("latin1")]),
      [["x-hop", "1"], ["b", "2"], ["x-hop", "\xff\xfe"], ...ours.map((k) => [k, letter!.headers![k]!])]
    )
    assert.deepStrictEqual(ours.map((k) => letter!.headers![k]), ["NotFramed", "magic byte", TRADES, "0", "3"])
    // Stripped: none of the source's headers.
    const [stripped] = deadLetters(source, [{ record, reason: "NotFramed", detail: "magic byte" }], "too large")
    assert.isUndefined(stripped!.headerList)
  })

  it.effect("through the memory broker, the letter of a record whose names repeat reads back with every header", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const binary = Uint8Array.of(0x80)
      const record: KafkaRecord = {
        offset: 0n,
        key: "k",
        value: Buffer.from("not avro"),
        headers: { "x-hop": "\ufffd" },
        headerBytes: { "x-hop": binary },
        headerList: [["x-hop", Buffer.from("a")], ["x-hop", binary]],
        timestamp: 0
      }
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(topicSpecs([{ assetClass: "equities", dataType: "trades", exchange: "ASX", partitions: 1 }]))
        yield* makeDeadLetter(yield* KafkaSink)({ topic: TRADES, partition: 0 }, [{ record, reason: "NotFramed", detail: "magic byte" }])
      }).pipe(Effect.provide(KafkaMemory.layerMemory(broker)))
      const [letter] = broker.topic(dlqTopicName(TRADES)).partitions.flat()
      assert.deepStrictEqual(letter!.headerList?.slice(0, 2).map(([k, v]) => [k, [...v]]), [["x-hop", [0x61]], ["x-hop", [0x80]]])
      assert.strictEqual(letter!.headerList?.length, 7)
      assert.strictEqual(letter!.headers[Header.dlqReason], "NotFramed")
    }))

  it("a detail or a refusal cut to 1,000 characters is not cut inside a character: no half of it sent (as U+FFFD)", () => {
    const record: KafkaRecord = { offset: 3n, key: "k", value: Buffer.from("not avro"), headers: {}, timestamp: 0 }
    // A character outside the BMP is two UTF-16 units: the 1,000th unit is the first of them.
    const long = `${"x".repeat(999)}\u{1F642} and more`
    const [whole] = deadLetters({ topic: TRADES, partition: 0 }, [{ record, reason: "SchemaInvalid", detail: long }])
    const [stripped] = deadLetters({ topic: TRADES, partition: 0 }, [{ record, reason: "SchemaInvalid", detail: "d" }], long)
    for (const text of [whole!.headers![Header.dlqDetail]!, stripped!.headers![Header.dlqStripped]!]) {
      assert.strictEqual(Buffer.from(text, "utf8").toString("utf8"), text)
      assert.strictEqual(text, "x".repeat(999))
    }
  })
})

describe("dead letters against the DLQ's size limit", () => {
  // A broker takes a producer's send to one partition as one record batch, and refuses the whole
  // batch (MESSAGE_TOO_LARGE, not retryable) when it is larger than the topic's max.message.bytes.
  const LIMIT = 10_000
  const sizeOf = (r: ProducerRecord) =>
    (r.value?.length ?? 0) + Buffer.byteLength(r.key ?? "") +
    Object.entries(r.headers ?? {}).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0)
  const limitedSink = () => {
    const sent: Array<ProducerRecord> = []
    const producer: KafkaSink["Service"] = {
      client: "limited",
      flush: () => Effect.void,
      send: (records) =>
        Effect.suspend(() => {
          if (records.reduce((n, r) => n + sizeOf(r), 0) > LIMIT) {
            return Effect.fail(kafkaError(new KafkaRejected({ operation: "send", detail: "MESSAGE_TOO_LARGE" })))
          }
          sent.push(...records)
          return Effect.succeed(records.map((r) => ({ topic: r.topic, partition: 0, baseOffset: null })))
        })
    }
    return { sent, deadLetter: makeDeadLetter(producer) }
  }
  const record = (offset: number, value: Uint8Array): KafkaRecord => ({
    offset: BigInt(offset),
    key: `k-${offset}`,
    value,
    headers: { "k2-correlation-id": `c-${offset}` },
    timestamp: 0
  })
  const source = { topic: TRADES, partition: 0 }

  it.effect("only the record too large for the DLQ goes stripped: the others of its batch keep their value and headers", () =>
    Effect.gen(function*() {
      const { deadLetter, sent } = limitedSink()
      // Fits the source topic, not the DLQ once the letter headers are added.
      const big = record(7, new Uint8Array(LIMIT - 50))
      const small = record(8, Buffer.from("not avro"))
      yield* deadLetter(source, [
        { record: big, reason: "NotFramed", detail: "magic byte is 0" },
        { record: small, reason: "NotFramed", detail: "magic byte is 110, not 0" }
      ])
      const letters = new Map(sent.map((l) => [l.headers![Header.dlqSourceOffset], l]))
      assert.strictEqual(letters.size, 2)
      assert.isNull(letters.get("7")!.value)
      assert.isDefined(letters.get("7")!.headers![Header.dlqStripped])
      assert.deepStrictEqual([...letters.get("8")!.value!], [...small.value!])
      assert.strictEqual(letters.get("8")!.headers!["k2-correlation-id"], "c-8")
      assert.isUndefined(letters.get("8")!.headers![Header.dlqStripped])
    }))

  it.effect("a batch of poison whose letters together exceed the limit is dead-lettered, not a failure of its partition", () =>
    Effect.gen(function*() {
      const { deadLetter, sent } = limitedSink()
      // Each letter is far below the limit; a fetch of such garbage holds hundreds of them.
      const poison = Array.from({ length: 200 }, (_, i) => ({
        record: record(i, Buffer.from(`garbage ${i}`)),
        reason: "NotFramed",
        detail: `magic byte is 103, not 0`
      }))
      const exit = yield* Effect.exit(deadLetter(source, poison))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.deepStrictEqual(sent.map((l) => l.headers![Header.dlqSourceOffset]), poison.map((p) => String(p.record.offset)))
      assert.isTrue(sent.every((l) => l.value !== null && l.headers![Header.dlqStripped] === undefined))
    }))
})

describe("dead letters around one too large for the DLQ (a sink that cuts sends under the limit)", () => {
  it.effect("each letter reaches the DLQ once: those written before the refused request are not sent again", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const LIMIT = 10_000
      const record = (offset: number, size: number): KafkaRecord => ({
        offset: BigInt(offset),
        key: `k-${offset}`,
        value: new Uint8Array(size),
        headers: { "k2-correlation-id": `c-${offset}` },
        timestamp: 0
      })
      // The sink cuts the letters into requests [0, 1, 2], [3], [4 ... 7]: the second is refused, the first written.
      const poison = Array.from({ length: 8 }, (_, i) => ({ record: record(i, i === 3 ? LIMIT - 50 : 2_000), reason: "NotFramed", detail: "magic byte" }))
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics([{ name: dlqTopicName(TRADES), partitions: 1, config: { "max.message.bytes": String(LIMIT) } }])
        yield* makeDeadLetter(yield* KafkaSink)({ topic: TRADES, partition: 0 }, poison)
      }).pipe(Effect.provide(KafkaMemory.layerMemory(broker)))
      const dead = broker.topic(dlqTopicName(TRADES)).partitions.flat()
      assert.deepStrictEqual(dead.map((d) => d.headers[Header.dlqSourceOffset]), ["0", "1", "2", "3", "4", "5", "6", "7"])
      assert.deepStrictEqual(dead.map((d) => d.value === null), poison.map((_, i) => i === 3))
    }))
})

describe("poison at the size limit, on a broker that holds records to max.message.bytes", () => {
  // Kafka's defaults: a topic takes record batches up to 1048588 bytes, the DLQ as much as its source.
  it.live("a poison record filling its topic, by its value or by its key, reaches the DLQ stripped; the partition goes on", () =>
    Effect.gen(function*() {
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker)
      const codec = makeWireCodec()
      const [a, b] = makeTrades({ count: 2, symbols: ["BHP"] })
      const limit = DEFAULT_MAX_MESSAGE_BYTES
      // Each fits its topic by a few bytes; the letter's headers take it past the DLQ's limit.
      const fill = (make: (n: number) => ProducerRecord) => make(limit - 20 - recordBatchBytes(make(0)))
      const bigValue = fill((n) => ({ topic: TRADES, key: "BHP", value: new Uint8Array(n), partition: 0 }))
      const bigKey = fill((n) => ({ topic: TRADES, key: "K".repeat(n), value: Buffer.from("not avro"), partition: 0 }))
      const records: Array<ProducerRecord> = [
        { topic: TRADES, key: a!.symbol, value: codec.encodeTrade(a!), partition: 0 },
        bigValue,
        bigKey,
        { topic: TRADES, key: b!.symbol, value: codec.encodeTrade(b!), partition: 0 }
      ]
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(topicSpecs([{ assetClass: "equities", dataType: "trades", exchange: "ASX", partitions: 1 }]))
        for (const r of records) yield* (yield* KafkaSink).send([r])
      }).pipe(Effect.provide(kafka))
      const progress = yield* ingestUntil((p) => p.written.trades >= 2 && p.deadLettered >= 2 && p.uncommitted === 0).pipe(
        Effect.provide(ingestorOver({ kafka, lakehouse: warehouseOptions("sqlite"), settings: { topics: [TRADES], commitIntervalMs: 100 } }))
      )
      assert.strictEqual(progress.restarts, 0)
      const dead = broker.topic(dlqTopicName(TRADES)).partitions.flat()
      assert.deepStrictEqual(dead.map((d) => d.headers[Header.dlqSourceOffset]), ["1", "2"])
      assert.isTrue(dead.every((d) => d.value === null && d.headers[Header.dlqStripped]!.includes("MESSAGE_TOO_LARGE")))
      assert.strictEqual(dead[0]!.key, "BHP")
      // A key too long to keep is left out, and the letter says so.
      assert.isNull(dead[1]!.key)
      assert.include(dead[1]!.headers[Header.dlqStripped], `key of ${bigKey.key!.length} bytes`)
      assert.strictEqual(dead[1]!.headers[Header.dlqReason], "NotFramed")
    }), 90_000)
})
