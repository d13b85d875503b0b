/**
 * The limits of a read, as docs/api.md states them: a range is at most K2_API_MAX_RANGE_DAYS days
 * on every route (summary's inclusive days as much as the others' [from, to) instants), and a CSV
 * `limit` past one page is answered in full, paged as an export is.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { checkLimit } from "../../../src/domain/query/validate.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { auth, baseUrl, get, KEYS, served, servedOver, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"
import { warehouseDir } from "../query/fixture.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const text = (res: Response) => Effect.promise(() => res.text())

layer(served(testOptions(), warehouseDir(), { trades: 200, quotes: 200 }), { timeout: 120_000, excludeTestServices: true })("read limits", (it) => {
  it.effect("a range is at most 366 days on every route: summary counts its days inclusive", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const call = (path: string) => get(`${base}${path}`, auth(KEYS.reader))
      // 2024 is a leap year: 2024-01-01..2024-12-31 is 366 days, ..2025-01-01 is 367.
      const days366 = yield* call("/v1/summary?from_day=2024-01-01&to_day=2024-12-31")
      assert.strictEqual(days366.status, 200, yield* text(days366))
      const days367 = yield* call("/v1/summary?from_day=2024-01-01&to_day=2025-01-01")
      const body = yield* text(days367)
      assert.strictEqual(days367.status, 400, body)
      assert.include(JSON.parse(body).detail, "the range is longer than 366 days")
      // Named by the parameter the route has: summary has no `to`.
      assert.match(JSON.parse(body).detail, /^to_day: /)
      // [from, to): 366 days of instants is the same limit.
      const from = Date.UTC(2024, 0, 1) * 1000
      assert.strictEqual((yield* call(`/v1/trades?from=${from}&to=${from + 366 * DAY}`)).status, 200)
      assert.strictEqual((yield* call(`/v1/trades?from=${from}&to=${from + 366 * DAY + 1}`)).status, 400)
    }))

  it.effect("a CSV limit above the engine's page limit answers every row of the range", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const res = yield* get(`${base}/v1/trades?from=${iso(T0)}&to=${iso(T0 + 10 * DAY)}&format=csv&limit=200000`, auth(KEYS.reader))
      const csv = yield* text(res)
      assert.strictEqual(res.status, 200, csv)
      assert.strictEqual(csv.trimEnd().split("\n").length - 1, 200)
    }))
})

const ROWS = 250_000

/** Trades of a source of ROWS rows, paged by offset, that refuses a page past the engine's limit as the engine does. */
const synthetic = Layer.effect(QueryEngine)(Effect.gen(function*() {
  const real = yield* QueryEngine
  return QueryEngine.of({
    ...real,
    trades: (request) =>
      Effect.gen(function*() {
        const limit = yield* Effect.fromResult(checkLimit(request.limit))
        const start = request.cursor === undefined ? 0 : Number(request.cursor)
        const end = Math.min(ROWS, start + limit)
        const rows = Array.from({ length: end - start }, (_, i) => ({ message_id: `m-${start + i}`, price: "1.50000000" }))
        return { rows, scanned: [], rowsReturned: rows.length, elapsedMs: 0, nextCursor: end < ROWS ? String(end) : null }
      })
  })
}))

const syntheticServer = servedOver(testOptions(), synthetic, { trades: 200, quotes: 200 })

layer(syntheticServer, { timeout: 120_000, excludeTestServices: true })("a CSV limit past one page", (it) => {
  it.effect("limit=200000 answers exactly 200,000 rows, in order, with no next-page headers", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const res = yield* get(`${base}/v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}&format=csv&limit=200000`, auth(KEYS.reader))
      const csv = yield* text(res)
      assert.strictEqual(res.status, 200, csv.slice(0, 500))
      const lines = csv.trimEnd().split("\n")
      assert.strictEqual(lines[0], "message_id,price")
      assert.strictEqual(lines.length - 1, 200_000)
      assert.strictEqual(lines[1], "m-0,1.50000000")
      assert.strictEqual(lines.at(-1), "m-199999,1.50000000")
      assert.isNull(res.headers.get("k2-next-cursor"))
    }), 60_000)

  it.effect("a CSV limit of one page or less is a page: it names the next one", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const res = yield* get(`${base}/v1/trades?from=${iso(T0)}&to=${iso(T0 + DAY)}&format=csv&limit=10000`, auth(KEYS.reader))
      const csv = yield* text(res)
      assert.strictEqual(res.status, 200, csv.slice(0, 500))
      assert.strictEqual(csv.trimEnd().split("\n").length - 1, 10_000)
      assert.strictEqual(res.headers.get("k2-next-cursor"), "10000")
    }))
})
