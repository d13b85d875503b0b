/**
 * K2 programs as separate OS processes (Node 22 directly, so signals reach them), for tests
 * that watch them from outside: their logs, their /metrics, their exported spans.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createServer } from "node:net"
import * as path from "node:path"
import { Effect } from "effect"
import { onTestFinished, TestRunner } from "vitest"
import type { IngestProcess } from "./ingestHarness.ts"
import type * as Lakehouse from "../../src/layers/lakehouse.ts"

export const repo = path.resolve(import.meta.dirname, "../..")

/** Whether a process of this pid still lives (signal 0 tests it without signalling). */
export const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A port no one listens on right now (the OS picks it). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

/**
 * A process a test started is killed when the test ends, if it still runs: a test failing before it
 * stopped its process left it running through the rest of the suite (workers are shared), taking
 * the cores and its Kafka group. One started by a hook (no test running) is the hook's to stop, and
 * one started by a concurrent test the test's own: vitest's current test is then the last one
 * started, and the process was killed when that one ended, under the test still using it.
 */
const killedWhenTestEnds = (child: ChildProcess) => {
  if (TestRunner.getCurrentTest()?.concurrent === true) return
  try {
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    })
  } catch {
    // Not inside a test.
  }
}

/**
 * `node args` in the repo, with `env` added to this process's environment: its output is kept (the
 * last 20k characters) and appended to `logFile` if given.
 */
export const spawnNode = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>>, logFile?: string): IngestProcess => {
  const child = spawn(process.execPath, args, { cwd: repo, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  killedWhenTestEnds(child)
  let out = ""
  const log = logFile === undefined ? undefined : fs.createWriteStream(logFile, { flags: "a" })
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on("data", (d) => {
      out = (out + d).slice(-20_000)
      log?.write(d)
    })
  }
  // "close", not "exit": output can still arrive after the process exits, until its pipes close.
  const exited = new Promise<number | null>((resolve) =>
    child.on("close", (code) => {
      log?.end()
      resolve(code)
    })
  )
  return { child, output: () => out, exited }
}

/** `src/programs/<program>.ts args`, with `env` added to this process's environment. */
export const spawnProgram = (
  program: "serve" | "produce" | "ingest" | "compact" | "query" | "replay",
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {}
): IngestProcess =>
  spawnNode(["--disable-warning=ExperimentalWarning", path.join(repo, `src/programs/${program}.ts`), ...args], env)

/** `serve` over a test warehouse on 127.0.0.1:port, anonymous (K2_API_AUTH=off). */
export const spawnServe = (options: Lakehouse.LakehouseOptions, port: number, env: Readonly<Record<string, string>> = {}) => {
  const catalog = options.catalog
  return spawnProgram("serve", [
    "--warehouse", options.warehouse,
    "--catalog", catalog._tag === "postgres" ? catalog.url : catalog._tag === "sqlite" ? catalog.path : "",
    "--catalog-name", options.catalogName ?? "k2",
    "--port", String(port),
    "--host", "127.0.0.1"
  ], { K2_API_AUTH: "off", ...env })
}

/** Every complete JSON log line a process writes to stderr from now on. */
export const jsonLogLines = (p: IngestProcess): Array<Record<string, unknown>> => {
  const lines: Array<Record<string, unknown>> = []
  let pending = ""
  p.child.stderr!.on("data", (d) => {
    pending += String(d)
    const parts = pending.split("\n")
    pending = parts.pop()!
    for (const line of parts) {
      if (!line.startsWith("{")) continue
      try {
        lines.push(JSON.parse(line))
      } catch { /* not a log record */ }
    }
  })
  return lines
}

/** Resolves once the process has written `text` (or has exited). */
export const written = (p: IngestProcess, text: string) =>
  Effect.promise(() =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (p.output().includes(text) || p.child.exitCode !== null) {
          clearInterval(timer)
          resolve()
        }
      }
      const timer = setInterval(check, 50)
    })
  )

/** Polls `url` until it answers 2xx (or the time is up, then fails with the process output). */
export const waitForHttp = async (url: string, p: IngestProcess, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (p.child.exitCode !== null) throw new Error(`process exited ${p.child.exitCode} before ${url} answered\n${p.output()}`)
    const ok = await fetch(url, { signal: AbortSignal.timeout(5_000) }).then((r) => r.ok, () => false)
    if (ok) return
    if (Date.now() > deadline) throw new Error(`${url} did not answer in ${timeoutMs} ms\n${p.output()}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}
