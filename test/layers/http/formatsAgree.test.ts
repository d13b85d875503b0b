/**
 * The same answer in every format: each tabular route read as JSON, CSV and Parquet (read back
 * with DuckDB, as a client would) holds the same columns, in the same order, and the same rows,
 * in the same order, with the same values. Over awkward data: symbols with `.`, `_`, `-`; the
 * smallest and largest prices; vendor_data keys and instrument names with quotes, commas, line
 * breaks and non-ASCII; an empty string beside a null; instants µs apart; hostile values a feed may
 * send (NUL, tabs, ESC sequences, bidi marks, U+2028/U+2029, a leading `=`, a 200k-character value),
 * and replay's NDJSON one object a line for readers that also break lines at U+2028/U+2029.
 */
import { DuckDBDateValue, DuckDBDecimalValue, DuckDBListValue, DuckDBMapValue, DuckDBStructValue, DuckDBTimestampTZValue, DuckDBTimestampValue } from "@duckdb/node-api"
import { assert, layer } from "@effect/vitest"
import { BigDecimal, Effect, Layer } from "effect"
import type { HttpServer } from "effect/http"
import { instrumentRows, tradeColumns, quoteColumns, type QuoteRow, type TradeRow } from "../../../src/domain/rows.ts"
import { identifierOf, tables } from "../../../src/domain/tables.ts"
import { formatIsoMicros } from "../../../src/domain/time.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { auth, baseUrl, KEYS, servedWith, testOptions } from "../../integration/http-support.ts"
import { readParquet } from "../../support/parquet.ts"
import { DAY, genQuotes, genTrades, HOUR, T0 } from "../query/data.ts"
import { QUOTES, TRADES, warehouseDir } from "../query/fixture.ts"

// Offsets and sequences past 2^53: exact text in JSON, and in the cursors.
const lineage = (i: number) => ({ ingestion_timestamp: T0 + 10 * DAY, kafka_topic: "k2.test", kafka_partition: 0, kafka_offset: 2n ** 63n - 10n + BigInt(i) })
const dec = (text: string) => BigDecimal.fromStringUnsafe(text)
/** Message ids with what CSV quotes, a NUL, non-ASCII, U+2028 and an RTL override. */
const HOSTILE_ID = ',"\r\n\u0000é🚀\u2028\u202e='
const awk = (i: number) => `awk-${i}${HOSTILE_ID}`
// Hostile values from a feed too: NUL, tabs, ESC sequences, bidi marks, U+2028/U+2029, a leading `=`, a 200k-character value.
const AWKWARD_KEYS = {
  "say \"hi\"": "a,b", "line\nbreak": "x\r\ny", "Zürich 東京 🚀": "", "": "empty key",
  "nul\u0000key": "v\u0000al", "tab\tkey": "=1+2\t@x", "esc\u001b[31m": "\u2028ls\u2029ps", "\u202eRTL\u200f": "-3", "long": "x".repeat(200_000), "🚀‍👩": "\ud83d\ude80"
}

const awkwardTrades: Array<TradeRow> = [
  ["BRK.B", T0 + 1, "0.00000001", "1", { ...AWKWARD_KEYS }, ["A", "B,C", "say \"x\"", "A\u0000", "B,C\u2028", "=say \"x\"", "\u001b]0;t\u0007"]],
  ["BRK.B", T0 + 2, "9999999999.99999999", "0.00000001", {}, []],
  ["A_B-C", T0 + 3, "1.10000000", "100000.5", { venue: "" }, [""]],
  ["A_B-C", T0 - 1, "12.34000000", "2", { "ü": "ü" }, ["é"]],
  ["BRK.B", T0 + 2 * HOUR + 3, "5.00000000", "1", {}, []] // its prevailing quote has no ask: no mid, spread or side
].map(([symbol, ts, price, qty, vendor, conditions], i) => ({
  message_id: awk(i),
  trade_id: i === 0 ? "" : `id,"${i}"\n`,
  symbol: symbol as string,
  exchange: "NYSE",
  asset_class: "equities" as const,
  exchange_timestamp: ts as number,
  price: dec(price as string),
  quantity: dec(qty as string),
  currency: "USD",
  side: i % 2 === 0 ? "BUY" as const : "SELL" as const,
  conditions: conditions as Array<string>,
  source_sequence: i === 1 ? null : 2n ** 62n + 1n + BigInt(i),
  vendor_data: vendor as Record<string, string>,
  ...lineage(i)
}))
const awkwardQuotes: Array<QuoteRow> = [
  { ts: T0, bid: "0.00000001", ask: "9999999999.99999999" },
  { ts: T0 + 2, bid: "1.00000000", ask: "1.00000001" },
  // One-sided (pre-open) quotes: their hour's quote bar has null mids and spreads.
  { ts: T0 + 2 * HOUR, bid: "0", ask: "5.00000000" },
  { ts: T0 + 2 * HOUR + 1, bid: "4.00000000", ask: "0" }
].map(({ ask, bid, ts }, i) => ({
  message_id: `awq-${i}${HOSTILE_ID}`,
  quote_id: `q"${i}"`,
  symbol: "BRK.B",
  exchange: "NYSE",
  asset_class: "equities" as const,
  exchange_timestamp: ts,
  bid_price: dec(bid),
  bid_size: dec("3"),
  ask_price: dec(ask),
  ask_size: dec("0.001"),
  currency: "USD",
  conditions: ["Ω"],
  source_sequence: BigInt(i),
  vendor_data: { ...AWKWARD_KEYS },
  ...lineage(i)
}))

const written = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.ensureTable(tables.quotes)
  yield* sink.ensureTable(tables.instruments)
  yield* sink.append(TRADES, tradeColumns([...awkwardTrades, ...genTrades(150, { seed: 71 })]))
  yield* sink.append(QUOTES, quoteColumns([...awkwardQuotes, ...genQuotes(150, { seed: 72 })]))
  const instruments = instrumentRows()
  const base = { exchange: "NYSE", currency: "USD", asset_class: "equities" as const, delisting_date: null, ...lineage(0) }
  instruments.push({ ...base, symbol: "BRK.B", company_id: "", name: "Berkshire \"B\", Inc.\nClass B", isin: "US0846707026", listing_date: "1996-05-09" })
  instruments.push({ ...base, symbol: "A_B-C", company_id: null, name: "Ünïcødé 株式会社 🚀", isin: null, listing_date: null })
  yield* sink.append(identifierOf("instruments"), instruments.columns())
}))

const dir = warehouseDir()
const app = servedWith(testOptions(), dir, written)

// --- reading each format back as columns and rows of text (null for a missing value) -----------

type Cell = string | null
interface Table {
  readonly columns: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<Cell>>
}

/** A JSON value as text: nested ones as their JSON, which is how CSV writes them. */
const jsonCell = (v: unknown): Cell => v === null ? null : typeof v === "object" ? JSON.stringify(v) : String(v)

/** RFC 4180 (quoted fields may hold quotes, doubled, commas and line breaks); an unquoted empty field is null. */
const parseCsv = (text: string): Array<Array<Cell>> => {
  const rows: Array<Array<Cell>> = []
  let row: Array<Cell> = []
  let cell: Cell = null
  let i = 0
  const end = () => {
    row.push(cell)
    cell = null
  }
  while (i < text.length) {
    const c = text[i]!
    if (c === "\"" && cell === null) {
      cell = ""
      let j = i + 1
      for (;;) {
        const q = text.indexOf("\"", j)
        assert.isAtLeast(q, 0, "unterminated quoted field")
        cell += text.slice(j, q)
        if (text[q + 1] !== "\"") {
          i = q + 1
          break
        }
        cell += "\""
        j = q + 2
      }
      continue
    }
    if (c === ",") end()
    else if (c === "\n") {
      end()
      rows.push(row)
      row = []
    } else cell = (cell ?? "") + c
    i++
  }
  assert.isTrue(cell === null && row.length === 0, "the CSV ends with a line break")
  return rows
}

/** A Parquet value as the API's text: decimals at their scale, instants ISO-8601 UTC (µs), nested as JSON. */
const parquetValue = (v: unknown, nested = false): unknown => {
  if (v === null || v === undefined) return null
  // A long is text in JSON, but a count nested in symbols' stats is a number there.
  if (typeof v === "bigint") return nested ? Number(v) : v.toString()
  if (v instanceof DuckDBDecimalValue) {
    const sign = v.value < 0n ? "-" : ""
    const digits = (v.value < 0n ? -v.value : v.value).toString().padStart(v.scale + 1, "0")
    return v.scale === 0 ? `${sign}${digits}` : `${sign}${digits.slice(0, -v.scale)}.${digits.slice(-v.scale)}`
  }
  if (v instanceof DuckDBTimestampTZValue || v instanceof DuckDBTimestampValue) return formatIsoMicros(Number(v.micros))
  if (v instanceof DuckDBDateValue) return v.toString()
  if (v instanceof DuckDBListValue) return v.items.map((x) => parquetValue(x, true))
  if (v instanceof DuckDBMapValue) return Object.fromEntries(v.entries.map((e) => [String(e.key), parquetValue(e.value, true)]))
  if (v instanceof DuckDBStructValue) return Object.fromEntries(Object.entries(v.entries).map(([k, x]) => [k, parquetValue(x, true)]))
  return v
}

const fromJson = (rows: ReadonlyArray<Record<string, unknown>>): Table => {
  const columns = rows.length > 0 ? Object.keys(rows[0]!) : []
  for (const r of rows) assert.deepStrictEqual(Object.keys(r), columns, "every JSON row has the same keys in the same order")
  return { columns, rows: rows.map((r) => columns.map((c) => jsonCell(r[c]))) }
}

const fromCsv = (text: string): Table => {
  const [header = [], ...rows] = parseCsv(text)
  return { columns: header.map(String), rows }
}

const fromParquet = (bytes: Uint8Array) =>
  readParquet(bytes).pipe(Effect.map(({ columns, rows }): Table => ({
    columns,
    rows: rows.map((r) => columns.map((c) => jsonCell(parquetValue(r[c]))))
  })))

/**
 * Symbols' per-table stats, flattened for CSV as `<table>_<stat>`. A table with no rows of the
 * symbol is null in JSON and Parquet, so its three cells are empty in CSV: not a count of 0 that
 * neither of the others says.
 */
const flattenStats = (rows: ReadonlyArray<Record<string, unknown>>) =>
  rows.map((r) => {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(r)) {
      if (k === "trades" || k === "quotes") {
        const stats = (v ?? {}) as Record<string, unknown>
        for (const s of ["count", "first", "last"]) out[`${k}_${s}`] = stats[s] ?? null
      } else out[k] = v
    }
    return out
  })

const assertSame = (label: string, expected: Table, actual: Table) => {
  assert.deepStrictEqual(actual.columns, expected.columns, `${label}: columns`)
  assert.strictEqual(actual.rows.length, expected.rows.length, `${label}: row count`)
  for (let i = 0; i < expected.rows.length; i++) {
    const e = expected.rows[i]!
    const a = actual.rows[i]!
    for (let j = 0; j < expected.columns.length; j++) {
      assert.strictEqual(a[j], e[j], `${label}: row ${i}, column ${expected.columns[j]}`)
    }
  }
}

// --- the requests ------------------------------------------------------------------------------

interface Answer {
  readonly headers: Headers
  readonly bytes: Uint8Array
  readonly text: () => string
}

const request = (path: string, init: { body?: unknown; accept?: string } = {}): Effect.Effect<Answer, never, HttpServer.HttpServer> =>
  Effect.gen(function*() {
    const base = yield* baseUrl
    const response = yield* Effect.promise(() =>
      fetch(`${base}${path}`, {
        method: init.body === undefined ? "GET" : "POST",
        headers: {
          ...auth(KEYS.full),
          ...(init.body === undefined ? {} : { "content-type": "application/json" }),
          ...(init.accept === undefined ? {} : { accept: init.accept })
        },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) })
      })
    )
    const bytes = new Uint8Array(yield* Effect.promise(() => response.arrayBuffer()))
    assert.strictEqual(response.status, 200, `${path}: ${new TextDecoder().decode(bytes).slice(0, 500)}`)
    return { headers: response.headers, bytes, text: () => new TextDecoder().decode(bytes) }
  })

const withFormat = (path: string, format: string) => `${path}${path.includes("?") ? "&" : "?"}format=${format}`

/** Every page of a paged route, following `K2-Next-Cursor`. */
const allPages = (path: string, format: "json" | "csv" | "parquet") =>
  Effect.gen(function*() {
    const pages: Array<Answer> = []
    let cursor: string | null = null
    do {
      const page: Answer = yield* request(withFormat(cursor === null ? path : `${path}&cursor=${encodeURIComponent(cursor)}`, format))
      pages.push(page)
      cursor = page.headers.get("k2-next-cursor")
    } while (cursor !== null)
    return pages
  })

const pagedJson = (path: string) =>
  allPages(path, "json").pipe(Effect.map((pages) => {
    const rows = pages.flatMap((p) => (JSON.parse(p.text()) as { data: Array<Record<string, unknown>> }).data)
    return { rows, pages: pages.length }
  }))

const pagedCsv = (path: string) =>
  allPages(path, "csv").pipe(Effect.map((pages) => {
    const tables = pages.map((p) => fromCsv(p.text()))
    for (const t of tables) assert.deepStrictEqual(t.columns, tables[0]!.columns, "every CSV page has the same header")
    return { columns: tables[0]!.columns, rows: tables.flatMap((t) => t.rows) }
  }))

const json = (path: string) =>
  request(withFormat(path, "json")).pipe(Effect.map((r) => (JSON.parse(r.text()) as { data: Array<Record<string, unknown>> }).data))

/** One whole (unpaged) answer in the three formats, compared. */
const compareWhole = (label: string, path: string, flatten?: typeof flattenStats) =>
  Effect.gen(function*() {
    const rows = yield* json(path)
    assert.isAbove(rows.length, 0, `${label}: no rows to compare`)
    const expected = fromJson(rows)
    assertSame(`${label} csv`, fromJson(flatten === undefined ? rows : flatten(rows)), fromCsv((yield* request(withFormat(path, "csv"))).text()))
    assertSame(`${label} parquet`, expected, yield* fromParquet((yield* request(withFormat(path, "parquet"))).bytes))
    return rows
  })

const RANGE = `from=2024-01-01T00:00:00Z&to=${new Date((T0 + 4 * DAY) / 1000).toISOString()}`

layer(app, { timeout: 120_000, excludeTestServices: true })("the same answer in JSON, CSV and Parquet", (it) => {
  for (const table of ["trades", "quotes"] as const) {
    it.effect(`/v1/${table}: offsets and sequences past 2^53 exact, paged one row at a time by their cursors`, () =>
      Effect.gen(function*() {
        const path = `/v1/${table}?${RANGE}&symbols=BRK.B`
        const rows = yield* json(path)
        // Longs past 2^53 are exact text (docs/api.md), never a rounded number.
        assert.include(rows.map((r) => r["kafka_offset"]), "9223372036854775798")
        const paged: Array<Record<string, unknown>> = []
        for (let cursor: string | null = null, n = 0; n === 0 || cursor !== null; n++) {
          const page: Answer = yield* request(`${path}&limit=1${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`)
          paged.push(...(JSON.parse(page.text()) as { data: Array<Record<string, unknown>> }).data)
          cursor = page.headers.get("k2-next-cursor")
        }
        assert.deepStrictEqual(paged, rows)
      }))

    it.effect(`/v1/replay of ${table}: NDJSON with U+2028/U+2029 escaped, one object a line, the values exact`, () =>
      Effect.gen(function*() {
        const text = (yield* request(`/v1/replay?${RANGE}&symbols=BRK.B&tables=${table}`)).text()
        // Python's str.splitlines() and JavaScript's line terminators split at these too.
        assert.notMatch(text, /[\u2028\u2029]/)
        const lines = text.split(/\r\n|\r|\n|\u2028|\u2029/)
        assert.strictEqual(lines.pop(), "")
        const events = lines.map((l) => JSON.parse(l) as { vendor_data: Record<string, string> })
        assert.strictEqual(events.length, table === "trades" ? 3 : 4)
        assert.isTrue(events.some((e) => e.vendor_data["esc\u001b[31m"] === "\u2028ls\u2029ps"))
      }))

    it.effect(`/v1/${table}: JSON pages, CSV pages, the CSV export and the Parquet export hold the same rows`, () =>
      Effect.gen(function*() {
        const path = `/v1/${table}?${RANGE}`
        const paged = yield* pagedJson(`${path}&limit=37`)
        assert.isAbove(paged.pages, 3)
        const expected = fromJson(paged.rows)
        assert.strictEqual(new Set(paged.rows.map((r) => r["message_id"])).size, paged.rows.length, "every row once")
        assert.strictEqual(paged.rows.length, table === "trades" ? 155 : 154)
        assertSame("csv pages", expected, yield* pagedCsv(`${path}&limit=37`))
        assertSame("csv export", expected, fromCsv((yield* request(withFormat(path, "csv"))).text()))
        assertSame("csv export, by Accept", expected, fromCsv((yield* request(path, { accept: "text/csv" })).text()))
        assertSame("parquet export", expected, yield* fromParquet((yield* request(withFormat(path, "parquet"))).bytes))
        assertSame("parquet with a limit", { columns: expected.columns, rows: expected.rows.slice(0, 37) }, yield* fromParquet((yield* request(withFormat(`${path}&limit=37`, "parquet"))).bytes))
      }))

    it.effect(`/v1/${table}: a fields= subset, in every format`, () =>
      Effect.gen(function*() {
        const fields = table === "trades" ? "vendor_data,price,exchange_timestamp,symbol,conditions" : "ask_price,vendor_data,exchange_timestamp,bid_price"
        const path = `/v1/${table}?${RANGE}&fields=${fields}&symbols=BRK.B`
        const rows = yield* json(path)
        const expected = fromJson(rows)
        assertSame("csv", expected, fromCsv((yield* request(withFormat(path, "csv"))).text()))
        assertSame("csv page", expected, fromCsv((yield* request(withFormat(`${path}&limit=1000`, "csv"))).text()))
        assertSame("parquet", expected, yield* fromParquet((yield* request(withFormat(path, "parquet"))).bytes))
      }))
  }

  it.effect("/v1/trades: a range ending at a trade's instant leaves that trade out, in every format", () =>
    Effect.gen(function*() {
      // BRK.B trades at T0 + 1 and T0 + 2 (us): [T0, T0 + 2) holds the first alone.
      const path = `/v1/trades?from=${formatIsoMicros(T0)}&to=${formatIsoMicros(T0 + 2)}&symbols=BRK.B`
      const rows = yield* json(path)
      assert.deepStrictEqual(rows.map((r) => r["message_id"]), [awk(0)])
      const expected = fromJson(rows)
      assertSame("csv export", expected, fromCsv((yield* request(withFormat(path, "csv"))).text()))
      assertSame("parquet export", expected, yield* fromParquet((yield* request(withFormat(path, "parquet"))).bytes))
    }))

  it.effect("/v1/trades: the awkward values read as written", () =>
    Effect.gen(function*() {
      const rows = yield* json(`/v1/trades?${RANGE}&symbols=BRK.B,A_B-C`)
      const byId = new Map(rows.map((r) => [r["message_id"], r]))
      assert.strictEqual(byId.get(awk(0))!["price"], "0.00000001")
      assert.deepStrictEqual(byId.get(awk(0))!["vendor_data"], AWKWARD_KEYS)
      assert.deepStrictEqual(byId.get(awk(0))!["conditions"], ["A", "B,C", "say \"x\"", "A\u0000", "B,C\u2028", "=say \"x\"", "\u001b]0;t\u0007"])
      assert.strictEqual(byId.get(awk(1))!["price"], "9999999999.99999999")
      assert.strictEqual(byId.get(awk(3))!["exchange_timestamp"], "2024-01-01T23:59:59.999999Z")
    }))

  it.effect("/v1/trades/with-quotes: every format pages, to the same rows", () =>
    Effect.gen(function*() {
      const path = `/v1/trades/with-quotes?${RANGE}&limit=40`
      const paged = yield* pagedJson(path)
      assert.isAbove(paged.pages, 2)
      const expected = fromJson(paged.rows)
      assertSame("csv", expected, yield* pagedCsv(path))
      const parquet = yield* Effect.forEach(yield* allPages(path, "parquet"), (page) => fromParquet(page.bytes))
      assertSame("parquet", expected, { columns: parquet[0]!.columns, rows: parquet.flatMap((t) => t.rows) })
      const oneSided = paged.rows.find((r) => r["messageId"] === awk(4))!
      assert.deepStrictEqual([oneSided["bidPrice"], oneSided["askPrice"], oneSided["mid"], oneSided["effectiveSpread"], oneSided["classification"]], ["4.00000000", "0.00000000", null, null, null])
    }))

  it.effect("/v1/bars, /v1/quotes/bars, /v1/summary", () =>
    Effect.gen(function*() {
      yield* compareWhole("bars", `/v1/bars?${RANGE}&interval=1h`)
      const quoteBars = yield* compareWhole("quote bars", `/v1/quotes/bars?${RANGE}&interval=1h`)
      // Only one-sided quotes in BRK.B's third hour: null in JSON and Parquet, empty cells in CSV.
      const oneSided = quoteBars.find((r) => r["symbol"] === "BRK.B" && r["bucket"] === formatIsoMicros(T0 + 2 * HOUR))
      assert.deepStrictEqual(oneSided && [oneSided["quoteCount"], oneSided["midOpen"], oneSided["spreadMean"], oneSided["spreadClose"]], [2, null, null, null])
      yield* compareWhole("summary", `/v1/summary?from_day=2024-01-01&to_day=2024-01-06`)
    }))

  it.effect("/v1/symbols, /v1/instruments, /v1/snapshots, /v1/stats", () =>
    Effect.gen(function*() {
      const symbols = yield* compareWhole("symbols", "/v1/symbols", flattenStats)
      // A_B-C has trades and no quotes: null in JSON, empty cells in CSV (the comparison above holds them to it).
      assert.deepStrictEqual(symbols.find((r) => r["symbol"] === "A_B-C")?.["quotes"], null)
      const instruments = yield* compareWhole("instruments", "/v1/instruments")
      assert.deepStrictEqual(instruments.map((r) => r["company_id"]).sort(), ["", null])
      for (const table of ["trades", "quotes", "instruments"]) {
        yield* compareWhole(`snapshots ${table}`, `/v1/snapshots/${table}`)
        yield* compareWhole(`stats ${table}`, `/v1/stats/${table}`)
      }
    }))

  it.effect("an answer with no rows names the same columns in CSV and Parquet", () =>
    Effect.gen(function*() {
      const empty = "from=2030-01-01T00:00:00Z&to=2030-01-02T00:00:00Z"
      for (const path of [
        `/v1/trades?${empty}`,
        `/v1/trades?${empty}&fields=price,symbol`,
        `/v1/quotes?${empty}&limit=10`,
        `/v1/trades/with-quotes?${empty}`,
        `/v1/bars?${empty}`,
        `/v1/quotes/bars?${empty}`,
        "/v1/summary?from_day=2030-01-01&to_day=2030-01-02",
        "/v1/symbols?symbols=NONE.X",
        "/v1/instruments?symbols=NONE.X"
      ]) {
        assert.deepStrictEqual(yield* json(path), [], path)
        const csv = fromCsv((yield* request(withFormat(path, "csv"))).text())
        const parquet = yield* fromParquet((yield* request(withFormat(path, "parquet"))).bytes)
        assert.deepStrictEqual(csv.rows, [], path)
        assert.deepStrictEqual(parquet.rows, [], path)
        const flat = path.startsWith("/v1/symbols") ? ["symbol", "trades_count", "trades_first", "trades_last", "quotes_count", "quotes_first", "quotes_last"] : parquet.columns
        assert.deepStrictEqual(csv.columns, flat, path)
      }
    }))

  it.effect("POST /v1/sql", () =>
    Effect.gen(function*() {
      const statements = [
        "SELECT * FROM trades ORDER BY exchange_timestamp, message_id",
        "SELECT * FROM quotes ORDER BY exchange_timestamp, message_id",
        "SELECT * FROM instruments ORDER BY symbol",
        "SELECT symbol, sum(price * quantity) AS notional, min(price) AS low, max(exchange_timestamp) AS last, count(*) AS n, list(message_id ORDER BY message_id) AS ids FROM trades GROUP BY symbol ORDER BY symbol"
      ]
      for (const sql of statements) {
        const answer = yield* request("/v1/sql", { body: { sql } })
        const expected = fromJson((JSON.parse(answer.text()) as { data: Array<Record<string, unknown>> }).data)
        assertSame(`${sql} csv`, expected, fromCsv((yield* request("/v1/sql", { body: { sql, format: "csv" } })).text()))
        assertSame(`${sql} parquet`, expected, yield* fromParquet((yield* request("/v1/sql", { body: { sql, format: "parquet" } })).bytes))
      }
    }))
})
