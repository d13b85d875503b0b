/** k2_process_cpu_seconds_total is the process's CPU time in seconds. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import * as ProcessMetrics from "../../../src/layers/telemetry/process.ts"
import { parseExposition } from "./opsMetrics.ts"

const seconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6

describe("telemetry/process CPU", () => {
  it.effect("reads user plus system CPU time in seconds", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* Layer.build(ProcessMetrics.layer)
      const before = seconds(process.cpuUsage())
      const text = yield* PrometheusMetrics.format()
      const after = seconds(process.cpuUsage())
      const value = Number(parseExposition(text).series.find((s) => s.name === "k2_process_cpu_seconds_total")?.value)
      assert.isAtLeast(value, before)
      assert.isAtMost(value, after)
    })).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
})
