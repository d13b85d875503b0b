/**
 * Ingestion end to end on the local broker (`scripts/kafka.sh start`), per client layer:
 * messages/s from a pre-filled topic into the tables (a separate `ingest` process, as in
 * production), its peak RSS, and freshness (produce → visible in a scan) at a steady rate.
 * The bare clients' consume rates on the same kind of topic come from the `kafka` section.
 * Run: `npm run bench -- ingest` (K2_BENCH_INGEST_EVENTS, default 500k).
 */
import * as fs from "node:fs"
import { Effect, Fiber } from "effect"
import { Catalog } from "../src/services/Catalog.ts"
import * as Lakehouse from "../src/layers/lakehouse.ts"
import {
  createTopics,
  publish,
  type Scenario,
  spawnIngest,
  stop,
  uniqueExchange,
  waitForRows
} from "../test/support/ingestHarness.ts"
import { ensureBroker } from "../test/support/kafka.ts"
import { warehouseOptions } from "../test/support/warehouse.ts"

const EVENTS = Number(process.env.K2_BENCH_INGEST_EVENTS ?? 500_000)
const SYMBOLS = 20

const scenario = (): Scenario => {
  const exchange = uniqueExchange()
  return { exchange, group: `k2-bench-${exchange.toLowerCase()}`, partitions: 12, options: warehouseOptions("sqlite") }
}

/** Peak resident set of a process, from /proc (VmHWM), in MB. */
const peakRssMb = (pid: number) => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return Math.round(kb / 1024)
}

/** Rows committed in trades + quotes, from the current snapshots' summaries (what a scan would see). */
const committedRows = () =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    let n = 0
    for (const name of ["trades", "quotes"]) {
      const t = yield* catalog.loadTable({ namespace: "market_data", name }).pipe(Effect.option)
      if (t._tag === "None") continue
      const current = t.value.metadata.snapshots.find((x) => x["snapshot-id"] === t.value.metadata["current-snapshot-id"])
      n += Number(current?.summary["total-records"] ?? 0)
    }
    return n
  })

const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN
}

const throughput = (client: string) =>
  Effect.gen(function*() {
    const s = scenario()
    yield* createTopics(s)
    const r = yield* publish(s, { eventsPerSymbolPerDay: Math.round(EVENTS / SYMBOLS) })
    const total = r.totals.trades + r.totals.quotes
    const started = Date.now()
    const ingest = spawnIngest(s, ["--client", client])
    let peak = 0
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, peakRssMb(ingest.child.pid!))
      } catch { /* exited */ }
    }, 250)
    yield* waitForRows(s, total, 600_000)
    const seconds = (Date.now() - started) / 1000
    clearInterval(sampler)
    yield* stop(ingest)
    return { rate: Math.round(total / seconds), total, seconds, peak }
  })

/** Freshness at a steady 20,000 events/s: how long after a record is produced a scan sees it. */
const freshness = (client: string) =>
  Effect.gen(function*() {
    const s = scenario()
    yield* createTopics(s)
    const ingest = spawnIngest(s, ["--client", client, "--commit-interval-ms", "1000"])
    yield* Effect.sleep("5 seconds")
    let produced = 0
    const producer = yield* Effect.forkChild(publish(s, {
      eventsPerSymbolPerDay: 20_000,
      pacing: { _tag: "Rate", eventsPerSecond: 20_000 }
    }))
    const started = Date.now()
    const latencies: Array<number> = []
    const pending: Array<{ at: number; produced: number }> = []
    yield* Effect.gen(function*() {
      while (Date.now() - started < 20_000) {
        produced = Math.floor(((Date.now() - started) / 1000) * 20_000)
        pending.push({ at: Date.now(), produced })
        const visible = yield* committedRows()
        while (pending.length > 0 && pending[0]!.produced <= visible) latencies.push(Date.now() - pending.shift()!.at)
        yield* Effect.sleep("100 millis")
      }
    }).pipe(Effect.provide(Lakehouse.layer(s.options)))
    yield* Fiber.interrupt(producer)
    yield* stop(ingest)
    return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), n: latencies.length }
  })

export const benchIngestEffect = () =>
  Effect.gen(function*() {
    yield* Effect.sync(ensureBroker)
    const results: Record<string, number | string> = {}
    for (const client of ["platformatic", "kafkajs"]) {
      const t = yield* throughput(client)
      results[`${client}: end-to-end messages/s (${t.total} from a pre-filled topic)`] = t.rate
      results[`${client}: ingest peak RSS MB`] = t.peak
    }
    const f = yield* freshness("platformatic")
    results["freshness p50 ms (commit interval 1000 ms, 20k events/s)"] = f.p50
    results["freshness p99 ms"] = f.p99
    return results
  })
