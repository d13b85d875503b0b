/**
 * `compact --every N` and ingest's --maintain-every/--expire-every: a run starts every N seconds
 * from the previous start, as the help says ("--every 600" is every 10 minutes), not N seconds
 * after the previous run ended; a run longer than N is followed when it ends, never overlapped.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { repeatEvery } from "../../../src/layers/maintenance/maintenance.ts"
import { makeSteppedClock } from "../../support/steppedClock.ts"

/** The seconds at which runs of `runSeconds` start, repeated every 60 s, within the first 300 s. */
const starts = (runSeconds: number) =>
  Effect.gen(function*() {
    const started: Array<number> = []
    let running = 0
    let overlapped = false
    const run = Effect.gen(function*() {
      started.push((yield* Clock.currentTimeMillis) / 1000)
      if (++running > 1) overlapped = true
      yield* Effect.sleep(`${runSeconds} seconds`)
      running--
    })
    const fiber = yield* Effect.forkChild(repeatEvery(run, "60 seconds"))
    for (let s = 0; s < 300; s++) yield* TestClock.adjust("1 second")
    yield* Fiber.interrupt(fiber)
    return { started, overlapped }
  })

describe("repeatEvery", () => {
  it.effect("a 40 s run every 60 s starts at 0, 60, 120, ... (it started at 0, 100, 200: run time plus the interval)", () =>
    Effect.gen(function*() {
      const { started, overlapped } = yield* starts(40)
      assert.deepStrictEqual(started, [0, 60, 120, 180, 240, 300])
      assert.isFalse(overlapped)
    }))

  it.effect("a run longer than the interval is followed as it ends, never two at once", () =>
    Effect.gen(function*() {
      const { started, overlapped } = yield* starts(90)
      assert.deepStrictEqual(started, [0, 90, 180, 270])
      assert.isFalse(overlapped)
    }))

  it.effect("a failed run ends it: its callers catch and log each run's failure", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(repeatEvery(Effect.fail("boom"), "60 seconds"))
      assert.isTrue(exit._tag === "Failure")
    }))
})

describe("repeatEvery under a wall clock that steps", () => {
  it.effect("the clock set back an hour during a run does not put the next run off by that hour", () =>
    Effect.gen(function*() {
      const stepped = yield* makeSteppedClock
      let runs = 0
      const run = Effect.gen(function*() {
        // NTP (or an operator) sets the clock back during the first run.
        if (++runs === 1) yield* stepped.step(-3_600_000)
        yield* Effect.sleep("40 seconds")
      })
      const fiber = yield* Effect.forkChild(repeatEvery(run, "60 seconds").pipe(Effect.provideService(Clock.Clock, stepped.clock)))
      for (let s = 0; s < 300; s++) yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      // At 0, 60, ..., 300 s as ever: measured by the wall clock, the first run took -3560 s and the next waited 3620 s.
      assert.strictEqual(runs, 6)
    }))

  it.effect("the clock set forward an hour during a run does not start the next run at once", () =>
    Effect.gen(function*() {
      const stepped = yield* makeSteppedClock
      let runs = 0
      const run = Effect.gen(function*() {
        if (++runs === 1) yield* stepped.step(3_600_000)
        yield* Effect.sleep("40 seconds")
      })
      const fiber = yield* Effect.forkChild(repeatEvery(run, "60 seconds").pipe(Effect.provideService(Clock.Clock, stepped.clock)))
      for (let s = 0; s < 100; s++) yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      // At 0 and 60 s: measured by the wall clock, the first took an hour and the second followed at 40 s.
      assert.strictEqual(runs, 2)
    }))
})
