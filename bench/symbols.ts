/**
 * Work that grows with the number of symbols rather than the rate (ADR-76), each measured alone in
 * CPU time: scan pruning of a 10,000-symbol list over 5,000 and 50,000 files; a stream's claim by
 * its partition at 12, 120 and 480 partitions a topic; a checkpoint commit's take of the buffers
 * at 120 partitions, 50,000 symbols a commit interval and a tracker of 10,000 (the streams it evicted
 * are let go); the sequence tracker's heap and checkpoint a stream at 100,000 streams.
 *
 * Run: `npm run bench -- symbols`, or `npm exec -- node --expose-gc --disable-warning=ExperimentalWarning
 * bench/symbols.ts` (without --expose-gc the tracker's heap is not measured).
 */
import { Effect } from "effect"
import * as Bounds from "../src/domain/iceberg/bounds.ts"
import type { DataFile } from "../src/domain/iceberg/spec.ts"
import { fileMayMatch } from "../src/domain/iceberg/pruning.ts"
import { claim, type Owner, StreamSet } from "../src/domain/ingest/streamOwnership.ts"
import { type SequenceInput, SequenceTrackerState } from "../src/domain/sequence/tracker.ts"
import { tables } from "../src/domain/tables.ts"
import { partitionState, type Partitions } from "../src/layers/ingest/partitionState.ts"
import { takeBuffers } from "../src/layers/ingest/tableCommits.ts"
import * as Trackers from "../src/layers/sequence/tracker.ts"

const cpuMs = (f: () => void): number => {
  const start = process.cpuUsage()
  f()
  const used = process.cpuUsage(start)
  return (used.user + used.system) / 1000
}

const name = (i: number) => `S${String(i).padStart(5, "0")}`

/** `files` files, each over 10 neighbouring symbols of a 50,000-symbol universe, against 10,000 symbols none of them holds. */
const pruning = (files: number): number => {
  const { schema, spec } = tables.trades
  const symbolId = schema.fields.find((f) => f.name === "symbol")!.id
  const data = Array.from({ length: files }, (_, i): DataFile => {
    const lo = (i * 37) % 49_000
    return {
      content: 0, filePath: `f${i}.parquet`, fileFormat: "PARQUET", partition: {}, recordCount: 1, fileSizeInBytes: 1,
      columnSizes: new Map(), valueCounts: new Map(), nullValueCounts: new Map(), nanValueCounts: new Map(),
      lowerBounds: new Map([[symbolId, Bounds.encode("string", name(lo))]]),
      upperBounds: new Map([[symbolId, Bounds.encode("string", name(lo + 10))]]),
      splitOffsets: null, sortOrderId: null
    }
  })
  const filter = { values: [{ column: "symbol", values: Array.from({ length: 10_000 }, (_, i) => `Z${i}`).sort() }] }
  return cpuMs(() => {
    for (const f of data) fileMayMatch(f, spec, schema, filter)
  })
}

/** µs a claim: 50,000 streams each new to its partition, 10,000 already held. */
const claims = (partitions: number): number => {
  const parts: Array<Owner> = Array.from({ length: partitions }, (_, i) => ({ key: `t:${i}`, table: "trades", streams: new StreamSet(), left: new StreamSet() }))
  const installed = new Map(parts.map((p) => [p.key, p]))
  for (let i = 0; i < 10_000; i++) claim(installed, parts[i % partitions]!, "ASX", `T${i}`)
  return cpuMs(() => {
    for (let i = 0; i < 50_000; i++) claim(installed, parts[i % partitions]!, "ASX", name(i))
  }) * 1000 / 50_000
}

/**
 * µs a checkpoint commit's take of the buffers: `partitions` partitions carried `symbols` streams
 * since the last one (each new to it), of which the tracker holds the last 10,000.
 */
const commitTake = (partitions: number, symbols: number, commits = 5): number => {
  const trackers = { trades: Effect.runSync(Trackers.make({ capacity: 10_000 })), quotes: Effect.runSync(Trackers.make({ capacity: 10_000 })) }
  const t0 = Date.UTC(2024, 0, 2) * 1000
  const rows = Array.from({ length: symbols }, (_, i) => ({ exchange: "ASX", symbol: name(i), source_sequence: 1, exchange_timestamp: t0 + i, message_id: `m${i}` }))
  Effect.runSync(trackers.trades.observe(rows as unknown as ReadonlyArray<SequenceInput>))
  const parts: Partitions = new Map()
  for (let i = 0; i < partitions; i++) {
    const part = partitionState({ tp: { topic: "market.equities.trades.asx", partition: i }, table: "trades", groupOwed: false })
    parts.set(part.key, part)
  }
  const all = [...parts.values()]
  let used = 0
  for (let c = 1; c <= commits; c++) {
    for (let i = 0; i < symbols; i++) claim(parts, all[i % partitions]!, "ASX", name(i))
    for (const part of all) part.next = BigInt(c)
    used += cpuMs(() => void Effect.runSync(takeBuffers(parts, trackers, true)))
    for (const part of all) part.tableMark = part.sequenceMark = BigInt(c)
  }
  return used * 1000 / commits
}

/** Heap bytes and checkpoint bytes a stream, `streams` of them tracked. */
const tracker = (streams: number) => {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const before = process.memoryUsage().heapUsed
  const state = new SequenceTrackerState({ capacity: streams })
  const t0 = Date.UTC(2024, 0, 2) * 1000
  const rows = Array.from({ length: streams }, (_, i) => ({ exchange: "ASX", symbol: `S${String(i).padStart(6, "0")}`, source_sequence: 1, exchange_timestamp: t0 + i, message_id: `m${i}` }))
  state.observe(rows as unknown as ReadonlyArray<SequenceInput>, Date.now() * 1000)
  rows.length = 0
  gc?.()
  const heap = gc === undefined ? Number.NaN : (process.memoryUsage().heapUsed - before) / streams
  return { heap, checkpoint: state.checkpoint().length / streams }
}

export const benchSymbols = (): Record<string, number | string> => {
  const t = tracker(100_000)
  return {
    "pruning, 10,000 symbols over 5,000 files (CPU ms)": Math.round(pruning(5_000)),
    "pruning, 10,000 symbols over 50,000 files (CPU ms)": Math.round(pruning(50_000)),
    "claim, 12 partitions (CPU µs)": Number(claims(12).toFixed(2)),
    "claim, 120 partitions (CPU µs)": Number(claims(120).toFixed(2)),
    "claim, 480 partitions (CPU µs)": Number(claims(480).toFixed(2)),
    "checkpoint commit's take, 120 partitions, 10,000 symbols all tracked (CPU µs)": Math.round(commitTake(120, 10_000)),
    "checkpoint commit's take, 120 partitions, 50,000 symbols, tracker 10,000 (CPU µs)": Math.round(commitTake(120, 50_000)),
    "tracker heap a stream, 100,000 streams (bytes; NaN without --expose-gc)": Math.round(t.heap),
    "tracker checkpoint a stream (bytes)": Math.round(t.checkpoint)
  }
}

if (import.meta.main) console.table(benchSymbols())
