/**
 * The meaning of the API's query values: instants, symbol lists, snapshot selectors, limits,
 * formats. Pure: each parser returns the value or a `BadParam` saying what to fix.
 */
import { Schema } from "effect"
import { parseIsoMicros, utcMidnightMillis } from "../time.ts"
import { quoted } from "../errors.ts"
import { CODE_PATTERN } from "../marketData.ts"
import { DECIMAL_ARGUMENT, parseFixed, rescale } from "../query/exact.ts"

/** A request parameter that is malformed or out of the server's limits (400). */
export class BadParam extends Schema.TaggedError<BadParam>()("BadParam", {
  name: Schema.String,
  detail: Schema.String,
  /** The problem's code where docs/api.md names one more precise than bad_request. */
  code: Schema.optional(Schema.Literals(["limit_out_of_range", "inverted_range"]))
}) {
  override get message() {
    return `${this.name}: ${this.detail}`
  }
}

const MIN_MICROS = Date.UTC(1900, 0, 1) * 1000
const MAX_MICROS = Date.UTC(2200, 0, 1) * 1000

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** Midnight UTC of a yyyy-mm-dd date, without the ISO parser (every bars and trades request has two). */
const dateMicros = (text: string): number | undefined => {
  const y = Number(text.slice(0, 4))
  const m = Number(text.slice(5, 7))
  const d = Number(text.slice(8, 10))
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)
  if (m < 1 || m > 12 || d < 1 || d > (m === 2 && leap ? 29 : MONTH_DAYS[m - 1]!)) return undefined
  // Not Date.UTC: it reads years 0-99 as 19xx, and 0050-01-02 passed for 1950-01-02.
  return utcMidnightMillis(y, m, d) * 1000
}

/**
 * The offset at the end of an ISO instant: `[+-]hh[:mm]`, or a space in place of the `+`, which
 * is what an unencoded `+` in a query string is form-decoded to; nothing else puts a space there.
 */
const OFFSET = /^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)([ +-])(\d{2})(:?\d{2})?$/

/** A date and time with no offset at all (which K2 will not guess: exchange-local or UTC?). */
const NO_OFFSET = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?$/

/** The forms an instant may take, for the messages refusing one. */
const FORMS = "ISO-8601 with an offset, e.g. 2024-01-02T10:00:00Z, 2024-01-02T21:00:00.5+11:00 or 2024-01-02T10:00Z; yyyy-mm-dd; or epoch microseconds; years 1900-2199"

/**
 * ISO-8601 with an offset, a date (midnight UTC), or integer epoch microseconds; 1900..2200. 10 to
 * 13 digits are refused: epoch seconds or milliseconds of today, read as microseconds, would be a
 * day in 1970 and answer the wrong range without a word; so is a compact date (yyyymmdd). Digits
 * past the microsecond round a range bound up (`[from, to)` then holds exactly the whole-microsecond
 * rows asked for), an as-of down (`"truncate"`: nothing committed after it). A range's exclusive
 * end (`"end"`) may be 2200-01-01 itself: the rows K2 holds run to 2199-12-31T23:59:59.999999Z,
 * and a `to` short of 2200 left that last microsecond out of every range.
 */
export const parseInstant = (
  name: string,
  text: string,
  pastMicros: "truncate" | "up" = "up",
  bound: "instant" | "end" = "instant"
): number | BadParam => {
  // Integers are told apart by their significant digits: 01704153600000000 is 16 of them, microseconds.
  const integer = /^-?\d+$/.test(text)
  const significant = integer ? text.replace(/^-?0*/, "").length : 0
  if (integer && significant >= 10 && significant <= 13) {
    return new BadParam({ name, detail: `${text} looks like epoch seconds or milliseconds; give epoch microseconds (16 digits, e.g. 1704153600000000) or ISO-8601` })
  }
  // 17 to 19 digits are past 2200 as microseconds; as nanoseconds (pandas' Timestamp.value), an instant K2 holds.
  if (integer && significant >= 17 && significant <= 19 && Number(text) / 1000 >= MIN_MICROS && Number(text) / 1000 < MAX_MICROS) {
    return new BadParam({ name, detail: `${text} looks like epoch nanoseconds; give epoch microseconds (16 digits, e.g. 1704153600000000) or ISO-8601` })
  }
  const compact = /^(19\d\d|2[01]\d\d)(\d\d)(\d\d)$/.exec(text)
  if (compact !== null && dateMicros(`${compact[1]}-${compact[2]}-${compact[3]}`) !== undefined) {
    return new BadParam({ name, detail: `${text} looks like a compact date; give ${compact[1]}-${compact[2]}-${compact[3]}, ISO-8601 or epoch microseconds` })
  }
  let micros: number | undefined
  if (integer) micros = significant <= 19 ? Number(text) : undefined
  else if (DATE.test(text)) micros = dateMicros(text)
  else {
    const offset = OFFSET.exec(text)
    const iso = offset === null ? text : `${offset[1]}${offset[2] === " " ? "+" : offset[2]}${offset[3]}${offset[4] ?? ":00"}`
    micros = parseIsoMicros(iso, pastMicros)
  }
  if (micros === undefined || !Number.isSafeInteger(micros) || micros < MIN_MICROS || micros > MAX_MICROS || (micros === MAX_MICROS && bound !== "end")) {
    const hint = (NO_OFFSET.test(text) ? "; it has no offset: add Z (UTC) or the exchange's offset, e.g. +11:00 for Sydney in summer" : "") +
      (text.includes(" ") ? "; a + in a query string reads as a space: send it as %2B" : "")
    return new BadParam({ name, detail: `${quoted(text)} is not an instant (${FORMS})${hint}` })
  }
  return micros
}

/**
 * A date, yyyy-mm-dd only (summary's exchange-local trading days), years 1900-2199: its midnight
 * UTC in epoch microseconds, for range checks. An instant here would be read in no zone.
 */
export const parseDate = (name: string, text: string): number | BadParam => {
  const micros = DATE.test(text) ? dateMicros(text) : undefined
  if (micros === undefined || micros < MIN_MICROS || micros >= MAX_MICROS) {
    return new BadParam({ name, detail: `${quoted(text)} is not a date yyyy-mm-dd (years 1900-2199)` })
  }
  return micros
}

export const required = <A>(name: string, value: A | undefined): A | BadParam =>
  value === undefined || value === "" ? new BadParam({ name, detail: "is required" }) : value

export const splitList = (text: string | undefined): ReadonlyArray<string> =>
  text === undefined ? [] : text.split(",").map((s) => s.trim()).filter((s) => s.length > 0)


/**
 * The symbols asked for, sorted, each once (a name repeated counts once against `max`); none given
 * is every symbol, but a list given that names none (`symbols=,`) is refused, not read as every one.
 */
export const parseSymbols = (text: string | undefined, max: number): ReadonlyArray<string> | BadParam => {
  const list = [...new Set(splitList(text))]
  if (text !== undefined && list.length === 0) return new BadParam({ name: "symbols", detail: `${quoted(text)} names no symbol: leave symbols out for every symbol` })
  if (list.length > max) return new BadParam({ name: "symbols", detail: `at most ${max} symbols, got ${list.length}`, code: "limit_out_of_range" })
  const bad = list.find((s) => !CODE_PATTERN.test(s))
  if (bad !== undefined) return new BadParam({ name: "symbols", detail: `${quoted(bad)} is not 1-32 of A-Z 0-9 . _ -` })
  return list.sort()
}

/**
 * The columns asked for, in the order given; none given is every column, but a list given that names
 * none (`fields=,`) is refused, as `symbols=,` is. Which names are columns is the engine's check.
 */
export const parseFields = (text: string | undefined): ReadonlyArray<string> | BadParam => {
  const list = splitList(text)
  return text !== undefined && list.length === 0
    ? new BadParam({ name: "fields", detail: `${quoted(text)} names no column: leave fields out for every column` })
    : list
}

/** The tables a replay plays: trades, quotes or both (none given); a list naming none is refused. */
export const parseTables = (text: string | undefined): ReadonlyArray<"trades" | "quotes"> | BadParam => {
  if (text === undefined) return ["trades", "quotes"]
  const list = splitList(text)
  if (list.length === 0) return new BadParam({ name: "tables", detail: `${quoted(text)} names no table: leave tables out for trades,quotes` })
  // Named as sent, with the values it takes: "trades, quotes or both" refused tables=both in those words.
  if (list.some((t) => t !== "trades" && t !== "quotes")) {
    return new BadParam({ name: "tables", detail: `${quoted(text)} is not trades, quotes or trades,quotes (comma-separated)` })
  }
  return list as ReadonlyArray<"trades" | "quotes">
}

/** An integer within [min, max], or the fallback when absent. */
export const parseIntParam = (
  name: string,
  text: string | undefined,
  options: { readonly min: number; readonly max: number; readonly fallback?: number }
): number | undefined | BadParam => {
  if (text === undefined || text === "") return options.fallback
  // Any count of digits, signed: past the safe integers, or below 0, a value is out of range, not "not an integer".
  if (!/^-?\d+$/.test(text)) return new BadParam({ name, detail: `${quoted(text)} is not an integer` })
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < options.min || n > options.max) {
    const detail = `must be from ${options.min} to ${options.max}, got ${text}`
    // As the engine names a page's limit out of range; another parameter out of range is a bad request.
    return name === "limit" ? new BadParam({ name, detail, code: "limit_out_of_range" }) : new BadParam({ name, detail })
  }
  return n
}

export const parsePositiveNumber = (name: string, text: string, max: number): number | BadParam => {
  // Any plain decimal (the engine paces at any speed above 0; 0.0000000001 was refused as "not a number").
  if (!/^\d{1,9}(\.\d{1,30})?$/.test(text)) return new BadParam({ name, detail: `${quoted(text)} is not a plain decimal number (e.g. 0.5, 60)` })
  const n = Number(text)
  if (n <= 0 || n > max) return new BadParam({ name, detail: `${quoted(text)} is not above 0 and at most ${max}` })
  return n
}

export type SnapshotParam =
  | { readonly _tag: "Latest" }
  | { readonly _tag: "ById"; readonly snapshotId: bigint }
  | { readonly _tag: "AsOf"; readonly timestampMs: number }

export const parseSnapshot = (snapshotId: string | undefined, asOf: string | undefined): SnapshotParam | BadParam => {
  const id = snapshotId === "" ? undefined : snapshotId
  const at = asOf === "" ? undefined : asOf
  if (id !== undefined && at !== undefined) return new BadParam({ name: "snapshot_id", detail: "give snapshot_id or as_of, not both" })
  if (id !== undefined) {
    if (!/^-?\d{1,19}$/.test(id)) return new BadParam({ name: "snapshot_id", detail: `${quoted(id)} is not a snapshot id` })
    const value = BigInt(id)
    if (value > 9_223_372_036_854_775_807n || value < -9_223_372_036_854_775_808n) {
      return new BadParam({ name: "snapshot_id", detail: `${quoted(id)} is not a 64-bit snapshot id` })
    }
    return { _tag: "ById", snapshotId: value }
  }
  if (at !== undefined) {
    const micros = parseInstant("as_of", at, "truncate")
    if (micros instanceof BadParam) return micros
    return { _tag: "AsOf", timestampMs: Math.floor(micros / 1000) }
  }
  return { _tag: "Latest" }
}

/**
 * `column:min[:max]` items; the engine checks columns and decimals. A min above its max (bounds
 * swapped) is refused as an inverted range, as an inverted `from`/`to` is: it matched no row and
 * answered an empty 200, which reads as "no such trades".
 */
export const parseFilters = (text: string | undefined) => {
  const out: Array<{ column: string; min?: string; max?: string }> = []
  for (const part of splitList(text)) {
    const [column, min, max, ...rest] = part.split(":")
    if (column === undefined || column === "" || rest.length > 0 || (!min && !max)) {
      return new BadParam({ name: "filter", detail: `${quoted(part)} is not column:min[:max]` })
    }
    if (min && max && DECIMAL_ARGUMENT.test(min) && DECIMAL_ARGUMENT.test(max) && rescale(parseFixed(min)) > rescale(parseFixed(max))) {
      return new BadParam({ name: "filter", detail: `${quoted(part)}: ${column}'s min ${min} is above its max ${max}`, code: "inverted_range" })
    }
    out.push({ column, ...(min ? { min } : {}), ...(max ? { max } : {}) })
  }
  return out
}

export type Format = "json" | "csv" | "parquet" | "ndjson" | "sse"

const MEDIA: Record<string, Format> = {
  "application/json": "json",
  "text/csv": "csv",
  "application/vnd.apache.parquet": "parquet",
  "application/x-parquet": "parquet",
  "application/x-ndjson": "ndjson",
  "application/ndjson": "ndjson",
  "text/event-stream": "sse"
}

/** Whether a format is one of the media types under a top-level type (`text/`). */
const isUnder = (format: Format, top: string) => Object.entries(MEDIA).some(([type, f]) => f === format && type.startsWith(top))

/**
 * The format: `format` wins, else the allowed format of the highest quality by the Accept header.
 * A format's quality is that of the most specific range naming it (RFC 9110 §12.5.1): its own type,
 * else its top-level wildcard (text/* names CSV or SSE, never JSON), else the any-type one; so
 * JSON at q=0.1 beside "any type" prefers CSV, and a type refused with q=0 is not chosen through a
 * wildcard. Among equals the client's first range wins, then the route's order: any type, or no
 * Accept, picks the default.
 */
export const negotiate = (
  explicit: string | undefined,
  accept: string | undefined,
  allowed: ReadonlyArray<Format>
): Format | BadParam => {
  if (explicit !== undefined) {
    return (allowed as ReadonlyArray<string>).includes(explicit)
      ? explicit as Format
      : new BadParam({ name: "format", detail: `${quoted(explicit)}; this route answers ${allowed.join(", ")}` })
  }
  if (accept === undefined || accept.trim() === "") return allowed[0]!
  const ranges = accept.slice(0, 1_000).split(",").map((part, i) => {
    const [type = "", ...params] = part.trim().toLowerCase().split(";")
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="))
    const weight = q === undefined ? 1 : Number(q.slice(2))
    return { type: type.trim(), q: Number.isFinite(weight) ? weight : 0, i }
  })
  /** The range that sets a format's quality: the best of the most specific ones naming it. */
  const rangeOf = (format: Format) => {
    const levels = [
      ranges.filter((r) => MEDIA[r.type] === format),
      ranges.filter((r) => r.type !== "*/*" && r.type.endsWith("/*") && isUnder(format, r.type.slice(0, -1))),
      ranges.filter((r) => r.type === "*/*")
    ]
    const level = levels.find((l) => l.length > 0)
    return level?.reduce((best, r) => r.q > best.q ? r : best)
  }
  let chosen: { readonly format: Format; readonly q: number; readonly i: number } | undefined
  for (const format of allowed) {
    const r = rangeOf(format)
    if (r === undefined || r.q <= 0) continue
    if (chosen === undefined || r.q > chosen.q || (r.q === chosen.q && r.i < chosen.i)) chosen = { format, q: r.q, i: r.i }
  }
  return chosen?.format ??
    new BadParam({ name: "Accept", detail: `none of the accepted types is available; this route answers ${allowed.join(", ")}` })
}

export const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * The first field name an object of a JSON text gives twice, compared as parsed (`"s\u0071l"` is
 * `sql`), or undefined. JSON.parse keeps the last of them without a word, so a body naming `sql`
 * twice ran the second statement, while a proxy or log reading the first saw another one; a query
 * parameter given twice is refused for the same reason. Meant for text JSON.parse has accepted.
 */
export const repeatedKey = (json: string): string | undefined => {
  /** The names seen in each open object, innermost last (undefined for an open array). */
  const open: Array<Set<string> | undefined> = []
  let i = 0
  while (i < json.length) {
    const c = json[i]
    if (c === "\"") {
      let end = i + 1
      while (end < json.length && json[end] !== "\"") end += json[end] === "\\" ? 2 : 1
      const literal = json.slice(i, end + 1)
      i = end + 1
      let next = i
      while (next < json.length && (json[next] === " " || json[next] === "\t" || json[next] === "\n" || json[next] === "\r")) next++
      const names = open[open.length - 1]
      if (json[next] === ":" && names !== undefined) {
        const name = JSON.parse(literal) as string
        if (names.has(name)) return name
        names.add(name)
      }
      continue
    }
    if (c === "{") open.push(new Set())
    else if (c === "[") open.push(undefined)
    else if (c === "}" || c === "]") open.pop()
    i++
  }
  return undefined
}
