/**
 * A real Prometheus (Debian's `prometheus` package) scraping live `ingest` and `serve`
 * processes with the repo's config (ops/prometheus/prometheus.yml, only the targets pointed at
 * this test's ports and the intervals shortened) and its alert rules: both targets up, every
 * rule loaded and evaluated without error, every metric the alert rules and the Grafana
 * dashboard use queryable, and every dashboard query valid PromQL that returns data.
 * Without the binary the test fails with the line that installs it.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import { createTopics, publish, type Scenario, spawnIngest, stop, uniqueExchange, waitForRows } from "../support/ingestHarness.ts"
import { ensureBroker } from "../support/kafka.ts"
import { freePort, spawnServe, waitForHttp } from "../support/programs.ts"
import { tempDir } from "../support/tempDir.ts"
import { warehouseOptions } from "../support/warehouse.ts"
import { dashboardExpressions, prometheusFile, rulesFile, usedFamilies } from "../layers/telemetry/opsMetrics.ts"

const INSTALL = "apt-get install -y prometheus   # Debian's package: prometheus and promtool"

const prometheusBinary = () => {
  const which = spawnSync("sh", ["-c", "command -v prometheus"], { encoding: "utf8" })
  if (which.status !== 0) throw new Error(`prometheus is not installed; this test runs it. Install it with:\n  ${INSTALL}`)
  return which.stdout.trim()
}

/** The repo's scrape config with targets at this test's ports, 1 s intervals, the rules file by absolute path. */
const derivedConfig = (ingestPort: number, servePort: number) => {
  let text = fs.readFileSync(prometheusFile, "utf8")
  const replacements: Array<[string, string]> = [
    ["host.docker.internal:9464", `127.0.0.1:${ingestPort}`],
    ["host.docker.internal:8080", `127.0.0.1:${servePort}`],
    ["scrape_interval: 15s", "scrape_interval: 1s"],
    ["evaluation_interval: 15s", "evaluation_interval: 1s"],
    ["- k2.rules.yml", `- ${rulesFile}`]
  ]
  for (const [from, to] of replacements) {
    assert.include(text, from, `ops/prometheus/prometheus.yml no longer has "${from}": update this test`)
    text = text.replace(from, to)
  }
  return text
}

interface ApiAnswer<A> {
  readonly status: string
  readonly data: A
  readonly error?: string
}

const api = <A>(base: string, route: string) =>
  Effect.promise(() => fetch(`${base}${route}`).then((r) => r.json() as Promise<ApiAnswer<A>>))

const query = (base: string, expr: string) =>
  api<{ resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(
    base,
    `/api/v1/query?query=${encodeURIComponent(expr)}`
  )

/** Polls `check` (an error message, or undefined when satisfied) until it passes or the time is up. */
const eventually = (what: string, check: Effect.Effect<string | undefined>, timeoutMs = 60_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const problem = yield* check
      if (problem === undefined) return
      if (Date.now() > deadline) assert.fail(`${what}: ${problem}`)
      yield* Effect.sleep("1 second")
    }
  })

/** A dashboard query as Grafana would send it: all instances, a rate window of several scrapes. */
const asGrafana = (expr: string) => expr.replaceAll("$instance", ".*").replaceAll("$__rate_interval", "10s")

beforeAll(() => ensureBroker(), 600_000)

describe("Prometheus scraping ingest and serve", () => {
  it.live("targets up, rules loaded and healthy, every dashboard and alert metric queryable", () =>
    Effect.gen(function*() {
      const prometheus = prometheusBinary()
      const exchange = uniqueExchange()
      const s: Scenario = { exchange, group: `k2-prom-${exchange.toLowerCase()}`, partitions: 2, options: warehouseOptions("sqlite") }
      yield* createTopics(s)
      const r = yield* publish(s, { eventsPerSymbolPerDay: 300, faults: { poison: 0.01 } })

      const ingestPort = yield* Effect.promise(freePort)
      const ingest = spawnIngest(s, ["--metrics-port", String(ingestPort), "--metrics-host", "127.0.0.1"])
      yield* Effect.addFinalizer(() => stop(ingest).pipe(Effect.ignore))
      yield* waitForRows(s, r.totals.trades + r.totals.quotes, 120_000)

      const servePort = yield* Effect.promise(freePort)
      const serve = spawnServe(s.options, servePort)
      yield* Effect.addFinalizer(() => stop(serve).pipe(Effect.ignore))
      yield* Effect.promise(() => waitForHttp(`http://127.0.0.1:${servePort}/ready`, serve))
      // Traffic for the HTTP series: reads, a route that does not exist, health checks.
      const serveBase = `http://127.0.0.1:${servePort}`
      const traffic = yield* Effect.forkChild(
        Effect.promise(() =>
          Promise.all(["/v1/symbols", "/v1/stats/trades", "/v1/nothing-here", "/health"].map((p) => fetch(`${serveBase}${p}`).then((x) => x.text())))
        ).pipe(Effect.repeat(Schedule.spaced("300 millis")))
      )

      const dir = yield* tempDir("k2-prometheus-")
      const config = path.join(dir, "prometheus.yml")
      fs.writeFileSync(config, derivedConfig(ingestPort, servePort))
      const promPort = yield* Effect.promise(freePort)
      const prom = spawn(prometheus, [
        `--config.file=${config}`,
        `--storage.tsdb.path=${path.join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        "--log.level=warn"
      ], { stdio: ["ignore", "pipe", "pipe"] })
      let promOutput = ""
      prom.stdout.on("data", (d) => (promOutput = (promOutput + d).slice(-20_000)))
      prom.stderr.on("data", (d) => (promOutput = (promOutput + d).slice(-20_000)))
      const promExited = new Promise<number | null>((resolve) => prom.on("exit", (code) => resolve(code)))
      yield* Effect.addFinalizer(() =>
        Effect.promise(async () => {
          if (prom.exitCode === null) prom.kill("SIGTERM")
          await promExited
        })
      )
      const base = `http://127.0.0.1:${promPort}`
      yield* Effect.promise(() => waitForHttp(`${base}/-/ready`, { child: prom, output: () => promOutput, exited: promExited }))

      // Both programs scraped with the repo's job names (the alert rules select on them).
      yield* eventually("targets", Effect.gen(function*() {
        const t = yield* api<{ activeTargets: Array<{ labels: Record<string, string>; health: string; lastError: string }> }>(base, "/api/v1/targets")
        const health = Object.fromEntries(t.data.activeTargets.map((x) => [x.labels.job, `${x.health} ${x.lastError}`.trim()]))
        return health["k2-ingest"] === "up" && health["k2-serve"] === "up" ? undefined : JSON.stringify(health)
      }))
      for (const job of ["k2-ingest", "k2-serve"]) {
        const up = yield* query(base, `up{job="${job}"}`)
        assert.deepStrictEqual(up.data.result.map((x) => x.value[1]), ["1"], job)
      }

      // Each program's exposition as promtool lints it (a `quantile` label on a gauge, a counter without `_total` ...).
      for (const [job, port] of [["k2-ingest", ingestPort], ["k2-serve", servePort]] as const) {
        const text = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((x) => x.text()))
        const lint = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" })
        assert.strictEqual(lint.status, 0, `${job}: promtool check metrics\n${lint.stdout}${lint.stderr}`)
      }

      // Every family the rules and the dashboard use, as Prometheus stored it.
      yield* eventually("metric families", Effect.gen(function*() {
        const missing: Array<string> = []
        for (const family of usedFamilies()) {
          const series = yield* query(base, `{__name__=~"${family}(_bucket|_sum|_count)?"}`)
          if (series.status !== "success" || series.data.result.length === 0) missing.push(family)
        }
        return missing.length === 0 ? undefined : `not in Prometheus: ${missing.join(", ")}`
      }))

      // Every dashboard query is valid PromQL and returns series (the 5xx ratio too: 0 without a 5xx).
      yield* eventually("dashboard queries", Effect.gen(function*() {
        const problems: Array<string> = []
        for (const expr of dashboardExpressions()) {
          const answer = yield* query(base, asGrafana(expr))
          if (answer.status !== "success") problems.push(`${expr}: ${answer.error}`)
          else if (answer.data.result.length === 0) problems.push(`${expr}: no series`)
        }
        return problems.length === 0 ? undefined : problems.join("\n")
      }))

      // The alert rules: all loaded from the repo's file, evaluated without error; ingest is up, so K2IngestDown is quiet.
      const alerts = [...fs.readFileSync(rulesFile, "utf8").matchAll(/- alert: (\w+)/g)].map((m) => m[1]!)
      assert.isAtLeast(alerts.length, 8)
      yield* eventually("rules", Effect.gen(function*() {
        const rules = yield* api<{ groups: Array<{ file: string; rules: Array<{ name: string; health: string; state: string; lastError?: string }> }> }>(base, "/api/v1/rules")
        const loaded = rules.data.groups.flatMap((g) => g.rules.map((x) => ({ ...x, file: g.file })))
        const problems: Array<string> = []
        for (const alert of alerts) {
          const rule = loaded.find((x) => x.name === alert)
          if (rule === undefined) problems.push(`${alert}: not loaded`)
          else if (rule.file !== rulesFile) problems.push(`${alert}: from ${rule.file}`)
          else if (rule.health !== "ok") problems.push(`${alert}: ${rule.health} ${rule.lastError ?? ""}`)
        }
        const down = loaded.find((x) => x.name === "K2IngestDown")
        if (down !== undefined && down.state !== "inactive") problems.push(`K2IngestDown is ${down.state}`)
        return problems.length === 0 ? undefined : problems.join("; ")
      }))
      assert.isNull(prom.exitCode, promOutput)

      yield* Fiber.interrupt(traffic)
      assert.strictEqual(yield* stop(serve), 0, serve.output())
      assert.strictEqual(yield* stop(ingest), 0, ingest.output())
    }), 400_000)
})
