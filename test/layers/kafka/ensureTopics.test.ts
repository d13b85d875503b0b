/** The wait for new partitions' leaders that both real clients' ensureTopics share. */
import { assert, describe, it } from "@effect/vitest"
import { untilLed } from "../../../src/layers/kafka/ensureTopics.ts"
import { KafkaError, KafkaUnavailable } from "../../../src/services/KafkaSource.ts"

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
