/**
 * Ingestion end to end on the local broker (`scripts/kafka.sh start`), per client layer:
 * messages/s from a pre-filled topic into the tables (a separate `ingest` process, as in
 * production), its peak RSS, and freshness (produce → visible in a scan) at a steady rate.
 * Each client's bare consume rate (bareConsume.ts) is measured on the same pre-filled topics first.
 * Run: `npm run bench -- ingest` (K2_BENCH_INGEST_EVENTS, default 500k; K2_BENCH_INGEST_PARTITIONS,
 * partitions of each topic, default 12; K2_BENCH_INGEST_CLIENTS,
 * default platformatic,kafkajs; K2_BENCH_INGEST_NODE_FLAGS, node flags added to the ingest child;
 * K2_BENCH_INGEST_CHILD_LOG, a file the child's output is appended to; K2_BENCH_INGEST_FRESHNESS=0
 * skips the freshness runs; K2_BENCH_INGEST_FRESHNESS_RUNS, runs at the 300 ms interval, default 3:
 * their median p99 is reported, each with its mean table commit and the machine's idle share).
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import { Cause, Effect, Exit, Fiber, Layer } from "effect"
import { makeWireCodec } from "../src/domain/avro/codec.ts"
import { DEFAULT_SYMBOLS } from "../src/domain/feeds/symbolUniverse.ts"
import * as Feeds from "../src/layers/feeds/simulator.ts"
import { defaultIngestConfig } from "../src/layers/ingest/ingestor.ts"
import { publishFeed } from "../src/layers/produce/publisher.ts"
import { kafkaLayer } from "../src/programs/cli/kafka.ts"
import * as Lakehouse from "../src/layers/lakehouse.ts"
import {
  committedRows,
  createTopics,
  publish,
  type Scenario,
  spawnIngest,
  stop,
  topicsOf,
  uniqueExchange,
} from "../test/support/ingestHarness.ts"
import { ensureBroker, kafkaBrokers } from "../test/support/kafka.ts"
import { warehouseOptions } from "../test/support/warehouse.ts"
import { bareConsumeRate } from "./bareConsume.ts"
import { cpuBetween, machineTicks, type Ticks } from "./machineCpu.ts"
import { benchCount, benchText } from "./settings.ts"


/**
 * The environment and node flags of package.json's `ingest` script (malloc arenas, V8 heap
 * settings): the bench measures what `npm run ingest` runs.
 */
const npmIngest = (): { readonly env: Readonly<Record<string, string>>; readonly flags: ReadonlyArray<string> } => {
  const pkg = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    readonly scripts: Readonly<Record<string, string>>
  }
  const words = pkg.scripts["ingest"]!.split(/\s+/)
  const command = words.slice(0, words.findIndex((w) => w.endsWith(".ts")))
  const node = command.indexOf("node")
  return {
    // The words before `node` are its variables, and the shell's `exec` (the script execs the program).
    env: Object.fromEntries(command.slice(0, node).filter((w) => w.includes("=")).map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)])),
    flags: command.slice(node + 1).filter((a) => a.startsWith("--") && !a.startsWith("--disable-warning"))
  }
}

const NPM_INGEST = npmIngest()

const SYMBOLS = 20

const PARTITIONS = benchCount("K2_BENCH_INGEST_PARTITIONS")

/** Keys enough that every partition has records: the default symbols up to 12 partitions, else 4 a partition. */
const benchSymbols = (): ReadonlyArray<string> | undefined =>
  PARTITIONS <= 12 ? undefined : Array.from({ length: PARTITIONS * 4 }, (_, i) => `S${String(i).padStart(5, "0")}`)

const scenario = (): Scenario => {
  const exchange = uniqueExchange()
  return {
    exchange,
    group: `k2-bench-${exchange.toLowerCase()}`,
    partitions: PARTITIONS,
    options: warehouseOptions("sqlite"),
    // K2_BENCH_INGEST_NODE_FLAGS adds flags for a look inside the child (e.g. --cpu-prof).
    nodeFlags: [...NPM_INGEST.flags, ...(benchText("K2_BENCH_INGEST_NODE_FLAGS").split(/\s+/).filter(Boolean))],
    nodeEnv: NPM_INGEST.env,
    // K2_BENCH_INGEST_CHILD_LOG keeps what the child prints (with e.g. --trace-gc-nvp).
    ...(benchText("K2_BENCH_INGEST_CHILD_LOG") === "" ? {} : { logFile: benchText("K2_BENCH_INGEST_CHILD_LOG") })
  }
}

/** Peak resident set of a process, from /proc (VmHWM), in MB. */
const peakRssMb = (pid: number) => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return Math.round(kb / 1024)
}

const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN
}

/**
 * One `ingest` process (`args`, `env` added) over topics pre-filled with `total` valid records:
 * messages/s from the first rows visible to the last (the steady state, without process start
 * and group join, which `wall` includes), watched through the catalog's snapshot summaries.
 */
export const ingestRun = (s: Scenario, total: number, args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const started = Date.now()
    const ingest = spawnIngest(s, args, env)
    let peak = 0
    // Until the process is gone, its drain and exit included (the high-water mark only grows).
    const sampling = yield* Effect.forkChild(Effect.forever(Effect.andThen(
      Effect.sync(() => {
        try {
          peak = Math.max(peak, peakRssMb(ingest.child.pid!))
        } catch { /* exited */ }
      }),
      Effect.sleep("50 millis")
    )))
    let first: { at: number; rows: number; ticks: Ticks } | undefined
    let rows = 0
    yield* Effect.gen(function*() {
      for (;;) {
        rows = (yield* committedRows.pipe(Effect.orElseSucceed(() => rows))) ?? rows
        if (rows > 0 && first === undefined) first = { at: Date.now(), rows, ticks: machineTicks() }
        const exited = ingest.child.exitCode !== null || ingest.child.signalCode !== null
        if (rows >= total || exited || Date.now() - started > 600_000) return
        yield* Effect.sleep("100 millis")
      }
    }).pipe(Effect.provide(Lakehouse.layer(s.options)))
    const finished = Date.now()
    const ticks = machineTicks()
    yield* stop(ingest)
    yield* Fiber.interrupt(sampling)
    // A rate over records that never landed is no rate: a run that stalled or died says so.
    if (rows < total) {
      return yield* Effect.die(new Error(`ingest committed ${rows} of ${total} rows (exit code ${ingest.child.exitCode}, signal ${ingest.child.signalCode})\n${ingest.output()}`))
    }
    const steady = first === undefined ? NaN : (total - first.rows) / Math.max((finished - first.at) / 1000, 0.001)
    const cpu = first === undefined ? { usPerMessage: NaN, busyCores: NaN } : cpuBetween(first.ticks, ticks, total - first.rows)
    return { steady: Math.round(steady), wall: Math.round(total / ((finished - started) / 1000)), peak, cpu }
  })

const throughput = (client: string) =>
  Effect.gen(function*() {
    if (client !== "kafkajs" && client !== "platformatic") return yield* Effect.die(new Error(`no bare client ${client}: kafkajs or platformatic`))
    const s = scenario()
    yield* createTopics(s)
    const symbols = benchSymbols()
    const r = yield* publish(s, {
      eventsPerSymbolPerDay: Math.round(benchCount("K2_BENCH_INGEST_EVENTS") / (symbols?.length ?? SYMBOLS)),
      ...(symbols === undefined ? {} : { symbols })
    })
    const total = r.totals.trades + r.totals.quotes
    // The bare client first, on the same topics: it also warms the broker's page cache alike for both.
    const bare = yield* Effect.promise(() => bareConsumeRate(client, kafkaBrokers[0]!, topicsOf(s.exchange), total))
    return { ...(yield* ingestRun(s, total, ["--client", client])), total, bare: bare.rate, bareCpu: bare.cpu }
  })

/**
 * The first seconds of producing meet a cold ingest process (code not yet optimised, first
 * flushes): their samples are reported apart from the steady state's.
 */
const FRESHNESS_WARMUP_MS = 5_000
const FRESHNESS_STEADY_MS = 20_000
const FRESHNESS_RATE = 20_000

/**
 * Freshness at a steady FRESHNESS_RATE events/s: how long after a record is produced a scan sees it,
 * with ingest committing every `commitIntervalMs`; samples of the warm-up and of the steady state.
 */
const freshness = (client: string, commitIntervalMs: number) =>
  Effect.gen(function*() {
    const s = { ...scenario(), commitIntervalMs }
    yield* createTopics(s)
    const metricsPort = yield* Effect.promise(freePort)
    const ingest = spawnIngest(s, ["--client", client, "--metrics-port", String(metricsPort)])
    // The steady state's table commits (the child's own histogram) and the machine's idle share over it:
    // a flush's commits follow the spare CPU, and the p99 follows them.
    let steadyFrom: { commits: CommitTimes; ticks: Ticks } | undefined
    yield* Effect.sleep("8 seconds")
    // The feed sends one instrument per symbol first, to a topic this ingest does not read: the
    // tables never count them (the last sample, counting them, was never seen).
    const symbols = DEFAULT_SYMBOLS.slice(0, SYMBOLS)
    // Samples of (when acknowledged, how many trades and quotes produced by then).
    const pending: Array<{ at: number; produced: number }> = []
    const producer = yield* Effect.forkChild(
      publishFeed(makeWireCodec(), {
        batchSize: 500,
        onProgress: (p) =>
          Effect.sync(() => {
            if (p.events > symbols.length) pending.push({ at: p.acknowledgedAt, produced: p.events - symbols.length })
          })
      }).pipe(Effect.provide(Layer.merge(
        Feeds.layerSimulator({
          exchange: s.exchange,
          symbols,
          eventsPerSymbolPerDay: (FRESHNESS_RATE * (FRESHNESS_WARMUP_MS + FRESHNESS_STEADY_MS)) / 1000 / SYMBOLS,
          pacing: { _tag: "Rate", eventsPerSecond: FRESHNESS_RATE }
        }),
        kafkaLayer("kafkajs", kafkaBrokers, "k2-bench-producer")
      )))
    )
    const warmup: Array<number> = []
    const steady: Array<number> = []
    const started = Date.now()
    yield* Effect.gen(function*() {
      // Until every sample is visible, with 5 s of grace after the feed's end.
      while (Date.now() - started < FRESHNESS_WARMUP_MS + FRESHNESS_STEADY_MS + 5_000) {
        if (producer.pollUnsafe() !== undefined && pending.length === 0) break
        if (steadyFrom === undefined && Date.now() - started >= FRESHNESS_WARMUP_MS) {
          steadyFrom = { commits: yield* commitTimes(metricsPort), ticks: machineTicks() }
        }
        const visible = (yield* committedRows.pipe(Effect.orElseSucceed(() => 0))) ?? 0
        const seen = Date.now()
        while (pending.length > 0 && pending[0]!.produced <= visible) {
          const sample = pending.shift()!
          ;(sample.at - started < FRESHNESS_WARMUP_MS ? warmup : steady).push(seen - sample.at)
        }
        // A sample is timed when a poll first sees it: the poll's spacing is added to what it
        // measures (50 ms added up to 50 ms to every figure). The catalog answers from its cache
        // between commits, so a poll costs little.
        yield* Effect.sleep("10 millis")
      }
    }).pipe(Effect.provide(Lakehouse.layer(s.options)))
    const steadyTo = { commits: yield* commitTimes(metricsPort), ticks: machineTicks() }
    const produced = producer.pollUnsafe()
    yield* Fiber.interrupt(producer)
    yield* stop(ingest)
    if (produced !== undefined && Exit.isFailure(produced)) {
      return yield* Effect.die(new Error(`freshness: the producer failed: ${Cause.pretty(produced.cause)}`))
    }
    // Samples never seen are the slowest: left out, they would pull the percentiles down. They
    // count with what they waited so far (a lower bound), and how many they were is reported.
    const ended = Date.now()
    const unseen = pending.length
    for (const sample of pending) (sample.at - started < FRESHNESS_WARMUP_MS ? warmup : steady).push(ended - sample.at)
    return {
      p50: percentile(steady, 0.5),
      p99: percentile(steady, 0.99),
      n: steady.length,
      unseen,
      warmupP99: percentile(warmup, 0.99),
      warmupMax: percentile(warmup, 1),
      meanCommitMs: steadyFrom === undefined || steadyTo.commits.count <= steadyFrom.commits.count
        ? NaN
        : Math.round(((steadyTo.commits.seconds - steadyFrom.commits.seconds) / (steadyTo.commits.count - steadyFrom.commits.count)) * 1000),
      idle: steadyFrom === undefined
        ? NaN
        : Math.round((1 - (steadyTo.ticks.busy - steadyFrom.ticks.busy) / Math.max(1, steadyTo.ticks.all - steadyFrom.ticks.all)) * 100)
    }
  })

/** A port free now, for the ingest child's metrics (the default one may be another run's). */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

interface CommitTimes {
  readonly seconds: number
  readonly count: number
}

/** The trades and quotes commits so far of the ingest serving metrics at `port` (none while it does not answer). */
const commitTimes = (port: number) =>
  Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => "")).pipe(
    Effect.map((text): CommitTimes => {
      let seconds = 0
      let count = 0
      for (const m of text.matchAll(/^k2_ingest_commit_duration_seconds_(sum|count)\{([^}]*)\}\s+(\S+)$/gm)) {
        if (!/table="(trades|quotes)"/.test(m[2]!)) continue
        if (m[1] === "sum") seconds += Number(m[3])
        else count += Number(m[3])
      }
      return { seconds, count }
    })
  )

const median = (xs: ReadonlyArray<number>) => percentile(xs, 0.5)

export const benchIngestEffect = () =>
  Effect.gen(function*() {
    yield* Effect.sync(ensureBroker)
    const results: Record<string, number | string> = {}
    const flags = [...Object.entries(NPM_INGEST.env).map(([k, v]) => `${k}=${v}`), ...NPM_INGEST.flags].join(" ")
    for (const client of benchText("K2_BENCH_INGEST_CLIENTS").split(",")) {
      const t = yield* throughput(client)
      results[`${client}: messages/s, first to last commit (${t.total} pre-filled)`] = t.steady
      results[`${client}: messages/s, process start to last commit`] = t.wall
      results[`${client}: bare client consume msgs/s, same topics, same run`] = t.bare
      results[`${client}: end to end / bare client %`] = Number(((t.steady / t.bare) * 100).toFixed(1))
      // What a message costs the whole machine (broker included) and how busy its cores were, over
      // each rate's own window (first record to last; first commit to last).
      results[`${client}: machine CPU µs per message, bare / end to end`] = `${t.bareCpu.usPerMessage} / ${t.cpu.usPerMessage}`
      results[`${client}: machine cores busy, bare / end to end (of ${os.cpus().length})`] = `${t.bareCpu.busyCores} / ${t.cpu.busyCores}`
      results[`${client}: ingest peak RSS MB, as \`npm run ingest\` runs it (${flags})`] = t.peak
    }
    // At the default commit interval (the target: p99 <= 2 x interval), and at 300 ms.
    const intervals = benchText("K2_BENCH_INGEST_FRESHNESS") === "0" ? [] : [defaultIngestConfig.commitIntervalMs, 300]
    for (const interval of intervals) {
      // 300 ms sits at its target's edge, where one run's p99 follows the machine's spare CPU: the
      // median of several runs, each shown with what its commits took and how idle the machine was.
      const runs = interval === 300 ? Math.max(1, benchCount("K2_BENCH_INGEST_FRESHNESS_RUNS")) : 1
      const all: Array<Effect.Success<ReturnType<typeof freshness>>> = []
      for (let i = 0; i < runs; i++) all.push(yield* freshness("platformatic", interval))
      const f = all[0]!
      const rate = `${FRESHNESS_RATE / 1000}k events/s`
      if (runs === 1) {
        results[`freshness p50 / p99 ms, commit interval ${interval} ms (${rate}, ${f.n} samples after the warm-up, ${f.unseen} never seen)`] = `${f.p50} / ${f.p99}`
      } else {
        results[`freshness median of ${runs} runs' p50 / p99 ms, commit interval ${interval} ms (${rate})`] = `${median(all.map((r) => r.p50))} / ${median(all.map((r) => r.p99))}`
        results[`freshness each run's p99 ms, commit interval ${interval} ms (samples after the warm-up; never seen)`] = all.map((r) => `${r.p99} (${r.n}; ${r.unseen})`).join(" · ")
      }
      results[`freshness each run's mean trades/quotes commit ms / machine idle %, commit interval ${interval} ms`] = all.map((r) => `${r.meanCommitMs} / ${r.idle}`).join(" · ")
      results[`freshness in the first ${FRESHNESS_WARMUP_MS / 1000} s (warm-up) p99 / max ms, commit interval ${interval} ms`] = all.map((r) => `${r.warmupP99} / ${r.warmupMax}`).join(" · ")
    }
    return results
  })
