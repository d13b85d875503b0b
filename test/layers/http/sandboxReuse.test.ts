/**
 * The sandbox's worker processes: what they hold. Only the variables a worker needs reach it (not
 * the server's keys, catalog URL or tokens), and a worker is kept for the next run (of any client) only while it holds little memory.
 * DuckDB's allocator keeps the address space a run grew into, and the worker's data-size limit
 * (2 GiB) counts it: a worker kept after heavy runs failed every later statement that needed a
 * block ("Out of Memory Error: Failed to allocate block of 2097152 bytes"), whoever sent it, until
 * it was ended idle a minute later.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { runSandboxed, stopIdleSandboxes } from "../../../src/layers/http/sandboxPool.ts"

afterAll(() => stopIdleSandboxes())

const workerPath = fileURLToPath(new URL("../../../src/layers/http/sandboxWorker.ts", import.meta.url))
/** This process's sandbox workers and the data size each holds (VmData, bytes). */
const workers = (): Array<{ pid: number; dataBytes: number }> => {
  let pids: Array<number>
  try {
    pids = execFileSync("pgrep", ["-P", String(process.pid), "-f", workerPath], { encoding: "utf8" }).split("\n").filter((l) => l !== "").map(Number)
  } catch {
    pids = []
  }
  return pids.flatMap((pid) => {
    try {
      const kb = /^VmData:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
      return kb === null ? [] : [{ pid, dataBytes: Number(kb[1]) * 1024 }]
    } catch {
      return []
    }
  })
}

const run = (sql: string) => runSandboxed({ sql, tables: [], maxRows: 10, timeoutMs: 300_000 })

describe.runIf(process.platform === "linux")("sandbox workers kept between runs", () => {
  it.effect("a worker that grew past half its data limit is ended, not kept: the next statement has the memory a fresh worker has", () =>
    Effect.gen(function*() {
      // On a fresh worker (one kept from another test's runs could not take a 1 GB block), 1 GB of list values: it answers.
      stopIdleSandboxes()
      assert.deepStrictEqual((yield* run("SELECT sum(len(range(0, 50000 + i % 2))) AS n FROM range(2048) t(i)")).rows, [{ n: "102401024" }])
      // No worker left idle holding more than half of the 2 GiB it may take.
      const held = workers().filter((w) => w.dataBytes > 1024 ** 3)
      assert.deepStrictEqual(held, [], "a worker holding its heavy runs' memory was kept for the next run")
      // Another client's small statement: on the worker kept, "Failed to allocate block".
      const next = yield* Effect.result(run("SELECT count(DISTINCT i) AS n FROM range(100000) t(i)"))
      assert.deepStrictEqual(next._tag === "Success" ? next.success.rows : next.failure.message, [{ n: "100000" }])
    }), 600_000)
})

describe.runIf(process.platform === "linux")("sandbox worker environment", () => {
  it.effect("a worker gets only what it needs of the server's environment: no K2_ setting, token or password", () =>
    Effect.gen(function*() {
      stopIdleSandboxes()
      const secrets = { K2_API_KEYS: "alice:abc:read+sql", K2_CATALOG: "postgresql://k2:hunter2@db/k2", K2_REST_CREDENTIAL: "id:secret", OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer t" }
      const saved = Object.fromEntries(Object.keys(secrets).map((k) => [k, process.env[k]]))
      Object.assign(process.env, secrets)
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v)
          stopIdleSandboxes()
        })
      )
      // A worker started now, kept idle after its run.
      assert.deepStrictEqual((yield* run("SELECT 42 AS n")).rows, [{ n: 42 }])
      const environs = workers().map((w) => fs.readFileSync(`/proc/${w.pid}/environ`, "utf8").split("\0"))
      assert.isAbove(environs.length, 0)
      for (const env of environs) {
        const names = env.map((e) => e.slice(0, e.indexOf("=")))
        assert.deepStrictEqual(names.filter((n) => n in secrets || n.startsWith("K2_")), [], "the server's settings reached the sandbox worker")
        assert.include(names, "PATH")
      }
    }).pipe(Effect.scoped))
})
