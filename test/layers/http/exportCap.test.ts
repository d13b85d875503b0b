/**
 * An export never ends as if complete when rows were left out: a whole-range export past
 * `K2_API_MAX_EXPORT_ROWS` is refused before any row is sent (400 too_many_rows), a cut Parquet
 * file (a `limit`, or SQL's row limit) says so in `k2-truncated`, and a CSV export resumed from a
 * cursor that runs past the cap ends with a broken body, not a clean end.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { readParquet } from "../../support/parquet.ts"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"
import { warehouseDir } from "../query/fixture.ts"

const CAP = 100
const iso = (us: number) => new Date(us / 1000).toISOString()
const range = `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}`

const fetched = (path: string, init: RequestInit = {}) =>
  Effect.gen(function*() {
    const base = yield* baseUrl
    return yield* Effect.promise(() => fetch(`${base}${path}`, { ...init, headers: { ...auth(KEYS.full), ...init.headers } }))
  })

const sql = (body: Record<string, unknown>) =>
  fetched("/v1/sql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })

/** How many trades the range holds, in all and of each symbol (counted by SQL, not by an export). */
const tradeCounts = Effect.gen(function*() {
  const res = yield* sql({
    sql: `SELECT symbol, count(*)::INTEGER AS n FROM trades WHERE exchange_timestamp >= TIMESTAMPTZ '${iso(T0)}' AND exchange_timestamp < TIMESTAMPTZ '${
      iso(T0 + 3 * DAY)
    }' GROUP BY symbol ORDER BY n`
  })
  const rows = (JSON.parse(yield* Effect.promise(() => res.text())) as { data: Array<{ symbol: string; n: number }> }).data
  return { total: rows.reduce((n, r) => n + r.n, 0), bySymbol: rows }
})

const assertTooManyRows = (res: Response) =>
  Effect.gen(function*() {
    const body = yield* Effect.promise(() => res.text())
    assert.strictEqual(res.status, 400, body)
    const problem = JSON.parse(body)
    assert.strictEqual(problem.code, "too_many_rows")
    assert.include(problem.detail, `more rows than the ${CAP} one answer may hold`)
  })

layer(served(testOptions({ maxExportRows: CAP }), warehouseDir(), { trades: 400, quotes: 100 }), { timeout: 120_000, excludeTestServices: true })(
  "exports past K2_API_MAX_EXPORT_ROWS",
  (it) => {
    it.effect("a whole-range export with more rows than the cap is refused before any row, in CSV and Parquet", () =>
      Effect.gen(function*() {
        const { total, bySymbol } = yield* tradeCounts
        assert.isAbove(total, CAP)
        for (const format of ["csv", "parquet"]) yield* assertTooManyRows(yield* fetched(`/v1/trades?${range}&format=${format}`))
        // One symbol's rows fit: the export is whole.
        const fits = bySymbol.find((r) => r.n <= CAP)!
        const csv = yield* fetched(`/v1/trades?${range}&symbols=${fits.symbol}&format=csv`)
        assert.strictEqual(csv.status, 200)
        assert.strictEqual((yield* Effect.promise(() => csv.text())).trimEnd().split("\n").length, fits.n + 1)
        const pq = yield* fetched(`/v1/trades?${range}&symbols=${fits.symbol}&format=parquet`)
        assert.strictEqual(pq.status, 200)
        assert.isNull(pq.headers.get("k2-truncated"))
        assert.strictEqual((yield* readParquet(new Uint8Array(yield* Effect.promise(() => pq.arrayBuffer())))).rows.length, fits.n)
      }))

    it.effect("a Parquet export cut by its limit says so; one its limit does not cut does not", () =>
      Effect.gen(function*() {
        const { total } = yield* tradeCounts
        const cut = yield* fetched(`/v1/trades?${range}&limit=50&format=parquet`)
        assert.strictEqual(cut.status, 200)
        assert.strictEqual(cut.headers.get("k2-truncated"), "rows")
        assert.strictEqual((yield* readParquet(new Uint8Array(yield* Effect.promise(() => cut.arrayBuffer())))).rows.length, 50)
        const whole = yield* fetched(`/v1/quotes?${range}&limit=${CAP}&format=parquet`)
        assert.strictEqual(whole.status, 200)
        assert.isNull(whole.headers.get("k2-truncated"))
        assert.isAbove(total, 0)
      }))

    it.effect("POST /v1/sql as Parquet says when its row limit cut the answer, as JSON and CSV do", () =>
      Effect.gen(function*() {
        const cut = yield* sql({ sql: "SELECT * FROM range(50)", limit: 10, format: "parquet" })
        assert.strictEqual(cut.headers.get("k2-truncated"), "rows")
        assert.strictEqual((yield* readParquet(new Uint8Array(yield* Effect.promise(() => cut.arrayBuffer())))).rows.length, 10)
        for (const limit of [50, 60]) {
          const whole = yield* sql({ sql: "SELECT * FROM range(50)", limit, format: "parquet" })
          assert.isNull(whole.headers.get("k2-truncated"), `limit ${limit}`)
          assert.strictEqual((yield* readParquet(new Uint8Array(yield* Effect.promise(() => whole.arrayBuffer())))).rows.length, 50)
        }
      }))

    it.effect("a CSV export resumed from a cursor that runs past the cap ends with a broken body", () =>
      Effect.gen(function*() {
        const page = yield* fetched(`/v1/trades?${range}&limit=10`)
        const cursor = page.headers.get("k2-next-cursor")!
        assert.isNotNull(cursor)
        yield* Effect.promise(() => page.text())
        const base = yield* baseUrl
        // The body may break before the headers are out (a small one is written at once): the request fails either way.
        const outcome = yield* Effect.promise(() =>
          fetch(`${base}/v1/trades?${range}&format=csv&cursor=${encodeURIComponent(cursor)}`, { headers: auth(KEYS.full) })
            .then((res) => res.text())
            .then(() => "complete", (e: unknown) => `broken: ${String(e)}`)
        )
        assert.match(outcome, /^broken/)
      }))
  }
)
