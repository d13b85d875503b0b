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
