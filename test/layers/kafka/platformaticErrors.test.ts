/** How platformatic's errors become K2's reasons, without a broker: what is waited out, what is not. */
import { MultipleErrors, NetworkError, ProtocolError, UserError } from "@platformatic/kafka"
import { assert, describe, it } from "@effect/vitest"
import { fromPlatformatic } from "../../../src/layers/kafka/platformatic.ts"

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
