/**
 * Each topic's limit as the sinks cut sends under it (messageLimits.ts, ADR-78): the topic's, else
 * the broker's, else the default; read once a topic.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { DEFAULT_MAX_MESSAGE_BYTES } from "../../../src/layers/kafka/batchBytes.ts"
import { type LimitReads, MessageLimits } from "../../../src/layers/kafka/messageLimits.ts"
import type { ProducerRecord } from "../../../src/services/KafkaSink.ts"
import { kafkaError, KafkaUnavailable, NotAuthorized } from "../../../src/services/KafkaSource.ts"

const to = (...topics: Array<string>): Array<ProducerRecord> => topics.map((topic) => ({ topic, key: null, value: null }))
const refusal = (resource: string) =>
  Effect.fail(kafkaError(new NotAuthorized({ operation: "describeTopics", code: "TOPIC_AUTHORIZATION_FAILED", resource, needs: "DESCRIBE_CONFIGS", principal: "User:k2" })))

/** Reads that count themselves. */
const counted = (reads: LimitReads) => {
  const asked = { topics: [] as Array<ReadonlyArray<string>>, broker: 0 }
  const limits = new MessageLimits({
    topics: (names) => Effect.suspend(() => (asked.topics.push(names), reads.topics(names))),
    broker: () => Effect.suspend(() => (asked.broker++, reads.broker()))
  })
  return { limits, asked }
}

describe("MessageLimits", () => {
  it.effect("a send's limit is its lowest topic's, each topic read once, at its first send; none above the default", () =>
    Effect.gen(function*() {
      const { limits, asked } = counted({
        topics: (names) => Effect.succeed(new Map(names.map((n) => [n, n === "low" ? 262_144 : 20_000_000]))),
        broker: () => Effect.die("not asked")
      })
      assert.isUndefined(limits.known(to("low", "high")))
      assert.strictEqual(yield* limits.read(to("low", "high", "low")), 262_144)
      assert.strictEqual(limits.known(to("high", "high")), DEFAULT_MAX_MESSAGE_BYTES)
      assert.strictEqual(limits.known(to("high", "low", "high")), 262_144)
      assert.deepStrictEqual(asked.topics, [["low", "high"]])
    }))

  it.effect("limits learnt from a describe (ensureTopics') are not read again", () =>
    Effect.gen(function*() {
      const { limits, asked } = counted({ topics: () => Effect.die("not asked"), broker: () => Effect.die("not asked") })
      limits.learn(new Map([["t", 100_000]]))
      assert.strictEqual(limits.known(to("t")), 100_000)
      assert.deepStrictEqual(asked.topics, [])
    }))

  it.effect("topics whose configs the principal may not read take the broker's limit, read once for all; the default when that is refused too", () =>
    Effect.gen(function*() {
      const lowBroker = counted({ topics: () => refusal("topic t"), broker: () => Effect.succeed(500_000) })
      assert.strictEqual(yield* lowBroker.limits.read(to("a")), 500_000)
      assert.strictEqual(yield* lowBroker.limits.read(to("b")), 500_000)
      assert.strictEqual(lowBroker.limits.known(to("a", "b")), 500_000)
      assert.strictEqual(lowBroker.asked.broker, 1)
      const nothing = counted({ topics: () => refusal("topic t"), broker: () => refusal("the cluster") })
      assert.strictEqual(yield* nothing.limits.read(to("a")), DEFAULT_MAX_MESSAGE_BYTES)
      assert.strictEqual(nothing.limits.known(to("a")), DEFAULT_MAX_MESSAGE_BYTES)
      yield* nothing.limits.read(to("b"))
      assert.strictEqual(nothing.asked.broker, 1)
    }))

  it.effect("another failure (the topic not there yet, the broker busy) cuts this send under the default and asks again at the next", () =>
    Effect.gen(function*() {
      let up = false
      const { limits, asked } = counted({
        topics: (names) =>
          up ? Effect.succeed(new Map(names.map((n) => [n, 300_000]))) : Effect.fail(kafkaError(new KafkaUnavailable({ operation: "describeTopics", detail: "down" }))),
        broker: () => Effect.die("not asked")
      })
      assert.strictEqual(yield* limits.read(to("t")), DEFAULT_MAX_MESSAGE_BYTES)
      assert.isUndefined(limits.known(to("t")))
      up = true
      assert.strictEqual(yield* limits.read(to("t")), 300_000)
      assert.strictEqual(asked.topics.length, 2)
    }))
  it.effect("a topic whose config may be read keeps its own limit when another topic of the same first send may not be read", () =>
    Effect.gen(function*() {
      // As the clients answer: DescribeConfigs naming a topic the principal may not read fails whole.
      const { limits } = counted({
        topics: (names) => names.includes("closed") ? refusal("topic closed") : Effect.succeed(new Map(names.map((n) => [n, 262_144]))),
        broker: () => Effect.succeed(DEFAULT_MAX_MESSAGE_BYTES)
      })
      assert.strictEqual(yield* limits.read(to("open", "closed")), 262_144)
      assert.strictEqual(limits.known(to("open")), 262_144)
      assert.strictEqual(limits.known(to("closed")), DEFAULT_MAX_MESSAGE_BYTES)
    }))

  it.effect("known is the lowest of the send's topics' limits, however many topics interleave (against a naive min)", () =>
    Effect.gen(function*() {
      const names = ["a", "b", "c", "d", "e"]
      const limit = (t: string) => 100_000 * (names.indexOf(t) + 1)
      fc.assert(fc.property(
        fc.array(fc.constantFrom(...names), { minLength: 1, maxLength: 30 }),
        fc.subarray(names),
        (topics, learnt) => {
          const limits = new MessageLimits({ topics: () => Effect.die("not asked"), broker: () => Effect.die("not asked") })
          limits.learn(new Map(learnt.map((t) => [t, limit(t)])))
          const expected = topics.every((t) => learnt.includes(t)) ? Math.min(...topics.map(limit)) : undefined
          assert.strictEqual(limits.known(to(...topics)), expected)
        }
      ), { numRuns: 2000 })
    }))
})
