/**
 * Maintenance benchmark (issue "REST catalog and table maintenance"): a trading day of
 * 1-second commits (6.5 h = 23,400 appends of a few trades each, as ingestion makes them),
 * with snapshot expiry measured on the way (metadata.json size and commit time before and
 * after the first expiry, then expiry every K2_BENCH_EXPIRE_EVERY commits as a scheduled
 * `compact --every` would), then compaction: one-day planning time and a one-day 1-minute bar
 * query before and after. Run: `npm run bench -- maintenance`.
 *
 * K2_BENCH_MAINT_COMMITS (default 23400), K2_BENCH_MAINT_ROWS rows per commit (default 10).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import { tradeColumns } from "../src/domain/rows.ts"
import { tables } from "../src/domain/tables.ts"
import { selectPlanned } from "../src/layers/duckdb/readPlan.ts"
import * as Lakehouse from "../src/layers/lakehouse.ts"
import * as MaintenanceLayer from "../src/layers/maintenance/maintenance.ts"
import { Catalog } from "../src/services/Catalog.ts"
import { IcebergSink } from "../src/services/IcebergSink.ts"
import { Maintenance } from "../src/services/Maintenance.ts"
import { TableScanner } from "../src/services/TableScanner.ts"
import { makeTrades, START_MICROS } from "../test/support/fixtures.ts"
import { benchCount } from "./settings.ts"

const DAY = 86_400_000_000
const trades = { namespace: "market_data", name: "trades" }
const OPEN = START_MICROS + 10 * 3_600_000_000 // 10:00 UTC

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? 0
}

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const value = yield* effect
    return { value, ms: performance.now() - start }
  })

const BARS = `symbol, time_bucket(INTERVAL 1 MINUTE, exchange_timestamp) AS t,
  arg_min(price, exchange_timestamp) AS o, max(price) AS h, min(price) AS l,
  arg_max(price, exchange_timestamp) AS c, sum(quantity) AS v, count(*) AS n`

export const benchMaintenanceEffect = (): Effect.Effect<Record<string, number | string>, unknown> => {
  const commits = benchCount("K2_BENCH_MAINT_COMMITS")
  const rowsPerCommit = benchCount("K2_BENCH_MAINT_ROWS")
  const firstExpiryAt = Math.min(commits, benchCount("K2_BENCH_FIRST_EXPIRY"))
  const expireEvery = benchCount("K2_BENCH_EXPIRE_EVERY")
  const window = 50
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-bench-maint-"))
  const lake = MaintenanceLayer.layer().pipe(
    Layer.provideMerge(Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } }))
  )

  return Effect.gen(function*() {
    const sink = yield* IcebergSink
    const catalog = yield* Catalog
    const scanner = yield* TableScanner
    const maintenance = yield* Maintenance
    yield* sink.ensureTable(tables.trades)
    const out: Record<string, number | string> = {}
    const metadataBytes = Effect.gen(function*() {
      const t = yield* catalog.loadTable(trades)
      return fs.statSync(new URL(t.metadataLocation)).size
    })
    const expire = () => maintenance.expireSnapshots(trades, { maxSnapshotAgeMs: 0, retainLast: 100, nowMs: Date.now() })

    const commitTimes: Array<number> = []
    const started = performance.now()
    let expiryMs = 0
    let expiries = 0
    for (let i = 0; i < commits; i++) {
      const rows = makeTrades({
        count: rowsPerCommit,
        startMicros: OPEN + i * 1_000_000,
        days: 1 / 86_400,
        offsetBase: i * rowsPerCommit
      })
      const { ms } = yield* timed(sink.append(trades, tradeColumns(rows), {
        properties: { "k2.kafka.offsets.bench": JSON.stringify({ "market.equities.trades.asx": { "0": (i + 1) * rowsPerCommit } }) }
      }))
      commitTimes.push(ms)
      if (i + 1 === firstExpiryAt) {
        out["commits before the first expiry"] = firstExpiryAt
        out["metadata.json before expiry (bytes)"] = yield* metadataBytes
        out[`median commit, last ${window} before expiry (ms)`] = Number(median(commitTimes.slice(-window)).toFixed(1))
        const e = yield* timed(expire())
        out["expiry (ms)"] = Number(e.ms.toFixed(1))
        out["snapshots before -> after expiry"] = `${e.value.snapshotsBefore} -> ${e.value.snapshotsAfter}`
        out["metadata.json after expiry (bytes)"] = yield* metadataBytes
      } else if (i + 1 === firstExpiryAt + window) {
        out[`median commit, first ${window} after expiry (ms)`] = Number(median(commitTimes.slice(-window)).toFixed(1))
      } else if (i + 1 > firstExpiryAt && (i + 1 - firstExpiryAt) % expireEvery === 0) {
        const e = yield* timed(expire())
        expiryMs += e.ms
        expiries++
      }
    }
    out["appends (1-second commits)"] = commits
    out["rows per append"] = rowsPerCommit
    out["ingest wall time (s)"] = Number(((performance.now() - started) / 1000).toFixed(1))
    out["median commit, whole day (ms)"] = Number(median(commitTimes).toFixed(1))
    out[`scheduled expiries (every ${expireEvery} commits), mean ms`] = expiries === 0 ? "-" : Number((expiryMs / expiries).toFixed(1))
    out["metadata.json at end of day (bytes)"] = yield* metadataBytes

    const filter = { time: { column: "exchange_timestamp", from: START_MICROS, to: START_MICROS + DAY } }
    const measure = (label: string) =>
      Effect.gen(function*() {
        yield* scanner.plan(trades, { filter }) // warm the metadata cache
        const planTimes: Array<number> = []
        let plan = yield* scanner.plan(trades, { filter })
        for (let k = 0; k < 5; k++) {
          const p = yield* timed(scanner.plan(trades, { filter }))
          planTimes.push(p.ms)
          plan = p.value
        }
        const queryTimes: Array<number> = []
        let bars = 0
        for (let k = 0; k < 3; k++) {
          const q = yield* timed(selectPlanned(plan, BARS, "GROUP BY ALL ORDER BY ALL"))
          queryTimes.push(q.ms)
          bars = q.value.length
        }
        out[`${label}: data files`] = plan.files.length
        out[`${label}: one-day plan, warm (ms)`] = Number(median(planTimes).toFixed(2))
        out[`${label}: one-day 1-minute bars (ms)`] = Number(median(queryTimes).toFixed(1))
        out[`${label}: bars returned`] = bars
      })
    yield* measure("before compaction")
    const c = yield* timed(maintenance.compact(trades))
    out["compaction (ms)"] = Number(c.ms.toFixed(0))
    out["compaction files before -> after"] = `${c.value.filesBefore} -> ${c.value.filesAfter}`
    yield* measure("after compaction")
    const o = yield* timed(Effect.gen(function*() {
      yield* expire()
      return yield* maintenance.removeOrphans(trades, { olderThanMs: 0, nowMs: Date.now() + 1_000 })
    }))
    out["expiry + orphan removal after compaction (ms)"] = Number(o.ms.toFixed(0))
    out["orphan files removed (no grace)"] = o.value.removed.length
    return out
  }).pipe(
    Effect.provide(lake),
    Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
  )
}
