/** The wait for new partitions' leaders that both real clients' ensureTopics share, and ensureTopics over the clients' calls. */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { TopicSpec } from "../../../src/domain/wire.ts"
import { ensureTopicsWith, untilLed } from "../../../src/layers/kafka/ensureTopics.ts"
import { KafkaError, kafkaError, KafkaRejected, KafkaUnavailable } from "../../../src/services/KafkaSource.ts"

const quick = { timeoutMs: 200, pollMs: 5 }

/** A metadata probe answering each call from `answers` in turn, then the last one for ever. */
const probe = (answers: ReadonlyArray<boolean | Error>) => {
  let calls = 0
  const led = async () => {
    const a = answers[Math.min(calls++, answers.length - 1)]!
    if (a instanceof Error) throw a
    return a
  }
  return { led, calls: () => calls }
}

describe("untilLed", () => {
  it("polls until the metadata shows every partition led, a metadata error meanwhile counting as not yet", async () => {
    const p = probe([new Error("NOT_CONTROLLER"), false, false, true])
    await untilLed("createPartitions", ["market.equities.trades.asx"], p.led, quick)
    assert.strictEqual(p.calls(), 4)
  })

  it("past the deadline with leaders still missing: KafkaUnavailable naming the operation and topics", async () => {
    const error = await untilLed("createTopics", ["a", "b"], probe([false]).led, quick).then(() => undefined, (e: unknown) => e)
    assert.instanceOf(error, KafkaError)
    const reason = (error as KafkaError).reason
    assert.instanceOf(reason, KafkaUnavailable)
    assert.strictEqual((reason as KafkaUnavailable).operation, "createTopics")
    assert.include((reason as KafkaUnavailable).detail, "a, b")
  })

  it("past the deadline with the metadata call failing: its own error, for the client's mapping", async () => {
    const refused = new Error("TOPIC_AUTHORIZATION_FAILED")
    const error = await untilLed("createTopics", ["a"], probe([refused]).led, quick).then(() => undefined, (e: unknown) => e)
    assert.strictEqual(error, refused)
  })
})

/**
 * A cluster as the clients' calls see it. `grow` refuses a count a topic already has, as a broker
 * answers CreatePartitions (INVALID_PARTITIONS), and any growth when `policy` says why;
 * `afterDescribe` runs after the first describe (another process acting meanwhile).
 */
const fakeCluster = (partitions: Map<string, number>, options: { readonly afterDescribe?: () => void; readonly policy?: string }) => {
  let described = 0
  const refuse = (detail: string) => Effect.fail(kafkaError(new KafkaRejected({ operation: "createPartitions", detail })))
  return ensureTopicsWith({
    list: () => Effect.sync(() => [...partitions.keys()]),
    create: (missing) => Effect.sync(() => (missing.forEach((s) => partitions.set(s.name, s.partitions)), [])),
    describe: (names) =>
      Effect.sync(() => {
        const out = names.map((name) => ({ name, partitions: partitions.get(name) ?? 0, config: {} }))
        if (described++ === 0) options.afterDescribe?.()
        return out
      }),
    grow: (topics: ReadonlyArray<TopicSpec>) =>
      Effect.forEach(topics, (s) =>
        options.policy !== undefined
          ? refuse(`POLICY_VIOLATION: ${options.policy}`)
          : (partitions.get(s.name) ?? 0) >= s.partitions
          ? refuse(`INVALID_PARTITIONS: Topic already has ${partitions.get(s.name)} partition(s).`)
          : Effect.sync(() => void partitions.set(s.name, s.partitions)), { discard: true }),
    alter: () => Effect.void
  })
}

describe("ensureTopicsWith", () => {
  const trades = "market.equities.trades.asx"

  it.effect("a topic another process grew since it was described (produce and ingest starting together) is as specified, not a failure", () =>
    Effect.gen(function*() {
      const partitions = new Map([[trades, 12]])
      const ensure = fakeCluster(partitions, { afterDescribe: () => partitions.set(trades, 24) })
      const result = yield* ensure([{ name: trades, partitions: 24 }])
      assert.deepStrictEqual(result.existing, [trades])
      assert.strictEqual(partitions.get(trades), 24)
    }))

  it.effect("a growth refused while the topic still has fewer partitions fails with the broker's reason", () =>
    Effect.gen(function*() {
      const ensure = fakeCluster(new Map([[trades, 12]]), { policy: "no more partitions" })
      const refused = yield* Effect.flip(ensure([{ name: trades, partitions: 24 }]))
      assert.instanceOf(refused.reason, KafkaRejected)
      assert.include(refused.message, "POLICY_VIOLATION")
    }))
})
