/**
 * `compact --every N` and ingest's --maintain-every/--expire-every: a run starts every N seconds
 * from the previous start, as the help says ("--every 600" is every 10 minutes), not N seconds
 * after the previous run ended; a run longer than N is followed when it ends, never overlapped.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { repeatEvery } from "../../../src/layers/maintenance/maintenance.ts"

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
