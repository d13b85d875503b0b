/**
 * The topics `produce` makes sure of: the ones it writes. A principal of least privilege (WRITE on
 * an exchange's trades, quotes and instruments topics, docs/kafka.md "ACLs") publishes: produce
 * never writes a DLQ, and a DLQ it may not DESCRIBE reads as missing, whose CREATE was refused.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { ensureTopicsWith } from "../../src/layers/kafka/ensureTopics.ts"
import { publishedTopicSpecs } from "../../src/programs/produce.ts"
import { kafkaError, NotAuthorized } from "../../src/services/KafkaSource.ts"

describe("produce's topics", () => {
  const sources = ["market.equities.trades.aclp", "market.equities.quotes.aclp", "reference.instruments.aclp"]

  it("are the exchange's trades, quotes and instruments topics, with K2's specs, and no DLQ", () => {
    const specs = publishedTopicSpecs("ACLP", 4)
    assert.deepStrictEqual(specs.map((s) => s.name), sources)
    assert.isTrue(specs.every((s) => s.partitions === 4))
    assert.strictEqual(specs[2]!.config?.["cleanup.policy"], "compact")
  })

  it.effect("are ensured by a principal that may only WRITE them (the platform team made them and their DLQs)", () =>
    Effect.gen(function*() {
      const refused = (operation: string, needs: string, topic: string) =>
        Effect.fail(kafkaError(new NotAuthorized({ operation, code: "TOPIC_AUTHORIZATION_FAILED", resource: `topic ${topic}`, needs, principal: "User:k2" })))
      const ensure = ensureTopicsWith({
        // The DLQs exist, but Kafka lists only what the principal may DESCRIBE (WRITE implies it).
        list: () => Effect.succeed(sources),
        create: (missing) => refused("createTopics", "CREATE", missing[0]!.name),
        describe: (names) => Effect.succeed(names.map((name) => ({ name, partitions: 4 }))),
        grow: (topics) => refused("createPartitions", "ALTER", topics[0]!.name),
        alter: (topics) => refused("alterConfigs", "ALTER_CONFIGS", topics[0]!.name)
      })
      const exit = yield* Effect.exit(ensure(publishedTopicSpecs("ACLP", 4)))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.deepStrictEqual(Exit.isSuccess(exit) ? exit.value.existing : [], sources)
    }))
})
