/**
 * How kafkajs' errors become K2's reasons, without a broker. kafkajs 2.2 wraps the broker's error
 * of a request it retried (or gave up on) in `cause`: the reason is the broker's.
 */
import { assert, describe, it } from "@effect/vitest"
import kafkajs from "kafkajs"
import { fromKafkajs } from "../../../src/layers/kafka/kafkajsErrors.ts"

const { KafkaJSAggregateError, KafkaJSConnectionError, KafkaJSLockTimeout, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs

/** A broker error as kafkajs' protocol decoder makes it. */
const protocol = (type: string, retriable: boolean) => new KafkaJSProtocolError({ type, code: 0, retriable, message: type } as never)
/** What kafkajs' retrier rejects with once its retries are spent. */
const exhausted = (e: Error) => new KafkaJSNumberOfRetriesExceeded(e, { retryCount: 8, retryTime: 5_000 })

describe("fromKafkajs", () => {
  it("an unknown topic or partition kafkajs retried to the end is an outage (a restarted broker still loading); one it did not retry is UnknownTopic", () => {
    const retried = fromKafkajs("send", exhausted(protocol("UNKNOWN_TOPIC_OR_PARTITION", true)), "t").reason
    assert.strictEqual(retried._tag, "KafkaUnavailable")
    assert.isTrue(retried.retryable)
    const direct = fromKafkajs("send", protocol("UNKNOWN_TOPIC_OR_PARTITION", true), "t").reason
    assert.strictEqual(direct._tag, "UnknownTopic")
    assert.isFalse(direct.retryable)
  })

  it("a stale generation that kafkajs retried is RebalanceInProgress", () => {
    assert.strictEqual(fromKafkajs("commit", exhausted(protocol("ILLEGAL_GENERATION", true))).reason._tag, "RebalanceInProgress")
  })

  it("a leader moving or a broker down, retried to the end, stays retryable", () => {
    assert.strictEqual(fromKafkajs("send", exhausted(protocol("NOT_LEADER_OR_FOLLOWER", true))).reason._tag, "KafkaUnavailable")
    assert.strictEqual(fromKafkajs("send", exhausted(new KafkaJSConnectionError("Connection error"))).reason._tag, "KafkaUnavailable")
  })

  it("a broker error kafkajs would not retry is rejected", () => {
    const refused = protocol("MESSAGE_TOO_LARGE", false)
    const tooLarge = Object.assign(new KafkaJSNonRetriableError(refused), { cause: refused })
    const reason = fromKafkajs("send", tooLarge).reason
    assert.strictEqual(reason._tag, "KafkaRejected")
    assert.isFalse(reason.retryable)
  })

  it("a member the group no longer knows is a rebalance; an unknown topic id is an unknown topic", () => {
    assert.strictEqual(fromKafkajs("commit", protocol("UNKNOWN_MEMBER_ID", false)).reason._tag, "RebalanceInProgress")
    assert.strictEqual(fromKafkajs("send", protocol("UNKNOWN_TOPIC_ID", true), "t").reason._tag, "UnknownTopic")
  })

  it("a retriable broker error an inner retrier gave up on, wrapped by an outer one as not retriable, is still waited out", () => {
    // kafkajs' retrier wraps an error it will not retry (the inner retrier's NumberOfRetriesExceeded) with `cause: e.cause || e`.
    const leaderMoved = protocol("NOT_LEADER_OR_FOLLOWER", true)
    // Its typings declare no options argument.
    const NonRetriable = KafkaJSNonRetriableError as unknown as new(e: Error, options: { cause: Error }) => Error
    const outer = new NonRetriable(exhausted(leaderMoved), { cause: leaderMoved })
    assert.strictEqual(fromKafkajs("send", outer).reason._tag, "KafkaUnavailable")
  })

  it("a topic creation the broker refused says which topic and why, not only kafkajs' \"Topic creation errors\"", () => {
    // As kafkajs' CreateTopics response parser throws it: one error per refused topic.
    // Not in its typings, but exported.
    const CreateTopicError = (kafkajs as unknown as { KafkaJSCreateTopicError: new(e: Error, topic: string) => Error }).KafkaJSCreateTopicError
    const refusals = [
      new CreateTopicError(protocol("INVALID_TOPIC_EXCEPTION", false), "bad name!"),
      new CreateTopicError(protocol("INVALID_CONFIG", false), "market.equities.trades.asx.dlq")
    ]
    const reason = fromKafkajs("createTopics", new KafkaJSAggregateError("Topic creation errors", refusals), "bad name!").reason
    assert.strictEqual(reason._tag, "KafkaRejected")
    assert.isFalse(reason.retryable)
    assert.include(reason.message, "bad name!: INVALID_TOPIC_EXCEPTION")
    assert.include(reason.message, "market.equities.trades.asx.dlq: INVALID_CONFIG")
  })

  it("a lock not had in time is waited out", () => {
    assert.strictEqual(fromKafkajs("send", new (KafkaJSLockTimeout as unknown as new(message: string) => Error)("Timeout while acquiring lock")).reason._tag, "KafkaUnavailable")
  })
})
