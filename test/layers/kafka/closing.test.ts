/** Closing a Kafka client is waited for CLOSE_WAIT at most (ADR-48). */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { CLOSE_WAIT, closeWithin } from "../../../src/layers/kafka/closing.ts"

describe("closeWithin", () => {
  it.effect("a close that never ends (a broker that answers nothing) is let go after CLOSE_WAIT", () =>
    Effect.gen(function*() {
      const closing = yield* Effect.forkChild(closeWithin("consumer", () => new Promise<never>(() => {})))
      yield* TestClock.adjust(Duration.subtract(CLOSE_WAIT, Duration.millis(1)))
      assert.isUndefined(closing.pollUnsafe(), "still waited for just before CLOSE_WAIT")
      yield* TestClock.adjust(Duration.millis(1))
      yield* Fiber.join(closing)
    }))

  it.effect("a close that fails is done with", () =>
    closeWithin("producer", () => Promise.reject(new Error("connection reset"))))
})
