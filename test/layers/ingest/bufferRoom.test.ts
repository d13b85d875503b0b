/** Backpressure: a batch waits for room in the buffers, and room taken is always given back. */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { BufferRoom, type RoomLimits } from "../../../src/layers/ingest/bufferRoom.ts"
import type { PartitionState, Partitions } from "../../../src/layers/ingest/partitionState.ts"
import { makeSteppedClock } from "../../support/steppedClock.ts"

/** A room over one partition whose buffer holds `rows` rows (of no bytes): `buffer.rows` sets it. */
const roomOver = (limits: RoomLimits, rows = 0) =>
  Clock.clockWith((clock) => {
    const counters = { waitedForRoomMs: 0 }
    const buffer = { rows: { size: rows }, events: [], bytes: 0 }
    const parts = new Map([["t:0", buffer as unknown as PartitionState]]) as Partitions
    return Effect.succeed({ room: new BufferRoom(parts, limits, counters, clock), counters, buffer })
  })

/** Runs `use` with room for `records` rows holding `bytes`, given back however it ends (as the ingestor's fetch loop and actors do). */
const withRoom = <A, E, R>(room: BufferRoom, records: number, bytes: number, use: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(restore(room.reserve(records, bytes)), (reservation) =>
      restore(use).pipe(Effect.ensuring(Effect.sync(() => room.release(reservation))))))

describe("BufferRoom", () => {
  it.effect("a batch that does not fit waits until the batch holding the room ends, interrupted or not", () =>
    Effect.gen(function*() {
      const { counters, room } = yield* roomOver({ rows: 10, bytes: 1_000 })
      const gate = yield* Deferred.make<void>()
      const holding = yield* Effect.forkChild(withRoom(room, 8, 0, Deferred.await(gate)))
      yield* Effect.yieldNow
      const waiting = yield* Effect.forkChild(withRoom(room, 5, 0, Effect.succeed("admitted")))
      yield* TestClock.adjust("50 millis")
      assert.isUndefined(waiting.pollUnsafe(), "8 + 5 rows do not fit in 10")

      // Woken by the room given back, not by a later check.
      yield* Fiber.interrupt(holding)
      assert.deepStrictEqual(yield* Fiber.await(waiting), Exit.succeed("admitted"))
      assert.strictEqual(counters.waitedForRoomMs, 50)
      // Both gave their room back: a batch larger than the whole budget goes through, alone.
      assert.strictEqual(yield* withRoom(room, 11, 0, Effect.succeed("alone")), "alone")
    }))

  it.effect("the time waited grows while actors wait, counted once however many wait together", () =>
    Effect.gen(function*() {
      const { counters, room } = yield* roomOver({ rows: 10, bytes: 1_000 })
      const gate = yield* Deferred.make<void>()
      const holding = yield* Effect.forkChild(withRoom(room, 10, 0, Deferred.await(gate)))
      yield* Effect.yieldNow
      const waiters = [
        yield* Effect.forkChild(withRoom(room, 5, 0, Effect.void)),
        yield* Effect.forkChild(withRoom(room, 5, 0, Effect.void))
      ]
      yield* Effect.yieldNow
      // A stalled flush: the figure read (by a scrape, or the progress) shows the wait going on.
      yield* TestClock.adjust("30 seconds")
      room.countWaited()
      assert.strictEqual(counters.waitedForRoomMs, 30_000)
      yield* TestClock.adjust("10 seconds")
      room.countWaited()
      room.countWaited()
      assert.strictEqual(counters.waitedForRoomMs, 40_000, "two actors waiting 40 s: 40 s of backpressure")

      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holding)
      for (const waiter of waiters) yield* Fiber.join(waiter)
      yield* TestClock.adjust("10 seconds")
      room.countWaited()
      assert.strictEqual(counters.waitedForRoomMs, 40_000, "nobody waits any more")
    }))

  it.effect("the time waited neither falls nor leaps when the wall clock is set back or forward an hour (a counter)", () =>
    Effect.gen(function*() {
      const stepped = yield* makeSteppedClock
      const { counters, room } = yield* Effect.provideService(roomOver({ rows: 10, bytes: 1_000 }), Clock.Clock, stepped.clock)
      const gate = yield* Deferred.make<void>()
      const holding = yield* Effect.forkChild(withRoom(room, 10, 0, Deferred.await(gate)))
      yield* Effect.yieldNow
      const waiter = yield* Effect.forkChild(withRoom(room, 5, 0, Effect.void))
      yield* Effect.yieldNow
      yield* TestClock.adjust("10 seconds")
      yield* stepped.step(-3_600_000)
      room.countWaited()
      assert.strictEqual(counters.waitedForRoomMs, 10_000)
      yield* TestClock.adjust("10 seconds")
      yield* stepped.step(3_600_000)
      room.countWaited()
      assert.strictEqual(counters.waitedForRoomMs, 20_000)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holding)
      yield* Fiber.join(waiter)
    }))

  it.effect("waiters go on as soon as a flush takes the buffers, as many as fit; none stays while room is left for it", () =>
    Effect.gen(function*() {
      const { buffer, room } = yield* roomOver({ rows: 10, bytes: 1_000 }, 10)
      const gates = Array.from({ length: 12 }, () => Deferred.makeUnsafe<void>())
      const started: Array<number> = []
      const actors = yield* Effect.forEach(gates, (gate, i) =>
        Effect.forkChild(withRoom(room, 1, 0, Effect.andThen(Effect.sync(() => started.push(i)), Deferred.await(gate)))))
      yield* Effect.yieldNow
      assert.deepStrictEqual(started, [], "the buffers are full")

      // The flush takes the buffers: no clock moves, the first ten wake and hold the room.
      buffer.rows = { size: 0 }
      room.roomMade()
      yield* Effect.yieldNow
      assert.deepStrictEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])

      // One waiting is interrupted (a revoke), one done gives its room to the last one.
      yield* Fiber.interrupt(actors[10]!)
      yield* Deferred.succeed(gates[0]!, undefined)
      yield* Fiber.join(actors[0]!)
      yield* Effect.yieldNow
      assert.deepStrictEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11])

      for (const gate of gates) yield* Deferred.succeed(gate, undefined)
      for (const [i, actor] of actors.entries()) if (i !== 10) yield* Fiber.join(actor)
      // Nothing leaked: the whole budget is free.
      assert.strictEqual(yield* withRoom(room, 10, 0, Effect.succeed("all")), "all")
    }))

  it.effect("a waiter that fits goes on past an older one that does not fit yet", () =>
    Effect.gen(function*() {
      const { buffer, room } = yield* roomOver({ rows: 10, bytes: 1_000 }, 10)
      const started: Array<string> = []
      const big = yield* Effect.forkChild(withRoom(room, 8, 0, Effect.sync(() => started.push("big"))))
      yield* Effect.yieldNow
      const small = yield* Effect.forkChild(withRoom(room, 2, 0, Effect.sync(() => started.push("small"))))
      yield* Effect.yieldNow
      assert.deepStrictEqual(started, [], "the buffers are full")

      // A flush takes half: 5 + 8 does not fit, 5 + 2 does.
      buffer.rows = { size: 5 }
      room.roomMade()
      yield* Effect.yieldNow
      assert.deepStrictEqual(started, ["small"])
      yield* Fiber.join(small)

      buffer.rows = { size: 0 }
      room.roomMade()
      yield* Fiber.join(big)
      assert.deepStrictEqual(started, ["small", "big"])
    }))

  it.effect("a waiter is woken through the scheduler, and one interrupted as it is admitted gives its room back", () =>
    Effect.gen(function*() {
      const { buffer, room } = yield* roomOver({ rows: 10, bytes: 1_000 }, 10)
      let ran = false
      const waiting = yield* Effect.forkChild(withRoom(room, 10, 0, Effect.sync(() => (ran = true))))
      yield* Effect.yieldNow
      buffer.rows = { size: 0 }
      room.roomMade()
      assert.isFalse(ran, "woken, not run inside the call that made room")
      yield* Fiber.interrupt(waiting)
      assert.isFalse(ran)
      assert.strictEqual(yield* withRoom(room, 10, 0, Effect.succeed("all")), "all")
    }))

  it.effect("rows a flush took keep their room until given back (loaded into DuckDB), then waiters go on", () =>
    Effect.gen(function*() {
      const { buffer, room } = yield* roomOver({ rows: 10, bytes: 1_000 }, 8)
      const waiting = yield* Effect.forkChild(withRoom(room, 5, 0, Effect.succeed("admitted")))
      yield* Effect.yieldNow
      // The flush takes the 8 rows and holds their room: taking them makes none.
      buffer.rows = { size: 0 }
      const held = room.hold(8, 0)
      room.roomMade()
      yield* Effect.yieldNow
      assert.isUndefined(waiting.pollUnsafe(), "8 held + 5 rows do not fit in 10")

      room.release(held)
      assert.deepStrictEqual(yield* Fiber.await(waiting), Exit.succeed("admitted"))
      // Given back twice (loaded, then the flush's end) counts once: 10 rows fill the room.
      room.release(held)
      const gate = yield* Deferred.make<void>()
      const full = yield* Effect.forkChild(withRoom(room, 10, 0, Deferred.await(gate)))
      yield* Effect.yieldNow
      const one = yield* Effect.forkChild(withRoom(room, 1, 0, Effect.void))
      yield* Effect.yieldNow
      assert.isUndefined(one.pollUnsafe())
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(full)
      yield* Fiber.join(one)
    }))
})
