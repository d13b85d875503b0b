/**
 * Process CPU an ingested message (user + sys of every thread of the `ingest` child: JS, V8's
 * helpers, libuv's pool, DuckDB's workers), for A/B runs of two source trees or settings on the
 * same pre-filled topics. The ingest bench's figure is machine CPU (the broker and every other job
 * included); this one is the ingest process's own, which other jobs disturb much less.
 *
 *   node bench/ingestCpu.ts fill EVENTS             pre-fills a topic pair of 12 partitions; prints its exchange and total
 *   node bench/ingestCpu.ts run EXCHANGE TOTAL DIR  one `ingest` of DIR (a tree with package.json and src/) over them
 *
 * The child runs with DIR's package.json `ingest` environment and node flags, a fresh warehouse and
 * group, platformatic (K2_CPU_CLIENT=kafkajs for the other), a 1 s commit interval. The broker is K2_TEST_KAFKA_BROKERS. K2_CPU_ENV (JSON)
 * overrides the child's environment (e.g. {"DUCKDB_JE_MALLOC_CONF": "..."}); K2_CPU_NODE_FLAGS adds
 * node flags (e.g. --cpu-prof). Printed: process CPU µs a message from the first commit to the last
 * (`steady`) and over the whole life, the steady share of the main thread, of the other threads by
 * name and of the kernel (`sys`), msgs/s and peak RSS (VmHWM). Alternate trees in one window (A B A B ...).
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import * as Lakehouse from "../src/layers/lakehouse.ts"
import { committedRows, createTopics, publish, type Scenario, topicsOf, uniqueExchange } from "../test/support/ingestHarness.ts"
import { kafkaBrokers } from "../test/support/kafka.ts"

/** µs a USER_HZ tick (100 a second). */
const TICK_US = 10_000

/** utime and stime of a /proc stat line, in µs. */
const statCpu = (stat: string) => {
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return { user: Number(f[11]) * TICK_US, sys: Number(f[12]) * TICK_US }
}

/** CPU µs of each thread name (digits dropped; the main thread as `main`), and `sys`: the kernel's part of all. */
const threadCpu = (pid: number): Record<string, number> => {
  const out: Record<string, number> = { all: 0, sys: 0 }
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let stat: string
    try {
      stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
    } catch {
      continue // the thread ended
    }
    const name = tid === String(pid) ? "main" : stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/[0-9]+$/, "")
    const { sys, user } = statCpu(stat)
    out[name] = (out[name] ?? 0) + user + sys
    out["sys"]! += sys
    out["all"]! += user + sys
  }
  return out
}

const fill = async (events: number) => {
  const exchange = uniqueExchange()
  const s: Scenario = { exchange, group: "k2-cpu-fill", partitions: 12, options: { warehouse: "", catalog: { _tag: "memory" } } }
  const r = await Effect.runPromise(Effect.gen(function*() {
    yield* createTopics(s)
    return yield* publish(s, { eventsPerSymbolPerDay: Math.round(events / 20) })
  }))
  console.log(JSON.stringify({ exchange, total: r.totals.trades + r.totals.quotes }))
}

/** package.json's `ingest` script: its environment and node flags. */
const npmIngest = (dir: string) => {
  const script = (JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts["ingest"]!
  const words = script.split(/\s+/)
  const node = words.indexOf("node")
  return {
    // The words before `node` are its variables, and the shell's `exec` (the script execs the program).
    env: Object.fromEntries(words.slice(0, node).filter((w) => w.includes("=")).map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)])),
    flags: words.slice(node + 1).filter((a) => a.startsWith("--"))
  }
}

const run = async (exchange: string, total: number, dir: string) => {
  const warehouse = fs.mkdtempSync(path.join(os.tmpdir(), "k2-cpu-"))
  const catalogPath = path.join(warehouse, "catalog.db")
  const options: Lakehouse.LakehouseOptions = { warehouse, catalog: { _tag: "sqlite", path: catalogPath } }
  const ingest = npmIngest(dir)
  const child = spawn(process.execPath, [
    ...ingest.flags,
    ...(process.env["K2_CPU_NODE_FLAGS"] ?? "").split(/\s+/).filter(Boolean),
    path.join(dir, "src/programs/ingest.ts"),
    "--brokers", kafkaBrokers.join(","),
    "--warehouse", warehouse,
    "--catalog", catalogPath,
    "--group", `k2-cpu-${Date.now()}`,
    "--topics", topicsOf(exchange).join(","),
    "--commit-interval-ms", "1000",
    "--client", process.env["K2_CPU_CLIENT"] ?? "platformatic"
  ], {
    cwd: dir,
    env: { ...process.env, ...ingest.env, ...(JSON.parse(process.env["K2_CPU_ENV"] ?? "{}") as Record<string, string>) },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  for (const stream of [child.stdout, child.stderr]) stream.on("data", (d) => (output = (output + d).slice(-5_000)))
  const pid = child.pid!
  const started = Date.now()
  const sample = (rows: number) => ({ rows, at: Date.now(), cpu: threadCpu(pid) })
  const { first, last } = await Effect.runPromise(Effect.gen(function*() {
    let first: ReturnType<typeof sample> | undefined
    for (;;) {
      const rows = (yield* committedRows.pipe(Effect.orElseSucceed(() => 0))) ?? 0
      if (child.exitCode !== null || child.signalCode !== null) {
        return yield* Effect.die(new Error(`ingest exited (${child.exitCode ?? child.signalCode}):\n${output}`))
      }
      if (rows > 0 && first === undefined) first = sample(rows)
      if (rows >= total && first !== undefined) return { first, last: sample(rows) }
      if (Date.now() - started > 900_000) return yield* Effect.die(new Error(`ingest committed ${rows} of ${total} in 15 minutes:\n${output}`))
      yield* Effect.sleep("100 millis")
    }
  }).pipe(Effect.provide(Lakehouse.layer(options))))
  const peakMb = Math.round(Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024)
  child.kill("SIGTERM")
  await new Promise((resolve) => child.on("close", resolve))
  fs.rmSync(warehouse, { recursive: true, force: true })
  const messages = total - first.rows
  const perMessage = (us: number) => Number((us / messages).toFixed(2))
  console.log(JSON.stringify({
    dir,
    env: process.env["K2_CPU_ENV"] ?? "",
    client: process.env["K2_CPU_CLIENT"] ?? "platformatic",
    steadyUsPerMsg: perMessage(last.cpu["all"]! - first.cpu["all"]!),
    lifeUsPerMsg: Number((last.cpu["all"]! / total).toFixed(2)),
    parts: Object.fromEntries(Object.keys(last.cpu).filter((k) => k !== "all").map((k) => [k, perMessage(last.cpu[k]! - (first.cpu[k] ?? 0))])),
    msgsPerSec: Math.round(messages / Math.max((last.at - first.at) / 1000, 0.001)),
    peakMb,
    load: Number(os.loadavg()[0]!.toFixed(1))
  }))
}

const [mode, ...rest] = process.argv.slice(2)
if (mode === "fill" && rest.length === 1) await fill(Number(rest[0]))
else if (mode === "run" && rest.length === 3) await run(rest[0]!, Number(rest[1]), path.resolve(rest[2]!))
else {
  console.error("usage: bench/ingestCpu.ts fill EVENTS | run EXCHANGE TOTAL DIR")
  process.exit(2)
}
process.exit(0)
