/**
 * Response building: problem+json errors, JSON envelopes and CSV, values made exact and
 * readable (longs as text, instants as ISO-8601 with microseconds), strong ETags.
 */
import { createHash } from "node:crypto"
import { HttpServerResponse } from "effect/http"
import { formatIsoMicros } from "../../domain/time.ts"

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
