/**
 * The API as a client sees it over HTTP: what every answer's values look like, and what a
 * request for a route by a method it does not answer gets.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"

/** ISO-8601 UTC with microseconds, as docs/api.md promises for every instant. */
const MICROS_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

/** `count` distinct symbols of `width` characters, comma-separated. */
const symbols = (count: number, width: number) =>
  Array.from({ length: count }, (_, i) => i.toString(36).toUpperCase().padStart(width, "X")).join(",")

const call = (url: string, init: RequestInit = {}) =>
  Effect.promise(async () => {
    const res = await fetch(url, init)
    return { status: res.status, headers: res.headers, body: await res.text() }
  })

layer(served(testOptions(), undefined, { trades: 40, quotes: 40 }), { timeout: 120_000, excludeTestServices: true })("the HTTP API", (it) => {
  it.effect("a snapshot's time is an instant like every other: ISO-8601 UTC with microseconds, in JSON and CSV", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const json = yield* call(`${base}/v1/snapshots/trades`, { headers: auth(KEYS.full) })
      assert.strictEqual(json.status, 200, json.body)
      const rows = JSON.parse(json.body).data as Array<{ time: string; timestampMs: number }>
      assert.isAbove(rows.length, 0)
      for (const row of rows) {
        assert.match(row.time, MICROS_INSTANT)
        assert.strictEqual(Date.parse(row.time), row.timestampMs)
      }
      const csv = yield* call(`${base}/v1/snapshots/trades?format=csv`, { headers: auth(KEYS.full) })
      const [header, ...lines] = csv.body.trim().split("\n")
      // The last column (the summary before it is quoted JSON, commas and all).
      assert.isTrue(header!.endsWith(",time"), header)
      for (const line of lines) assert.match(line.slice(line.lastIndexOf(",") + 1), MICROS_INSTANT)
    }))

  it.effect("a mistake in fields or filter is the same problem (code and detail) in every format, Parquet exports included", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const range = "from=2024-01-02&to=2024-01-03"
      for (const mistake of ["fields=nope", "filter=symbol:1", "filter=price:abc", "filter=price:1:12345678901"]) {
        const answers = yield* Effect.forEach(["json", "csv", "parquet"], (format) =>
          call(`${base}/v1/trades?${range}&${mistake}&format=${format}`, { headers: auth(KEYS.full) }).pipe(
            Effect.map((a) => {
              assert.strictEqual(a.status, 400, `${mistake} as ${format}: ${a.body}`)
              const { code, detail } = JSON.parse(a.body)
              return { format, code, detail }
            })
          ))
        assert.strictEqual(answers[0]!.code, "invalid_argument", mistake)
        for (const a of answers.slice(1)) assert.deepStrictEqual({ ...a, format: "" }, { ...answers[0]!, format: "" }, `${mistake} as ${a.format}`)
      }
    }))

  it.effect("a fields or tables list naming none is refused (400 bad_request), as symbols=, is: not read as every column or table", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const range = "from=2024-01-02&to=2024-01-03"
      for (const [query, names] of [
        [`/v1/trades?${range}&fields=,&format=json`, "fields"],
        [`/v1/trades?${range}&fields=%20,%20&format=csv`, "fields"],
        [`/v1/quotes?${range}&fields=,&format=parquet`, "fields"],
        [`/v1/quotes?${range}&fields=`, "fields"],
        [`/v1/replay?${range}&tables=,`, "tables"]
      ] as const) {
        const a = yield* call(`${base}${query}`, { headers: auth(KEYS.full) })
        assert.strictEqual(a.status, 400, `${query}: ${a.body}`)
        const { code, detail } = JSON.parse(a.body)
        assert.strictEqual(code, "bad_request", query)
        // An empty parameter (`fields=`) is refused before, as every empty one is.
        assert.match(detail, new RegExp(`^${names}(: .*names no (column|table)| is empty)`), query)
      }
    }))

  it.effect("a limit out of its range is limit_out_of_range (docs/api.md), as the engine names it; a malformed one bad_request", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const range = "from=2024-01-02&to=2024-01-03"
      const codeOf = (query: string) =>
        call(`${base}${query}`, { headers: auth(KEYS.full) }).pipe(Effect.map((a) => `${a.status} ${JSON.parse(a.body).code}`))
      for (const query of [
        `/v1/trades?${range}&limit=0`,
        `/v1/trades?${range}&limit=10001`,
        `/v1/trades?${range}&limit=5000001&format=parquet`,
        `/v1/trades/with-quotes?${range}&limit=0`,
        `/v1/trades?${range}&symbols=${symbols(1_001, 1)}`,
        // Long symbols too: their text, past a length the schema held it to, was a bare bad_request.
        `/v1/trades?${range}&symbols=${symbols(1_001, 32)}`,
        `/v1/bars?${range}&symbols=${symbols(1_500, 32)}`
      ]) assert.strictEqual(yield* codeOf(query), "400 limit_out_of_range", query)
      const many = yield* call(`${base}/v1/trades?${range}&symbols=${symbols(1_001, 32)}`, { headers: auth(KEYS.full) })
      assert.strictEqual(JSON.parse(many.body).detail, "symbols: at most 1000 symbols, got 1001")
      assert.strictEqual(yield* codeOf(`/v1/trades?${range}&limit=ten`), "400 bad_request")
    }))

  it.effect("a SQL limit past the safe integers is cut to K2_API_SQL_MAX_ROWS as any limit above it is, not refused as not an integer", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const sql = (body: string) =>
        call(`${base}/v1/sql`, { method: "POST", headers: { ...auth(KEYS.full), "content-type": "application/json" }, body })
      for (const limit of ["200000", "1e16", "123456789012345678901234567890"]) {
        const a = yield* sql(`{"sql":"SELECT * FROM range(3)","limit":${limit}}`)
        assert.strictEqual(a.status, 200, `${limit}: ${a.body}`)
        assert.strictEqual(JSON.parse(a.body).data.length, 3, limit)
      }
      const half = yield* sql(`{"sql":"SELECT 1","limit":1.5}`)
      assert.strictEqual(half.status, 400, half.body)
      assert.include(JSON.parse(half.body).detail, "limit")
    }))

  it.effect("as many symbols as K2_API_MAX_SYMBOLS allows (1000) can be asked for, however long each (up to 32 characters)", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      for (const width of [4, 32]) {
        const list = symbols(1_000, width)
        for (const route of ["/v1/trades", "/v1/bars"]) {
          const a = yield* call(`${base}${route}?from=2024-01-02&to=2024-01-03&symbols=${list}`, { headers: auth(KEYS.full) })
          assert.strictEqual(a.status, 200, `${route}, 1000 symbols of ${width} characters: ${a.body.slice(0, 300)}`)
          assert.deepStrictEqual(JSON.parse(a.body).data, [])
        }
      }
    }))

  it.effect("a misspelt query parameter is 400 naming it, not every symbol; the documents and system routes answer as before", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const typo = yield* call(`${base}/v1/trades?from=2024-01-02&to=2024-01-03&symbol=BHP`, { headers: auth(KEYS.full) })
      assert.strictEqual(typo.status, 400, typo.body)
      assert.match(JSON.parse(typo.body).detail, /^unknown query parameter symbol; \/v1\/trades takes symbols, from, to, /)
      for (const path of ["/openapi.json", "/docs", "/health", "/ready", "/metrics"]) {
        const a = yield* call(`${base}${path}`, { headers: auth(KEYS.full) })
        assert.strictEqual(a.status, 200, `${path}: ${a.body.slice(0, 300)}`)
      }
      // A query-only next link keeps this request's parameters: it is accepted as they are.
      const page = yield* call(`${base}/v1/trades?from=2024-01-01&to=2025-01-01&limit=1`, { headers: auth(KEYS.full) })
      const link = /^<(\?[^>]+)>; rel="next"$/.exec(page.headers.get("link") ?? "")
      assert.isNotNull(link, page.body.slice(0, 300))
      assert.strictEqual((yield* call(`${base}/v1/trades${link![1]}`, { headers: auth(KEYS.full) })).status, 200)
    }))
})
