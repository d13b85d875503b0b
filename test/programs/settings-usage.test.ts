/**
 * Settings read from the environment only (K2_LOG_*, K2_DUCKDB_*) as a user gets them wrong: a
 * usage error, exit 2, one line naming the variable; not ignored, not an opaque failure (exit 1).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnProgram } from "../support/programs.ts"
import { tempWarehouse } from "../support/warehouse.ts"

const run = (program: "compact" | "query" | "produce", args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.gen(function*() {
    const p = spawnProgram(program, args, env)
    const code = yield* Effect.promise(() => p.exited)
    return { code, output: p.output() }
  })

describe.concurrent("environment settings, bad values", () => {
  it.effect("an unknown K2_LOG_LEVEL stops a program with exit 2 (it was ignored)", () =>
    Effect.gen(function*() {
      const r = yield* run("compact", ["--warehouse", path.join(tempWarehouse(), "unused")], { K2_LOG_LEVEL: "verbose" })
      assert.strictEqual(r.code, 2, r.output)
      assert.include(r.output, `error: invalid setting: "verbose" is not one of`)
      assert.include(r.output, "K2_LOG_LEVEL")
    }), 60_000)

  it.effect("K2_DUCKDB_THREADS=0 stops a program with exit 2, naming the range (it was DuckDB's \"Failed to set config\", exit 1)", () =>
    Effect.gen(function*() {
      const dir = tempWarehouse()
      fs.writeFileSync(path.join(dir, "catalog.db"), "")
      const r = yield* run("query", ["snapshots", "trades", "--warehouse", dir], { K2_DUCKDB_THREADS: "0" })
      assert.strictEqual(r.code, 2, r.output)
      assert.include(r.output, `error: invalid setting: "0" is not an integer in 1..1024`)
      assert.include(r.output, "K2_DUCKDB_THREADS")
    }), 60_000)

  it.effect("K2_DUCKDB_MEMORY_LIMIT=1MB stops a program with exit 2, naming the floor (DuckDB took it, and ingest's flushes then failed)", () =>
    Effect.gen(function*() {
      const dir = tempWarehouse()
      fs.writeFileSync(path.join(dir, "catalog.db"), "")
      const r = yield* run("query", ["snapshots", "trades", "--warehouse", dir], { K2_DUCKDB_MEMORY_LIMIT: "1MB" })
      assert.strictEqual(r.code, 2, r.output)
      assert.include(r.output, `error: invalid setting: "1MB" is below 64MiB`)
      assert.include(r.output, "K2_DUCKDB_MEMORY_LIMIT")
    }), 60_000)

  it.effect("an unknown KAFKAJS_LOG_LEVEL stops a program that talks to Kafka with exit 2, listing the levels (it was ignored)", () =>
    Effect.gen(function*() {
      // Refused before any connection: nothing listens on port 1 anyway.
      const r = yield* run("produce", ["--brokers", "127.0.0.1:1"], { KAFKAJS_LOG_LEVEL: "verbose" })
      assert.strictEqual(r.code, 2, r.output)
      assert.include(r.output, `KAFKAJS_LOG_LEVEL: "verbose" is not one of nothing, error, warn, info, debug (any case)`)
    }), 60_000)
})

describe.concurrent("optional URL settings, bad values", () => {
  it.effect("the value refused is shown as given, from the flag or its variable (it was shown as some(\"...\"))", () =>
    Effect.gen(function*() {
      const dir = tempWarehouse()
      fs.writeFileSync(path.join(dir, "catalog.db"), "")
      for (
        const [program, args, env, says] of [
          ["query", ["stats", "trades", "--warehouse", dir, "--catalog", "postgress://db/k2"], {}, `--catalog: "postgress://db/k2"`],
          ["query", ["stats", "trades", "--warehouse", dir], { K2_CATALOG: "postgress://db/k2" }, `--catalog: "postgress://db/k2"`],
          // Refused before any connection: nothing listens on port 1 anyway.
          ["produce", ["--brokers", "127.0.0.1:1", "--schema-registry", "ftp://registry"], {}, `--schema-registry: "ftp://registry"`],
          ["produce", ["--brokers", "127.0.0.1:1"], { K2_SCHEMA_REGISTRY_URL: "ftp://registry" }, `--schema-registry: "ftp://registry"`]
        ] as const
      ) {
        const r = yield* run(program, args, env)
        assert.strictEqual(r.code, 2, r.output)
        assert.include(r.output, `Invalid value for flag ${says}`)
        assert.notInclude(r.output, "some(")
      }
    }), 60_000)
})
