/** How platformatic's errors become K2's reasons, without a broker: what is waited out, what is not. */
import { MultipleErrors, NetworkError, ProtocolError, UserError } from "@platformatic/kafka"
import { assert, describe, it } from "@effect/vitest"
import { fromPlatformatic } from "../../../src/layers/kafka/platformaticErrors.ts"

const reasonOf = (cause: unknown) => fromPlatformatic("fetch", cause, "t").reason

describe("fromPlatformatic", () => {
  it("a fetch to a leader that left the cluster is waited out, as a refused connection is", () => {
    const failover = new MultipleErrors("Fetch failed.", [
      new NetworkError("Connection refused"),
      new UserError("Cannot find broker with node id 2")
    ])
    assert.strictEqual(reasonOf(failover)._tag, "KafkaUnavailable")
    assert.isTrue(fromPlatformatic("fetch", failover).retryable)
  })

  it("a usage error, or a broker error that will not pass, is rejected", () => {
    assert.strictEqual(reasonOf(new UserError("Invalid option"))._tag, "KafkaRejected")
    const tooLarge = new MultipleErrors("Produce failed.", [new NetworkError("Connection refused"), new ProtocolError("MESSAGE_TOO_LARGE")])
    assert.strictEqual(reasonOf(tooLarge)._tag, "KafkaRejected")
  })
})

describe("fromPlatformatic, connections that fail", () => {
  /** What platformatic's Connection rejects with when the socket fails to connect (connection.js, #onConnectionError). */
  const connectFailed = (code: string) =>
    new NetworkError("Connection to 10.0.0.7:9092 failed.", {
      cause: Object.assign(new Error(`connect ${code} 10.0.0.7:9092`), { code, syscall: "connect", address: "10.0.0.7", port: 9092 })
    })

  it("a broker host unreachable, a connect timing out or a name not resolving for now is waited out, as a refused connection is", () => {
    for (const code of ["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "EAI_AGAIN", "ENOTFOUND", "EPIPE"]) {
      // As the client's retries leave it: every attempt's error.
      const retried = new MultipleErrors("fetch failed 9 times.", Array.from({ length: 9 }, () => connectFailed(code)))
      assert.strictEqual(reasonOf(connectFailed(code))._tag, "KafkaUnavailable", code)
      assert.strictEqual(reasonOf(retried)._tag, "KafkaUnavailable", code)
    }
  })

  it("a TLS handshake refused stays a rejection", () => {
    const tls = new NetworkError("Connection to b:9093 failed.", {
      cause: new UserError("TLS handshake failed. Please verify the broker supports TLS.", { cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }) })
    })
    assert.strictEqual(reasonOf(tls)._tag, "KafkaRejected")
  })
})

describe("fromPlatformatic, broker errors by name", () => {
  /** A broker's error code as platformatic's protocol layer makes it (its canRetry from the protocol's table). */
  const broker = (apiId: string) => new ProtocolError(apiId)

  it("a member the coordinator asks to rejoin with an id is a rebalance; an unknown topic id is an unknown topic", () => {
    assert.strictEqual(reasonOf(new MultipleErrors("JoinGroup failed.", [broker("MEMBER_ID_REQUIRED")]))._tag, "RebalanceInProgress")
    assert.strictEqual(reasonOf(new MultipleErrors("Fetch failed.", [broker("UNKNOWN_TOPIC_ID")]))._tag, "UnknownTopic")
  })

  it("a metadata answer of an unknown topic names that topic, not the operation's first", () => {
    const reason = fromPlatformatic("subscribe", new UserError("Unknown topic market.equities.trades.chix."), "market.equities.trades.asx").reason
    assert.deepStrictEqual({ tag: reason._tag, topic: (reason as { topic?: string }).topic }, { tag: "UnknownTopic", topic: "market.equities.trades.chix" })
  })

  it("a request cut short by the client closing while it retried is waited out", () => {
    const closed = new MultipleErrors("metadata failed 3 times.", [new NetworkError("Connection refused"), new UserError("Client closed while retrying metadata.")])
    assert.strictEqual(reasonOf(closed)._tag, "KafkaUnavailable")
  })
})
