import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { DuckDBConnection } from "@duckdb/node-api"
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, Layer } from "effect"
import { attempt, CgroupFiles, DuckDb, maxConnections, query } from "../../../src/layers/duckdb/DuckDb.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import { spy } from "../../support/spy.ts"

layer(DuckDb.layerWith({ connections: 2 }))("DuckDb", (it) => {
  it.effect("never runs more statements at once than the pool holds", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      let active = 0
      let peak = 0
      yield* Effect.forEach(
        Array.from({ length: 6 }, (_, i) => i),
        () =>
          duckDb.withConnection((connection) =>
            Effect.gen(function*() {
              peak = Math.max(peak, ++active)
              yield* query(connection, "probe", "SELECT 1")
              yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 30))) // real time, not the TestClock
              active--
            })
          ),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(duckDb.size, 2)
      assert.strictEqual(peak, 2)
    }))

  it.effect("fails with a typed error naming the statement's purpose", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      const error = yield* duckDb.withConnection((c) => query(c, "probe syntax", "SELEC 1")).pipe(Effect.flip)
      assert.strictEqual(error._tag, "DuckDbError")
      assert.strictEqual(error.purpose, "probe syntax")
      assert.match(error.message, /syntax error/i)
      // the connection went back to the pool in working order
      const rows = yield* duckDb.withConnection((c) => query(c, "probe", "SELECT 41 + 1 AS n"))
      assert.strictEqual(rows[0]?.["n"], 42)
    }))

  it.effect("never loads extensions on its own and renders time in UTC, on the Gregorian calendar", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      const rows = yield* duckDb.withConnection((c) =>
        query(
          c,
          "settings",
          `SELECT current_setting('autoload_known_extensions') AS autoload,
                  current_setting('autoinstall_known_extensions') AS autoinstall,
                  current_setting('TimeZone') AS tz,
                  current_setting('Calendar') AS calendar`
        )
      )
      // Whatever the machine's TZ and locale (test/layers/query/locale.test.ts).
      assert.deepStrictEqual(rows[0], { autoload: false, autoinstall: false, tz: "UTC", calendar: "gregorian" })
    }))

  it.effect("keeps nothing of the Parquet files it has read: a serve reading each new file holds no more memory for it", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-duckdb-cache-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const cached = duckDb.withConnection((c) =>
        query(c, "cache", "SELECT coalesce(sum(memory_usage_bytes), 0)::BIGINT AS n FROM duckdb_memory() WHERE tag = 'EXTERNAL_FILE_CACHE'")
      ).pipe(Effect.map((rows) => Number(rows[0]!["n"])))
      // As ingestion writes them: a new file every commit, each read once or twice and later compacted away.
      for (let i = 0; i < 40; i++) {
        const file = path.join(dir, `f${i}.parquet`)
        yield* duckDb.withConnection((c) =>
          Effect.andThen(
            query(c, "write", `COPY (SELECT range AS a, md5(range::VARCHAR) AS b FROM range(2000)) TO '${file}' (FORMAT parquet)`),
            query(c, "read", `SELECT count(*) AS n, max(b) AS b FROM read_parquet('${file}')`)
          )
        )
        fs.rmSync(file)
      }
      // Was 12 KiB more per file read, deleted or not, held until DuckDB's memory limit (80 % of RAM).
      assert.strictEqual(yield* cached, 0)
    }))
})

describe("DuckDb interruption", () => {
  it.effect("an interrupted call is waited for, never abandoned", () =>
    Effect.gen(function*() {
      let settled = false
      const call = yield* attempt("slow call", () => new Promise<void>((resolve) => setTimeout(() => {
        settled = true
        resolve()
      }, 300))).pipe(Effect.forkChild)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50))) // real time, not the TestClock
      yield* Fiber.interrupt(call)
      assert.isTrue(settled)
    }))

  it.effect("an interrupted statement is stopped before its connection serves anyone else", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      const slow = yield* duckDb.withConnection((c) => query(c, "slow", "SELECT count(*) FROM range(50000000000)")).pipe(Effect.forkChild)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 200))) // real time: the statement is running
      yield* Fiber.interrupt(slow)
      // One connection: this waits for the slow statement (tens of seconds) unless it was stopped.
      const started = performance.now()
      const rows = yield* duckDb.withConnection((c) => query(c, "next", "SELECT 42 AS n"))
      assert.strictEqual(rows[0]?.["n"], 42)
      assert.isBelow(performance.now() - started, 3_000)
    }).pipe(Effect.provide(DuckDb.layerWith({ connections: 1 }))), 60_000)

  it.effect("an interruption that lands while the statement is being prepared stops it before it runs", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      let preparing = () => {}
      const prepareStarted = new Promise<void>((resolve) => {
        preparing = resolve
      })
      let finishPrepare = () => {}
      const gate = new Promise<void>((resolve) => {
        finishPrepare = resolve
      })
      let outcome = "never run"
      // Preparing held open until the interruption has been asked for (reading a plan's Parquet footers takes a while).
      const slowPrepare = (c: DuckDBConnection) =>
        spy(c, {
          prepare: async (sql: string) => {
            preparing()
            await gate
            const statement = await c.prepare(sql)
            return spy(statement, {
              runAndReadAll: () =>
                statement.runAndReadAll().then((r) => {
                  outcome = "ran to its end"
                  return r
                })
            })
          }
        })
      const slow = yield* duckDb.withConnection((c) => query(slowPrepare(c), "slow", "SELECT count(*) AS n FROM range($1::BIGINT)", [3_000_000_000n]))
        .pipe(Effect.forkChild)
      yield* Effect.promise(() => prepareStarted)
      const stopping = yield* Fiber.interrupt(slow).pipe(Effect.forkChild)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50))) // real time: the interruption is asked for
      finishPrepare()
      yield* Fiber.join(stopping)
      // Either never started or stopped: it did not run to its end (seconds) after its client left.
      const rows = yield* duckDb.withConnection((c) => query(c, "next", "SELECT 42 AS n"))
      assert.strictEqual(rows[0]?.["n"], 42)
      assert.notStrictEqual(outcome, "ran to its end", "the statement ran to its end after its fiber was interrupted")
    }).pipe(Effect.provide(DuckDb.layerWith({ connections: 1 }))), 60_000)
})

describe("DuckDb pool size", () => {
  it.effect("is capped below the libuv thread-pool size", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      assert.strictEqual(duckDb.size, maxConnections())
      assert.isBelow(duckDb.size, Number(process.env["UV_THREADPOOL_SIZE"]) || 4)
    }).pipe(Effect.provide(DuckDb.layerWith({ connections: 64 }))))
})

describe("DuckDb.layerConfig", () => {
  const configured = (env: Record<string, string>) => DuckDb.layerConfig.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(env))))

  it.effect("takes the pool size from K2_DUCKDB_CONNECTIONS and DuckDB's threads from K2_DUCKDB_THREADS", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      assert.strictEqual(duckDb.size, 1)
      const rows = yield* duckDb.withConnection((c) => query(c, "probe", "SELECT current_setting('threads')::INTEGER AS t"))
      assert.strictEqual(rows[0]?.["t"], 1)
    }).pipe(Effect.provide(configured({ K2_DUCKDB_CONNECTIONS: "1", K2_DUCKDB_THREADS: "1" }))))

  it.effect("is what the lakehouse layer (every program's) uses", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* DuckDb).size, 1)
    }).pipe(Effect.provide(Lakehouse.layer({ warehouse: os.tmpdir(), catalog: { _tag: "memory" } }).pipe(
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({ K2_DUCKDB_CONNECTIONS: "1" })))
    ))))

  it.effect("defaults to two connections and DuckDB's own thread count", () =>
    Effect.gen(function*() {
      const duckDb = yield* DuckDb
      assert.strictEqual(duckDb.size, Math.min(2, maxConnections()))
    }).pipe(Effect.provide(configured({}))))

  it.effect("a value that is not an integer is a ConfigError naming the variable", () =>
    Effect.gen(function*() {
      const error = yield* Layer.build(configured({ K2_DUCKDB_THREADS: "many" })).pipe(Effect.scoped, Effect.flip)
      assert.match(String(error), /K2_DUCKDB_THREADS/)
    }))

  it.effect("0 or fewer threads or connections is a ConfigError naming the variable and the range", () =>
    Effect.gen(function*() {
      // 0 threads failed as DuckDB's "Failed to set config"; -1 connections was warned of and made 1.
      for (const [name, value] of [["K2_DUCKDB_THREADS", "0"], ["K2_DUCKDB_THREADS", "-2"], ["K2_DUCKDB_CONNECTIONS", "-1"], ["K2_DUCKDB_CONNECTIONS", "0"], ["K2_DUCKDB_CONNECTIONS", "1.5"]] as const) {
        const error = yield* Layer.build(configured({ [name]: value })).pipe(Effect.scoped, Effect.flip)
        assert.strictEqual(error._tag, "ConfigError", `${name}=${value}`)
        assert.include(error.message, `"${value}" is not an integer ${name === "K2_DUCKDB_THREADS" ? "in 1..1024" : "of at least 1"}`)
        assert.include(error.message, name)
      }
    }))

  it.effect("more than 1024 threads is a ConfigError naming the variable and the range (DuckDB started them all, 100,000 in 19 s; past 2^31 it failed on an internal error)", () =>
    Effect.gen(function*() {
      for (const value of ["1025", "100000", "2147483648"]) {
        const error = yield* Layer.build(configured({ K2_DUCKDB_THREADS: value })).pipe(Effect.scoped, Effect.flip)
        assert.strictEqual(error._tag, "ConfigError", value)
        assert.include(error.message, `"${value}" is not an integer in 1..1024`)
        assert.include(error.message, "K2_DUCKDB_THREADS")
      }
      const options = yield* DuckDb.config.parse(ConfigProvider.fromEnvRecord({ K2_DUCKDB_THREADS: "1024" }))
      assert.strictEqual(options.threads, 1024)
    }))

  it.effect("takes DuckDB's memory limit from K2_DUCKDB_MEMORY_LIMIT; a value that is not an amount is a ConfigError", () =>
    Effect.gen(function*() {
      const limit = (env: Record<string, string>) =>
        Effect.gen(function*() {
          const duckDb = yield* DuckDb
          const rows = yield* duckDb.withConnection((c) => query(c, "probe", "SELECT current_setting('memory_limit') AS m"))
          return String(rows[0]?.["m"])
        }).pipe(Effect.provide(configured(env)))
      assert.strictEqual(yield* limit({ K2_DUCKDB_MEMORY_LIMIT: " 256MiB " }), "256.0 MiB")
      assert.notStrictEqual(yield* limit({}), "256.0 MiB")
      // Any amount DuckDB takes: a fraction, a space before the unit, the unit in any case.
      assert.strictEqual(yield* limit({ K2_DUCKDB_MEMORY_LIMIT: "0.5GiB" }), "512.0 MiB")
      assert.strictEqual(yield* limit({ K2_DUCKDB_MEMORY_LIMIT: "300 mib" }), "300.0 MiB")
      for (const value of ["lots", "256", "1 PB", "1P", "256MB of it", "1e+9B", "GB"]) {
        const error = yield* Layer.build(configured({ K2_DUCKDB_MEMORY_LIMIT: value })).pipe(Effect.scoped, Effect.flip)
        assert.strictEqual(error._tag, "ConfigError", value)
        assert.include(error.message, "K2_DUCKDB_MEMORY_LIMIT")
        assert.include(error.message, "is not an amount of memory")
      }
    }))

  it.effect("takes DuckDB's short units (512M, 1G, 2 gigabytes, bytes), passing each on with its unit written one way; refuses -1 and none (no limit)", () =>
    Effect.gen(function*() {
      const limit = (value: string) =>
        Effect.gen(function*() {
          const duckDb = yield* DuckDb
          const rows = yield* duckDb.withConnection((c) => query(c, "probe", "SELECT current_setting('memory_limit') AS m"))
          return String(rows[0]?.["m"])
        }).pipe(Effect.provide(configured({ K2_DUCKDB_MEMORY_LIMIT: value })))
      // As DuckDB reads them: M and G are 10^6 and 10^9 bytes, as MB and GB.
      assert.strictEqual(yield* limit("512M"), "488.2 MiB")
      assert.strictEqual(yield* limit("1G"), "953.6 MiB")
      assert.strictEqual(yield* limit("2 gigabytes"), "1.8 GiB")
      assert.strictEqual(yield* limit("100000000B"), "95.3 MiB")
      for (const [value, written] of [["512M", "512MB"], [" 1 g ", "1GB"], ["2gb", "2GB"], ["0.5T", "0.5TB"], [".5G", ".5GB"], ["1e9 bytes", "1e9B"], ["300 mib", "300MiB"], ["70000k", "70000KB"]] as const) {
        const options = yield* DuckDb.config.parse(ConfigProvider.fromEnvRecord({ K2_DUCKDB_MEMORY_LIMIT: value }))
        assert.strictEqual(options.memoryLimit, written, value)
      }
      // The floor holds in every unit: 64M is 61 MiB.
      const low = yield* Effect.flip(DuckDb.config.parse(ConfigProvider.fromEnvRecord({ K2_DUCKDB_MEMORY_LIMIT: "64M" })))
      assert.include(low.message, `"64M" is below 64MiB`)
      // DuckDB's no limit: refused, saying what to do instead.
      for (const value of ["-1", "none", "NONE", "-5GB"]) {
        const error = yield* Effect.flip(DuckDb.config.parse(ConfigProvider.fromEnvRecord({ K2_DUCKDB_MEMORY_LIMIT: value })))
        assert.include(error.message, "K2_DUCKDB_MEMORY_LIMIT", value)
        assert.include(error.message, "K2 gives DuckDB no unlimited memory", value)
        assert.include(error.message, "leave K2_DUCKDB_MEMORY_LIMIT unset", value)
      }
    }))

  it.effect("a memory limit of 2^64 bytes or more is a ConfigError (DuckDB read 2^64 B as a limit of 0 bytes, every query Out of Memory, and failed to open past it)", () =>
    Effect.gen(function*() {
      // The most DuckDB holds: the largest double below 2^64 bytes, read back as itself.
      const most = yield* DuckDb.config.parse(ConfigProvider.fromEnvRecord({ K2_DUCKDB_MEMORY_LIMIT: "18446744073709549568B" }))
      assert.strictEqual(most.memoryLimit, "18446744073709549568B")
      for (const value of ["18446744073709551616B", "18446744073.709551616GB", "1e20B", "20000000TB", "1e400GB"]) {
        const error = yield* Effect.flip(DuckDb.config.parse(ConfigProvider.fromEnvRecord({ K2_DUCKDB_MEMORY_LIMIT: value })))
        assert.include(error.message, "K2_DUCKDB_MEMORY_LIMIT", value)
        assert.include(error.message, `${JSON.stringify(value)} is 2^64 bytes or more, past the most DuckDB holds`, value)
      }
    }))

  it.effect("a memory limit below 64 MiB is a ConfigError naming the variable and the floor (DuckDB took 1MB, and ingest's flushes then failed on its Out of Memory Error)", () =>
    Effect.gen(function*() {
      // Units as DuckDB reads them: MB 10^6 bytes, MiB 2^20 (64 MiB = 67.108864 MB).
      for (const value of ["1MB", "16MB", "63MiB", "67MB", "0.06GiB", "65000KiB"]) {
        const error = yield* Layer.build(configured({ K2_DUCKDB_MEMORY_LIMIT: value })).pipe(Effect.scoped, Effect.flip)
        assert.strictEqual(error._tag, "ConfigError", value)
        assert.include(error.message, "K2_DUCKDB_MEMORY_LIMIT")
        assert.include(error.message, `"${value}" is below 64MiB`)
      }
      for (const value of ["64MiB", "67.2MB", "0.0625GiB", "65536KiB", "1TB"]) {
        const options = yield* DuckDb.config.parse(ConfigProvider.fromEnvRecord({ K2_DUCKDB_MEMORY_LIMIT: value }))
        assert.strictEqual(options.memoryLimit, value)
      }
    }))

  it.effect("sizes DuckDB for the cgroup the process runs in, unless K2_DUCKDB_MEMORY_LIMIT and K2_DUCKDB_THREADS say otherwise", () =>
    Effect.gen(function*() {
      // A 1 GiB pod of one CPU: DuckDB alone would take 80 % of it (819.1 MiB), as if nothing else were in it.
      const pod: Record<string, string> = {
        "/proc/self/cgroup": "0::/\n",
        "/sys/fs/cgroup/memory.max": "1073741824\n",
        "/sys/fs/cgroup/cpu.max": "100000 100000\n"
      }
      const settings = (env: Record<string, string>) =>
        Effect.gen(function*() {
          const rows = yield* (yield* DuckDb).withConnection((c) =>
            query(c, "probe", "SELECT current_setting('memory_limit') AS m, current_setting('threads')::INTEGER AS t")
          )
          return [String(rows[0]?.["m"]), rows[0]?.["t"]]
        }).pipe(Effect.provide(configured(env).pipe(Layer.provide(Layer.succeed(CgroupFiles, (file: string) => pod[file])))))
      assert.deepStrictEqual(yield* settings({}), ["512.0 MiB", 1])
      assert.deepStrictEqual(yield* settings({ K2_DUCKDB_MEMORY_LIMIT: "300MiB", K2_DUCKDB_THREADS: "2" }), ["300.0 MiB", 2])
    }))

  it.effect("more connections than the cap still warn and use the cap", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* DuckDb).size, maxConnections())
    }).pipe(Effect.provide(configured({ K2_DUCKDB_CONNECTIONS: "64" }))))
})
