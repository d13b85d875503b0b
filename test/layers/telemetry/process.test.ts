/** Process metrics: what the gauges read is what they are named after. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { PrometheusMetrics } from "effect/observability"
import * as ProcessMetrics from "../../../src/layers/telemetry/process.ts"
import { parseExposition } from "./opsMetrics.ts"

const delayOf = (text: string, stat: "p50" | "p99" | "max") =>
  Number(parseExposition(text).series.find((s) => s.name === `k2_process_event_loop_delay_${stat}_seconds`)?.value)

describe("telemetry/process", () => {
  it("event-loop delay is what the loop was late by, not the monitor's 10 ms between samples", () => {
    // The monitor records the time between its ticks: an idle loop records 10.1 ms and read 0.0101.
    assert.closeTo(ProcessMetrics.delaySeconds(10_100_000), 0.0001, 1e-9)
    assert.strictEqual(ProcessMetrics.delaySeconds(9_000_000), 0)
    assert.closeTo(ProcessMetrics.delaySeconds(70_000_000), 0.06, 1e-9)
    assert.strictEqual(ProcessMetrics.delaySeconds(Number.NaN), 0)
  })

  it.live("a stall of the loop shows in the max", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* Layer.build(ProcessMetrics.layer)
      yield* Effect.sleep("100 millis")
      const until = performance.now() + 60
      while (performance.now() < until) { /* block the loop */ }
      yield* Effect.sleep("50 millis")
      // At least the 60 ms blocked, less the sampling interval (no upper bound: the machine is shared).
      assert.isAtLeast(delayOf(yield* PrometheusMetrics.format(), "max"), 0.05)
    })))
})
