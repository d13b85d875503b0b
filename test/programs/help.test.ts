/**
 * `--help` of every program prints its help and touches nothing: no warehouse, catalog or
 * connection is made for it.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnProgram } from "../support/programs.ts"

describe.concurrent("--help", () => {
  for (const [program, args] of [["query", []], ["query", ["bars"]], ["replay", []], ["compact", []], ["serve", []]] as const) {
    it.effect(`${program} ${args.join(" ")} --help creates no warehouse`, () =>
      Effect.gen(function*() {
        const warehouse = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "k2-help-")), "warehouse")
        const run = spawnProgram(program, [...args, "--help"], { K2_WAREHOUSE: warehouse })
        assert.strictEqual(yield* Effect.promise(() => run.exited), 0, run.output())
        assert.include(run.output(), "USAGE")
        // An empty default is named, not left blank ("default )").
        assert.notMatch(run.output(), /default \)/)
        assert.isFalse(fs.existsSync(warehouse), `${program} --help made ${warehouse}`)
      }))
  }
})

/** What each program reads from the environment without a flag for it (the flags' variables are shown beside them). */
const common = ["K2_LOG_LEVEL", "K2_LOG_FORMAT", "OTEL_"]
// The Kafka client's own log, read by the kafkajs layer of every program that talks to a broker.
const kafka = ["KAFKAJS_LOG_LEVEL"]
const lakehouse = ["K2_REST_TOKEN", "K2_REST_CREDENTIAL", "K2_REST_PARENT_NAMESPACE", "K2_DUCKDB_CONNECTIONS", "K2_DUCKDB_THREADS", "K2_DUCKDB_MEMORY_LIMIT"]
const environmentOnly = {
  ingest: [...common, ...kafka, ...lakehouse, "K2_SEQUENCE_CAPACITY", "K2_SEQUENCE_IDLE_SECONDS", "K2_SEQUENCE_DAY_CHANGE", "K2_SEQUENCE_MAX_GAPS", "K2_SEQUENCE_ZONES"],
  produce: [...common, ...kafka],
  query: [...common, ...lakehouse],
  replay: [...common, ...kafka, ...lakehouse],
  compact: [...common, ...lakehouse],
  serve: [
    ...common,
    ...lakehouse,
    ...["KEYS", "AUTH", "CORS_ORIGINS", "RATE_LIMIT", "RATE_WINDOW_SECONDS", "METRICS_REQUIRE_KEY", "MAX_RANGE_DAYS", "MAX_PAGE_ROWS", "MAX_EXPORT_ROWS", "MAX_BARS", "MAX_SYMBOLS", "QUERY_TIMEOUT_MS", "SQL_TIMEOUT_MS", "SQL_MAX_ROWS", "SQL_MAX_BYTES", "MAX_BODY_BYTES", "CACHE_BYTES"].map((s) => `K2_API_${s}`)
  ]
} as const

describe.concurrent("--help names every environment variable the program reads", () => {
  for (const [program, variables] of Object.entries(environmentOnly)) {
    it.effect(program, () =>
      Effect.gen(function*() {
        const run = spawnProgram(program as keyof typeof environmentOnly, ["--help"])
        assert.strictEqual(yield* Effect.promise(() => run.exited), 0, run.output())
        const missing = variables.filter((v) => !run.output().includes(v))
        assert.deepStrictEqual(missing, [], run.output())
      }))
  }
})

/** Bounds a refusal states are shown beside the flag: met only as a refusal, they read as arbitrary. */
const bounds = {
  ingest: [["--partitions", "1..10000"], ["--flush-bytes", "at least 65536"], ["--session-timeout-ms", "6000..2147473647"], ["--metrics-port", "0..65535"]],
  replay: [["--partitions", "1..10000"]],
  serve: [["--port", "0..65535"]],
  produce: [["--partitions", "1..10000"]]
} as const

describe.concurrent("--help shows the bounds a refusal states", () => {
  for (const [program, flags] of Object.entries(bounds)) {
    it.effect(program, () =>
      Effect.gen(function*() {
        const run = spawnProgram(program as keyof typeof bounds, ["--help"])
        assert.strictEqual(yield* Effect.promise(() => run.exited), 0, run.output())
        for (const [flag, range] of flags) {
          const line = run.output().split("\n").find((l) => l.trimStart().startsWith(`${flag} `))
          assert.include(line ?? "", range, `${program} ${flag}`)
        }
      }))
  }
})
