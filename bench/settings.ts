/**
 * The benchmarks' environment variables, declared once: `npm run bench -- --help` lists them,
 * `checkBenchSettings` refuses a bad one before any section runs (a run measured NaN events, or
 * failed an hour in), and a section reads one only through `benchCount` / `benchCounts` / `benchText`.
 */
interface Setting {
  readonly kind: "count" | "counts" | "text"
  readonly sections: string
  readonly fallback: string
  readonly about: string
}

const benchSettings = {
  K2_BENCH_FEED_EVENTS: { kind: "count", sections: "feeds", fallback: "1000000", about: "events generated and parsed" },
  K2_BENCH_TRADES: { kind: "count", sections: "query, http", fallback: "50000000", about: "rows of the bench table (built once under .k2/bench)" },
  K2_BENCH_RUNS: { kind: "count", sections: "query", fallback: "11", about: "least runs per query" },
  K2_BENCH_PACED_SECONDS: { kind: "count", sections: "query", fallback: "60", about: "length of the paced replay run (0 skips it)" },
  K2_BENCH_HTTP_SECONDS: { kind: "count", sections: "http", fallback: "10", about: "seconds per wrk run" },
  K2_BENCH_HTTP_CONNECTIONS: { kind: "counts", sections: "http", fallback: "8,16,32", about: "connections of the curve (the other runs use the middle one)" },
  K2_BENCH_KAFKA_BROKER: { kind: "text", sections: "kafka, produce", fallback: "", about: "a running broker to use (default: scripts/kafka.sh starts the local one; ingest and observability take K2_TEST_KAFKA_BROKERS instead)" },
  K2_BENCH_KAFKA_MESSAGES: { kind: "count", sections: "kafka", fallback: "500000", about: "messages produced and consumed per client" },
  K2_BENCH_PRODUCE_EVENTS: { kind: "count", sections: "produce", fallback: "1000000", about: "events published per client and feed" },
  K2_BENCH_INGEST_EVENTS: { kind: "count", sections: "ingest", fallback: "500000", about: "events pre-filled into the topics" },
  K2_BENCH_INGEST_PARTITIONS: { kind: "count", sections: "ingest", fallback: "12", about: "partitions of each of the two topics (past 12, with 4 symbols a partition)" },
  K2_BENCH_INGEST_CLIENTS: { kind: "text", sections: "ingest", fallback: "platformatic,kafkajs", about: "client layers measured" },
  K2_BENCH_INGEST_FRESHNESS: { kind: "text", sections: "ingest", fallback: "1", about: "0 skips the freshness runs" },
  K2_BENCH_COMMIT_FLUSHES: { kind: "count", sections: "commit", fallback: "100", about: "flushes timed, fresh and aged" },
  K2_BENCH_COMMIT_EVENTS_PER_SEC: { kind: "count", sections: "commit", fallback: "20000", about: "events a second the flushes carry (half trades, half quotes)" },
  K2_BENCH_COMMIT_INTERVAL_MS: { kind: "count", sections: "commit", fallback: "300", about: "commit interval" },
  K2_BENCH_COMMIT_SERIAL: { kind: "text", sections: "commit", fallback: "0", about: "1 commits the tables one after the other (each step's CPU its own), not side by side" },
  K2_BENCH_COMMIT_PROFILE: { kind: "text", sections: "commit", fallback: "", about: "a directory for a CPU profile of the flushes" },
  K2_BENCH_INGEST_FRESHNESS_RUNS: { kind: "count", sections: "ingest", fallback: "3", about: "freshness runs at the 300 ms interval (their median p99 is reported)" },
  K2_BENCH_INGEST_NODE_FLAGS: { kind: "text", sections: "ingest", fallback: "", about: "node flags added to the ingest child (e.g. --cpu-prof)" },
  K2_BENCH_INGEST_CHILD_LOG: { kind: "text", sections: "ingest", fallback: "", about: "a file the ingest child's output is appended to" },
  K2_BENCH_MAINT_COMMITS: { kind: "count", sections: "maintenance", fallback: "23400", about: "commits made" },
  K2_BENCH_MAINT_ROWS: { kind: "count", sections: "maintenance", fallback: "10", about: "rows per commit" },
  K2_BENCH_FIRST_EXPIRY: { kind: "count", sections: "maintenance", fallback: "2000", about: "commits before the first expiry" },
  K2_BENCH_EXPIRE_EVERY: { kind: "count", sections: "maintenance", fallback: "1000", about: "commits between expiries" },
  K2_BENCH_OBS_EVENTS: { kind: "count", sections: "observability", fallback: "500000", about: "events per run" },
  K2_BENCH_OBS_ROUNDS: { kind: "count", sections: "observability", fallback: "3", about: "rounds with and without telemetry" }
} satisfies Record<string, Setting>

export type BenchSetting = keyof typeof benchSettings

/** The variable's value, or its default when unset or empty. */
export const benchText = (name: BenchSetting): string => {
  const value = process.env[name]
  return value === undefined || value === "" ? benchSettings[name].fallback : value
}

/** A variable whose value its kind does not allow. */
export class BenchSettingError extends Error {}

const refuse = (name: BenchSetting, expected: string) =>
  new BenchSettingError(`${name}=${JSON.stringify(benchText(name))}: expected ${expected} (default ${benchSettings[name].fallback})`)

/** The variable as a whole number ≥ 0. */
export const benchCount = (name: BenchSetting): number => {
  const text = benchText(name)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw refuse(name, "a whole number ≥ 0")
  return Number(text)
}

/** The variable as a comma-separated list of whole numbers ≥ 1. */
export const benchCounts = (name: BenchSetting): ReadonlyArray<number> => {
  const items = benchText(name).split(",").map((s) => s.trim())
  if (items.some((s) => !/^[1-9]\d{0,8}$/.test(s))) throw refuse(name, "whole numbers ≥ 1 separated by commas")
  return items.map(Number)
}

/** Reads every variable set, throwing `BenchSettingError` at the first its kind does not allow. */
export const checkBenchSettings = (): void => {
  for (const [name, setting] of Object.entries(benchSettings) as Array<[BenchSetting, Setting]>) {
    if (setting.kind === "count") benchCount(name)
    if (setting.kind === "counts") benchCounts(name)
  }
}

/** The help text's list of variables, one a line. */
export const benchSettingsHelp = (): string => {
  const width = Math.max(...Object.keys(benchSettings).map((k) => k.length))
  return Object.entries(benchSettings as Record<string, Setting>)
    .map(([name, s]) => `  ${name.padEnd(width)}  [${s.sections}] ${s.about}${s.fallback === "" ? "" : ` (default ${s.fallback})`}`)
    .join("\n")
}
