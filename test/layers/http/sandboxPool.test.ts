/**
 * The SQL sandbox's worker processes (ADR-35) under many clients, clients leaving, and workers
 * dying mid-run: never more than the two slots' workers, each slot given back once its worker
 * has exited, no temp Parquet directory left, and the next statement answers.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, it as plain, layer } from "@effect/vitest"
import { Effect } from "effect"
import { sha256Hex } from "../../../src/layers/http/config.ts"
import { runSandboxed, stopIdleSandboxes } from "../../../src/layers/http/sandboxPool.ts"
import { runInThisProcess } from "../../../src/layers/http/sandboxRun.ts"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k2-pool-test-"))
const savedTmp = process.env["TMPDIR"]
process.env["TMPDIR"] = tmp
const parquetDirs = () => fs.readdirSync(tmp).filter((name) => name.startsWith("k2-api-"))
afterAll(() => {
  stopIdleSandboxes()
  if (savedTmp === undefined) delete process.env["TMPDIR"]
  else process.env["TMPDIR"] = savedTmp
  fs.rmSync(tmp, { recursive: true, force: true })
})

const workerPath = fileURLToPath(new URL("../../../src/layers/http/sandboxWorker.ts", import.meta.url))
/** This process's sandbox workers (started or starting), by pid. */
const workers = (): Array<number> => {
  try {
    return execFileSync("pgrep", ["-P", String(process.pid), "-f", workerPath], { encoding: "utf8" }).split("\n").filter((l) => l !== "").map(Number)
  } catch {
    return []
  }
}

const until = (cond: () => boolean) =>
  Effect.promise(async () => {
    for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 20))
  })

const slow = "SELECT count(*) FROM range(100000000000) a"

/** Six clients, each with a key of its own: one key may have only three runs running or waiting (SANDBOX_RUNS_PER_CALLER). */
const CLIENTS = Array.from({ length: 6 }, (_, i) => `client-sql-key-${i}`)
const poolOptions = testOptions({ sqlTimeoutMs: 3_000 })
const withClients = {
  ...poolOptions,
  keys: [...poolOptions.keys, ...CLIENTS.map((key, i) => ({ name: `client${i}`, sha256: sha256Hex(key), scopes: new Set(["sql"] as const) }))]
}

layer(served(withClients, undefined, { trades: 50, quotes: 50 }), { timeout: 180_000, excludeTestServices: true })("the sandbox's worker pool", (it) => {
  it.effect("many clients, some leaving mid-run: at most two workers, slots freed, nothing left behind", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      stopIdleSandboxes()
      let most = 0
      const sampler = setInterval(() => void (most = Math.max(most, workers().length)), 25)
      const post = (sql: string, format: string, signal?: AbortSignal, key = KEYS.full) =>
        fetch(`${base}/v1/sql`, {
          method: "POST",
          headers: { ...auth(key), "content-type": "application/json" },
          body: JSON.stringify({ sql, format }),
          ...(signal === undefined ? {} : { signal })
        }).then(async (r) => ({ status: r.status, body: await r.text() }), () => undefined)
      const controllers = Array.from({ length: 6 }, () => new AbortController())
      const runs = controllers.map((c, i) => post(slow, i % 2 === 0 ? "json" : "parquet", i < 4 ? c.signal : undefined, CLIENTS[i]))
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 1_500)))
      controllers.slice(0, 4).forEach((c) => c.abort())
      const answers = yield* Effect.promise(() => Promise.all(runs))
      clearInterval(sampler)
      for (const a of answers.slice(4)) assert.isTrue(a !== undefined && a.status === 503, JSON.stringify(a))
      assert.isAtMost(most, 2, "more sandbox workers than slots")
      assert.strictEqual(most, 2, "the sampler saw the workers")
      const ok = yield* Effect.forEach([1, 2, 3], () => Effect.promise(() => post("SELECT count(*) AS n FROM trades", "parquet")), { concurrency: "unbounded" })
      assert.deepStrictEqual(ok.map((a) => a?.status), [200, 200, 200])
      yield* until(() => parquetDirs().length === 0)
      assert.deepStrictEqual(parquetDirs(), [])
      assert.isAtMost(workers().length, 2)
    }))

  it.effect("a worker killed mid-run: a clear failure, its slot freed, and the next statements answer", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const post = (sql: string, format = "json") =>
        fetch(`${base}/v1/sql`, {
          method: "POST",
          headers: { ...auth(KEYS.full), "content-type": "application/json" },
          body: JSON.stringify({ sql, format })
        }).then(async (r) => ({ status: r.status, body: await r.text() }))
      for (const format of ["json", "parquet"]) {
        const before = new Set(workers())
        const running = post(slow, format)
        // Wait for the run's worker (a new one, or an idle one taken) to be busy, then kill every worker.
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 1_000)))
        for (const pid of new Set([...before, ...workers()])) {
          try {
            process.kill(pid, "SIGKILL")
          } catch {
            // already gone
          }
        }
        const r = yield* Effect.promise(() => running)
        assert.isTrue(r.status >= 400, `${format}: ${r.status} ${r.body}`)
        // Both slots answer again, at once (idle workers killed above included).
        const next = yield* Effect.forEach([1, 2], () => Effect.promise(() => post("SELECT 42 AS n")), { concurrency: "unbounded" })
        assert.deepStrictEqual(next.map((n) => [n.status, n.status === 200 ? JSON.parse(n.body).data : n.body]), [[200, [{ n: 42 }]], [200, [{ n: 42 }]]], format)
      }
      yield* until(() => parquetDirs().length === 0)
      assert.deepStrictEqual(parquetDirs(), [])
    }))
})

plain.effect("an idle worker killed unseen (its exit not yet heard) is replaced: the statement answers, not 'its process failed'", () =>
  Effect.gen(function*() {
    const one = { sql: "SELECT 42 AS n", tables: [], maxRows: 10, timeoutMs: 10_000 }
    stopIdleSandboxes()
    yield* runSandboxed(one)
    const idle = workers()
    assert.strictEqual(idle.length, 1)
    // Killed and reused in the same turn of the event loop: its exit cannot have been heard.
    const r = yield* Effect.suspend(() => {
      process.kill(idle[0]!, "SIGKILL")
      return Effect.result(runSandboxed(one))
    })
    assert.deepStrictEqual(r._tag === "Success" ? r.success.rows : String(r.failure), [{ n: 42 }])
  }), 60_000)

layer(served(testOptions({ sqlTimeoutMs: 20_000 }), undefined, { trades: 50, quotes: 50 }), { timeout: 180_000, excludeTestServices: true })("large sandbox answers", (it) => {
  it.effect("a large answer with awkward values comes back over IPC as the in-process run gives it", () =>
    Effect.gen(function*() {
      const sql = `SELECT i, 'ü€😀' || repeat('x', 200) || '"\\' || chr(1) AS s, (i / 7)::DECIMAL(18, 6) AS d,
        TIMESTAMPTZ '2024-01-02 03:04:05.123456+00' + to_microseconds(i) AS t, [i, NULL, i + 1] AS l, MAP {'k': i} AS m,
        {'a': 'nested ' || i, 'b': [1.5, 'nan'::DOUBLE, 'inf'::DOUBLE]} AS st, 'nan'::DOUBLE AS nan, '-inf'::DOUBLE AS ninf,
        123456789012345678::BIGINT AS big, 170141183460469231731687303715884105727::HUGEINT AS huge
        FROM range(40000) t(i)`
      const request = { sql, tables: [], maxRows: 100_000, maxBytes: 32 * 1024 * 1024, timeoutMs: 20_000 }
      const inProcess = yield* runInThisProcess(request)
      const sandboxed = yield* runSandboxed(request)
      assert.strictEqual(sandboxed.rows.length, inProcess.rows.length)
      assert.strictEqual(JSON.stringify(sandboxed), JSON.stringify(inProcess))
      // The byte budget cut near its bound.
      const cut = { ...request, sql: `SELECT repeat('é', 1000) AS s FROM range(100000)`, maxBytes: 32 * 1024 * 1024 }
      const a = yield* runInThisProcess(cut)
      const b = yield* runSandboxed(cut)
      assert.strictEqual(a.truncatedBy, "bytes")
      assert.strictEqual(JSON.stringify(b), JSON.stringify(a))
      const base = yield* baseUrl
      const r = yield* Effect.promise(() =>
        fetch(`${base}/v1/sql`, { method: "POST", headers: { ...auth(KEYS.full), "content-type": "application/json" }, body: JSON.stringify({ sql, format: "csv" }) })
          .then(async (res) => ({ status: res.status, body: await res.text() }))
      )
      assert.strictEqual(r.status, 200)
      assert.include(r.body, "nan")
    }))
})
