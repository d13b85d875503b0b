/**
 * What observability costs ingestion, in one run: the same pre-filled topics ingested by fresh
 * `ingest` processes (own group, own warehouse) alternately
 * - off: no OTEL endpoint (no exporter: spans stay in memory, no trace headers read), no
 *   metrics server (`--metrics-port 0`; the counters are still updated, as they always are);
 * - on: spans exported over OTLP/HTTP to a receiver in this process (OTEL_EXPORTER_OTLP_ENDPOINT),
 *   /metrics served and scraped every second (15 times Prometheus's default rate).
 * Steady-state messages/s as in the `ingest` section. Each round runs both modes back to back
 * (alternating which goes first, so drift on a shared machine hits both) and gives one on/off
 * ratio; the figure is the median of the rounds' ratios. Target: on ≥ 90 % of off.
 * Run: `npm run bench -- observability` (K2_BENCH_OBS_EVENTS, default 500k; K2_BENCH_OBS_ROUNDS, default 3).
 */
import * as fs from "node:fs"
import { Effect, Fiber, Schedule } from "effect"
import { createTopics, publish, type Scenario, uniqueExchange } from "../test/support/ingestHarness.ts"
import { ensureBroker } from "../test/support/kafka.ts"
import { otlpEnv, otlpReceiver } from "../test/support/otlp.ts"
import { freePort } from "../test/support/programs.ts"
import { warehouseOptions } from "../test/support/warehouse.ts"
import { ingestRun } from "./ingest.ts"
import { benchCount } from "./settings.ts"

const SYMBOLS = 20

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

export const benchObservabilityEffect = () =>
  Effect.scoped(Effect.gen(function*() {
    yield* Effect.sync(ensureBroker)
    const receiver = yield* otlpReceiver
    const exchange = uniqueExchange()
    // Only the topics of `base` are used; each run gets its own group and warehouse.
    const base: Scenario = { exchange, group: "", partitions: 12, options: warehouseOptions("sqlite") }
    fs.rmSync(base.options.warehouse, { recursive: true, force: true })
    yield* createTopics(base)
    const r = yield* publish(base, { eventsPerSymbolPerDay: Math.round(benchCount("K2_BENCH_OBS_EVENTS") / SYMBOLS) })
    const total = r.totals.trades + r.totals.quotes

    let runs = 0
    const run = (on: boolean) =>
      Effect.gen(function*() {
        const s: Scenario = { ...base, group: `k2-bench-obs-${exchange.toLowerCase()}-${runs++}`, options: warehouseOptions("sqlite") }
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(s.options.warehouse, { recursive: true, force: true })))
        if (!on) return (yield* ingestRun(s, total, ["--metrics-port", "0"])).steady
        const port = yield* Effect.promise(freePort)
        const scraper = yield* Effect.forkChild(
          Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((x) => x.text(), () => "")).pipe(
            Effect.repeat(Schedule.spaced("1 second"))
          )
        )
        const result = yield* ingestRun(s, total, ["--metrics-port", String(port), "--metrics-host", "127.0.0.1"], otlpEnv(receiver))
        yield* Fiber.interrupt(scraper)
        return result.steady
      }).pipe(Effect.scoped)

    const off: Array<number> = []
    const on: Array<number> = []
    for (let round = 0; round < benchCount("K2_BENCH_OBS_ROUNDS"); round++) {
      for (const mode of round % 2 === 0 ? [false, true] : [true, false]) (mode ? on : off).push(yield* run(mode))
    }
    const ratios = on.map((x, i) => x / off[i]!)
    const ratio = median(ratios)
    return {
      [`off: messages/s, first to last commit (${total} pre-filled), by round`]: off.join(", "),
      [`on (OTLP traces + /metrics scraped 1/s): messages/s, by round`]: on.join(", "),
      "on / off, by round": ratios.map((x) => x.toFixed(3)).join(", "),
      "on / off, median of rounds": ratio.toFixed(3),
      "throughput drop (target <= 10 %)": `${((1 - ratio) * 100).toFixed(1)} %`,
      "spans received from the 'on' runs": receiver.spans.length
    }
  }))
