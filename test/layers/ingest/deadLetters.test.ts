/**
 * The dead-letter path at ingest (memory Kafka, SQLite warehouse): each kind of poison the wire
 * can carry reaches `<topic>.dlq` with its reason and source coordinates in headers, and the
 * original key, value bytes and headers unchanged; the records around it land.
 */
import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Effect, Fiber, Layer } from "effect"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { dlqTopicName, Header, topicSpecs } from "../../../src/domain/wire.ts"
import * as Ingest from "../../../src/layers/ingest/ingestor.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as Trackers from "../../../src/layers/sequence/tracker.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink, type ProducerRecord } from "../../../src/services/KafkaSink.ts"
import { makeTrades } from "../../support/fixtures.ts"
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

      const ingestor = Layer.unwrap(Effect.gen(function*() {
        const trackers = { trades: yield* Trackers.make(), quotes: yield* Trackers.make() }
        return Ingest.layer({ ...Ingest.defaultIngestConfig, topics: TOPICS, commitIntervalMs: 100 }, { codec, trackers })
      }))
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
      }).pipe(Effect.provide(ingestor.pipe(Layer.provideMerge(Layer.merge(kafka, Lakehouse.layer(options))))))
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
