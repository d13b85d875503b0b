/**
 * Lakehouse core benchmarks (issue "Foundation"): Parquet write rate, the median
 * append commit of 100k rows, a 45k-row commit spanning 1, 30 and 365 days, and one-day planning on a table of 10,000 files over
 * 60 days with metadata cached. Run: `npm run bench -- iceberg`.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import * as Bounds from "../src/domain/iceberg/bounds.ts"
import type { DataFile } from "../src/domain/iceberg/spec.ts"
import { tradeColumns } from "../src/domain/rows.ts"
import { tables } from "../src/domain/tables.ts"
import { DuckDb } from "../src/layers/duckdb/DuckDb.ts"
import { commitChange } from "../src/layers/iceberg/commit.ts"
import { writeDataFiles } from "../src/layers/iceberg/parquet.ts"
import { makeSnapshotFiles } from "../src/layers/iceberg/snapshotFiles.ts"
import * as Lakehouse from "../src/layers/lakehouse.ts"
import { defaultMergePolicy } from "../src/domain/iceberg/manifestPlan.ts"
import { IcebergSink } from "../src/services/IcebergSink.ts"
import { TableScanner } from "../src/services/TableScanner.ts"
import { makeTrades, START_MICROS } from "../test/support/fixtures.ts"

const DAY = 86_400_000_000
const trades = { namespace: "market_data", name: "trades" }

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const value = yield* effect
    return { value, ms: performance.now() - start }
  })

/** A data-file entry as the writer makes them, for files the planner never opens. */
const syntheticFile = (dir: string, day: number, i: number): DataFile => {
  const lower = BigInt(START_MICROS + day * DAY + i * 1_000_000)
  return {
    content: 0,
    filePath: `file://${dir}/synthetic/day-${day}/f-${i}.parquet`,
    fileFormat: "PARQUET",
    partition: { exchange_timestamp_day: Math.floor(START_MICROS / DAY) + day },
    recordCount: 10_000,
    fileSizeInBytes: 400_000,
    columnSizes: new Map([[1, 100_000]]),
    valueCounts: new Map([[1, 10_000]]),
    nullValueCounts: new Map([[1, 0]]),
    nanValueCounts: new Map(),
    lowerBounds: new Map([[3, Bounds.encode("string", "ANZ")], [6, Bounds.encode("timestamptz", lower)]]),
    upperBounds: new Map([[3, Bounds.encode("string", "WES")], [6, Bounds.encode("timestamptz", lower + 999_999n)]]),
    splitOffsets: null,
    sortOrderId: 1
  }
}

export const benchIceberg = () =>
  Effect.gen(function*() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-bench-"))
    const options: Lakehouse.LakehouseOptions = {
      warehouse: dir,
      catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") }
    }
    const results: Record<string, number | string> = {}

    yield* Effect.gen(function*() {
      const sink = yield* IcebergSink
      const table = yield* sink.ensureTable(tables.trades)

      // Parquet write rate on 1M rows (one day, so one file), without the commit. The rows are
      // built inside so they are garbage before the commits below are timed (a live 1M-row heap
      // would slow every collection during them).
      const write = yield* timed(writeDataFiles(tradeColumns(makeTrades({ count: 1_000_000 })), {
        schema: tables.trades.schema,
        spec: tables.trades.spec,
        sortOrder: tables.trades.sortOrder,
        directory: path.join(dir, "parquet-bench"),
        targetFileSizeBytes: 512 * 1024 * 1024,
        fileNamePrefix: "bench"
      }))
      results["parquet rows/s (1M trades)"] = Math.round(1_000_000 / (write.ms / 1000))

      // Append commits of 100k rows: Parquet + manifests + catalog swap, end to end.
      const commits: Array<number> = []
      for (let i = 0; i < 9; i++) {
        const batch = tradeColumns(makeTrades({ count: 100_000, offsetBase: i * 100_000, idPrefix: `c${i}` }))
        commits.push((yield* timed(sink.append(trades, batch))).ms)
      }
      results["append commit 100k rows, median ms"] = Math.round(median(commits))
      results["append commit 100k rows, min..max ms"] = `${Math.round(Math.min(...commits))}..${Math.round(Math.max(...commits))}`

      // A backfill's flush: 45k rows (ingest's default buffer bound) spread over many days, as a
      // history published symbol by symbol brings them. One commit, a file (and a COPY) per day.
      for (const days of [1, 30, 365]) {
        const batch = tradeColumns(makeTrades({ count: 45_000, days, offsetBase: 1_000_000 + days * 45_000, idPrefix: `d${days}` }))
        const append = yield* timed(sink.append(trades, batch))
        results[`append commit 45k rows over ${days} day(s): files, ms`] = `${append.value.files.length}, ${Math.round(append.ms)}`
      }
      void table
    }).pipe(Effect.provide(Lakehouse.layer(options)))

    // Planning: 10,000 files over 60 days, committed 10 at a time in time order, as ingestion would.
    const planDir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-bench-plan-"))
    const planOptions: Lakehouse.LakehouseOptions = {
      warehouse: planDir,
      catalog: { _tag: "sqlite", path: path.join(planDir, "catalog.db") }
    }
    yield* Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      const snapshots = yield* makeSnapshotFiles({ cacheEntries: 100_000 })
      const FILES = 10_000
      const PER_COMMIT = 10
      const build = yield* timed(Effect.forEach(Array.from({ length: FILES / PER_COMMIT }, (_, c) => c), (c) => {
        const files = Array.from({ length: PER_COMMIT }, (_, k) => {
          const i = c * PER_COMMIT + k
          return syntheticFile(planDir, Math.floor((i * 60) / FILES), i)
        })
        return commitChange(snapshots, trades, { operation: "append", added: files, removed: [], properties: {} }, {
          mergePolicy: defaultMergePolicy,
          maxAttempts: 3
        })
      }, { discard: true }))
      results["build 10k-file table (1000 commits), s"] = Number((build.ms / 1000).toFixed(1))

      const scanner = yield* TableScanner
      const day = { column: "exchange_timestamp", from: START_MICROS + 30 * DAY, to: START_MICROS + 31 * DAY }
      const cold = yield* timed(scanner.plan(trades, { filter: { time: day } }))
      const warm: Array<number> = []
      let last = cold.value
      for (let i = 0; i < 30; i++) {
        const r = yield* timed(scanner.plan(trades, { filter: { time: day } }))
        warm.push(r.ms)
        last = r.value
      }
      results["plan one day of 60 (10k files), cold ms"] = Math.round(cold.ms)
      results["plan one day of 60 (10k files), cached median ms"] = Number(median(warm).toFixed(2))
      results["plan: manifests read / total"] = `${last.stats.manifestsRead} / ${last.stats.manifestsTotal}`
      results["plan: files planned / total"] = `${last.stats.filesPlanned} / ${last.stats.filesTotal}`
    }).pipe(Effect.provide(Layer.merge(Lakehouse.layer(planOptions), DuckDb.layerWith({}))))

    fs.rmSync(dir, { recursive: true, force: true })
    fs.rmSync(planDir, { recursive: true, force: true })
    return results
  })
