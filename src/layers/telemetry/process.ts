/**
 * Process metrics, read at scrape time: memory, heap, CPU, event-loop delay
 * (`perf_hooks.monitorEventLoopDelay`) and garbage collection (a `PerformanceObserver` on
 * "gc" entries). A scoped layer: the monitor and the observer stop with it.
 */
import { constants, monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks"
import { Effect, Layer, Metric } from "effect"
import { registerCounter, registerGauge, updater } from "./metrics.ts"

export const residentMemory = Metric.gauge("k2_process_resident_memory_bytes", { description: "Resident set size" })
export const heapUsed = Metric.gauge("k2_process_heap_used_bytes", { description: "V8 heap in use" })
export const heapTotal = Metric.gauge("k2_process_heap_total_bytes", { description: "V8 heap allocated" })
export const externalMemory = Metric.gauge("k2_process_external_memory_bytes", {
  description: "Memory of C++ objects bound to JS (Buffers, DuckDB results)"
})
export const cpuSeconds = Metric.counter("k2_process_cpu_seconds_total", { description: "User plus system CPU time" })
// Three gauges, not one with a `quantile` label: that label belongs to summaries (promtool refuses it on a gauge).
export const eventLoopDelayP50 = Metric.gauge("k2_process_event_loop_delay_p50_seconds", {
  description: "Event-loop delay over the last minute, median"
})
export const eventLoopDelayP99 = Metric.gauge("k2_process_event_loop_delay_p99_seconds", {
  description: "Event-loop delay over the last minute, 99th percentile"
})
export const eventLoopDelayMax = Metric.gauge("k2_process_event_loop_delay_max_seconds", {
  description: "Event-loop delay over the last minute, longest"
})
export const gcDuration = Metric.histogram("k2_process_gc_duration_seconds", {
  description: "Garbage collection pauses, by kind (minor, major, incremental, weakcb)",
  boundaries: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]
})
export const startTime = Metric.gauge("k2_process_start_time_seconds", { description: "Process start, Unix seconds" })

const gcKinds: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb"
}

const started = (Date.now() - performance.now()) / 1000

/** The event-loop monitor's sampling interval. */
const RESOLUTION_MS = 10

/**
 * A delay the monitor recorded, in seconds: it records the nanoseconds between its own timer
 * ticks, so the tick interval is taken off (an idle loop reads 0, not 0.010); 0 (rather than
 * NaN) before the first sample.
 */
export const delaySeconds = (ns: number) => Number.isFinite(ns) ? Math.max(0, ns - RESOLUTION_MS * 1e6) / 1e9 : 0

/** Registers the process series in the process registry for as long as the layer lives. */
export const layer: Layer.Layer<never> = Layer.effectDiscard(Effect.gen(function*() {
  yield* registerGauge(residentMemory, () => process.memoryUsage.rss())
  yield* registerGauge(heapUsed, () => process.memoryUsage().heapUsed)
  yield* registerGauge(heapTotal, () => process.memoryUsage().heapTotal)
  yield* registerGauge(externalMemory, () => process.memoryUsage().external)
  yield* registerGauge(startTime, () => started)
  yield* registerCounter(cpuSeconds, () => {
    const u = process.cpuUsage()
    return (u.user + u.system) / 1e6
  })

  const delay = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
      h.enable()
      const reset = setInterval(() => h.reset(), 60_000)
      reset.unref()
      return { h, reset }
    }),
    ({ h, reset }) => Effect.sync(() => {
      clearInterval(reset)
      h.disable()
    })
  )
  yield* registerGauge(eventLoopDelayP50, () => delaySeconds(delay.h.percentile(50)))
  yield* registerGauge(eventLoopDelayP99, () => delaySeconds(delay.h.percentile(99)))
  yield* registerGauge(eventLoopDelayMax, () => delaySeconds(delay.h.max))

  const byKind = new Map<string, (seconds: number) => void>()
  for (const kind of new Set(Object.values(gcKinds))) {
    const update = yield* updater(Metric.withAttributes(gcDuration, { kind }))
    byKind.set(kind, update)
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      const observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          const detail = (entry as unknown as { detail?: { kind?: number } }).detail
          const kind = gcKinds[detail?.kind ?? -1] ?? "minor"
          byKind.get(kind)?.(entry.duration / 1000)
        }
      })
      observer.observe({ entryTypes: ["gc"] })
      return observer
    }),
    (observer) => Effect.sync(() => observer.disconnect())
  )
}))
