/**
 * The API over a warehouse whose path holds DuckDB's glob characters and the other characters of
 * note (`ODD_NAME`: `[`, `]`, `*`, `?`, braces, a space, quotes, `%`, `#`, non-ASCII), beside
 * directories its path matches as a glob pattern that hold each of its files with the rows twice:
 * every read answers the warehouse's own rows once, in JSON, CSV and Parquet, by time travel, in a
 * replay and in user SQL (the sandbox reads through plain-named links). Read as glob patterns, the
 * answers counted the siblings' rows too.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { quoteColumns, tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { auth, baseUrl, KEYS, servedWith, testOptions } from "../../integration/http-support.ts"
import { readParquet } from "../../support/parquet.ts"
import { mirrorDoubled, ODD_NAME, ODD_NAME_MATCH } from "../../support/warehouse.ts"
import { DAY, genQuotes, genTrades, T0 } from "../query/data.ts"
import { QUOTES, TRADES } from "../query/fixture.ts"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "k2-globwh-"))
const dir = path.join(root, ODD_NAME)
fs.mkdirSync(dir)

const FIRST = 120
const trades = genTrades(200, { seed: 81, idPrefix: "own" })
const quotes = genQuotes(150, { seed: 82 })

const written = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.ensureTable(tables.quotes)
  // Two appends of trades: the first snapshot is read by time travel.
  yield* sink.append(TRADES, tradeColumns(trades.slice(0, FIRST)))
  yield* sink.append(TRADES, tradeColumns(trades.slice(FIRST)))
  yield* sink.append(QUOTES, quoteColumns(quotes))
  for (const sibling of ["wh1", ODD_NAME_MATCH]) yield* mirrorDoubled(dir, path.join(root, sibling))
}))

const app = servedWith(testOptions(), dir, written)

const RANGE = `from=${new Date((T0 - DAY) / 1000).toISOString()}&to=${new Date((T0 + 4 * DAY) / 1000).toISOString()}`

const fetched = (route: string, init: RequestInit = {}) =>
  Effect.gen(function*() {
    const base = yield* baseUrl
    const response = yield* Effect.promise(() => fetch(`${base}${route}`, { ...init, headers: { ...auth(KEYS.full), ...init.headers } }))
    const bytes = new Uint8Array(yield* Effect.promise(() => response.arrayBuffer()))
    assert.strictEqual(response.status, 200, `${route}: ${new TextDecoder().decode(bytes).slice(0, 500)}`)
    return bytes
  })

const text = (route: string, init?: RequestInit) => Effect.map(fetched(route, init), (b) => new TextDecoder().decode(b))
const json = (route: string, init?: RequestInit) => Effect.map(text(route, init), (t) => JSON.parse(t) as { data: Array<Record<string, unknown>> })
const sql = (statement: string, extra: Record<string, unknown> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ sql: statement, ...extra })
})

layer(app, { timeout: 120_000, excludeTestServices: true })("the API over a warehouse whose path DuckDB would glob", (it) => {
  it.effect("reads, exports, time travel, replay and SQL answer its own rows once", () =>
    Effect.gen(function*() {
      const page = yield* json(`/v1/trades?${RANGE}&limit=10000`)
      assert.deepStrictEqual(new Set(page.data.map((r) => r["message_id"])), new Set(trades.map((t) => t.message_id)))
      assert.strictEqual(page.data.length, trades.length, "trades page")

      const csv = (yield* text(`/v1/trades?${RANGE}&format=csv`)).trimEnd().split("\n")
      assert.strictEqual(csv.length - 1, trades.length, "CSV export")
      const parquet = yield* readParquet(yield* fetched(`/v1/trades?${RANGE}&format=parquet`))
      assert.strictEqual(parquet.rows.length, trades.length, "Parquet export")
      const quotesParquet = yield* readParquet(yield* fetched(`/v1/quotes?${RANGE}&format=parquet`))
      assert.strictEqual(quotesParquet.rows.length, quotes.length, "quotes Parquet export")

      const bars = yield* json(`/v1/bars?${RANGE}&interval=1d`)
      assert.strictEqual(bars.data.reduce((n, b) => n + Number(b["tradeCount"]), 0), trades.length, "bars")

      const snapshots = yield* json("/v1/snapshots/trades")
      const first = String(snapshots.data[0]!["snapshotId"])
      const then = yield* json(`/v1/trades?${RANGE}&limit=10000&snapshot_id=${first}`)
      assert.strictEqual(then.data.length, FIRST, "time travel")

      const replay = (yield* text(`/v1/replay?${RANGE}`)).trimEnd().split("\n")
      assert.strictEqual(replay.length, trades.length + quotes.length, "replay")

      const counted = yield* json("/v1/sql", sql("SELECT (SELECT count(*) FROM trades) AS t, (SELECT count(*) FROM quotes) AS q"))
      assert.deepStrictEqual(counted.data, [{ t: String(trades.length), q: String(quotes.length) }], "SQL")
      const countedThen = yield* json("/v1/sql", sql("SELECT count(*) AS t FROM trades", { snapshot_id: first }))
      assert.deepStrictEqual(countedThen.data, [{ t: String(FIRST) }], "SQL by time travel")
      const sqlParquet = yield* readParquet(yield* fetched("/v1/sql", sql("SELECT message_id FROM trades", { format: "parquet" })))
      assert.strictEqual(sqlParquet.rows.length, trades.length, "SQL as Parquet")
    }))
})
