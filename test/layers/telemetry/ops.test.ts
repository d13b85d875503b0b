/**
 * The ops files: Prometheus alert rules and scrape config valid and unit-tested by promtool,
 * and the Grafana dashboard well formed, every panel's metric one K2 defines, and every metric K2
 * defines on a panel or in a rule; docs/operations.md naming every alert and metric. Nothing is
 * skipped: without promtool the test fails with the line that installs it.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { durationOf } from "../../../src/layers/http/requestMetrics.ts"
import * as Metrics from "../../../src/layers/telemetry/metrics.ts"
import * as ProcessMetrics from "../../../src/layers/telemetry/process.ts"
import {
  alertRuleCases,
  dashboardExpressions,
  dashboardFile,
  dashboardPanels,
  expectedLabels,
  parseExposition,
  prometheusFile,
  repo,
  ruleExpressions,
  rulesFile,
  rulesTestFile,
  usedFamilies
} from "./opsMetrics.ts"

const INSTALL = "apt-get install -y prometheus   # provides promtool"

const promtool = (...args: Array<string>) => {
  const which = spawnSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" })
  if (which.status !== 0) {
    throw new Error(`promtool is not installed; it validates ops/prometheus. Install it with:\n  ${INSTALL}`)
  }
  const r = spawnSync("promtool", args, { encoding: "utf8", cwd: path.dirname(rulesFile) })
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` }
}

/** The TypeScript sources under a directory. */
const sourcesUnder = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourcesUnder(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []
  )

/**
 * Metric names K2 defines: the telemetry modules' exports, and every `Metric.<kind>("k2_...")`
 * in src (module-private ones: the HTTP server's, the stream slots').
 */
const definedFamilies = () => {
  const names = new Set<string>()
  for (const m of [...Object.values(Metrics), ...Object.values(ProcessMetrics)]) {
    const id = (m as { readonly id?: unknown }).id
    if (typeof id === "string") names.add(id)
  }
  for (const file of sourcesUnder(path.join(repo, "src"))) {
    const text = fs.readFileSync(file, "utf8")
    for (const m of text.matchAll(/Metric\.(?:counter|histogram|gauge|summary|frequency|timer)\(\s*"([a-z0-9_]+)"/g)) {
      names.add(m[1]!)
    }
  }
  return names
}

/**
 * Metrics K2 defines that are on no panel and in no rule, each with its reason. Empty: every
 * metric K2 exports is worth watching; one added here must say why an operator never needs it.
 */
const unwatched: Readonly<Record<string, string>> = {}

describe("ops/prometheus", () => {
  it("alert rules pass promtool check rules", () => {
    const r = promtool("check", "rules", rulesFile)
    assert.isTrue(r.ok, r.output)
  })

  it("the scrape config passes promtool check config", () => {
    const r = promtool("check", "config", prometheusFile)
    assert.isTrue(r.ok, r.output)
  })

  it("every alert fires on its synthetic history (promtool test rules)", () => {
    const r = promtool("test", "rules", rulesTestFile)
    assert.isTrue(r.ok, r.output)
    const tested = new Set([...fs.readFileSync(rulesTestFile, "utf8").matchAll(/alertname: (\w+)/g)].map((m) => m[1]))
    const alerts = [...fs.readFileSync(rulesFile, "utf8").matchAll(/- alert: (\w+)/g)].map((m) => m[1])
    for (const want of [
      "K2IngestionStalled", "K2ConsumerLagHigh", "K2FreshnessTooOld", "K2DeadLetterRate", "K2CommitConflictsSpike",
      "K2IngestDown", "K2Serve5xxRatio", "K2ServeDown", "K2ServeLatencyP99High", "K2ServeDuckDbPoolSaturated", "K2PartitionRestarts",
      "K2SnapshotsPilingUp", "K2RestartLoop", "K2SequenceGapsDropped",
      "K2SequenceCheckpointIgnored"
    ]) assert.include(alerts, want)
    for (const alert of alerts) assert.isTrue(tested.has(alert), `${alert} has a promtool unit test`)
  })

  it("every alert has a promtool case where it fires and one where it stays quiet (exp_alerts: [])", () => {
    const cases = alertRuleCases()
    // The cases are parsed out of the test file: finding none would check nothing.
    assert.isAtLeast(cases.length, 20)
    const alerts = [...fs.readFileSync(rulesFile, "utf8").matchAll(/- alert: (\w+)/g)].map((m) => m[1]!)
    const missing = alerts.flatMap((alert) => [
      ...(cases.some((c) => c.alertname === alert && c.fires) ? [] : [`${alert}: no case where it fires`]),
      ...(cases.some((c) => c.alertname === alert && !c.fires) ? [] : [`${alert}: no case where it stays quiet`])
    ])
    assert.deepStrictEqual(missing, [])
  })

  it("rules use only metrics K2 defines, each with known labels", () => {
    const defined = definedFamilies()
    assert.isAtLeast(ruleExpressions().length, 8)
    const used = usedFamilies()
    // The names are parsed out of the expressions: finding none would check nothing.
    assert.isAtLeast(used.size, 10, [...used].join(", "))
    for (const family of used) {
      assert.isTrue(defined.has(family), `${family} is defined in src`)
      assert.isDefined(expectedLabels[family], `${family} has expected labels in opsMetrics.ts`)
    }
  })

  it.effect("a quantile an alert compares is compared at one of its histogram's bucket boundaries", () =>
    Effect.gen(function*() {
      // Between two boundaries Prometheus interpolates: with buckets at 1 and 2.5 s, reads that all took
      // 1.2 s had a p99 of 2.49 s, over the 2 s of K2ServeLatencyP99High, and 1.5 % of reads at 2.4 s none.
      const thresholds = ruleExpressions().flatMap((expr) =>
        [...expr.matchAll(/histogram_quantile\([^,]+,[\s\S]*?\b(k2_[a-z0-9_]+)_bucket\b[\s\S]*?\)\s*>\s*([0-9.]+)/g)]
          .map((m) => ({ family: m[1]!, threshold: Number(m[2]!) }))
      )
      assert.isAtLeast(thresholds.length, 1)
      // A series of the histogram, so that its buckets are rendered.
      yield* Metric.update(durationOf("/health"), 0)
      const { series } = parseExposition(yield* PrometheusMetrics.format())
      for (const { family, threshold } of thresholds) {
        const bounds = series.filter((x) => x.name === `${family}_bucket`).map((x) => Number(x.labels.le))
        assert.isAbove(bounds.length, 0, `${family} is rendered`)
        assert.include(bounds, threshold, `${family} has a bucket boundary at ${threshold}`)
      }
    }))
})

/**
 * Labels an expression selects on (`name{label=...}`) or groups by (`by (label, ...)`) that none of
 * the metrics it names carries: such a matcher selects nothing, such a grouping merges everything.
 * The labels Prometheus adds (instance, job, and le on a histogram's buckets) are always there.
 */
const unknownLabels = (expr: string): Array<string> => {
  const text = expr.replace(/"(?:[^"\\]|\\.)*"/g, "\"\"")
  const families = [...text.matchAll(/\b(k2_[a-z0-9_]+|up)\b/g)].map((m) => m[1]!)
  const carried = (family: string) => family === "up" ? [] : expectedLabels[family.replace(/_(bucket|sum|count)$/, "")] ?? []
  const problems: Array<string> = []
  for (const m of text.matchAll(/\b(k2_[a-z0-9_]+|up)\s*\{([^}]*)\}/g)) {
    for (const l of m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
      const label = l[1]!
      const ok = label === "instance" || label === "job" || (label === "le" && m[1]!.endsWith("_bucket")) ||
        carried(m[1]!).includes(label)
      if (!ok) problems.push(`${m[1]}{${label}}`)
    }
  }
  for (const m of text.matchAll(/\bby\s*\(([^)]*)\)/g)) {
    for (const label of m[1]!.split(",").map((x) => x.trim()).filter((x) => x !== "")) {
      const ok = label === "instance" || label === "job" || (label === "le" && families.some((f) => f.endsWith("_bucket"))) ||
        families.some((f) => carried(f).includes(label))
      if (!ok) problems.push(`by (${label}) over ${families.join(", ")}`)
    }
  }
  return problems
}

describe("ops label use", () => {
  it("unknownLabels finds a label no metric of the expression carries", () => {
    assert.deepStrictEqual(unknownLabels(`sum by (symbol) (rate(k2_ingest_dead_letters_total{reason="x",topic="y"}[5m]))`), [
      "k2_ingest_dead_letters_total{topic}",
      "by (symbol) over k2_ingest_dead_letters_total"
    ])
    assert.deepStrictEqual(unknownLabels(`histogram_quantile(0.9, sum by (le, route) (rate(k2_http_request_duration_seconds_bucket{route!~"a|b",job="k2-serve"}[5m])))`), [])
  })

  it("every label the rules and the dashboard select or group by is one their metrics carry", () => {
    const exprs = [...ruleExpressions(), ...dashboardExpressions()]
    assert.isAtLeast(exprs.length, 40)
    const problems = exprs.flatMap((e) => unknownLabels(e.replaceAll("$__rate_interval", "5m")).map((p) => `${p}: ${e}`))
    assert.deepStrictEqual(problems, [])
  })
})

describe("ops/grafana", () => {
  it("the dashboard is valid JSON, every panel queries a metric K2 defines", () => {
    const dashboard = JSON.parse(fs.readFileSync(dashboardFile, "utf8")) as { uid: string; title: string }
    assert.strictEqual(dashboard.uid, "k2-overview")
    const defined = definedFamilies()
    const panels = dashboardPanels().filter((p) => p.type !== "row")
    assert.isAtLeast(panels.length, 15)
    const ids = new Set<number>()
    for (const p of dashboardPanels()) {
      assert.isFalse(ids.has(p.id), `panel id ${p.id} is unique`)
      ids.add(p.id)
    }
    for (const panel of panels) {
      assert.isAtLeast(panel.targets?.length ?? 0, 1, `${panel.title} has a query`)
      for (const t of panel.targets ?? []) {
        const names = [...t.expr.matchAll(/\bk2_[a-z0-9_]+\b/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ""))
        assert.isAtLeast(names.length, 1, `${panel.title}: ${t.expr} names a K2 metric`)
        for (const n of names) assert.isTrue(defined.has(n), `${panel.title}: ${n} is defined in src`)
      }
    }
  })

  it("the 5xx ratio panel reads 0, not \"No data\", while every request succeeds (promtool)", () => {
    const panel = dashboardPanels().find((p) => p.title === "5xx ratio")
    assert.isDefined(panel)
    const expr = panel!.targets![0]!.expr.replaceAll("$instance", ".*").replaceAll("$__rate_interval", "5m")
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-ops-"))
    try {
      const file = path.join(dir, "panel.test.yml")
      fs.writeFileSync(file, [
        "evaluation_interval: 1m",
        "tests:",
        "  - interval: 1m",
        "    input_series:",
        `      - series: 'k2_http_requests_total{instance="s:8080",job="k2-serve",route="/v1/trades",method="GET",status="200"}'`,
        "        values: '0+600x10'",
        "    promql_expr_test:",
        `      - expr: ${JSON.stringify(expr)}`,
        "        eval_time: 10m",
        "        exp_samples:",
        "          - labels: '{}'",
        "            value: 0",
        ""
      ].join("\n"))
      const r = promtool("test", "rules", file)
      assert.isTrue(r.ok, r.output)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("every metric K2 defines is on a panel or in an alert rule (or listed as unwatched, with why)", () => {
    const defined = definedFamilies()
    // The source scan finds the module-private metrics too: finding none would check nothing.
    for (const family of ["k2_http_requests_total", "k2_http_streams_open", "k2_duckdb_connection_waiters"]) {
      assert.isTrue(defined.has(family), `${family} is found among the metrics K2 defines`)
    }
    const used = usedFamilies()
    const unseen = [...defined].filter((f) => !used.has(f) && unwatched[f] === undefined).sort()
    assert.deepStrictEqual(unseen, [], `metrics on no Grafana panel and in no alert rule: ${unseen.join(", ")}`)
    for (const family of Object.keys(unwatched)) {
      assert.isTrue(defined.has(family), `${family} (unwatched) is still defined`)
      assert.isFalse(used.has(family), `${family} (unwatched) is used: take it off the list`)
    }
  })

  it("provisioning points Grafana at the dashboards directory", () => {
    const provider = fs.readFileSync(path.join(repo, "ops/grafana/provisioning/dashboards/k2.yml"), "utf8")
    assert.match(provider, /path: \/var\/lib\/grafana\/dashboards/)
    const compose = fs.readFileSync(path.join(repo, "docker-compose.yml"), "utf8")
    assert.include(compose, "./ops/grafana/dashboards:/var/lib/grafana/dashboards")
    assert.include(compose, "./ops/prometheus/k2.rules.yml:/etc/prometheus/k2.rules.yml")
  })
})

describe("docs/operations.md", () => {
  const docs = () => fs.readFileSync(path.join(repo, "docs/operations.md"), "utf8")

  it("its alert table lists every alert rule, and no alert the rules lack", () => {
    const rules = [...fs.readFileSync(rulesFile, "utf8").matchAll(/^\s*- alert:\s*(\w+)\s*$/gm)].map((m) => m[1]!).sort()
    const documented = [...docs().matchAll(/^\| `(K2\w+)` \|/gm)].map((m) => m[1]!).sort()
    assert.isAbove(rules.length, 0)
    assert.deepStrictEqual(documented, rules)
  })

  it("names every metric K2 defines", () => {
    const text = docs()
    const undocumented = [...definedFamilies()].filter((f) => !new RegExp(`\`${f}(?:\\{[^\`]*)?\``).test(text)).sort()
    assert.deepStrictEqual(undocumented, [], `metrics docs/operations.md does not name: ${undocumented.join(", ")}`)
  })
})
