/**
 * Where a flush's table commits spend their time (freshness: a 300 ms interval's p99 is about the
 * interval plus the commits' p99). In process, SQLite catalog, a temp warehouse, the ingest's
 * shape: every interval one trades and one quotes snapshot committed side by side (each fenced
 * with the group's marker of its topic's 12 partitions, as the ingest's), and every 10 s one
 * `sequence_events` snapshot with a tracker checkpoint side file per partition (24). `aged` first
 * gives each table ADR-33's hour of snapshots (3,600 at 1 s; 360 for sequence_events), built in one
 * catalog commit each, as the production ingest's steady state; `fresh` starts from empty tables.
 *
 *   npm run bench -- commit                              (both, K2_BENCH_COMMIT_FLUSHES flushes each)
 *   node bench/tableCommit.ts [fresh|aged] [FLUSHES]
 *   K2_BENCH_COMMIT_EVENTS_PER_SEC (20000), K2_BENCH_COMMIT_INTERVAL_MS (300), K2_BENCH_COMMIT_SERIAL=1,
 *   K2_BENCH_COMMIT_PROFILE=DIR (a CPU profile of the flushes); bench/settings.ts
 *
 * Printed per table commit (mean ms of wall, and of process CPU over the step's span: a step's own
 * only where nothing runs beside it, so with K2_BENCH_COMMIT_SERIAL=1, and even then a manifest's and
 * the manifest list's overlap, written at once): the whole append, the data file (DuckDB
 * COPY, its stats, its fsync), the commit (manifest, manifest list, catalog), the catalog's commit
 * (metadata.json encoded, written and synced, the SQL swap), each kind of file write with its
 * fsyncs, and metadata.json's size and encoding time (measured apart, on the committed metadata).
 */
import * as fs from "node:fs"
import * as inspector from "node:inspector/promises"
import * as os from "node:os"
import * as path from "node:path"
import { BigDecimal, Effect, Layer, Result, Tracer } from "effect"
import { encodeTableMetadata } from "../src/domain/iceberg/metadataFile.ts"
import type { Snapshot, TableMetadata } from "../src/domain/iceberg/spec.ts"
import { CHECKPOINT_PREFIX, fence } from "../src/domain/ingest/marker.ts"
import type { SequenceEvent } from "../src/domain/reference.ts"
import { quoteColumns, type QuoteRow, tradeColumns } from "../src/domain/rows.ts"
import { sequenceEventColumns } from "../src/domain/sequence/events.ts"
import { definitionOf, identifierOf } from "../src/domain/tables.ts"
import { COMMIT_ID } from "../src/layers/iceberg/commit.ts"
import { DurabilityRef } from "../src/layers/iceberg/durable.ts"
import * as FileIOLayers from "../src/layers/iceberg/fileio.ts"
import * as Lakehouse from "../src/layers/lakehouse.ts"
import { Catalog } from "../src/services/Catalog.ts"
import { FileIO } from "../src/services/FileIO.ts"
import { IcebergSink } from "../src/services/IcebergSink.ts"
import { makeTrades } from "../test/support/fixtures.ts"
import { machineTicks } from "./machineCpu.ts"
import { benchCount, benchText } from "./settings.ts"

const GROUP = "k2-ingest"
const PARTITIONS = 12
const CHECKPOINT_EVERY_MS = 10_000
const EVENTS_PER_SEC = benchCount("K2_BENCH_COMMIT_EVENTS_PER_SEC")
const INTERVAL_MS = benchCount("K2_BENCH_COMMIT_INTERVAL_MS")
/** Tables committed one after the other (not side by side, as the ingest does): each step's CPU is then its own. */
const SERIAL = benchText("K2_BENCH_COMMIT_SERIAL") === "1"

/** Wall and process CPU (ms) summed by step name, and how many times each ran. */
class Steps {
  readonly wall = new Map<string, number>()
  readonly cpu = new Map<string, number>()
  readonly count = new Map<string, number>()
  add(name: string, wallMs: number, cpuMs: number) {
    this.wall.set(name, (this.wall.get(name) ?? 0) + wallMs)
    this.cpu.set(name, (this.cpu.get(name) ?? 0) + cpuMs)
    this.count.set(name, (this.count.get(name) ?? 0) + 1)
  }
}

const cpuMs = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

const timedPromise = async <A>(steps: Steps, name: string, f: () => Promise<A>) => {
  const t = performance.now()
  const c = cpuMs()
  try {
    return await f()
  } finally {
    steps.add(name, performance.now() - t, cpuMs() - c)
  }
}

/** The spans of the commit path, timed. */
const tracerOf = (steps: Steps) =>
  Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      const t = performance.now()
      const c = cpuMs()
      const end = span.end.bind(span)
      span.end = (endTime, exit) => {
        steps.add(span.name, performance.now() - t, cpuMs() - c)
        end(endTime, exit)
      }
      return span
    }
  })

const kindOf = (file: string) =>
  file.endsWith(".metadata.json") ? "metadata.json" :
  file.endsWith(".parquet") ? "parquet" :
  /\/snap-[^/]*\.avro$/.test(file) ? "manifest list" :
  file.endsWith(".avro") ? "manifest" :
  file.includes("k2-sequence-") ? "checkpoint file" :
  "directory"

/** Local FileIO whose writes (each with its fsyncs) are timed by kind of file. */
const timedFileIO = (steps: Steps) =>
  Layer.effect(FileIO)(Effect.gen(function*() {
    const inner = yield* FileIO
    return FileIO.of({
      ...inner,
      write: (location, bytes) =>
        Effect.suspend(() => {
          const t = performance.now()
          const c = cpuMs()
          return Effect.ensuring(inner.write(location, bytes), Effect.sync(() => steps.add(`write ${kindOf(location)}`, performance.now() - t, cpuMs() - c)))
        }),
      remove: (location) =>
        Effect.suspend(() => {
          const t = performance.now()
          const c = cpuMs()
          return Effect.ensuring(inner.remove(location), Effect.sync(() => steps.add(`remove ${kindOf(location)}`, performance.now() - t, cpuMs() - c)))
        })
    })
  })).pipe(Layer.provide(FileIOLayers.layer))

const quotesOf = (n: number, base: number): Array<QuoteRow> =>
  makeTrades({ count: n, offsetBase: base, idPrefix: "q" }).map(({ price, quantity, side: _s, trade_id, ...rest }) => ({
    ...rest,
    quote_id: `Q${trade_id}`,
    bid_price: price,
    bid_size: quantity,
    ask_price: BigDecimal.sum(price, BigDecimal.make(1n, 2)),
    ask_size: quantity
  }))

const trades = identifierOf("trades")
const quotes = identifierOf("quotes")
const sequenceEvents = identifierOf("sequence_events")
const topicOf = (table: string) => `market.equities.${table}.bench`

/**
 * `count` snapshots added after the current one in one catalog commit, a second apart up to now,
 * each a copy of the current one (its manifest list, its summary) under a new id and commit id.
 */
const age = (id: { namespace: string; name: string }, count: number, everyMs: number) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    const m = (yield* catalog.loadTable(id)).metadata
    const current = m.snapshots.find((s) => s["snapshot-id"] === m["current-snapshot-id"])!
    const now = Date.now()
    const updates = []
    let parent = current["snapshot-id"]
    for (let i = 0; i < count; i++) {
      const snapshot: Snapshot = {
        ...current,
        "snapshot-id": current["snapshot-id"] + BigInt(i + 1),
        "parent-snapshot-id": parent,
        "sequence-number": m["last-sequence-number"] + BigInt(i + 1),
        "timestamp-ms": now - (count - i) * everyMs,
        summary: { ...current.summary, [COMMIT_ID]: crypto.randomUUID() }
      }
      parent = snapshot["snapshot-id"]
      updates.push({ action: "add-snapshot" as const, snapshot })
      updates.push({ action: "set-snapshot-ref" as const, "ref-name": "main", type: "branch" as const, "snapshot-id": snapshot["snapshot-id"] })
    }
    yield* catalog.commitTable(id, [], updates)
  })

const run = (mode: "fresh" | "aged", flushes: number) =>
  Effect.gen(function*() {
    const steps = yield* Effect.sync(() => new Steps())
    const warehouse = fs.mkdtempSync(path.join(os.tmpdir(), "k2-commit-"))
    const options: Lakehouse.LakehouseOptions = { warehouse, catalog: { _tag: "sqlite", path: path.join(warehouse, "catalog.db") } }
    const storage = Lakehouse.catalogLayer(options).pipe(Layer.provideMerge(timedFileIO(steps)))
    const layer = Lakehouse.layerOn(storage)
    const durability = {
      sync: (handle: fs.promises.FileHandle, file: string) => timedPromise(steps, `fsync ${kindOf(file)}`, () => handle.sync())
    }

    const perTable = Math.round((EVENTS_PER_SEC * INTERVAL_MS) / 1000 / 2)
    const marks = { trades: 0n, quotes: 0n, sequence_events: 0n }
    let offset = 0

    return yield* Effect.gen(function*() {
      const sink = yield* IcebergSink
      const catalog = yield* Catalog
      const files = yield* FileIO
      for (const t of ["trades", "quotes", "sequence_events"] as const) yield* sink.ensureTable(definitionOf(t))

      /** One table's commit, fenced and marked as the ingest's (tableCommits.ts). */
      const commitData = (table: "trades" | "quotes") =>
        Effect.gen(function*() {
          const from = marks[table]
          const to = from + BigInt(perTable)
          const batch = table === "trades" ? tradeColumns(makeTrades({ count: perTable, offsetBase: offset })) : quoteColumns(quotesOf(perTable, offset))
          const moves = Array.from({ length: PARTITIONS }, (_, p) => ({ topic: topicOf(table), partition: p, from, to }))
          yield* sink.append(identifierOf(table), batch, {
            properties: { [COMMIT_ID]: crypto.randomUUID() },
            prepare: (base: TableMetadata) => fence(base, GROUP, moves, table)
          })
          marks[table] = to
        })

      const events: Array<SequenceEvent> = []
      const commitSequence = Effect.gen(function*() {
        const location = (yield* catalog.loadTable(sequenceEvents)).metadata.location
        const checkpoints: Record<string, string> = {}
        yield* Effect.forEach(["trades", "quotes"].flatMap((t) => Array.from({ length: PARTITIONS }, (_, p) => `${topicOf(t)}:${p}`)), (key) => {
          const file = `${location}/metadata/k2-sequence-${crypto.randomUUID()}.json`
          checkpoints[`${CHECKPOINT_PREFIX}${GROUP}.${key}`] = file
          return files.write(file, new TextEncoder().encode(JSON.stringify({ streams: Array.from({ length: 10 }, (_, i) => [i, "ASX", 1234]) })))
        }, { concurrency: 16, discard: true })
        const from = marks.sequence_events
        const to = marks.trades
        const moves = ["trades", "quotes"].flatMap((t) => Array.from({ length: PARTITIONS }, (_, p) => ({ topic: topicOf(t), partition: p, from, to })))
        yield* sink.append(sequenceEvents, sequenceEventColumns(events), {
          properties: { [COMMIT_ID]: crypto.randomUUID() },
          prepare: (base) => Result.map(fence(base, GROUP, moves, "sequence_events"), (marker) => ({ ...marker, ...checkpoints }))
        })
        marks.sequence_events = to
      })

      const flush = (withSequence: boolean) =>
        Effect.gen(function*() {
          yield* Effect.all([commitData("trades"), commitData("quotes")], { concurrency: SERIAL ? 1 : "unbounded", discard: true })
          offset += perTable
          if (withSequence) yield* commitSequence
        })

      yield* flush(true)
      if (mode === "aged") {
        yield* age(trades, 3_600, 1_000)
        yield* age(quotes, 3_600, 1_000)
        yield* age(sequenceEvents, 360, 10_000)
      }
      steps.wall.clear()
      steps.cpu.clear()
      steps.count.clear()

      const profiler = yield* Effect.promise(() => startProfile())
      const flushWall: Array<number> = []
      const flushCpu: Array<number> = []
      const ticks = machineTicks()
      let lastCheckpoint = Date.now()
      for (let i = 0; i < flushes; i++) {
        const started = performance.now()
        const c = cpuMs()
        const due = Date.now() - lastCheckpoint >= CHECKPOINT_EVERY_MS
        if (due) lastCheckpoint = Date.now()
        yield* flush(due)
        flushWall.push(performance.now() - started)
        flushCpu.push(cpuMs() - c)
        yield* Effect.sleep(Math.max(0, INTERVAL_MS - (performance.now() - started)))
      }
      const after = machineTicks()
      yield* Effect.promise(() => profiler.stop(mode))

      // Encoding the committed metadata.json, apart: its size and the CPU it takes.
      const sizes: Record<string, string> = {}
      for (const id of [trades, quotes, sequenceEvents]) {
        const m = (yield* catalog.loadTable(id)).metadata
        const t = performance.now()
        const bytes = encodeTableMetadata(m)
        sizes[id.name] = `${m.snapshots.length} snapshots, ${(bytes.length / 1e6).toFixed(2)} MB, encoded in ${(performance.now() - t).toFixed(1)} ms`
      }
      return { steps, flushWall, flushCpu, sizes, idle: 1 - (after.busy - ticks.busy) / Math.max(1, after.all - ticks.all) }
    }).pipe(
      Effect.provide(layer),
      Effect.provideService(DurabilityRef, durability),
      Effect.withTracer(tracerOf(steps)),
      Effect.ensuring(Effect.sync(() => fs.rmSync(warehouse, { recursive: true, force: true })))
    )
  })

/** K2_BENCH_COMMIT_PROFILE=DIR: a CPU profile of the flushes alone (not of the tables' making), written to DIR. */
const startProfile = async () => {
  const dir = benchText("K2_BENCH_COMMIT_PROFILE")
  if (dir === "") return { stop: async (_: string) => {} }
  const session = new inspector.Session()
  session.connect()
  await session.post("Profiler.enable")
  await session.post("Profiler.start")
  return {
    stop: async (name: string) => {
      const { profile } = await session.post("Profiler.stop")
      fs.mkdirSync(dir, { recursive: true })
      fs.writeFileSync(path.join(dir, `tableCommit-${name}-${Date.now()}.cpuprofile`), JSON.stringify(profile))
      session.disconnect()
    }
  }
}

const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
const pct = (xs: ReadonlyArray<number>, p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0

export const benchTableCommit = (modes: ReadonlyArray<"fresh" | "aged"> = ["fresh", "aged"], flushes = benchCount("K2_BENCH_COMMIT_FLUSHES")) =>
  Effect.gen(function*() {
    const out: Record<string, string> = {}
    for (const mode of modes) {
      const r = yield* run(mode, flushes)
      const appends = r.steps.count.get("IcebergSink.append") ?? 1
      out[`${mode}: flush wall mean / p99 (ms)`] = `${mean(r.flushWall).toFixed(0)} / ${pct(r.flushWall, 0.99).toFixed(0)}`
      out[`${mode}: flush process CPU mean (ms)`] = mean(r.flushCpu).toFixed(0)
      out[`${mode}: machine idle`] = `${(r.idle * 100).toFixed(0)} %`
      for (const [name, wall] of [...r.steps.wall].sort((a, b) => b[1] - a[1])) {
        const n = r.steps.count.get(name)!
        out[`${mode}: ${name} (ms a commit; ×/commit)`] = `${(wall / appends).toFixed(1)} wall, ${((r.steps.cpu.get(name) ?? 0) / appends).toFixed(1)} cpu; ${(n / appends).toFixed(2)}`
      }
      for (const [table, text] of Object.entries(r.sizes)) out[`${mode}: ${table} metadata.json`] = text
    }
    return out
  })

if (import.meta.main) {
  const args = process.argv.slice(2)
  const modes: ReadonlyArray<"fresh" | "aged"> = args[0] === "fresh" || args[0] === "aged" ? [args[0]] : ["fresh", "aged"]
  const flushes = Number(args.find((a) => /^\d+$/.test(a)) ?? benchCount("K2_BENCH_COMMIT_FLUSHES"))
  const results = await Effect.runPromise(benchTableCommit(modes, flushes))
  for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(64)} ${v}`)
  process.exit(0)
}
