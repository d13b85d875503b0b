/**
 * Response building: problem+json errors, JSON envelopes, CSV and Parquet, values made exact
 * and readable (longs as text, instants as ISO-8601 with microseconds), strong ETags, gzip.
 */
import { hash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { Clock, Effect, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import { formatIsoMicros } from "../../domain/time.ts"
import { setEntry } from "../../domain/wire.ts"
import { attempt, DuckDb } from "../duckdb/DuckDb.ts"
import { exactFiles, quoteIdent, quoteLiteral } from "../duckdb/sqlText.ts"
import { csvCell } from "../../domain/csv.ts"
import { sweepStaleDirectories } from "../staleDirectories.ts"

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
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

/**
 * JSON-safe and exact: bigint → text, instants → ISO-8601 (µs), nested records likewise. The
 * result holds no bigint, so it goes to `JSON.stringify` without a replacer (twice as fast).
 */
export const present = (value: unknown, key = ""): unknown => {
  switch (typeof value) {
    case "bigint":
      return value.toString()
    case "number":
      return INSTANT_KEYS.has(key) && Number.isSafeInteger(value) ? formatIsoMicros(value) : value
    case "object": {
      if (value === null) return null
      if (value instanceof Date) return value.toISOString()
      if (Array.isArray(value)) return value.map((v) => present(v))
      const out: Record<string, unknown> = {}
      // setEntry: a key "__proto__" (a vendor_data key) would set the prototype and vanish.
      for (const k of Object.keys(value)) setEntry(out, k, present((value as Record<string, unknown>)[k], k))
      return out
    }
    default:
      return value
  }
}

export const presentRow = (row: Readonly<Record<string, unknown>>) => present(row) as Record<string, unknown>


export const csvHeader = (columns: ReadonlyArray<string>) => `${columns.map(csvCell).join(",")}\n`
export const csvRows = (rows: ReadonlyArray<Record<string, unknown>>, columns: ReadonlyArray<string>) => {
  let out = ""
  for (const r of rows) out += `${columns.map((c) => csvCell(r[c])).join(",")}\n`
  return out
}

/** Flattens one level of nesting (e.g. symbols' per-table stats) so CSV has one value per cell; a null one is empty cells. */
export const flatten = (row: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(row)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v) && k !== "vendor_data" && k !== "summary") {
      for (const [k2, v2] of Object.entries(v)) out[`${k}_${k2}`] = v2
    } else if (v === null && (k === "trades" || k === "quotes")) {
      // Symbols' stats of a table with no rows of the symbol: null in JSON and Parquet, so empty
      // cells here (a count of 0 in CSV alone made the formats disagree).
      for (const stat of ["count", "first", "last"]) out[`${k}_${stat}`] = null
    } else out[k] = v
  }
  return out
}

/**
 * Headers naming the next page, in every format (a CSV or Parquet body has no place for the
 * cursor): `K2-Next-Cursor`, and `Link: <?query>; rel="next"` with this request's query and that
 * cursor. A query-only reference resolves against the URL the client called (RFC 3986 §5.2), so
 * it holds behind a proxy that rewrites paths, and no Host header is trusted. None on the last page.
 */
export const nextPageHeaders = (url: string, cursor: string | null | undefined): Record<string, string> => {
  if (cursor === null || cursor === undefined) return {}
  const i = url.indexOf("?")
  const query = new URLSearchParams(i < 0 ? "" : url.slice(i + 1))
  query.set("cursor", cursor)
  return { "k2-next-cursor": cursor, link: `<?${query}>; rel="next"` }
}

/** Every key of every row: a key first seen late (symbols: the first with trades after 1000 without) is a column too. */
export const columnsOf = (rows: ReadonlyArray<Record<string, unknown>>) => {
  const seen = new Set<string>()
  for (const r of rows) for (const k in r) seen.add(k)
  return [...seen]
}

/** A strong validator: the same request at the same snapshot(s), in the same format. */
export const strongEtag = (parts: ReadonlyArray<string>) =>
  `"${hash("sha256", parts.join("\u0000"), "base64url").slice(0, 32)}"`

/**
 * Whether If-None-Match names `etag` (the weak comparison, RFC 9110 §13.1.2): a 304 before anything
 * runs, since that ETag was given for a 200 of the same request at the same snapshots. `*` names none.
 */
export const etagMatches = (ifNoneMatch: string | undefined, etag: string) => {
  if (ifNoneMatch === undefined) return false
  return ifNoneMatch.split(",").some((t) => t.trim().replace(/^W\//, "") === etag)
}

/**
 * If-None-Match: `*`, true of any current representation: known only once the request answers, since
 * a request refused without it (a column, filter or cursor the engine refuses) must be refused with
 * it too (RFC 9110 §13.2.1), not told its copy is fine.
 */
export const matchesAny = (ifNoneMatch: string | undefined) => ifNoneMatch !== undefined && ifNoneMatch.split(",").some((t) => t.trim() === "*")

/** What an entry costs besides its body and key: the Map's slot and the entry object. */
const ENTRY_OVERHEAD = 128

/**
 * A small LRU of response bodies by ETag, bounded in bytes. Each entry is charged what it holds:
 * its body, its key and (`extraBytes`) what is kept beside; charging bodies alone let a budget
 * fill with many times its size of small answers (an empty page is 29 bytes, its meta far more).
 */
export class BodyCache<A> {
  private readonly entries = new Map<string, { readonly body: Uint8Array; readonly extra: A; readonly cost: number }>()
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
  set(key: string, body: Uint8Array, extra: A, extraBytes = 0) {
    const cost = body.byteLength + 2 * key.length + extraBytes + ENTRY_OVERHEAD
    if (this.capacity <= 0 || cost > this.capacity / 8) return
    const old = this.entries.get(key)
    if (old !== undefined) {
      this.bytes -= old.cost
      this.entries.delete(key)
    }
    // A small Buffer is a view into an 8 KiB pool slab, which it would keep alive: keep a copy.
    const own = body.byteLength === body.buffer.byteLength ? body : new Uint8Array(body)
    this.entries.set(key, { body: own, extra, cost })
    this.bytes += cost
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.capacity) break
      this.entries.delete(k)
      this.bytes -= v.cost
    }
  }
}

// --- gzip ------------------------------------------------------------------------------------

/**
 * Whether to answer gzip by `Accept-Encoding` (RFC 9110 §12.5.3): gzip (or x-gzip, its alias; else
 * `*`) at a quality above 0, and not below the quality the client gives identity, named or by `*`
 * (`gzip;q=0.1, identity` and `gzip;q=0.5, *` prefer no coding).
 */
export const acceptsGzip = (header: string | undefined): boolean => {
  if (header === undefined) return false
  let gzip: number | undefined
  let any: number | undefined
  let identity: number | undefined
  for (const part of header.split(",")) {
    const [coding = "", ...params] = part.split(";").map((p) => p.trim().toLowerCase())
    const q = params.find((p) => p.startsWith("q="))
    const weight = q === undefined ? 1 : Number(q.slice(2))
    const quality = Number.isFinite(weight) ? weight : 0
    if (coding === "gzip" || coding === "x-gzip") gzip = Math.max(gzip ?? 0, quality)
    else if (coding === "*") any = quality
    else if (coding === "identity") identity = quality
  }
  const q = gzip ?? any ?? 0
  // `*` names identity too when it is not named itself.
  const plain = identity ?? any
  return q > 0 && (plain === undefined || q >= plain)
}

/** What a gzip trailer needs of the compressed part: its CRC-32 and length. */
export interface GzipSums {
  readonly crc: number
  readonly size: number
}

const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])

/**
 * A body as the start of a gzip member, to cache: the header and the body deflated up to a
 * sync flush (byte-aligned and not final, so more blocks may follow). On the libuv pool.
 */
export const gzipStart = (body: Uint8Array): Effect.Effect<{ readonly bytes: Uint8Array; readonly sums: GzipSums }> =>
  Effect.callback((resume) => {
    // The fastest level: it runs on every cache miss; level 6 took 5x longer for 20 % fewer bytes.
    zlib.deflateRaw(body, { level: 1, finishFlush: zlib.constants.Z_SYNC_FLUSH }, (error, deflated) => {
      resume(error === null
        ? Effect.succeed({ bytes: Buffer.concat([GZIP_HEADER, deflated]), sums: { crc: zlib.crc32(body), size: body.length } })
        : Effect.die(error))
    })
  })

/**
 * The rest of the gzip member after the cached start: `tail` (the per-response meta) as stored,
 * uncompressed deflate blocks, the last one final, then CRC-32 and length of everything.
 */
export const gzipEnd = (sums: GzipSums, tail: Uint8Array): Uint8Array => {
  const blocks = Math.max(1, Math.ceil(tail.length / 65_535))
  const out = Buffer.allocUnsafe(blocks * 5 + tail.length + 8)
  let at = 0
  for (let i = 0; i < blocks; i++) {
    const chunk = tail.subarray(i * 65_535, (i + 1) * 65_535)
    out[at] = i === blocks - 1 ? 1 : 0
    out.writeUInt16LE(chunk.length, at + 1)
    out.writeUInt16LE(~chunk.length & 0xffff, at + 3)
    out.set(chunk, at + 5)
    at += 5 + chunk.length
  }
  // An empty view may have no storage, and zlib's crc32 of no storage is 0, not the running value.
  out.writeUInt32LE(tail.length === 0 ? sums.crc : zlib.crc32(tail, sums.crc), at)
  out.writeUInt32LE((sums.size + tail.length) % 2 ** 32, at + 4)
  return out
}

/** From this size the cached part of a body is sent as it is, not copied (see `twoParts`). */
const COPY_BELOW = 16 * 1024

/**
 * A body of two parts: the cached one and the per-response end. A large cached part goes out as
 * is, the end after it: a copy per response of a 300 KB day of bars cost more CPU (the copy and the
 * collections its garbage brought on) than the whole rest of the request.
 */
export const twoParts = (
  head: Uint8Array,
  end: Uint8Array,
  options: { readonly contentType: string; readonly headers: Readonly<Record<string, string>> }
) =>
  end.length === 0
    ? HttpServerResponse.uint8Array(head, options)
    : head.length < COPY_BELOW
    ? HttpServerResponse.uint8Array(Buffer.concat([head, end]), options)
    : HttpServerResponse.stream(Stream.concat(Stream.succeed(head), Stream.succeed(end)), { ...options, contentLength: head.length + end.length })

// --- Parquet ---------------------------------------------------------------------------------

/**
 * A Parquet answer's temporary directory: the prefix and the six characters `fs.mkdtemp` adds. The SQL
 * sandbox's links to files whose paths DuckDB would glob share it (sandboxRun.ts `withPlainPaths`), so the sweep takes those too.
 */
const TEMP_PREFIX = "k2-api-"
const TEMP_DIR = /^k2-api-[A-Za-z0-9]{6}$/

/**
 * Parquet, one way for every route: `write` fills a fresh temporary file (a DuckDB COPY), which
 * is then streamed from disk with its length. The request's scope owns the file: it is deleted
 * when the request ends, however it ends (sent, failed, or the client gone before the body was
 * read); the Node server closes that scope once the response is written, body included. The
 * file is opened only when the body is first pulled: a body never read holds no descriptor (an
 * open made up front also raced the deletion, an unhandled ENOENT), and a HEAD's never is.
 */
export const parquetResponse = <E, R>(
  write: (file: string) => Effect.Effect<Readonly<Record<string, string>> | void, E, R>,
  headers: Readonly<Record<string, string>>
) =>
  Effect.gen(function*() {
    const remove = (dir: string) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    const dir = yield* Effect.acquireRelease(Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), TEMP_PREFIX))), remove)
    const file = path.join(dir, "result.parquet")
    const written = yield* write(file)
    const size = fs.statSync(file).size
    const body = Stream.suspend(() =>
      Stream.fromAsyncIterable(fs.createReadStream(file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>, () => "read failed")
    ).pipe(Stream.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)))
    return HttpServerResponse.stream(body, {
      contentType: "application/vnd.apache.parquet",
      contentLength: size,
      headers: { ...headers, ...written, "content-disposition": "attachment; filename=\"result.parquet\"" }
    })
  })

/** How old a Parquet temp directory must be for a starting server to delete it. */
export const STALE_TEMP_MS = 24 * 60 * 60 * 1000

/**
 * Deletes the Parquet temp directories under `root` whose directory and files were all last
 * changed before `cutoff` (epoch ms), and returns their names. Only a process that ended mid-
 * request (killed, crashed) leaves one; a running server's, another server's on this machine
 * included, lives for one request: written under the query time limits, then streamed, and a
 * stream once opened reads on from its descriptor (POSIX keeps a deleted file's data until then).
 */
export const sweepTempDirs = (root: string, cutoff: number): ReadonlyArray<string> =>
  sweepStaleDirectories(root, cutoff, (name) => TEMP_DIR.test(name))

/**
 * At a server's start: the Parquet temp directories a process left behind a day ago or more. A
 * temporary directory that cannot be read (TMPDIR naming one that does not exist) is said, not a
 * reason to stop: the server crashed at start on it, though only Parquet answers need it.
 */
export const sweepStaleTempDirs = Effect.gen(function*() {
  const root = os.tmpdir()
  const cutoff = (yield* Clock.currentTimeMillis) - STALE_TEMP_MS
  const removed = yield* Effect.try({ try: () => sweepTempDirs(root, cutoff), catch: (e) => (e as Error).message }).pipe(
    Effect.catch((why) =>
      Effect.as(
        Effect.logWarning(`cannot read the temporary directory ${root} (TMPDIR): ${why}; Parquet answers are written there and fail until it can be`),
        []
      )
    )
  )
  if (removed.length > 0) yield* Effect.logInfo(`deleted ${removed.length} stale Parquet temp directories`)
})

/** The DuckDB type of each field of an answer row, in column order: every field, checked by the compiler. */
export type ParquetColumns<A> = { readonly [K in keyof A]-?: string }

/** Decimal text of any K2 answer (prices, sums, means: all at scale 8), read back exactly. */
export const PARQUET_DECIMAL = "DECIMAL(38, 8)"

/** A nested record's Parquet type from its columns. */
export const parquetStruct = (columns: Readonly<Record<string, string>>) =>
  `STRUCT(${Object.entries(columns).map(([name, type]) => `${quoteIdent(name)} ${type}`).join(", ")})`


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
          fs.writeSync(fd, rows.slice(i, i + 4_096).map((r) => `${JSON.stringify(r)}\n`).join(""))
        }
      } finally {
        fs.closeSync(fd)
      }
    })
    const types = Object.entries(columns).map(([name, type]) => `${quoteLiteral(name)}: ${quoteLiteral(type)}`).join(", ")
    yield* duckDb.withConnection((connection) =>
      attempt("parquet", () =>
        connection.run(
          `COPY (SELECT * FROM read_json(${exactFiles(`[${quoteLiteral(ndjson)}]`)}, format = 'newline_delimited', columns = {${types}})) TO ${quoteLiteral(file)} (FORMAT parquet, COMPRESSION zstd)`
        ), () => connection.interrupt())
    ).pipe(Effect.ensuring(Effect.sync(() => fs.rmSync(ndjson, { force: true }))))
  })
