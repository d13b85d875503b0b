/**
 * POST /v1/sql over real HTTP: the answer is bounded in bytes as well as rows (and says which cut
 * it), and user SQL reads only the views trades, quotes and instruments and its own CTEs, never
 * DuckDB's catalog or settings, which hold the warehouse's file paths.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Fixture, warehouseDir } from "../layers/query/fixture.ts"
import { auth, baseUrl, KEYS, served, testOptions } from "./http-support.ts"

const dir = warehouseDir()
const BUDGET = 1 << 20

const sql = (body: Record<string, unknown>) =>
  Effect.gen(function*() {
    const base = yield* baseUrl
    return yield* Effect.promise(async () => {
      const res = await fetch(`${base}/v1/sql`, {
        method: "POST",
        headers: { "content-type": "application/json", ...auth(KEYS.full) },
        body: JSON.stringify(body)
      })
      return { res, text: await res.text() }
    })
  })

const ok = (body: Record<string, unknown>) =>
  sql(body).pipe(Effect.map(({ res, text }) => {
    assert.strictEqual(res.status, 200, `${body.sql}: ${text}`)
    return JSON.parse(text) as { data: Array<Record<string, any>>; truncated: boolean; truncated_by: string | null }
  }))

/** A data file of the warehouse: its path is what the sandbox must never give away. */
const aDataFile = () =>
  path.join(dir, (fs.readdirSync(dir, { recursive: true }) as Array<string>).find((f) => f.endsWith(".parquet"))!)

layer(served(testOptions({ sqlMaxBytes: BUDGET }), dir, { trades: 1_000, quotes: 1_500 }), { timeout: 180_000, excludeTestServices: true })("HTTP SQL", (it) => {
  it.effect("an answer over the byte budget is cut and says why, in JSON and CSV", () =>
    Effect.gen(function*() {
      const big = "SELECT i, repeat('x', 100000) AS s FROM range(600) t(i)"
      const { res, text } = yield* sql({ sql: big })
      assert.strictEqual(res.status, 200, text)
      const body = JSON.parse(text)
      assert.isTrue(body.truncated)
      assert.strictEqual(body.truncated_by, "bytes")
      assert.strictEqual(res.headers.get("k2-truncated"), "bytes")
      assert.isAtLeast(body.data.length, 5)
      assert.isAtMost(JSON.stringify(body.data).length, BUDGET)

      const csv = yield* sql({ sql: big, format: "csv" })
      assert.strictEqual(csv.res.status, 200)
      assert.strictEqual(csv.res.headers.get("k2-truncated"), "bytes")
      assert.strictEqual(csv.text.trim().split("\n").length, body.data.length + 1)

      // Also over the views, and a single row larger than the whole budget.
      const wide = yield* ok({ sql: "SELECT t.*, repeat(t.message_id, 20000) AS pad FROM trades t" })
      assert.strictEqual(wide.truncated_by, "bytes")
      const huge = yield* ok({ sql: "SELECT repeat('x', 5000000) AS s" })
      assert.deepStrictEqual([huge.data.length, huge.truncated, huge.truncated_by], [0, true, "bytes"])

      // The row limit reports itself the same way; a whole answer is not truncated.
      const rows = yield* sql({ sql: "SELECT * FROM range(50)", limit: 10 })
      assert.deepStrictEqual([JSON.parse(rows.text).truncated_by, rows.res.headers.get("k2-truncated")], ["rows", "rows"])
      const rowsCsv = yield* sql({ sql: "SELECT * FROM range(50)", limit: 10, format: "csv" })
      assert.strictEqual(rowsCsv.res.headers.get("k2-truncated"), "rows")
      const whole = yield* sql({ sql: "SELECT * FROM range(50)" })
      assert.deepStrictEqual([JSON.parse(whole.text).truncated, JSON.parse(whole.text).truncated_by, whole.res.headers.get("k2-truncated")], [false, null, null])
    }))

  it.effect("the catalog, settings, other schemas and file readers are refused, naming what was refused", () =>
    Effect.gen(function*() {
      const file = aDataFile()
      const refused: Array<[string, string]> = [
        ["SELECT * FROM duckdb_views()", "duckdb_views"],
        ["SELECT sql FROM duckdb_views", "duckdb_views"],
        ["SELECT current_setting('allowed_paths') AS p", "current_setting"],
        ["SELECT * FROM information_schema.tables", "information_schema.tables"],
        ["SELECT * FROM main.trades", "main.trades"],
        ["SELECT count(*) FROM memory.main.quotes", "memory.main.quotes"],
        ["SELECT * FROM pg_catalog.pg_views", "pg_catalog.pg_views"],
        ["SELECT * FROM sqlite_master", "sqlite_master"],
        [`SELECT * FROM read_parquet('${file}')`, "read_parquet"],
        [`SELECT * FROM parquet_metadata('${file}')`, "parquet_metadata"],
        ["SELECT * FROM duckdb_settings() WHERE name = 'allowed_paths'", "duckdb_settings"],
        ["SELECT * FROM duckdb_external_file_cache()", "duckdb_external_file_cache"],
        ["SELECT * FROM query('SELECT sql FROM duckdb_views()')", "query"],
        ["SELECT getvariable('x') AS v", "getvariable"],
        ["SELECT json_serialize_plan('SELECT * FROM trades') AS p", "json_serialize_plan"],
        ["SELECT pg_get_viewdef(o) AS d FROM range(100000) t(o)", "pg_get_viewdef"],
        ["SELECT list_transform(['allowed_paths'], x -> current_setting(x)) AS p", "current_setting"],
        ["SELECT * FROM trades WHERE symbol IN (SELECT name FROM duckdb_settings())", "duckdb_settings"],
        ["SELECT (SELECT count(*) FROM information_schema.columns) AS n", "information_schema.columns"],
        // A CTE does not make its own name safe inside its own body: there it is the catalog's view.
        ["WITH duckdb_views AS (SELECT * FROM duckdb_views) SELECT sql FROM duckdb_views", "duckdb_views"],
        // Nor is a CTE of a subquery in scope outside it.
        ["SELECT * FROM (WITH sqlite_master AS (SELECT 1) SELECT * FROM sqlite_master) a, sqlite_master", "sqlite_master"],
        ["SHOW TABLES", "SHOW"],
        ["DESCRIBE duckdb_settings", "duckdb_settings"]
      ]
      for (const [query, named] of refused) {
        const { res, text } = yield* sql({ sql: query })
        assert.strictEqual(res.status, 400, `${query}: ${text}`)
        const problem = JSON.parse(text)
        assert.strictEqual(problem.code, "sql_refused", `${query}: ${text}`)
        assert.include(problem.detail, named, query)
        assert.notInclude(text, dir, query)
      }
    }))

  it.effect("analyst SQL still works: joins, CTEs, window functions, subqueries, generators", () =>
    Effect.gen(function*() {
      const f = yield* Fixture
      const count = (rows: ReadonlyArray<{ symbol: string }>) => {
        const m = new Map<string, number>()
        for (const r of rows) m.set(r.symbol, (m.get(r.symbol) ?? 0) + 1)
        return m
      }
      const trades = count(f.trades)
      const quotes = count(f.quotes)

      const join = yield* ok({ sql: "SELECT t.symbol, count(*) AS n FROM trades t JOIN quotes q USING (symbol) GROUP BY t.symbol ORDER BY t.symbol" })
      assert.deepStrictEqual(
        join.data.map((r) => [r.symbol, Number(r.n)]),
        [...trades.keys()].sort().map((s) => [s, trades.get(s)! * (quotes.get(s) ?? 0)])
      )
      const asof = yield* ok({
        sql: "SELECT count(*) AS n FROM trades t ASOF JOIN quotes q ON t.symbol = q.symbol AND t.exchange_timestamp >= q.exchange_timestamp"
      })
      assert.isAbove(Number(asof.data[0]!.n), 0)

      const cte = yield* ok({ sql: "WITH per AS (SELECT symbol, count(*) AS n FROM trades GROUP BY symbol), total AS (SELECT sum(n) AS n FROM per) SELECT n FROM total" })
      assert.strictEqual(Number(cte.data[0]!.n), f.trades.length)
      const recursive = yield* ok({ sql: "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT sum(n) AS s FROM r" })
      assert.strictEqual(Number(recursive.data[0]!.s), 15)

      const firsts = yield* ok({
        sql: "SELECT symbol, price, row_number() OVER (PARTITION BY symbol ORDER BY exchange_timestamp, message_id) AS rn FROM trades QUALIFY rn = 1 ORDER BY symbol"
      })
      assert.deepStrictEqual(firsts.data.map((r) => r.symbol), [...trades.keys()].sort())
      const running = yield* ok({ sql: "SELECT max(c) AS c FROM (SELECT count(*) OVER (ORDER BY exchange_timestamp ROWS UNBOUNDED PRECEDING) AS c FROM quotes)" })
      assert.strictEqual(Number(running.data[0]!.c), f.quotes.length)

      const buckets = yield* ok({ sql: "SELECT time_bucket(INTERVAL '1 day', exchange_timestamp) AS day, count(*) AS n FROM trades GROUP BY ALL ORDER BY day" })
      assert.strictEqual(buckets.data.reduce((n, r) => n + Number(r.n), 0), f.trades.length)
      const sub = yield* ok({
        sql: "SELECT (SELECT count(*) FROM quotes) AS nq, count(*) AS nt FROM trades WHERE symbol IN (SELECT symbol FROM quotes) AND symbol NOT IN (SELECT symbol FROM instruments)"
      })
      assert.deepStrictEqual([Number(sub.data[0]!.nq), Number(sub.data[0]!.nt)], [f.quotes.length, f.trades.length])
      const generators = yield* ok({
        sql: "SELECT (SELECT count(*) FROM range(10)) AS a, (SELECT count(*) FROM generate_series(1, 3)) AS b, (SELECT count(*) FROM unnest([1, 2])) AS c, (SELECT count(*) FROM (VALUES (1), (2)) v(x)) AS d"
      })
      assert.deepStrictEqual(Object.values(generators.data[0]!).map(Number), [10, 3, 2, 2])
      const described = yield* ok({ sql: "DESCRIBE SELECT symbol, price FROM trades" })
      assert.deepStrictEqual(described.data.map((r) => r.column_name), ["symbol", "price"])
    }))
})
