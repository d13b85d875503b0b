/** A series read at scrape time lives as long as its scope: a closed pool or stopped ingest shows no stale values. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import * as Metrics from "../../../src/layers/telemetry/metrics.ts"

describe("telemetry/metrics pulled series", () => {
  it.effect("a gauge registered in a scope is gone once the scope closes", () =>
    Effect.gen(function*() {
      const gauge = Metric.gauge("k2_test_pulled_gauge")
      const counter = Metric.counter("k2_test_pulled_total")
      const open = yield* Effect.scoped(Effect.gen(function*() {
        yield* Metrics.registerGauge(gauge, () => 7)
        yield* Metrics.registerCounter(counter, () => 3)
        return yield* PrometheusMetrics.format()
      }))
      assert.include(open, "k2_test_pulled_gauge 7")
      assert.include(open, "k2_test_pulled_total 3")
      const closed = yield* PrometheusMetrics.format()
      assert.notInclude(closed, "k2_test_pulled_gauge")
      assert.notInclude(closed, "k2_test_pulled_total")
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
})
