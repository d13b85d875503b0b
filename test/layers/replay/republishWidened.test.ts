/**
 * `replay --topic` of an event whose decimal only a widened column holds (another engine's
 * decimal(20, 8), ADR-2: replay gives its exact text). K2's wire format carries decimal(18, 8):
 * such an event cannot be written. The encoder's RangeError escaped the republish as a defect (a
 * stack trace, no typed failure); it fails with a typed error naming the event, the chunks
 * before its own sent. So does a null where another engine dropped a column the record requires (a decimal, an id, the side).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { layerMemory, MemoryBroker } from "../../../src/layers/kafka/memory.ts"
import { republish, RepublishUnencodable } from "../../../src/layers/replay/republish.ts"
import { KafkaAdmin } from "../../../src/services/KafkaSink.ts"
import type { ReplayEvent } from "../../../src/services/ReplayEngine.ts"
import * as Ref from "../../domain/query/reference.ts"
import { genTrades } from "../query/data.ts"

const codec = makeWireCodec()

/** How republishing `events` into a topic of `broker` failed (the test fails if it did not). */
const failure = (events: Stream.Stream<ReplayEvent>, broker = new MemoryBroker()) =>
  Effect.gen(function*() {
    yield* (yield* KafkaAdmin).ensureTopics([{ name: "backtest", partitions: 1 }])
    return yield* republish(events, { topic: "backtest", codec })
  }).pipe(Effect.provide(layerMemory(broker)), Effect.flip)

describe("replay --topic of a price past decimal(18, 8)", () => {
  it.effect("fails with a typed error naming the event; the chunks before its own are sent", () =>
    Effect.gen(function*() {
      const events = genTrades(3).map((t): ReplayEvent => ({ _tag: "Trade", ...t, price: Ref.text8(t.price), quantity: Ref.text8(t.quantity) }))
      const big: ReplayEvent = { ...events[2]!, message_id: "big", price: "123456789012.50000000" } as ReplayEvent
      const broker = new MemoryBroker()
      const error = yield* failure(Stream.make(events[0]!, events[1]!, big, events[2]!).pipe(Stream.rechunk(2)), broker)
      assert.instanceOf(error, RepublishUnencodable)
      assert.include(error.message, "big")
      assert.include(error.message, "decimal(18, 8)")
      assert.deepStrictEqual(broker.topic("backtest").partitions[0]!.map((r) => r.offset), [0n, 1n])
    }))

  it.effect("a quantity another engine dropped (null) fails it the same way", () =>
    Effect.gen(function*() {
      const [t] = genTrades(1)
      const event: ReplayEvent = { _tag: "Trade", ...t!, message_id: "no-quantity", price: Ref.text8(t!.price), quantity: null }
      const error = yield* failure(Stream.make(event))
      assert.instanceOf(error, RepublishUnencodable)
      assert.include(error.message, "no-quantity")
      assert.include(error.message, "quantity is null")
    }))

  it.effect("a side, exchange, asset class or currency another engine dropped (null) too: the encoder's TypeError escaped as a defect", () =>
    Effect.gen(function*() {
      const [t] = genTrades(1)
      const trade: ReplayEvent = { _tag: "Trade", ...t!, price: Ref.text8(t!.price), quantity: Ref.text8(t!.quantity) }
      for (const field of ["side", "exchange", "asset_class", "currency"]) {
        const event = { ...trade, message_id: `no-${field}`, [field]: null } as ReplayEvent
        const error = yield* failure(Stream.make(event))
        assert.instanceOf(error, RepublishUnencodable, field)
        assert.include(error.message, `no-${field}`)
        assert.include(error.message, `${field} is null`)
      }
    }))
})

describe("replay --topic of a value K2's consumers refuse (another engine's rows)", () => {
  it.effect("a side outside BUY, SELL, SELL_SHORT, UNKNOWN fails typed, naming the event and the value, nothing of its chunk sent", () =>
    Effect.gen(function*() {
      const [t, u] = genTrades(2)
      const ok: ReplayEvent = { _tag: "Trade", ...t!, price: Ref.text8(t!.price), quantity: Ref.text8(t!.quantity) }
      const odd = { ...ok, message_id: "odd-side", side: "buy" } as ReplayEvent
      const next: ReplayEvent = { _tag: "Trade", ...u!, price: Ref.text8(u!.price), quantity: Ref.text8(u!.quantity) }
      const broker = new MemoryBroker()
      const error = yield* failure(Stream.make(ok, odd, next).pipe(Stream.rechunk(1)), broker)
      assert.instanceOf(error, RepublishUnencodable)
      assert.include(error.message, "odd-side")
      assert.include(error.message, "side")
      assert.include(error.message, "BUY, SELL, SELL_SHORT or UNKNOWN")
      assert.deepStrictEqual(broker.topic("backtest").partitions[0]!.map((r) => r.offset), [0n])
    }))

  it.effect("a negative source_sequence, a price of 0 or an empty trade_id fails it the same way: ingestion dead-letters such records", () =>
    Effect.gen(function*() {
      const [t] = genTrades(1)
      const ok: ReplayEvent = { _tag: "Trade", ...t!, price: Ref.text8(t!.price), quantity: Ref.text8(t!.quantity) }
      for (const [field, value] of [["source_sequence", -5n], ["price", "0.00000000"], ["trade_id", ""]] as const) {
        const event = { ...ok, message_id: `bad-${field}`, [field]: value } as ReplayEvent
        const error = yield* failure(Stream.make(event))
        assert.instanceOf(error, RepublishUnencodable, field)
        assert.include(error.message, `bad-${field}`)
        assert.include(error.message, field)
      }
    }))

  it.effect("a null inside conditions or vendor_data (another engine made them optional) fails typed: the encoder's TypeError escaped as a defect", () =>
    Effect.gen(function*() {
      const [t] = genTrades(1)
      const ok: ReplayEvent = { _tag: "Trade", ...t!, price: Ref.text8(t!.price), quantity: Ref.text8(t!.quantity) }
      for (const [field, value] of [["conditions", ["XT", null]], ["vendor_data", { venue: null }]] as const) {
        const event = { ...ok, message_id: `null-in-${field}`, [field]: value } as unknown as ReplayEvent
        const error = yield* failure(Stream.make(event))
        assert.instanceOf(error, RepublishUnencodable, field)
        assert.include(error.message, `null-in-${field}`)
        assert.include(error.message, `${field} holds a null`)
      }
    }))
})
