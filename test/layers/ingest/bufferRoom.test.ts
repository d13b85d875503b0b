/** Backpressure: a batch waits for room in the buffers, and room taken is always given back. */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { BufferRoom } from "../../../src/layers/ingest/bufferRoom.ts"
import type { Partitions } from "../../../src/layers/ingest/partitionState.ts"

describe("BufferRoom", () => {
  it.effect("a batch that does not fit waits until the batch holding the room ends, interrupted or not", () =>
    Effect.gen(function*() {
      const counters = { waitedForRoomMs: 0 }
      const room = new BufferRoom(new Map() as Partitions, { rows: 10, bytes: 1_000 }, counters)
      const gate = yield* Deferred.make<void>()
      const holding = yield* Effect.forkChild(room.withRoom(8, 0, Deferred.await(gate)))
      yield* Effect.yieldNow
      const waiting = yield* Effect.forkChild(room.withRoom(5, 0, Effect.succeed("admitted")))
      yield* TestClock.adjust("50 millis")
      assert.isUndefined(waiting.pollUnsafe(), "8 + 5 rows do not fit in 10")

      yield* Fiber.interrupt(holding)
      yield* TestClock.adjust("5 millis")
      assert.deepStrictEqual(waiting.pollUnsafe(), Exit.succeed("admitted"))
      assert.strictEqual(counters.waitedForRoomMs, 55)
      // Both gave their room back: a batch larger than the whole budget goes through, alone.
      const alone = yield* Effect.forkChild(room.withRoom(11, 0, Effect.succeed("alone")))
      yield* TestClock.adjust("5 millis")
      assert.deepStrictEqual(alone.pollUnsafe(), Exit.succeed("alone"))
    }))
})
