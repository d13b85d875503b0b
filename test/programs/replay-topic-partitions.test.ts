/**
 * `npm run replay -- --topic T --partitions 1` onto a topic that already has more partitions: the
 * total order is lost (each symbol keeps its own), and the run says so instead of saying nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { layerMemory, MemoryBroker } from "../../src/layers/kafka/memory.ts"
import { republishTopic } from "../../src/programs/replay.ts"
import { KafkaAdmin } from "../../src/services/KafkaSink.ts"

const warnings = (effect: Effect.Effect<void, unknown, KafkaAdmin>, broker: MemoryBroker) =>
  Effect.gen(function*() {
    const said: Array<string> = []
    const capture = Logger.make(({ logLevel, message }) => {
      if (logLevel === "Warn") said.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
    yield* effect.pipe(Effect.provide(layerMemory(broker)), Effect.provide(Logger.layer([capture])))
    return said
  })

describe("npm run replay --topic, the topic's partitions", () => {
  it.effect("a topic that already has more partitions than asked is warned about; a new one or one as asked is not", () =>
    Effect.gen(function*() {
      const broker = new MemoryBroker()
      assert.deepStrictEqual(yield* warnings(republishTopic("backtest", 1), broker), [])
      assert.deepStrictEqual(yield* warnings(republishTopic("backtest", 1), broker), [])
      yield* Effect.flatMap(KafkaAdmin, (admin) => admin.ensureTopics([{ name: "wide", partitions: 4 }])).pipe(Effect.provide(layerMemory(broker)))
      const said = yield* warnings(republishTopic("wide", 1), broker)
      assert.strictEqual(said.length, 1)
      assert.include(said[0], "wide already has 4 partitions")
      assert.include(said[0], "not across symbols")
    }))

  it.effect("a topic that already has fewer partitions than asked keeps them: --partitions applies to a new topic", () =>
    Effect.gen(function*() {
      const broker = new MemoryBroker()
      yield* Effect.flatMap(KafkaAdmin, (admin) => admin.ensureTopics([{ name: "backtest", partitions: 1 }])).pipe(Effect.provide(layerMemory(broker)))
      yield* warnings(republishTopic("backtest", 4), broker)
      // Growing it would move its consumers' keys between partitions for good (Kafka cannot shrink a topic).
      assert.strictEqual(broker.topic("backtest").partitions.length, 1)
      yield* warnings(republishTopic("fresh", 4), broker)
      assert.strictEqual(broker.topic("fresh").partitions.length, 4)
    }))
})
