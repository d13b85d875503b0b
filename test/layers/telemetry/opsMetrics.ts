/**
 * The metrics the ops files (Prometheus alert rules, Grafana dashboard) use, and the labels
 * each must carry; shared by the ops test and the scrape tests (test/integration/metrics-*.test.ts).
 */
import * as fs from "node:fs"
import * as path from "node:path"

export const repo = path.resolve(import.meta.dirname, "../../..")
export const rulesFile = path.join(repo, "ops/prometheus/k2.rules.yml")
export const rulesTestFile = path.join(repo, "ops/prometheus/k2.rules.test.yml")
export const prometheusFile = path.join(repo, "ops/prometheus/prometheus.yml")
export const dashboardFile = path.join(repo, "ops/grafana/dashboards/k2.json")

/** Labels each metric family must carry (beyond the instance/job Prometheus adds). */
export const expectedLabels: Readonly<Record<string, ReadonlyArray<string>>> = {
  k2_ingest_messages_consumed_total: [],
  k2_ingest_records_written_total: ["table"],
  k2_ingest_bytes_written_total: ["table"],
  k2_ingest_files_written_total: ["table"],
  k2_ingest_commits_total: ["table"],
  k2_ingest_commit_duration_seconds: ["table"],
  k2_ingest_commit_conflicts_total: [],
  k2_ingest_table_snapshots: ["table"],
  k2_ingest_dead_letters_total: ["reason"],
  k2_ingest_consumer_lag_messages: ["topic", "partition"],
  k2_ingest_freshness_seconds: [],
  k2_ingest_lag_age_seconds: [],
  k2_ingest_offsets_lost_total: ["topic", "partition"],
  k2_ingest_partition_restarts_total: [],
  k2_ingest_run_retries_total: [],
  k2_ingest_assigned_partitions: [],
  k2_ingest_backpressure_seconds_total: [],
  k2_sequence_events_total: ["kind"],
  k2_sequence_tracker_streams: [],
  k2_sequence_tracker_evictions_total: [],
  k2_sequence_gaps_given_up_total: ["reason"],
  k2_sequence_checkpoint_ignored_total: ["reason"],
  k2_duckdb_connections: [],
  k2_duckdb_connections_in_use: [],
  k2_duckdb_connection_waiters: [],
  k2_process_resident_memory_bytes: [],
  k2_process_heap_used_bytes: [],
  k2_process_heap_total_bytes: [],
  k2_process_external_memory_bytes: [],
  k2_process_cpu_seconds_total: [],
  k2_process_start_time_seconds: [],
  k2_process_event_loop_delay_p50_seconds: [],
  k2_process_event_loop_delay_p99_seconds: [],
  k2_process_event_loop_delay_max_seconds: [],
  k2_process_gc_duration_seconds: ["kind"],
  k2_http_requests_total: ["route", "method", "status"],
  k2_http_request_duration_seconds: ["route"],
  k2_http_streams_open: []
}

/** Metric families served by `serve` (the rest by `ingest`). */
export const isServeMetric = (family: string) => family.startsWith("k2_http_")

/** A series name in an expression, reduced to its family (histogram suffixes dropped). */
const familyOf = (name: string) => name.replace(/_(bucket|sum|count)$/, "")

const namesIn = (expr: string) => [...expr.matchAll(/\b(k2_[a-z0-9_]+|up)\b/g)].map((m) => m[1]!).filter((n) => n !== "up")

/** The `expr:` values of the alert rules (block scalars included). */
export const ruleExpressions = (): Array<string> => {
  const lines = fs.readFileSync(rulesFile, "utf8").split("\n")
  const out: Array<string> = []
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)expr:\s*(.*)$/.exec(lines[i]!)
    if (m === null) continue
    if (m[2] !== "|" && m[2] !== ">") {
      out.push(m[2]!)
      continue
    }
    const indent = m[1]!.length
    const body: Array<string> = []
    while (i + 1 < lines.length && (lines[i + 1]!.trim() === "" || /^\s*/.exec(lines[i + 1]!)![0].length > indent)) {
      body.push(lines[++i]!)
    }
    out.push(body.join("\n"))
  }
  return out
}

/**
 * The `alert_rule_test` cases of the promtool test file: each `- eval_time:` entry's alert and
 * whether it expects the alert firing (a non-empty `exp_alerts`) or quiet (`exp_alerts: []`, or
 * none, as promtool reads it).
 */
export const alertRuleCases = (): Array<{ readonly alertname: string; readonly fires: boolean }> =>
  fs.readFileSync(rulesTestFile, "utf8").split(/^\s*- eval_time:/m).slice(1).map((text) => {
    const entry = text.split(/^\s*- interval:/m)[0]!
    const alertname = /^\s*alertname:\s*(\w+)\s*$/m.exec(entry)?.[1]
    if (alertname === undefined) throw new Error(`an alert_rule_test case without alertname:${entry}`)
    const expected = /^\s*exp_alerts:\s*(.*)$/m.exec(entry)?.[1]?.trim()
    return { alertname, fires: expected !== undefined && expected !== "[]" }
  })

export interface Panel {
  readonly id: number
  readonly type: string
  readonly title: string
  readonly targets?: ReadonlyArray<{ readonly expr: string }>
}

export const dashboardPanels = (): Array<Panel> =>
  (JSON.parse(fs.readFileSync(dashboardFile, "utf8")) as { panels: Array<Panel> }).panels

export const dashboardExpressions = () => dashboardPanels().flatMap((p) => (p.targets ?? []).map((t) => t.expr))

/** Every metric family the alert rules and the dashboard use. */
export const usedFamilies = (): Set<string> =>
  new Set([...ruleExpressions(), ...dashboardExpressions()].flatMap(namesIn).map(familyOf))

export interface Series {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: string
}

/** Parses Prometheus text exposition: TYPE lines and samples. */
export const parseExposition = (text: string) => {
  const types = new Map<string, string>()
  const series: Array<Series> = []
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ")
      types.set(name!, type!)
      continue
    }
    if (line === "" || line.startsWith("#")) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
    series.push({ name: m[1]!, labels, value: m[3]! })
  }
  return { types, series }
}

/** Problems with the families `families` in a scrape: missing, or missing an expected label. */
export const missingIn = (text: string, families: Iterable<string>): Array<string> => {
  const { types, series } = parseExposition(text)
  const problems: Array<string> = []
  for (const family of families) {
    const type = types.get(family)
    if (type === undefined) {
      problems.push(`${family}: not exposed`)
      continue
    }
    const samples = series.filter((s) => s.name === family || (type === "histogram" && familyOf(s.name) === family))
    if (samples.length === 0) problems.push(`${family}: no sample`)
    for (const label of expectedLabels[family] ?? []) {
      if (!samples.some((s) => s.labels[label] !== undefined && s.labels[label] !== "")) {
        problems.push(`${family}: no sample with label ${label}`)
      }
    }
  }
  return problems
}
