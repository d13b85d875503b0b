/**
 * Hostile values from a feed in every format of the API: NUL, tabs, ESC sequences, bidi marks,
 * U+2028/U+2029, a leading `=`, emoji and a 200k-character value, in symbols' vendor_data keys and
 * values and in conditions. JSON, CSV and Parquet hold the same text; replay's NDJSON is one object
 * a line for every reader, those that also break lines at U+2028/U+2029 included.
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

const lineage = (i: number) => ({ ingestion_timestamp: T0 + 10 * DAY, kafka_topic: "k2.test", kafka_partition: 0, kafka_offset: 2n ** 63n - 10n + BigInt(i) })
const dec = (text: string) => BigDecimal.fromStringUnsafe(text)
const AWKWARD_KEYS = { "nul\u0000key": "v\u0000al", "tab\tkey": "=1+2\t@x", "esc\u001b[31m": "\u2028ls\u2029ps", "\u202eRTL\u200f": "-3", "long": "x".repeat(200_000), "🚀‍👩": "\ud83d\ude80" }

const awkwardTrades: Array<TradeRow> = [
  ["BRK.B", T0 + 1, "0.00000001", "1", { ...AWKWARD_KEYS }, ["A\u0000", "B,C\u2028", "=say \"x\"", "\u001b]0;t\u0007"]],
  ["BRK.B", T0 + 2, "9999999999.99999999", "0.00000001", {}, []],
  ["A_B-C", T0 + 3, "1.10000000", "100000.5", { venue: "" }, [""]],
  ["A_B-C", T0 - 1, "12.34000000", "2", { "ü": "ü" }, ["é"]],
  ["BRK.B", T0 + 2 * HOUR + 3, "5.00000000", "1", {}, []] // its prevailing quote has no ask: no mid, spread or side
].map(([symbol, ts, price, qty, vendor, conditions], i) => ({
  message_id: `awk-${i},"\r\n\u0000é🚀\u2028\u202e=`,
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
  message_id: `awq-${i},"\r\n\u0000é🚀\u2028\u202e=`,
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

const json = (path: string) =>
  request(withFormat(path, "json")).pipe(Effect.map((r) => (JSON.parse(r.text()) as { data: Array<Record<string, unknown>> }).data))

const RANGE = `from=2024-01-01T00:00:00Z&to=${new Date((T0 + 4 * DAY) / 1000).toISOString()}`


layer(app, { timeout: 120_000, excludeTestServices: true })("hostile values", (it) => {
  for (const table of ["trades", "quotes"] as const) {
    it.effect(`/v1/${table}: JSON, CSV and Parquet hold the same text`, () =>
      Effect.gen(function*() {
        const path = `/v1/${table}?${RANGE}&symbols=BRK.B`
        const rows = yield* json(path)
        // Longs past 2^53 are exact text (docs/api.md), never a rounded number.
        assert.include(rows.map((r) => r["kafka_offset"]), "9223372036854775798")
        const expected = fromJson(rows)
        // Paged one row at a time, the cursors carrying those offsets and sequences: the same rows.
        const paged: Array<Record<string, unknown>> = []
        for (let cursor: string | null = null, n = 0; n === 0 || cursor !== null; n++) {
          const page: Answer = yield* request(`${path}&limit=1${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`)
          paged.push(...(JSON.parse(page.text()) as { data: Array<Record<string, unknown>> }).data)
          cursor = page.headers.get("k2-next-cursor")
        }
        assert.deepStrictEqual(paged, rows)
        assertSame("csv export", expected, fromCsv((yield* request(withFormat(path, "csv"))).text()))
        assertSame("parquet export", expected, yield* fromParquet((yield* request(withFormat(path, "parquet"))).bytes))
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
  }
})
