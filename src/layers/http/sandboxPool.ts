/**
 * The sandbox's worker processes (sql.ts): each run goes to a worker (sandboxWorker.ts) held to a
 * data size and killed a little past the time limit (`runSandboxed`); a worker that ended its run
 * well is kept idle for the next one, up to as many as the sandbox's slots.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import type { SandboxRequest, SqlResult } from "./sql.ts"
import { SqlFailed, SqlRefused, SqlTimeout, SqlUnavailable } from "./sqlErrors.ts"

/**
 * The data size (heap and anonymous memory) a sandbox worker process may take. DuckDB's own
 * 512 MB limit holds its operators (joins, sorts, aggregates) but not the values an expression
 * makes: `repeat(s, n)`, `range(0, n)` or `s || s` in a chain of CTEs, 2,048 rows at a time, took
 * gigabytes, until the kernel killed the server.
 */
const SANDBOX_DATA_BYTES = 2 * 1024 ** 3

/**
 * How long past its time limit a run may take before its worker is killed. DuckDB checks for an
 * interrupt between chunks of rows only: an expression slow on each row (`levenshtein` of long
 * strings, `repeat`) ran minutes past the limit, holding one of the two sandbox slots.
 */
const KILL_AFTER_MS = 2_000

/**
 * The longest time limit a run may have (K2_API_SQL_TIMEOUT_MS, and K2_API_QUERY_TIMEOUT_MS for the
 * exports' runs): its worker's kill timer, KILL_AFTER_MS past it, must fit Node's timers, which fire
 * at once past 2^31 - 1 ms (every run was a query_timeout as soon as its worker started).
 */
export const MAX_TIME_LIMIT_MS = 2 ** 31 - 1 - KILL_AFTER_MS

/**
 * How long a run with this time limit may hold its sandbox slot once its worker is ready: a client
 * waiting for a slot waits as long (it waited the time limit only, and was told sql_busy just before
 * a run killed past its limit gave the slot up).
 */
export const slotHeldAtMostMs = (timeoutMs: number) => timeoutMs + KILL_AFTER_MS

/**
 * What a sandbox worker is started under besides SANDBOX_DATA_BYTES: how long it may take to load
 * and say it is ready (past that it is killed, SqlUnavailable: a hung start held the run, and its
 * slot, until the client left), and the largest file it may write (`ulimit -f`: a Parquet answer,
 * within the time limit, filled as much disk as there was). A worker keeps the limits it was
 * started with; a test lowers them.
 */
export const sandboxLimits = { startMs: 15_000, fileBytes: 2 * 1024 ** 3 }

/**
 * Workers idle between runs (each takes a second or more to start): as many as the sandbox's slots,
 * each for IDLE_MS at most (one takes some 140 MB).
 */
const idle = new Map<ChildProcess, ReturnType<typeof setTimeout>>()
const MAX_IDLE = 2
const IDLE_MS = 60_000

/** Alive as far as this process knows: not exited, not signalled by it (a kill on its way). */
const usable = (w: ChildProcess) => w.connected && !w.killed && w.exitCode === null && w.signalCode === null

/** Workers that were idle once (the ones that can die unseen before they take a run). */
const idled = new WeakSet<ChildProcess>()

/**
 * The most data a worker may hold (its VmData) and still be kept for another run: half its limit.
 * DuckDB's allocator keeps the address space a run grew into, and the data-size limit counts it: a
 * worker kept after a large aggregate and a gigabyte of list values held its whole 2 GiB, and every
 * later statement needing a block failed on it ("Failed to allocate block"), whoever sent it.
 */
const IDLE_MAX_DATA_BYTES = SANDBOX_DATA_BYTES / 2

/** A process's data size from /proc (Linux); undefined where it cannot be read. */
const dataBytesOf = (pid: number | undefined): number | undefined => {
  try {
    const kb = /^VmData:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return kb === null ? undefined : Number(kb[1]) * 1024
  } catch {
    return undefined
  }
}

const keepIdle = (worker: ChildProcess) => {
  if (idle.size >= MAX_IDLE || !usable(worker) || (dataBytesOf(worker.pid) ?? 0) > IDLE_MAX_DATA_BYTES) return worker.kill("SIGKILL")
  idled.add(worker)
  idle.set(worker, setTimeout(() => {
    idle.delete(worker)
    worker.kill("SIGKILL")
  }, IDLE_MS).unref())
}

/** Ends the idle workers (the server stopping; they would end with it anyway, their channel closed). */
export const stopIdleSandboxes = (): void => {
  for (const [worker, timer] of idle) {
    clearTimeout(timer)
    worker.kill("SIGKILL")
  }
  idle.clear()
}

const workerPath = fileURLToPath(new URL("./sandboxWorker.ts", import.meta.url))

/**
 * Makes the worker the first process the kernel kills when memory runs out (Linux; elsewhere it
 * does nothing). Its data-size limit is its own, not its container's: in a 1 GiB pod, two runs at
 * once can reach the pod's limit, where the kernel kills the process of most memory, serve itself
 * as likely as the worker (docs/operations.md "In a container"). A killed worker fails its run only.
 */
const OOM_FIRST = "echo 1000 2>/dev/null > /proc/self/oom_score_adj"

/**
 * The variables a worker runs with: only those it needs (the shell's and Node's PATH, the home and
 * temp directories, locale and zone, the allocators' settings), none of the server's own (`K2_*`:
 * key hashes, a catalog URL with its password, REST credentials; `OTEL_*` headers; anything else a
 * deployment puts there). The sandbox reads no file of its own choosing; if it ever could, the
 * worker's `/proc/self/environ` holds nothing worth reading.
 */
const WORKER_ENV = /^(?:PATH|UV_THREADPOOL_SIZE|HOME|TMPDIR|TMP|TEMP|TZ|LANG|LANGUAGE|LC_[A-Z_]+|LD_LIBRARY_PATH|DUCKDB_[A-Z_]+|MALLOC_[A-Z_]+)$/
const workerEnv = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(env).filter(([name, value]) => value !== undefined && WORKER_ENV.test(name)))

/**
 * A worker loaded and ready for a run: an idle one (unless `fresh`), else a new one (under its
 * data-size and file-size limits, killed if not ready within `sandboxLimits.startMs`).
 */
const startWorker = (fresh = false): Promise<ChildProcess> => {
  for (const [w, timer] of fresh ? [] : idle) {
    idle.delete(w)
    clearTimeout(timer)
    if (usable(w)) return Promise.resolve(w)
  }
  return new Promise((resolve, reject) => {
    const { fileBytes, startMs } = sandboxLimits
    // `ulimit -f` counts 512-byte blocks (POSIX). The worker is told its file limit, for its message.
    const child = spawn(
      "/bin/sh",
      [
        "-c",
        `${OOM_FIRST}; ulimit -d ${Math.floor(SANDBOX_DATA_BYTES / 1024)} && ulimit -f ${Math.floor(fileBytes / 512)} && exec "$0" "$@"`,
        process.execPath,
        "--disable-warning=ExperimentalWarning",
        workerPath,
        String(fileBytes)
      ],
      { stdio: ["ignore", "inherit", "inherit", "ipc"], env: workerEnv(process.env) }
    )
    const failed = (why: string) => {
      clearTimeout(timer)
      child.kill("SIGKILL")
      reject(new SqlUnavailable({ detail: why }))
    }
    const timer = setTimeout(() => failed(`not ready within ${startMs} ms`), startMs)
    const exited = (code: number | null, signal: NodeJS.Signals | null) => failed(`exit ${code ?? signal}`)
    // Always heard (an 'error' no one hears throws): a worker whose channel failed is of no more use.
    child.on("error", (e: NodeJS.ErrnoException) => {
      child.kill("SIGKILL")
      failed(e.code ?? "spawn failed")
    })
    child.once("exit", exited)
    child.once("message", (m) => {
      child.off("exit", exited)
      clearTimeout(timer)
      if (m === "ready") resolve(child)
      else failed("unexpected message")
    })
  })
}

const failureFrom = (f: { readonly _tag?: string; readonly detail?: string; readonly ms?: number }, options: SandboxRequest) =>
  f._tag === "SqlRefused"
    ? new SqlRefused({ detail: f.detail ?? "" })
    : f._tag === "SqlTimeout"
    ? new SqlTimeout({ ms: f.ms ?? options.timeoutMs })
    : new SqlFailed({ detail: f.detail ?? "" })

/**
 * Runs one user SELECT in a fresh locked-down instance (`runInThisProcess`) in a worker process
 * held to SANDBOX_DATA_BYTES, killed KILL_AFTER_MS past the time limit (SqlTimeout) or as soon as
 * the run is interrupted (the client gone), and waited for until it has exited, so the
 * two-at-once limit holds. A worker that ended its run is kept for the next one.
 */
export const runSandboxed = (options: SandboxRequest): Effect.Effect<SqlResult, SqlRefused | SqlFailed | SqlTimeout | SqlUnavailable> =>
  Effect.callback<SqlResult, SqlRefused | SqlFailed | SqlTimeout | SqlUnavailable>((resume) => {
    let ended = false
    let timedOut = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const end = (outcome: Effect.Effect<SqlResult, SqlRefused | SqlFailed | SqlTimeout | SqlUnavailable>) => {
      if (ended) return
      ended = true
      clearTimeout(timer)
      resume(outcome)
    }
    let started = startWorker()
    const runOn = (c: ChildProcess, reused: boolean) => {
      if (ended) return
      // The worker has the run (it says so first): an idle worker that died unseen (killed, its
      // exit not yet heard) never does, and the run goes to a new one instead of failing.
      let taken = false
      c.ref()
      c.on("message", (m: "running" | { done?: SqlResult; failed?: { _tag?: string; detail?: string; ms?: number } }) => {
        if (m === "running") return void (taken = true)
        c.removeAllListeners("message")
        c.removeAllListeners("exit")
        c.unref()
        // The channel, unreferenced, keeps neither a server nor a test process from exiting.
        ;(c.channel as { unref?: () => void } | undefined)?.unref?.()
        keepIdle(c)
        end(m.done !== undefined ? Effect.succeed(m.done) : Effect.fail(failureFrom(m.failed ?? {}, options)))
      })
      c.once("exit", (code, signal) => {
        c.removeAllListeners("message")
        if (reused && !taken && !timedOut && !ended) {
          clearTimeout(timer)
          started = startWorker(true)
          return void started.then((n) => runOn(n, false), unavailable)
        }
        end(Effect.fail(
          timedOut ? new SqlTimeout({ ms: options.timeoutMs }) : new SqlFailed({
            detail: `the statement took more memory than the sandbox allows (${SANDBOX_DATA_BYTES / 1024 ** 2} MiB), or its process failed (${code ?? signal})`
          })
        ))
      })
      ;(c.channel as { ref?: () => void } | undefined)?.ref?.()
      // From the run's start: a worker's start (a second or more) is not the statement's time.
      timer = setTimeout(() => {
        timedOut = true
        c.kill("SIGKILL")
      }, options.timeoutMs + KILL_AFTER_MS)
      // A channel closed meanwhile (the worker died idle): its exit, heard above, hands the run on.
      c.send({ run: options }, (e) => e === null ? undefined : void c.kill("SIGKILL"))
    }
    const unavailable = (e: unknown) => end(Effect.fail(e instanceof SqlUnavailable ? e : new SqlUnavailable({ detail: String(e) })))
    started.then((c) => runOn(c, idled.has(c)), unavailable)
    // Interrupted (the client gone): the worker, once started, is killed and waited for, so
    // clients that leave at once cannot have more workers starting or running than the slots.
    return Effect.promise(() => {
      ended = true
      clearTimeout(timer)
      return started.then((c) => {
        if (c.exitCode !== null || c.signalCode !== null) return
        const gone = new Promise<void>((resolve) => c.once("exit", () => resolve()))
        c.kill("SIGKILL")
        return gone
      }, () => undefined)
    })
  })
