/**
 * Response building: problem+json errors, JSON envelopes, CSV and Parquet, values made exact
 * and readable (longs as text, instants as ISO-8601 with microseconds), strong ETags.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import { formatIsoMicros } from "../../domain/time.ts"
import { attempt, DuckDb } from "../duckdb/DuckDb.ts"

export const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable"
}

export const problemBody = (status: number, code: string, detail: string, correlationId: string) =>
  JSON.stringify({
    type: `https://k2.dev/problems/${code}`,
    title: TITLES[status] ?? "Error",
    status,
    code,
    detail,
    correlation_id: correlationId
  })

export const problem = (
  status: number,
  code: string,
  detail: string,
  correlationId: string,
  headers: Record<string, string> = {}
) =>
  HttpServerResponse.text(problemBody(status, code, detail, correlationId), {
    status,
    contentType: "application/problem+json",
    headers: { "cache-control": "no-store", ...headers }
  })

/** Keys holding epoch microseconds in the engine's answers. */
const INSTANT_KEYS = new Set([
  "exchange_timestamp",
  "ingestion_timestamp",
  "detected_at",
  "bucket",
  "firstTrade",
  "lastTrade",
  "exchangeTimestamp",
  "quoteTimestamp",
  "first",
  "last",
  "firstTimestamp",
  "lastTimestamp"
])

/** JSON-safe and exact: bigint → text, instants → ISO-8601 (µs), nested records likewise. */
export const present = (value: unknown, key = ""): unknown => {
  if (typeof value === "bigint") return value.toString()
  if (typeof value === "number" && INSTANT_KEYS.has(key) && Number.isSafeInteger(value)) return formatIsoMicros(value)
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value)) return value.map((v) => present(v))
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = present(v, k)
    return out
  }
  return value
}

export const presentRow = (row: Readonly<Record<string, unknown>>) => present(row) as Record<string, unknown>

const csvCell = (v: unknown): string => {
  const s = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v)
  return /[",\n\r]/.test(s) ? `"${s.replaceAll("\"", "\"\"")}"` : s
}

export const csvHeader = (columns: ReadonlyArray<string>) => `${columns.map(csvCell).join(",")}\n`
export const csvRows = (rows: ReadonlyArray<Record<string, unknown>>, columns: ReadonlyArray<string>) => {
  let out = ""
  for (const r of rows) out += `${columns.map((c) => csvCell(r[c])).join(",")}\n`
  return out
}

/** Flattens one level of nesting (e.g. symbols' per-table stats) so CSV has one value per cell. */
export const flatten = (row: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(row)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v) && k !== "vendor_data" && k !== "summary") {
      for (const [k2, v2] of Object.entries(v)) out[`${k}_${k2}`] = v2
    } else if (v === null && (k === "trades" || k === "quotes")) {
      out[`${k}_count`] = 0
    } else out[k] = v
  }
  return out
}

export const columnsOf = (rows: ReadonlyArray<Record<string, unknown>>) => {
  const seen = new Set<string>()
  for (const r of rows.slice(0, 1000)) for (const k of Object.keys(r)) seen.add(k)
  return [...seen]
}

/** A strong validator: the same request at the same snapshot(s), in the same format. */
export const strongEtag = (parts: ReadonlyArray<string>) =>
  `"${createHash("sha256").update(parts.join("\u0000")).digest("base64url").slice(0, 32)}"`

export const etagMatches = (ifNoneMatch: string | undefined, etag: string) => {
  if (ifNoneMatch === undefined) return false
  if (ifNoneMatch.trim() === "*") return true
  return ifNoneMatch.split(",").some((t) => t.trim().replace(/^W\//, "") === etag)
}

export const jsonReplacer = (_: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v)

/** A small LRU of response bodies by ETag, bounded in bytes. */
export class BodyCache {
  private readonly entries = new Map<string, { readonly body: Uint8Array; readonly extra: unknown }>()
  private bytes = 0
  private readonly capacity: number
  constructor(capacity: number) {
    this.capacity = capacity
  }
  get(key: string) {
    const hit = this.entries.get(key)
    if (hit !== undefined) {
      this.entries.delete(key)
      this.entries.set(key, hit)
    }
    return hit
  }
  set(key: string, body: Uint8Array, extra: unknown) {
    if (this.capacity <= 0 || body.length > this.capacity / 8) return
    const old = this.entries.get(key)
    if (old !== undefined) {
      this.bytes -= old.body.length
      this.entries.delete(key)
    }
    this.entries.set(key, { body, extra })
    this.bytes += body.length
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.capacity) break
      this.entries.delete(k)
      this.bytes -= v.body.length
    }
  }
}

// --- Parquet ---------------------------------------------------------------------------------

/**
 * Parquet, one way for every route: `write` fills a fresh temporary file (a DuckDB COPY), which
 * is then streamed from disk with its length and deleted once sent, or at once if `write` fails.
 */
export const parquetResponse = <E, R>(
  write: (file: string) => Effect.Effect<unknown, E, R>,
  headers: Readonly<Record<string, string>>
) =>
  Effect.gen(function*() {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "k2-api-")), "result.parquet")
    const cleanup = Effect.sync(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }))
    yield* write(file).pipe(Effect.onError(() => cleanup))
    const size = fs.statSync(file).size
    const body = Stream.fromAsyncIterable(fs.createReadStream(file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>, () => "read failed").pipe(
      Stream.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)),
      Stream.ensuring(cleanup)
    )
    return HttpServerResponse.stream(body, {
      contentType: "application/vnd.apache.parquet",
      contentLength: size,
      headers: { ...headers, "content-disposition": "attachment; filename=\"result.parquet\"" }
    })
  })

/** The DuckDB type of each field of an answer row, in column order: every field, checked by the compiler. */
export type ParquetColumns<A> = { readonly [K in keyof A]-?: string }

/** Decimal text of any K2 answer (prices, sums, means: all at scale 8), read back exactly. */
export const PARQUET_DECIMAL = "DECIMAL(38, 8)"

/** A nested record's Parquet type from its columns. */
export const parquetStruct = (columns: Readonly<Record<string, string>>) =>
  `STRUCT(${Object.entries(columns).map(([name, type]) => `"${name.replaceAll("\"", "\"\"")}" ${type}`).join(", ")})`

const sqlText = (text: string) => `'${text.replaceAll("'", "''")}'`

/**
 * A writer for `parquetResponse` of presented rows (decimals and longs as text, instants as
 * ISO-8601): they go to disk as NDJSON, a few thousand at a time, and DuckDB casts each column to
 * its declared type (text to DECIMAL and BIGINT exactly) while it copies them into the file.
 */
export const writeRowsParquet = (rows: ReadonlyArray<Record<string, unknown>>, columns: Readonly<Record<string, string>>) =>
(file: string) =>
  Effect.gen(function*() {
    const duckDb = yield* DuckDb
    const ndjson = `${file}.ndjson`
    yield* Effect.sync(() => {
      const fd = fs.openSync(ndjson, "w")
      try {
        for (let i = 0; i < rows.length; i += 4_096) {
          fs.writeSync(fd, rows.slice(i, i + 4_096).map((r) => `${JSON.stringify(r, jsonReplacer)}\n`).join(""))
        }
      } finally {
        fs.closeSync(fd)
      }
    })
    const types = Object.entries(columns).map(([name, type]) => `${sqlText(name)}: ${sqlText(type)}`).join(", ")
    yield* duckDb.withConnection((connection) =>
      attempt("parquet", () =>
        connection.run(
          `COPY (SELECT * FROM read_json(${sqlText(ndjson)}, format = 'newline_delimited', columns = {${types}})) TO ${sqlText(file)} (FORMAT parquet, COMPRESSION zstd)`
        ))
    ).pipe(Effect.ensuring(Effect.sync(() => fs.rmSync(ndjson, { force: true }))))
  })
