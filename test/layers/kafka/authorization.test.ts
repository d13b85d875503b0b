/**
 * A principal the cluster's ACLs refuse, as each client reports it (shapes met on a broker with
 * StandardAuthorizer, scripts/kafka.sh K2_KAFKA_AUTHORIZER=1): NotAuthorized, never retried,
 * naming the operation, the resource, the ACL it needs and the principal.
 */
import { MultipleErrors, ProtocolError } from "@platformatic/kafka"
import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import kafkajs from "kafkajs"
import { fromKafkajs } from "../../../src/layers/kafka/kafkajsErrors.ts"
import { fromPlatformatic } from "../../../src/layers/kafka/platformaticErrors.ts"
import type { KafkaSecurity } from "../../../src/layers/kafka/security.ts"
import type { KafkaError } from "../../../src/services/KafkaSource.ts"

const { KafkaJSNonRetriableError, KafkaJSProtocolError } = kafkajs

const security: KafkaSecurity = { sasl: { mechanism: "scram-sha-512", username: "k2-ingest", password: Redacted.make("pw") } }
const DLQ = "market.equities.trades.asx.dlq"

const protocol = (type: string) => new KafkaJSProtocolError({ type, code: 0, retriable: false, message: type } as never)
/** What kafkajs' retrier rejects with for an error it does not retry. */
const notRetried = (e: Error) => Object.assign(new KafkaJSNonRetriableError(e), { cause: e })
/** platformatic's error of a request a broker answered with `apiId`. */
const plt = (message: string, apiId: string) => new MultipleErrors(message, [new ProtocolError(apiId)])

const refusal = (e: KafkaError) => {
  assert.strictEqual(e.reason._tag, "NotAuthorized")
  assert.isFalse(e.retryable)
  return e.message
}

describe("a principal the ACLs refuse", () => {
  it("a send to a topic it may not WRITE names the topic, the ACL and the user, with either client", () => {
    for (
      const e of [
        fromKafkajs("send", notRetried(protocol("TOPIC_AUTHORIZATION_FAILED")), DLQ, security),
        fromPlatformatic("send", plt("Producing messages failed.", "TOPIC_AUTHORIZATION_FAILED"), DLQ, security)
      ]
    ) {
      const message = refusal(e)
      assert.include(message, "kafka refused send (TOPIC_AUTHORIZATION_FAILED)")
      assert.include(message, `User:k2-ingest is not allowed WRITE on topic ${DLQ}`)
      assert.include(message, "K2_KAFKA_SASL_USERNAME")
    }
  })

  it("an idempotent producer refused by the cluster says what grants it (IDEMPOTENT_WRITE, or WRITE on a topic)", () => {
    const e = fromPlatformatic("send", plt("Received response with error while executing API InitProducerId(v5)", "CLUSTER_AUTHORIZATION_FAILED"), DLQ, security)
    assert.include(refusal(e), "IDEMPOTENT_WRITE (or WRITE on any topic")
    assert.include(refusal(fromKafkajs("connect", protocol("CLUSTER_AUTHORIZATION_FAILED"), undefined, security)), "on the cluster")
  })

  it("a group it may not READ names the group", () => {
    const e = fromPlatformatic("subscribe", plt("Received response with error while executing API FindCoordinator(v6)", "GROUP_AUTHORIZATION_FAILED"), "t", security, {
      topics: ["t"],
      group: "k2-ingest"
    })
    assert.include(refusal(e), "User:k2-ingest is not allowed READ on group k2-ingest")
  })

  it("reading configs and creating topics name their ACLs; without SASL the principal is said to be anonymous", () => {
    assert.include(refusal(fromPlatformatic("describeTopics", plt("Describing configs failed.", "TOPIC_AUTHORIZATION_FAILED"), "t")), "DESCRIBE_CONFIGS")
    const create = refusal(fromKafkajs("createTopics", protocol("TOPIC_AUTHORIZATION_FAILED"), "t"))
    assert.include(create, "CREATE")
    assert.include(create, "User:ANONYMOUS")
  })

  it("kafkajs, which drops the broker's reason for a group coordinator it could not find, hints at the group's ACL", () => {
    const NotFound = (kafkajs as unknown as Record<string, new(message: string) => Error>)["KafkaJSGroupCoordinatorNotFound"]!
    const e = fromKafkajs("subscribe", new NotFound("Failed to find group coordinator"), "t", security)
    assert.strictEqual(e.reason._tag, "KafkaRejected")
    assert.include(e.message, "may not READ the group")
  })
})
