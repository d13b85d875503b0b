/**
 * Schema evolution at ingest (memory Kafka, SQLite warehouse, a fake registry lookup): trades
 * framed with the ids of other versions of the trade schema land once the ingestor has learned
 * them; ids the registry does not have, or whose schema cannot be read as ours, go to the DLQ
 * with why; a registry that is down is waited out without dead-lettering anything; each id is
 * asked once. Without a registry lookup an unknown id is poison, as before.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { unscaledToBytes } from "../../../src/domain/avro/binary.ts"
import { avroTypeOf } from "../../../src/domain/avro/avscTypes.ts"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { quoteSchema, tradeSchema } from "../../../src/domain/avro/schemas.ts"
import { toUnscaled } from "../../../src/domain/decimal.ts"
import type { TradeRow } from "../../../src/domain/rows.ts"
import { dlqTopicName, Header, topicSpecs } from "../../../src/domain/wire.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import * as WriterSchemas from "../../../src/layers/ingest/writerSchemas.ts"
import type { ResolveSchema } from "../../../src/layers/ingest/writerSchemas.ts"
import type { KafkaRecord } from "../../../src/services/KafkaSource.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { Ingestor, type IngestProgress } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { registryError, RegistryUnavailable, SchemaNotFound } from "../../../src/services/SchemaRegistry.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { ingestorOver } from "../../support/memoryFeed.ts"
import { warehouseOptions } from "../../support/warehouse.ts"

const TRADES = "market.equities.trades.asx"
const TOPICS = [TRADES, "market.equities.quotes.asx"]

type Field = (typeof tradeSchema.fields)[number] | { readonly name: string; readonly type: unknown; readonly default?: unknown }
const withFields = (fields: ReadonlyArray<Field>) => ({ ...tradeSchema, fields })

/** A newer producer: one more field, with a default. */
const NEWER = withFields([...tradeSchema.fields, { name: "venue", type: ["null", "string"], default: null }])
/** An older producer: no vendor_data (ours defaults it to {}). */
const OLDER = withFields(tradeSchema.fields.filter((f) => f.name !== "vendor_data"))
/** Prices at scale 4: resolvable once stripped of logical types, but they mean other values. */
const RESCALED = withFields(tradeSchema.fields.map((f) =>
  f.name === "price" ? { ...f, type: { type: "bytes", logicalType: "decimal", precision: 18, scale: 4 } } : f
))
/** No price, which ours needs (no default). */
const PRICELESS = withFields(tradeSchema.fields.filter((f) => f.name !== "price"))

/** A nullable value, as Confluent producers of one register it: a union of null and the (vendor's) trade record. */
const NULLABLE = ["null", { ...tradeSchema, namespace: "com.acme.md" }]

const ID = { own: 1, newer: 10, older: 11, rescaled: 12, priceless: 13, nullable: 14, missing: 99 } as const
const SCHEMAS: Record<number, object> = {
  [ID.newer]: NEWER,
  [ID.older]: OLDER,
  [ID.rescaled]: RESCALED,
  [ID.priceless]: PRICELESS,
  [ID.nullable]: NULLABLE
}

/** A null written in the union `schema`, framed with `id`. */
const framedNull = (id: number, schema: object): Uint8Array => {
  const header = Buffer.alloc(5)
  header.writeInt32BE(id, 1)
  return Buffer.concat([header, avroTypeOf(schema).toBuffer(null)])
}

/** A trade in `schema`'s Avro binary, framed with `id`. */
const framed = (id: number, schema: object, t: TradeRow): Uint8Array => {
  const body = avroTypeOf(schema).toBuffer({
    message_id: t.message_id,
    trade_id: t.trade_id,
    symbol: t.symbol,
    exchange: t.exchange,
    asset_class: t.asset_class,
    exchange_timestamp: BigInt(t.exchange_timestamp),
    price: unscaledToBytes(toUnscaled(t.price)!),
    quantity: unscaledToBytes(toUnscaled(t.quantity)!),
    currency: t.currency,
    side: t.side,
    conditions: t.conditions,
    source_sequence: t.source_sequence,
    vendor_data: t.vendor_data,
    venue: "CXA"
  })
  const header = Buffer.alloc(5)
  header.writeInt32BE(id, 1)
  return Buffer.concat([header, body])
}

/** decimal(18, 8) as DuckDB prints it. */
const fixed8 = (d: TradeRow["price"]) => {
  const u = toUnscaled(d)!
  return `${u / 100_000_000n}.${(u % 100_000_000n).toString().padStart(8, "0")}`
}

/**
 * Publishes `ids[i]`-framed trades to TRADES (a null of the id's union at the positions `nulls`),
 * then ingests until every one is written or dead-lettered.
 */
const scenario = (ids: ReadonlyArray<number>, resolveSchema: ResolveSchema | undefined, nulls: ReadonlyArray<number> = []) =>
  Effect.gen(function*() {
    const broker = new KafkaMemory.MemoryBroker()
    // Small batches: the ids recur across several of them.
    const kafka = KafkaMemory.layerMemory(broker, { maxBatchRecords: 3 })
    const options = warehouseOptions("sqlite")
    const codec = makeWireCodec()
    const trades = makeTrades({ count: ids.length, symbols: ["BHP"] })
    yield* Effect.gen(function*() {
      yield* (yield* KafkaAdmin).ensureTopics(topicSpecs(TOPICS.map((t) => ({
        assetClass: "equities",
        dataType: t.includes("trades") ? "trades" : "quotes",
        exchange: "ASX",
        partitions: 1
      }))))
      yield* (yield* KafkaSink).send(trades.map((t, i) => ({
        topic: TRADES,
        key: t.symbol,
        value: ids[i] === ID.own
          ? codec.encodeTrade(t)
          : nulls.includes(i)
          ? framedNull(ids[i]!, SCHEMAS[ids[i]!]!)
          : framed(ids[i]!, SCHEMAS[ids[i]!] ?? tradeSchema, t)
      })))
    }).pipe(Effect.provide(kafka))

    const progress: IngestProgress = yield* Effect.gen(function*() {
      const ingest = yield* Ingestor
      const fiber = yield* Effect.forkChild(ingest.run)
      for (let i = 0; i < 1500; i++) {
        const p = yield* ingest.progress
        if (p.deadLettered + p.written.trades >= ids.length) break
        const exited = fiber.pollUnsafe()
        if (exited !== undefined) return yield* Effect.die(new Error(`ingestor stopped: ${String(exited)}`))
        yield* Effect.sleep("20 millis")
      }
      yield* Fiber.interrupt(fiber)
      return yield* ingest.progress
    }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse: options, settings: { topics: TOPICS, commitIntervalMs: 100 }, resolveSchema })))

    const landed = yield* Effect.gen(function*() {
      const plan = yield* (yield* TableScanner).plan({ namespace: "market_data", name: "trades" })
      return yield* selectPlanned(plan, "kafka_offset::INTEGER AS at, trade_id, price::VARCHAR AS price, cardinality(vendor_data)::INTEGER AS vendor", "ORDER BY kafka_offset")
    }).pipe(Effect.provide(Lakehouse.layer(options)))
    const dead = broker.topic(dlqTopicName(TRADES)).partitions.flat().map((r) => ({
      at: Number(r.headers[Header.dlqSourceOffset]),
      reason: r.headers[Header.dlqReason],
      detail: r.headers[Header.dlqDetail]!
    }))
    return { progress, trades, landed, dead }
  })

describe("writer schemas learned from the registry at ingest", () => {
  it.live("other versions land, unusable ids are dead-lettered with why, a registry outage loses nothing", () =>
    Effect.gen(function*() {
      const ids = [
        ID.own, ID.newer, ID.older, ID.missing, ID.rescaled, ID.priceless,
        ID.newer, ID.missing, ID.missing, ID.older, ID.missing, ID.own, ID.priceless, ID.newer
      ]
      const calls: Array<number> = []
      let outages = 2
      const resolveSchema: ResolveSchema = (id) =>
        Effect.suspend(() => {
          calls.push(id)
          // The registry is down for the first two lookups.
          if (outages > 0) {
            outages--
            return Effect.fail(registryError(new RegistryUnavailable({ detail: "connection refused" })))
          }
          const schema = SCHEMAS[id]
          return schema === undefined
            ? Effect.fail(registryError(new SchemaNotFound({ what: `schema id ${id} (404 40403 Schema not found)` })))
            : Effect.succeed(schema)
        })

      const { progress, trades, landed, dead } = yield* scenario(ids, resolveSchema)

      const good = ids.flatMap((id, at) => (id === ID.own || id === ID.newer || id === ID.older ? [at] : []))
      assert.deepStrictEqual(
        landed.map((r) => [r.at, r.trade_id, r.price]),
        good.map((at) => [at, trades[at]!.trade_id, fixed8(trades[at]!.price)]),
        "every trade of a known or learned id, exactly"
      )
      // Records of the older schema get ours's default vendor_data.
      for (const r of landed) {
        assert.strictEqual(r.vendor, ids[r.at as number] === ID.older ? 0 : Object.keys(trades[r.at as number]!.vendor_data).length)
      }

      const poison = ids.flatMap((id, at) => (good.includes(at) ? [] : [{ at, id }]))
      assert.deepStrictEqual(dead.map((d) => d.at), poison.map((p) => p.at), "nothing dead-lettered during the outage")
      for (const [i, d] of dead.entries()) {
        const id = poison[i]!.id
        assert.strictEqual(d.reason, "UnknownSchemaId")
        assert.include(d.detail, `unknown schema id ${id}: `)
        if (id === ID.missing) assert.include(d.detail, "not found in the schema registry")
        if (id === ID.rescaled) assert.include(d.detail, "field price is written as decimal scale 4, read as decimal scale 8")
        if (id === ID.priceless) assert.include(d.detail, "no matching field for default-less k2.Trade.price")
      }
      assert.strictEqual(progress.deadLettered, poison.length)

      // The first id met was asked three times (two outages); every other id once, however often it recurs.
      assert.deepStrictEqual(calls, [ID.newer, ID.newer, ID.newer, ID.older, ID.missing, ID.rescaled, ID.priceless])
    }), 60_000)

  it.effect("a lookup answering null refuses the id (poison with why) instead of dying", () =>
    Effect.gen(function*() {
      const learner = WriterSchemas.make(makeWireCodec(), () => Effect.succeed(null as unknown as object))
      const value = Buffer.from([0, 0, 0, 0, 42, 0])
      yield* learner.learn([{ offset: 0n, key: null, value, headers: {} } as unknown as KafkaRecord], 0n)
      assert.include(learner.refusal(42), "not a named record")
    }))

  it.effect("a trade schema in another namespace is learned as a trade (the spec matches records by unqualified name)", () =>
    Effect.gen(function*() {
      const codec = makeWireCodec()
      const vendor = { ...tradeSchema, namespace: "com.vendor.md" }
      const learner = WriterSchemas.make(codec, () => Effect.succeed(vendor))
      const t = makeTrades({ count: 1, symbols: ["BHP"] })[0]!
      const value = framed(42, vendor, t)
      yield* learner.learn([{ offset: 0n, key: null, value, headers: {} } as unknown as KafkaRecord], 0n)
      assert.strictEqual(learner.refusal(42), undefined)
      const decoded = codec.decode(value)
      assert.isTrue(decoded._tag === "Success" && decoded.success.kind === "trade" && decoded.success.value.trade_id === t.trade_id)
    }))

  it.live("a nullable writer schema ([\"null\", Trade]) is learned: its trades land, a null is dead-lettered saying so", () =>
    Effect.gen(function*() {
      // Refused as "not a named record", every record of the producer was dead-lettered. The Avro
      // spec resolves a writer union against our record by the branch written.
      const ids = [ID.own, ID.nullable, ID.nullable, ID.nullable, ID.own]
      const calls: Array<number> = []
      const resolveSchema: ResolveSchema = (id) => Effect.sync(() => (calls.push(id), SCHEMAS[id]!))
      const { progress, trades, landed, dead } = yield* scenario(ids, resolveSchema, [2])
      assert.deepStrictEqual(
        landed.map((r) => [r.at, r.trade_id, r.price]),
        [0, 1, 3, 4].map((at) => [at, trades[at]!.trade_id, fixed8(trades[at]!.price)])
      )
      assert.deepStrictEqual(dead, [{
        at: 2,
        reason: "Undecodable",
        detail: `undecodable Avro body (schema id ${ID.nullable}): written in union branch 0 ("null"), which ours ("k2.Trade") cannot read`
      }])
      assert.strictEqual(progress.deadLettered, 1)
      assert.deepStrictEqual(calls, [ID.nullable])
    }), 60_000)

  it.effect("a union writer schema is learned as the one kind of ours it holds; none, or two, is refused with why", () =>
    Effect.gen(function*() {
      const codec = makeWireCodec()
      const unions: Record<number, object> = {
        40: [{ ...tradeSchema, namespace: "com.acme" }, "null"],
        41: ["null", "string"],
        42: ["null", tradeSchema, quoteSchema],
        43: ["null", { type: "record", name: "Execution", fields: [] }]
      }
      const learner = WriterSchemas.make(codec, (id) => Effect.succeed(unions[id]!))
      const t = makeTrades({ count: 1, symbols: ["BHP"] })[0]!
      const record = (value: Uint8Array) => ({ offset: 0n, key: null, value, headers: {} }) as unknown as KafkaRecord
      const values = [framed(40, unions[40]!, t), framedNull(41, unions[41]!), framedNull(42, unions[42]!), framedNull(43, unions[43]!)]
      yield* learner.learn(values.map(record), 0n)
      assert.strictEqual(learner.refusal(40), undefined)
      const decoded = codec.decode(values[0]!)
      assert.isTrue(decoded._tag === "Success" && decoded.success.kind === "trade" && decoded.success.value.trade_id === t.trade_id)
      const nulled = codec.decode(framedNull(40, unions[40]!))
      assert.isTrue(nulled._tag === "Failure" && nulled.failure._tag === "Undecodable")
      assert.include(nulled._tag === "Failure" ? nulled.failure.message : "", `union branch 1 ("null")`)
      assert.strictEqual(learner.refusal(41), "the registry's schema is a union holding no Trade, Quote or Instrument record")
      assert.strictEqual(learner.refusal(42), "the registry's schema is a union holding k2.Trade and k2.Quote: a schema id reads as one kind")
      assert.strictEqual(learner.refusal(43), "the registry's schema is a union holding no Trade, Quote or Instrument record")
      assert.isFalse(codec.knows(41) || codec.knows(42) || codec.knows(43))
    }))

  it.live("without a registry lookup, another version's id is poison as before", () =>
    Effect.gen(function*() {
      const { landed, dead } = yield* scenario([ID.own, ID.newer, ID.own], undefined)
      assert.deepStrictEqual(landed.map((r) => r.at), [0, 2])
      assert.deepStrictEqual(dead, [{ at: 1, reason: "UnknownSchemaId", detail: `unknown schema id ${ID.newer}` }])
    }), 60_000)
})
