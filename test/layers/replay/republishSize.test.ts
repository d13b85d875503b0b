/**
 * `replay --topic` sends what the replay has ready, up to 4,096 events, to one partition by
 * default: with large `vendor_data` that is more than a record batch may hold (the topic's
 * max.message.bytes, 1 MB by default). The sink sends it in batches under the limit, in order.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { DEFAULT_MAX_MESSAGE_BYTES } from "../../../src/layers/kafka/batchBytes.ts"
import { layerMemory, MemoryBroker } from "../../../src/layers/kafka/memory.ts"
import { republish } from "../../../src/layers/replay/republish.ts"
import { KafkaAdmin } from "../../../src/services/KafkaSink.ts"
import type { ReplayEvent } from "../../../src/services/ReplayEngine.ts"
import * as Ref from "../../domain/query/reference.ts"
import { genTrades } from "../query/data.ts"

const codec = makeWireCodec()

describe("replay --topic of events larger together than a record batch may be", () => {
  it.effect("a chunk of 4,096 events of ~600 bytes to one partition (~2.3 MB) is written whole, in order", () =>
    Effect.gen(function*() {
      const events = genTrades(4096).map((t): ReplayEvent => ({
        _tag: "Trade",
        ...t,
        vendor_data: { note: "x".repeat(400) },
        price: Ref.text8(t.price),
        quantity: Ref.text8(t.quantity)
      }))
      const broker = new MemoryBroker()
      const summary = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics([{ name: "backtest", partitions: 1 }])
        // One chunk: one send of the republisher.
        return yield* republish(Stream.fromArray(events).pipe(Stream.rechunk(4096)), { topic: "backtest", codec })
      }).pipe(Effect.provide(layerMemory(broker)))
      assert.strictEqual(summary.events, 4096)
      const log = broker.topic("backtest").partitions[0]!
      const bytes = log.reduce((n, r) => n + (r.value?.length ?? 0), 0)
      assert.isAbove(bytes, 1.5 * DEFAULT_MAX_MESSAGE_BYTES)
      assert.deepStrictEqual(log.map((r) => r.offset), events.map((_, i) => BigInt(i)))
      const ids = log.map((r) => {
        const m = codec.decode(r.value!)
        return m._tag === "Success" && m.success.kind === "trade" ? m.success.value.message_id : undefined
      })
      assert.deepStrictEqual(ids, events.map((e) => e.message_id))
    }))

  it.effect("one event larger alone than the topic allows still fails the replay (MESSAGE_TOO_LARGE)", () =>
    Effect.gen(function*() {
      const [t] = genTrades(1)
      const event: ReplayEvent = {
        _tag: "Trade",
        ...t!,
        vendor_data: { note: "x".repeat(DEFAULT_MAX_MESSAGE_BYTES) },
        price: Ref.text8(t!.price),
        quantity: Ref.text8(t!.quantity)
      }
      const exit = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics([{ name: "backtest", partitions: 1 }])
        return yield* republish(Stream.make(event), { topic: "backtest", codec })
      }).pipe(Effect.provide(layerMemory()), Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(exit), "MESSAGE_TOO_LARGE")
    }))
})
