/**
 * Exports of trades (CSV and Parquet, the whole range) racing `compact` on the same warehouse:
 * maintenance expires the snapshot the export planned and removes its files before the export's
 * sandboxed DuckDB run opens them. As every other read: an export of the latest state answers from
 * the state latest now; one pinned by id is a 404 `snapshot_not_found` saying it expired, never a
 * 400 `sql_error` (the client sent no SQL) nor a 500.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { auth, baseUrl, get, KEYS } from "../../integration/http-support.ts"
import { afterNextPlan } from "../../support/maintenanceRace.ts"
import { compactTrades, racingServer, threeTradeFiles } from "./racingServer.ts"
import { genTrades, T0 } from "../query/data.ts"
import { TRADES, warehouseDir } from "../query/fixture.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const range = `from=${iso(T0)}&to=${iso(T0 + 86_400_000_000)}`

const dir = warehouseDir()
const app = racingServer(dir)

/** The rows of a CSV body (its header aside). */
const csvRowCount = (text: string) => text.trimEnd().split("\n").length - 1

layer(app, { timeout: 120_000, excludeTestServices: true })("exports while maintenance expires their snapshot", (it) => {
  it.effect("a CSV or Parquet export of the latest state answers whole from the state now latest", () =>
    Effect.gen(function*() {
      const sink = yield* threeTradeFiles
      const base = yield* baseUrl

      yield* afterNextPlan(yield* compactTrades)
      const csv = yield* get(`${base}/v1/trades?${range}&format=csv`, auth(KEYS.full))
      const csvText = yield* Effect.promise(() => csv.text())
      assert.strictEqual(csv.status, 200, csvText)
      assert.strictEqual(csvRowCount(csvText), 300)

      yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed: 4, days: 1, idPrefix: "p-" })))
      yield* afterNextPlan(yield* compactTrades)
      const parquet = yield* get(`${base}/v1/trades?${range}&format=parquet`, auth(KEYS.full))
      const bytes = yield* Effect.promise(() => parquet.arrayBuffer())
      assert.strictEqual(parquet.status, 200, Buffer.from(bytes).toString())
      assert.strictEqual(Buffer.from(bytes).subarray(0, 4).toString(), "PAR1")
    }))

  it.effect("a CSV or Parquet export by snapshot_id whose snapshot expires meanwhile is 404 snapshot_not_found", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const base = yield* baseUrl
      for (const format of ["csv", "parquet"]) {
        const pinned = (yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed: 5, days: 1, idPrefix: `${format}-a-` })))).snapshot["snapshot-id"]
        yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed: 6, days: 1, idPrefix: `${format}-b-` })))
        yield* afterNextPlan(yield* compactTrades)
        const res = yield* get(`${base}/v1/trades?${range}&format=${format}&snapshot_id=${pinned}`, auth(KEYS.full))
        const text = yield* Effect.promise(() => res.text())
        assert.strictEqual(res.status, 404, `${format}: ${text}`)
        assert.include(text, "snapshot_not_found", format)
        assert.include(text, "expired", format)
      }
    }))

  it.effect("a CSV export whose snapshot maintenance expires between its pages ends with a broken body, never as if complete", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const base = yield* baseUrl
      // Two files of a day past one 10,000-row page: the compaction replaces them, and expiry takes the export's snapshot.
      const day = T0 + 2 * 86_400_000_000
      for (const seed of [11, 12]) {
        yield* sink.append(TRADES, tradeColumns(genTrades(5_500, { seed, days: 1, start: day, idPrefix: `m${seed}-` })))
      }
      // Its plans: the count of the whole range, the first page (both before the 200), then the second page.
      yield* afterNextPlan(yield* compactTrades, 3)
      const res = yield* get(`${base}/v1/trades?from=${iso(day)}&to=${iso(day + 86_400_000_000)}&format=csv`, auth(KEYS.full))
      assert.strictEqual(res.status, 200)
      const outcome = yield* Effect.promise(() => res.text().then((t) => `complete: ${csvRowCount(t)} rows`, (e: unknown) => `broken: ${String(e)}`))
      assert.match(outcome, /^broken/)
    }))
})
