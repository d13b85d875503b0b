/**
 * A SQL sandbox whose worker process cannot start (no process can be made, the runtime missing, it
 * hangs while loading) fails every SQL statement and Parquet export: that is the server's trouble, a
 * 503 the operator sees in the logs, not the client's 400 `sql_error` (which is not logged). And the
 * limits a worker is started under: the file-size limit a Parquet answer meets.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { problemOf } from "../../support/problems.ts"
import { runSandboxed, sandboxLimits, stopIdleSandboxes } from "../../../src/layers/http/sandboxPool.ts"

/** The problem a failure is answered with: its status, code and detail. */
/** Runs `body` with fresh workers started under `limits` (and `execPath`), restoring both after. */
const withWorkers = <A, E>(limits: Partial<typeof sandboxLimits>, execPath: string, body: Effect.Effect<A, E>) =>
  Effect.suspend(() => {
    const saved = { ...sandboxLimits, execPath: process.execPath }
    const restore = Effect.sync(() => {
      stopIdleSandboxes()
      Object.assign(sandboxLimits, { startMs: saved.startMs, fileBytes: saved.fileBytes })
      process.execPath = saved.execPath
    })
    stopIdleSandboxes()
    Object.assign(sandboxLimits, limits)
    process.execPath = execPath
    return body.pipe(Effect.ensuring(restore))
  })

it.effect("a sandbox worker that cannot start is 503 sql_unavailable, not the client's 400 sql_error", () =>
  Effect.gen(function*() {
    // No idle worker to reuse (test files share workers), so the run starts one, which cannot exec.
    const r = yield* withWorkers({}, "/nonexistent/k2-node", Effect.result(runSandboxed({ sql: "SELECT 1 AS n", tables: [], maxRows: 1, timeoutMs: 5_000 })))
    assert.strictEqual(r._tag, "Failure")
    if (r._tag !== "Failure") return
    const problem = yield* problemOf(r.failure)
    assert.strictEqual(problem.status, 503)
    assert.strictEqual(problem.code, "sql_unavailable")
    assert.match(problem.detail, /could not start/)
  }))

// Live: the bound and the wait for the hung worker's end are the real clock's.
it.live("a sandbox worker that hangs while starting is killed and the run is 503 sql_unavailable (it waited until the client left)", () =>
  Effect.gen(function*() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-hung-worker-"))
    // A "runtime" that starts and never says it is ready: it writes its pid and sleeps.
    const hung = path.join(dir, "hung-node")
    fs.writeFileSync(hung, `#!/bin/sh\necho $$ > "${dir}/pid"\nexec sleep 300\n`, { mode: 0o755 })
    const r = yield* withWorkers(
      { startMs: 500 },
      hung,
      Effect.result(runSandboxed({ sql: "SELECT 1 AS n", tables: [], maxRows: 1, timeoutMs: 5_000 }))
    ).pipe(Effect.timeoutOption("20 seconds"))
    // No pid: killed (on a loaded machine) before it wrote one, and a killed process writes none after.
    const pidFile = path.join(dir, "pid")
    const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, "utf8")) : undefined
    fs.rmSync(dir, { recursive: true, force: true })
    const alive = () => {
      if (pid === undefined || !Number.isSafeInteger(pid) || pid <= 0) return false
      try {
        return process.kill(pid, 0)
      } catch {
        return false
      }
    }
    // Its exit is heard (and the process reaped) a moment after the kill.
    for (let i = 0; i < 250 && alive(); i++) yield* Effect.sleep("20 millis")
    if (alive()) process.kill(pid!, "SIGKILL")
    assert.strictEqual(r._tag, "Some", "the run waited on the hung worker")
    if (r._tag !== "Some" || r.value._tag !== "Failure") return assert.fail(String(r))
    const problem = yield* problemOf(r.value.failure)
    assert.deepStrictEqual([problem.status, problem.code], [503, "sql_unavailable"])
    assert.match(problem.detail, /not ready within 500 ms/)
    assert.isFalse(alive(), "the hung worker was left running")
  }), 30_000)

it.effect("a Parquet answer past the worker's file-size limit is 400 sql_error saying so (it wrote as much as the disk held)", () =>
  Effect.gen(function*() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-big-parquet-"))
    const out = path.join(dir, "result.parquet")
    // Some 6 MB of hex text, which zstd halves at best: past 1 MiB.
    const big = { sql: "SELECT md5(i::VARCHAR) || md5((i + 1)::VARCHAR) AS s FROM range(200000) t(i)", tables: [], maxRows: 1_000_000, timeoutMs: 20_000, parquetOut: out }
    const r = yield* withWorkers(
      { fileBytes: 1024 ** 2 },
      process.execPath,
      Effect.gen(function*() {
        const failed = yield* Effect.result(runSandboxed(big))
        const size = fs.existsSync(out) ? fs.statSync(out).size : 0
        // The same worker answers the next statement.
        const next = yield* runSandboxed({ sql: "SELECT 42 AS n", tables: [], maxRows: 1, timeoutMs: 20_000 })
        return { failed, size, next }
      })
    ).pipe(Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))))
    assert.isAtMost(r.size, 1024 ** 2)
    assert.deepStrictEqual(r.next.rows, [{ n: 42 }])
    if (r.failed._tag !== "Failure") return assert.fail("the answer was written whole")
    const problem = yield* problemOf(r.failed.failure)
    assert.deepStrictEqual([problem.status, problem.code], [400, "sql_error"])
    assert.match(problem.detail, /larger than the sandbox may write \(1 MiB\)/)
  }), 60_000)

it.effect("a sandbox worker is the first process the kernel kills when its container runs out of memory", () =>
  Effect.gen(function*() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-oom-worker-"))
    // A "runtime" that writes down the OOM score adjustment it was started with, then exits.
    const runtime = path.join(dir, "recording-node")
    fs.writeFileSync(runtime, `#!/bin/sh\ncat /proc/self/oom_score_adj > "${dir}/adj"\n`, { mode: 0o755 })
    yield* withWorkers({}, runtime, Effect.result(runSandboxed({ sql: "SELECT 1 AS n", tables: [], maxRows: 1, timeoutMs: 5_000 })))
    const adj = fs.readFileSync(path.join(dir, "adj"), "utf8").trim()
    fs.rmSync(dir, { recursive: true, force: true })
    // The server's own stays as it was: 1000 on a worker only.
    assert.strictEqual(adj, "1000")
    assert.notStrictEqual(fs.readFileSync("/proc/self/oom_score_adj", "utf8").trim(), "1000")
  }))
