/**
 * Process CPU (every thread: JS, V8's helpers, libuv's pool, DuckDB's workers) per row of
 * `writeDataFiles` on the simulator's trades and quotes, in flushes of one table's rows as ingestion
 * buffers them, for variants of DuckDB's settings run alternately (A B B A ...): on a shared machine
 * wall time swings with other jobs, CPU per row much less. Prints each round and the medians.
 *
 *   MALLOC_ARENA_MAX=2 node --expose-gc --max-old-space-size=1024 bench/parquetCpu.ts
 *
 * K2_PARQUET_EVENTS (simulator events, default 400k), K2_PARQUET_FLUSH (rows a flush,
 * default 30k), K2_PARQUET_ROUNDS (default 6), K2_PARQUET_VARIANTS (JSON: a name to the
 * SET statements run before its round; default DuckDB's threads against one thread).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Stream } from "effect"
import { quoteRows, tradeRows } from "../src/domain/rows.ts"
import type { ColumnBatch } from "../src/domain/columnBatch.ts"
import { tables } from "../src/domain/tables.ts"
import { DuckDb } from "../src/layers/duckdb/DuckDb.ts"
import { writeDataFiles } from "../src/layers/iceberg/parquet.ts"
import { makeSimulator, Unpaced } from "../src/layers/feeds/simulator.ts"
import { DEFAULT_SYMBOLS } from "../src/domain/feeds/symbolUniverse.ts"

const EVENTS = Number(process.env["K2_PARQUET_EVENTS"] ?? 400_000)
const FLUSH = Number(process.env["K2_PARQUET_FLUSH"] ?? 30_000)
const ROUNDS = Number(process.env["K2_PARQUET_ROUNDS"] ?? 6)
const variants: Record<string, Array<string>> = JSON.parse(process.env["K2_PARQUET_VARIANTS"] ?? '{"default threads":[],"one thread":["SET threads = 1"]}')

const procCpuUs = () => {
  const f = fs.readFileSync("/proc/self/stat", "utf8")
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ")
  // fields 14, 15 (utime, stime) are rest[11], rest[12]
  return (Number(rest[11]) + Number(rest[12])) * 10_000
}

const main = Effect.gen(function*() {
  const feed = yield* makeSimulator({ pacing: Unpaced, eventsPerSymbolPerDay: Math.round(EVENTS / DEFAULT_SYMBOLS.length) })
  const events = yield* Stream.runCollect(feed.events())
  // Flushes: each table's rows buffered until FLUSH rows, as the ingest buffers do per table.
  const batches: Array<{ table: "trades" | "quotes"; batch: ColumnBatch }> = []
  let trades = tradeRows()
  let quotes = quoteRows()
  let offset = 0n
  const lineage = (topic: string) => ({
    ingestion_timestamp: Date.now() * 1000,
    kafka_topic: topic,
    kafka_partition: Number(offset % 12n),
    kafka_offset: offset++
  })
  for (const e of events) {
    if (e._tag === "Trade") {
      trades.push({ ...e.trade, ...lineage("market.equities.trades.asx") })
      if (trades.size >= FLUSH) batches.push({ table: "trades", batch: trades.columns() }), trades = tradeRows()
    } else if (e._tag === "Quote") {
      quotes.push({ ...e.quote, ...lineage("market.equities.quotes.asx") })
      if (quotes.size >= FLUSH) batches.push({ table: "quotes", batch: quotes.columns() }), quotes = quoteRows()
    }
  }
  const rows = batches.reduce((n, b) => n + b.batch.rowCount, 0)
  console.log(`events ${events.length}, ${batches.length} flushes, ${rows} rows (trades ${batches.filter((b) => b.table === "trades").length} flushes)`)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-bench-parquet-"))
  const writeAll = (name: string, round: number) =>
    Effect.gen(function*() {
      const all = variants[name]!
      const duck = yield* DuckDb
      yield* duck.withConnection((c) => Effect.promise(async () => {
        await c.run("RESET threads")
        for (const s of all) await c.run(s)
      }))
      let bytes = 0
      let files = 0
      for (const [i, b] of batches.entries()) {
        const t = tables[b.table]
        const written = yield* writeDataFiles(b.batch, {
          schema: t.schema,
          spec: t.spec,
          sortOrder: t.sortOrder,
          directory: path.join(dir, `${name}-${round}`, b.table),
          targetFileSizeBytes: 256 * 1024 * 1024,
          fileNamePrefix: `f${i}`
        })
        for (const f of written) bytes += f.fileSizeInBytes, files++
      }
      return { bytes, files }
    })
  // warm up every variant once
  for (const name of Object.keys(variants)) yield* writeAll(name, -1)
  const results: Record<string, Array<number>> = {}
  const sizes: Record<string, number> = {}
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 === 0 ? Object.keys(variants) : Object.keys(variants).reverse()) {
      if (global.gc) global.gc()
      const c0 = process.cpuUsage()
      const m0 = process.threadCpuUsage()
      const p0 = procCpuUs()
      const t0 = performance.now()
      const r = yield* writeAll(name, round)
      const ms = performance.now() - t0
      const c = process.cpuUsage(c0)
      const m = process.threadCpuUsage(m0)
      const p = procCpuUs() - p0
      const perRow = (c.user + c.system) / rows
      ;(results[name] ??= []).push(perRow)
      sizes[name] = r.bytes
      console.log(`round ${round} ${name}: ${perRow.toFixed(2)} µs/row (proc ${(p / rows).toFixed(2)}, main thread ${((m.user + m.system) / rows).toFixed(2)}), wall ${(ms * 1000 / rows).toFixed(2)} µs/row, ${r.files} files, ${(r.bytes / 1e6).toFixed(2)} MB`)
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
  for (const [name, xs] of Object.entries(results)) {
    const s = [...xs].sort((a, b) => a - b)
    console.log(`${name}: median ${s[Math.floor(s.length / 2)]!.toFixed(2)} µs/row, min ${s[0]!.toFixed(2)}, max ${s[s.length - 1]!.toFixed(2)}, ${(sizes[name]! / 1e6).toFixed(2)} MB (${(sizes[name]! / rows).toFixed(1)} B/row) ${JSON.stringify(variants[name])}`)
  }
}).pipe(Effect.provide(DuckDb.layerWith({})))

Effect.runPromise(main as Effect.Effect<void, unknown>).catch((e) => {
  console.error(e)
  process.exit(1)
})
