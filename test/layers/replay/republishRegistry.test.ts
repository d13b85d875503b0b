/**
 * Republishing with a schema registry: the records are framed with the registry's ids for the
 * topic's trade and quote subjects (TopicRecordNameStrategy, one topic carrying both), not the
 * embedded 1 and 2, which a registry's readers would resolve to other schemas or none.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Result, Stream } from "effect"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { quoteSchema, tradeSchema } from "../../../src/domain/avro/schemas.ts"
import { Header } from "../../../src/domain/wire.ts"
import { layerMemory, MemoryBroker } from "../../../src/layers/kafka/memory.ts"
import { republish, republishCodec } from "../../../src/layers/replay/republish.ts"
import { KafkaAdmin } from "../../../src/services/KafkaSink.ts"
import type { ReplayEvent } from "../../../src/services/ReplayEngine.ts"
import { registryError, SchemaNotFound, SchemaRegistry } from "../../../src/services/SchemaRegistry.ts"
import * as Ref from "../../domain/query/reference.ts"
import { genQuotes, genTrades } from "../query/data.ts"

/** A registry that gives every subject its own id, far from the embedded ones, and records what was registered. */
const stubRegistry = (registered: Map<string, object>) => {
  const ids = new Map([["backtest-k2.Trade", 1001], ["backtest-k2.Quote", 1002]])
  const notHere = (what: string) => Effect.fail(registryError(new SchemaNotFound({ what })))
  return Layer.succeed(SchemaRegistry)(SchemaRegistry.of({
    kind: "http",
    register: (subject, schema) => {
      const id = ids.get(subject)
      if (id === undefined) return notHere(`subject ${subject}`)
      registered.set(subject, schema)
      return Effect.succeed(id)
    },
    lookup: (subject) => notHere(`subject ${subject}`),
    schemaById: (id) => notHere(`schema id ${id}`),
    latest: (subject) => notHere(`subject ${subject}`)
  }))
}

const trade = genTrades(1)[0]!
const quote = genQuotes(1)[0]!
const events: ReadonlyArray<ReplayEvent> = [
  { _tag: "Trade", ...trade, price: Ref.text8(trade.price), quantity: Ref.text8(trade.quantity) },
  {
    _tag: "Quote", ...quote, bid_price: Ref.text8(quote.bid_price), bid_size: Ref.text8(quote.bid_size),
    ask_price: Ref.text8(quote.ask_price), ask_size: Ref.text8(quote.ask_size)
  }
]

/** The schema id of a Confluent-framed value: magic byte 0, then 4 bytes big-endian. */
const framedId = (value: Uint8Array) => {
  assert.strictEqual(value[0], 0)
  return new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(1)
}

describe("republish with a schema registry", () => {
  it.effect("frames trades and quotes with the registry's ids for the topic's record subjects", () => {
    const broker = new MemoryBroker()
    const registered = new Map<string, object>()
    return Effect.gen(function*() {
      const codec = yield* republishCodec("backtest")
      yield* (yield* KafkaAdmin).ensureTopics([{ name: "backtest", partitions: 1 }])
      yield* republish(Stream.fromArray(events), { topic: "backtest", codec })
      const records = broker.topics.get("backtest")!.partitions[0]!
      assert.deepStrictEqual(records.map((r) => framedId(r.value!)), [1001, 1002])
      assert.deepStrictEqual(records.map((r) => r.headers[Header.schemaId]), ["1001", "1002"])
      assert.deepStrictEqual(Object.fromEntries(registered), { "backtest-k2.Trade": tradeSchema, "backtest-k2.Quote": quoteSchema })
      // A reader that learned those ids from the registry reads them back.
      const reader = makeWireCodec({ tradeSchemaId: 1001, quoteSchemaId: 1002 })
      assert.deepStrictEqual(records.map((r) => Result.getOrThrow(reader.decode(r.value!)).kind), ["trade", "quote"])
    }).pipe(Effect.provide(Layer.merge(layerMemory(broker), stubRegistry(registered))))
  })
})
