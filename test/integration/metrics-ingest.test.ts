/**
 * Metrics end to end: a live `ingest` process (the real broker on 127.0.0.1:9092) serves
 * /metrics on --metrics-port; every metric the alert rules and the Grafana dashboard use is
 * there with its labels, and the counters agree with the tables. The HTTP metrics the serve
 * alerts use come from a served API in this process.
 */
import { assert, beforeAll, describe, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { assertExactlyOnce, checkTables, createTopics, publish, type Scenario, spawnIngest, stop, uniqueExchange } from "../support/ingestHarness.ts"
import { ensureBroker } from "../support/kafka.ts"
import { warehouseOptions } from "../support/warehouse.ts"
import { isServeMetric, missingIn, parseExposition, type Series, usedFamilies } from "../layers/telemetry/opsMetrics.ts"
import { baseUrl, get, served, testOptions } from "./http-support.ts"
import { freePort } from "../support/programs.ts"

const scrape = (port: number) =>
  Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => ""))

const sum = (series: ReadonlyArray<Series>, name: string, where: Record<string, string> = {}) =>
  series
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + Number(s.value), 0)

beforeAll(() => ensureBroker(), 600_000)

describe("ingest /metrics", () => {
  it.live("a live ingest exposes every metric the dashboard and alerts use, consistent with the tables", () =>
    Effect.gen(function*() {
      const exchange = uniqueExchange()
      const s: Scenario = { exchange, group: `k2-metrics-${exchange.toLowerCase()}`, partitions: 3, options: warehouseOptions("sqlite") }
      yield* createTopics(s)
      const r = yield* publish(s, { eventsPerSymbolPerDay: 1_500 })
      const published = r.totals.trades + r.totals.quotes + r.totals.poison
      const port = yield* Effect.promise(freePort)
      const ingest = spawnIngest(s, ["--metrics-port", String(port), "--metrics-host", "127.0.0.1"])
      yield* Effect.addFinalizer(() => stop(ingest).pipe(Effect.ignore))

      // Until everything is consumed and committed: the tables' counters reach what was published
      // (a pause between commits on a loaded machine is not the end) and then stop moving.
      let text = ""
      let previous = -1
      const deadline = Date.now() + 240_000
      for (;;) {
        if (Date.now() > deadline) assert.fail(`ingest did not finish in time\n${text}\n${ingest.output()}`)
        if (ingest.child.exitCode !== null) assert.fail(`ingest exited ${ingest.child.exitCode}\n${ingest.output()}`)
        yield* Effect.sleep("1 second")
        text = yield* scrape(port)
        if (text === "") continue
        const { series } = parseExposition(text)
        const written = sum(series, "k2_ingest_records_written_total")
        const committed = sum(series, "k2_ingest_records_written_total", { table: "trades" }) +
          sum(series, "k2_ingest_records_written_total", { table: "quotes" }) +
          sum(series, "k2_ingest_dead_letters_total")
        const done = sum(series, "k2_ingest_messages_consumed_total") >= published && committed >= published &&
          sum(series, "k2_ingest_consumer_lag_messages") === 0 && written === previous
        previous = written
        if (done) break
      }

      const problems = missingIn(text, [...usedFamilies()].filter((f) => !isServeMetric(f)))
      assert.deepStrictEqual(problems, [], text)

      const { series, types } = parseExposition(text)
      assert.strictEqual(types.get("k2_ingest_commit_duration_seconds"), "histogram")
      assert.strictEqual(types.get("k2_ingest_records_written_total"), "counter")
      assert.strictEqual(types.get("k2_ingest_consumer_lag_messages"), "gauge")
      // Bounded labels: partitions of our topics, the four tables, known kinds.
      const lag = series.filter((x) => x.name === "k2_ingest_consumer_lag_messages")
      assert.strictEqual(lag.length, 2 * s.partitions)
      for (const x of lag) {
        assert.include(x.labels.topic, `.${exchange.toLowerCase()}`)
        assert.match(x.labels.partition!, /^\d+$/)
      }
      for (const x of series.filter((x) => x.name === "k2_ingest_records_written_total")) {
        assert.include(["trades", "quotes", "instruments", "sequence_events"], x.labels.table)
      }
      for (const x of series.filter((x) => x.name === "k2_sequence_events_total")) {
        assert.include(["GAP", "GAP_FILLED", "DUPLICATE", "OUT_OF_ORDER", "RESET"], x.labels.kind)
      }

      // The counters agree with the tables and the publisher.
      const tables = yield* checkTables(s)
      // Counters agreeing with tables that lost or doubled rows would prove nothing.
      assertExactlyOnce(tables, r, "metrics")
      assert.strictEqual(sum(series, "k2_ingest_records_written_total", { table: "trades" }), tables.trades.rows)
      assert.strictEqual(sum(series, "k2_ingest_records_written_total", { table: "quotes" }), tables.quotes.rows)
      assert.strictEqual(sum(series, "k2_ingest_dead_letters_total"), r.totals.poison)
      assert.strictEqual(
        sum(series, "k2_sequence_events_total"),
        sum(series, "k2_ingest_records_written_total", { table: "sequence_events" })
      )
      for (const table of ["trades", "quotes"]) {
        assert.isAbove(sum(series, "k2_ingest_bytes_written_total", { table }), 0)
        assert.isAtLeast(sum(series, "k2_ingest_files_written_total", { table }), 1)
        const commits = sum(series, "k2_ingest_commits_total", { table })
        assert.isAtLeast(commits, 1)
        assert.strictEqual(sum(series, "k2_ingest_commit_duration_seconds_count", { table }), commits)
      }
      assert.isAbove(sum(series, "k2_sequence_tracker_streams"), 0)
      assert.isAbove(sum(series, "k2_ingest_freshness_seconds"), 0)
      assert.strictEqual(sum(series, "k2_ingest_assigned_partitions"), 2 * s.partitions)
      assert.isAbove(sum(series, "k2_process_resident_memory_bytes"), 1e6)

      const code = yield* stop(ingest)
      assert.strictEqual(code, 0, ingest.output())
    }), 400_000)
})

layer(served(testOptions()), { timeout: 180_000, excludeTestServices: true })("serve /metrics", (it) => {
  it.effect("the HTTP metrics the serve alerts and panels use are exposed with their labels", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      yield* get(`${base}/health`)
      yield* get(`${base}/v1/trades`)
      yield* get(`${base}/metrics`)
      const text = yield* Effect.promise(() => fetch(`${base}/metrics`).then((r) => r.text()))
      const problems = missingIn(text, [...usedFamilies()].filter(isServeMetric))
      assert.deepStrictEqual(problems, [], text)
    }))
})
