/**
 * Catch-up to live, records ingestion dead-letters as `WrongTopic`: a trade naming another
 * exchange or asset class than its topic (misrouted by a producer). The table never holds them,
 * so the live part must not deliver them either: a follow would otherwise hold events a replay
 * of the same range later does not.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Stream } from "effect"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import type { TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { layerMemory, MemoryBroker } from "../../../src/layers/kafka/memory.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { type ReplayEvent, ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { genTrades, T0 } from "../query/data.ts"
import { lakehouse } from "../query/fixture.ts"

const codec = makeWireCodec()
const TOPIC = "market.equities.trades.test"

describe("catch-up to live, misrouted records", () => {
  it.live("a trade of another exchange or asset class than its topic's is skipped, as ingestion dead-letters it", () => {
    const broker = new MemoryBroker()
    const deps = Layer.mergeAll(ReplayLayer.layer, layerMemory(broker, { maxBatchRecords: 64 })).pipe(Layer.provideMerge(lakehouse()))
    return Effect.gen(function*() {
      yield* (yield* KafkaAdmin).ensureTopics([{ name: TOPIC, partitions: 1 }])
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.ensureTable(tables.quotes)
      const rows: Array<TradeRow> = genTrades(40, { seed: 61, idPrefix: "m" }).map((r, i) =>
        i % 10 === 3 ? { ...r, exchange: "OTHER" } : i % 10 === 7 ? { ...r, exchange: "TEST", asset_class: "crypto" } : { ...r, exchange: "TEST" }
      )
      yield* (yield* KafkaSink).send(rows.map((r) => ({ topic: TOPIC, key: r.symbol, value: codec.encodeTrade(r) })))
      const expected = rows.filter((r) => r.exchange === "TEST" && r.asset_class === "equities").map((r) => r.message_id)
      assert.strictEqual(expected.length, 32)

      const events: Array<ReplayEvent> = []
      const fiber = yield* Stream.runForEach(
        (yield* ReplayEngine).follow({ group: "nobody", from: T0, topics: [TOPIC] }),
        (e) => Effect.sync(() => void events.push(e))
      ).pipe(Effect.forkChild)
      const deadline = Date.now() + 20_000
      while (events.length < expected.length && Date.now() < deadline && fiber.pollUnsafe() === undefined) yield* Effect.sleep("10 millis")
      yield* Effect.sleep("300 millis")
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(events.map((e) => e.message_id).sort(), [...expected].sort())
    }).pipe(Effect.provide(deps))
  }, 60_000)
})
