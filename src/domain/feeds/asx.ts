/**
 * The ASX historical tick-file format, parsed with plain string operations (the hot path
 * must run far above 150,000 rows/s, so no Schema decode per row). Validation is the same
 * as `decodeTrade` / `decodeQuote` of the row's wire form; test/domain/feeds/asx.test.ts
 * checks the two agree row by row.
 *
 * Layout of a load directory:
 *   reference-data/company_info.csv  header `company_id,symbol,company_name,ISIN,start_date,end_date`
 *   trades/<company_id>.csv          no header: Date,Time,Price,Volume,Qualifiers,Venue,BuyerID
 *   quotes/<company_id>.csv          no header: Date,Time,Bid,Ask,BidVolume,AskVolume
 * Dates are MM/DD/YYYY and times HH:MM:SS[.f], exchange local time (Australia/Sydney).
 * A header line in a data file is skipped anyway (isBlankOrHeader); data fields may be quoted.
 */
import { BigDecimal, Result, Schema } from "effect"
import { CODE_PATTERN, CODE_RULE, MESSAGE_ID_MAX, type Quote, type Trade } from "../marketData.ts"
import { Instrument } from "../reference.ts"
import { fieldProblems, quoted } from "../errors.ts"
import { type Zone, zone } from "../zone.ts"

const ASX_EXCHANGE = "ASX"
const ASX_CURRENCY = "AUD"
const ASX_TIME_ZONE = "Australia/Sydney"
export const COMPANY_INFO_FILE = "reference-data/company_info.csv"
const COMPANY_INFO_HEADER = ["company_id", "symbol", "company_name", "ISIN", "start_date", "end_date"]

/** The column names of data files, which have no header; some exports add one anyway. */
const DATA_HEADER = {
  trades: "date,time,price,volume,qualifiers,venue,buyerid",
  quotes: "date,time,bid,ask,bidvolume,askvolume"
} as const

/**
 * True for a line (or company_info record) holding no value: blanks, separators and empty quoted
 * fields only, as a spreadsheet saves an emptied row (`,,,,,,`). A lone quote is not empty: it is
 * a bad row ("unclosed quote").
 */
export const isEmptyRecord = (text: string): boolean => text.replace(/""/g, "").replace(/[\s,\uFEFF]/g, "") === ""

/**
 * True for a data-file line that is no row: empty (isEmptyRecord), or the column names (a header,
 * at the top or repeated where files were concatenated; any case, quoted or not). Call it only for
 * a line that does not start with a digit, as every row does.
 */
export const isBlankOrHeader = (dataType: "trades" | "quotes", line: string): boolean => {
  const t = line.trim() // also drops a BOM (U+FEFF) left mid-file by concatenation
  return isEmptyRecord(t) || t.replace(/"/g, "").replace(/\s*,\s*/g, ",").toLowerCase() === DATA_HEADER[dataType]
}

/** What one data file's rows share. */
export interface AsxFile {
  /** Path relative to the load directory, e.g. `trades/1234.csv`: part of every message_id. */
  readonly file: string
  readonly companyId: string
  readonly symbol: string
  readonly zone: Zone
}

export const asxFile = (dataType: "trades" | "quotes", companyId: string, symbol: string): AsxFile => ({
  file: `${dataType}/${companyId}.csv`,
  companyId,
  symbol,
  zone: zone(ASX_TIME_ZONE)
})

/** Positional and deterministic: the same file and line always give the same id, whatever the row holds. */
const asxMessageId = (file: string, line: number): string => `asx:${file}:${line}`

/**
 * The longest company id whose rows' message ids fit MESSAGE_ID_MAX at any line number:
 * `asx:quotes/` and `.csv:` take 16 characters, a line number at most 16 digits.
 */
const COMPANY_ID_MAX = MESSAGE_ID_MAX - 16 - String(Number.MAX_SAFE_INTEGER).length

// The same rules as src/domain/decimal.ts (decimal(18, 8) in plain notation).
const DECIMAL_TEXT = /^-?\d{1,10}(\.\d{1,8})?$/
const INTEGER_TEXT = /^\d{1,10}$/
const CONDITION_TEXT = /^\d{1,9}$/

/** A decimal from validated text, built as BigDecimal.fromString would build it. */
const decimalOf = (text: string): BigDecimal.BigDecimal => {
  const dot = text.indexOf(".")
  return dot === -1
    ? BigDecimal.make(BigInt(text), 0)
    : BigDecimal.make(BigInt(text.slice(0, dot) + text.slice(dot + 1)), text.length - dot - 1)
}

const isZeroText = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c !== 48 /* 0 */ && c !== 46 /* . */ && c !== 45 /* - */) return false
  }
  return true
}

/** A price or size: the decimal, or the reason it is rejected. */
const decimalField = (name: string, text: string, positive: boolean): BigDecimal.BigDecimal | string => {
  if (!DECIMAL_TEXT.test(text)) return `${name} ${quoted(text)} is not a decimal(18, 8) number`
  if (text.charCodeAt(0) === 45 /* - */ && !isZeroText(text)) return `negative ${name} ${text}`
  if (positive && isZeroText(text)) return `${name} must be greater than 0`
  return decimalOf(text.charCodeAt(0) === 45 ? text.slice(1) : text)
}

/** A size (whole shares): "-0" is a zero, as decodeTrade / decodeQuote read it, not a negative. */
const sizeField = (name: string, text: string, positive: boolean): BigDecimal.BigDecimal | string => {
  const digits = text.charCodeAt(0) === 45 /* - */ ? text.slice(1) : text
  if (!INTEGER_TEXT.test(digits)) return `${name} ${quoted(text)} is not an integer`
  if (isZeroText(digits)) {
    if (positive) return `${name} must be greater than 0`
  } else if (digits !== text) return `negative ${name} ${text}`
  return BigDecimal.make(BigInt(digits), 0)
}

const digit = (s: string, i: number): number => {
  const c = s.charCodeAt(i) - 48
  return c >= 0 && c <= 9 ? c : Number.NaN
}

interface LocalDate {
  readonly year: number
  readonly month: number
  readonly day: number
}

const dateCache = new Map<string, LocalDate | string>()

/**
 * MM/DD/YYYY (one- or two-digit month and day), a real calendar date. Any year: listing dates may
 * be old (BHP listed in 1885); `localMicros` bounds the dates of instants.
 */
const parseUsDate = (text: string): LocalDate | string => {
  const cached = dateCache.get(text)
  if (cached !== undefined) return cached
  const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(text)
  let result: LocalDate | string = `date ${quoted(text)} is not MM/DD/YYYY`
  if (m !== null) {
    const month = Number(m[1]), day = Number(m[2]), year = Number(m[3])
    // setUTCFullYear, not Date.UTC: that one reads years 0-99 as 1900-1999.
    const check = new Date(0)
    check.setUTCFullYear(year, month - 1, day)
    if (
      month >= 1 && month <= 12 && day >= 1 &&
      check.getUTCFullYear() === year && check.getUTCMonth() === month - 1 && check.getUTCDate() === day
    ) {
      result = { year, month, day }
    } else {
      result = `date ${quoted(text)} does not exist`
    }
  }
  if (dateCache.size > 100_000) dateCache.clear()
  dateCache.set(text, result)
  return result
}

/** MM/DD/YYYY as ISO yyyy-mm-dd; "" is null. */
const usDateToIso = (text: string): string | null | { readonly error: string } => {
  if (text === "") return null
  const d = parseUsDate(text)
  if (typeof d === "string") return { error: d }
  return `${String(d.year).padStart(4, "0")}-${String(d.month).padStart(2, "0")}-${String(d.day).padStart(2, "0")}`
}

/**
 * Microseconds since the epoch of a local date and `HH:MM:SS[.f]` time, or the reason it is not
 * one. Up to 9 fractional digits, those past the microsecond truncated as the wire's Timestamp
 * (parseIsoMicros, which takes any number of them) truncates them. Dates in 1901..2198 only, so that instants stay inside the
 * Timestamp range (1900..2200) whatever the zone's offset.
 */
const localMicros = (z: Zone, dateText: string, timeText: string): number | string => {
  const date = parseUsDate(dateText)
  if (typeof date === "string") return date
  if (date.year < 1901 || date.year > 2198) return `date ${quoted(dateText)} is outside 1901..2198`
  const n = timeText.length
  // H:MM:SS or HH:MM:SS, then an optional fraction.
  const colon = timeText.indexOf(":")
  if (colon < 1 || colon > 2 || n < colon + 6 || timeText.charCodeAt(colon + 3) !== 58) {
    return `time ${quoted(timeText)} is not HH:MM:SS.mmm`
  }
  const hour = colon === 1 ? digit(timeText, 0) : digit(timeText, 0) * 10 + digit(timeText, 1)
  const minute = digit(timeText, colon + 1) * 10 + digit(timeText, colon + 2)
  const second = digit(timeText, colon + 4) * 10 + digit(timeText, colon + 5)
  let micros = 0
  const rest = colon + 6
  if (rest < n) {
    const digits = n - rest - 1
    if (timeText.charCodeAt(rest) !== 46 || digits < 1 || digits > 9) return `time ${quoted(timeText)} is not HH:MM:SS.mmm`
    for (let i = rest + 1; i < n; i++) {
      const d = digit(timeText, i)
      if (i <= rest + 6) micros = micros * 10 + d
      else if (Number.isNaN(d)) micros = Number.NaN // past the microsecond a digit is only checked
    }
    for (let i = digits; i < 6; i++) micros *= 10
  }
  if (!(hour <= 23 && minute <= 59 && second <= 59) || Number.isNaN(micros)) {
    return `time ${quoted(timeText)} is not a valid time of day`
  }
  return z.toUtcMillis(date.year, date.month, date.day, hour, minute, second, 0) * 1000 + micros
}

const stripCr = (line: string): string => (line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line)

/** A line without its trailing CR, spaces and tabs (padded exports): else they join the last field. */
const trimEnd = (line: string): string => {
  const c = line.charCodeAt(line.length - 1)
  return c === 13 || c === 32 || c === 9 ? line.replace(/[\r \t]+$/, "") : line
}

const BLANKS_AROUND = /^[ \t]+|[ \t]+$/g

/** A field without the spaces and tabs around it. */
const trimField = (field: string): string => {
  const a = field.charCodeAt(0), z = field.charCodeAt(field.length - 1)
  return a === 32 || a === 9 || z === 32 || z === 9 ? field.replace(BLANKS_AROUND, "") : field
}

/** Shared by trades and quotes: the row's fields. */
const splitRow = (line: string, columns: number): Array<string> | string => {
  const text = trimEnd(line)
  // Fields may be quoted (RFC 4180); a data row never continues on the next line.
  let cols: Array<string>
  if (text.includes("\"")) {
    if (quotes(text) % 2 === 1) return "unclosed quote (a data row cannot span lines)"
    cols = splitCsv(text)
  } else cols = text.split(",")
  if (cols.length !== columns) return `expected ${columns} columns, found ${cols.length}`
  // Spaces and tabs around a field (`03/10/2014, 10:05:44.516, 37.51`) are no part of it, quoted or
  // not, as in company_info and header lines. Looked for once a row: most rows hold neither.
  if (text.indexOf(" ") !== -1 || text.indexOf("\t") !== -1) {
    for (let i = 0; i < cols.length; i++) cols[i] = trimField(cols[i]!)
  }
  return cols
}

/**
 * One trade row (line numbers are 1-based), or the reason it is rejected. `sequence` is the
 * row's source_sequence (assigned by the caller to accepted rows only).
 */
export const parseTradeRow = (f: AsxFile, line: string, lineNo: number, sequence: bigint): Trade | string => {
  const cols = splitRow(line, 7)
  if (typeof cols === "string") return cols
  const [date, time, priceText, volumeText, qualifiers, venue, buyerId] = cols as [
    string, string, string, string, string, string, string
  ]
  const ts = localMicros(f.zone, date, time)
  if (typeof ts === "string") return ts
  const price = decimalField("price", priceText, true)
  if (typeof price === "string") return price
  const quantity = sizeField("volume", volumeText, true)
  if (typeof quantity === "string") return quantity
  if (qualifiers !== "" && !CONDITION_TEXT.test(qualifiers)) return `qualifiers ${quoted(qualifiers)} is not an integer code`
  const vendor_data: Record<string, string> = { company_id: f.companyId, qualifiers }
  if (venue !== "") vendor_data.venue = venue
  if (buyerId !== "") vendor_data.buyer_id = buyerId
  return {
    message_id: asxMessageId(f.file, lineNo),
    trade_id: `${f.companyId}-${lineNo}`,
    symbol: f.symbol,
    exchange: ASX_EXCHANGE,
    asset_class: "equities",
    exchange_timestamp: ts,
    price,
    quantity,
    currency: ASX_CURRENCY,
    side: "UNKNOWN",
    conditions: qualifiers === "" ? [] : [qualifiers],
    source_sequence: sequence,
    vendor_data
  }
}

/** One quote row, or the reason it is rejected. Zero sides and crossed quotes are kept. */
export const parseQuoteRow = (f: AsxFile, line: string, lineNo: number, sequence: bigint): Quote | string => {
  const cols = splitRow(line, 6)
  if (typeof cols === "string") return cols
  const [date, time, bidText, askText, bidSizeText, askSizeText] = cols as [string, string, string, string, string, string]
  const ts = localMicros(f.zone, date, time)
  if (typeof ts === "string") return ts
  const bid_price = decimalField("bid", bidText, false)
  if (typeof bid_price === "string") return bid_price
  const ask_price = decimalField("ask", askText, false)
  if (typeof ask_price === "string") return ask_price
  const bid_size = sizeField("bid volume", bidSizeText, false)
  if (typeof bid_size === "string") return bid_size
  const ask_size = sizeField("ask volume", askSizeText, false)
  if (typeof ask_size === "string") return ask_size
  return {
    message_id: asxMessageId(f.file, lineNo),
    quote_id: `${f.companyId}-${lineNo}`,
    symbol: f.symbol,
    exchange: ASX_EXCHANGE,
    asset_class: "equities",
    exchange_timestamp: ts,
    bid_price,
    bid_size,
    ask_price,
    ask_size,
    currency: ASX_CURRENCY,
    conditions: [],
    source_sequence: sequence,
    vendor_data: { company_id: f.companyId }
  }
}

/** Splits one CSV line, honouring double quotes (company names may hold commas). */
export const splitCsv = (line: string): Array<string> => {
  const out: Array<string> = []
  let field = ""
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quoted) {
      if (c === "\"") {
        if (line[i + 1] === "\"") {
          field += "\""
          i++
        } else quoted = false
      } else field += c
    } else if (c === "\"") quoted = true
    else if (c === ",") {
      out.push(field)
      field = ""
    } else field += c
  }
  out.push(field)
  return out
}

/** CRLF, a lone CR or LF: each ends one physical line. */
export const LINE_BREAK = /\r\n?|\n/

/** One CSV record of a small file: its first physical line (1-based) and its text. */
export interface CsvRecord {
  readonly line: number
  readonly text: string
}

const quotes = (s: string): number => {
  let n = 0
  for (let i = s.indexOf("\""); i !== -1; i = s.indexOf("\"", i + 1)) n++
  return n
}

/**
 * The records of a whole (small) CSV text. A quoted field may span lines (joined with "\n");
 * splitCsv's rule makes "inside quotes" the parity of the quotes seen. A quote still open at
 * the end of the text stands for its first line only, so one bad row cannot swallow the rest.
 */
export const csvRecords = (text: string): Array<CsvRecord> => {
  const lines = text.split(LINE_BREAK)
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop()
  const out: Array<CsvRecord> = []
  for (let i = 0; i < lines.length;) {
    let record = lines[i]!
    let j = i + 1
    if (quotes(record) % 2 === 1) {
      let open = true
      while (open && j < lines.length) {
        record += "\n" + lines[j]!
        open = quotes(lines[j++]!) % 2 === 0
      }
      if (open) {
        record = lines[i]!
        j = i + 1
      }
    }
    out.push({ line: i + 1, text: record })
    i = j
  }
  return out
}

export interface CompanyRow {
  readonly companyId: string
  readonly instrument: Instrument
}

const decodeInstrument = Schema.decodeUnknownResult(Instrument, { errors: "all" })

/** True when the first line of company_info.csv is its header. */
export const isCompanyInfoHeader = (line: string): boolean => {
  const cols = splitCsv(stripCr(line).replace(/^\uFEFF/, "")).map((c) => c.trim().toLowerCase())
  return cols.length === COMPANY_INFO_HEADER.length && cols.every((c, i) => c === COMPANY_INFO_HEADER[i]!.toLowerCase())
}

/** One company_info.csv row as an instrument of the ASX, or the reason it is rejected. */
export const parseCompanyRow = (line: string): CompanyRow | string => {
  const cols = splitCsv(stripCr(line)).map((c) => c.trim())
  if (cols.length !== COMPANY_INFO_HEADER.length) {
    return `expected ${COMPANY_INFO_HEADER.length} columns, found ${cols.length}`
  }
  const [companyId, symbol, name, isin, start, end] = cols as [string, string, string, string, string, string]
  if (companyId === "") return "company_id is empty"
  // Else every row of the company was published, and ingest dead-lettered each (message_id too long).
  if (companyId.length > COMPANY_ID_MAX) {
    return `company_id ${quoted(companyId)} is longer than ${COMPANY_ID_MAX} characters (it is part of each row's message_id, at most ${MESSAGE_ID_MAX})`
  }
  if (!CODE_PATTERN.test(symbol)) return `symbol ${quoted(symbol)} ${CODE_RULE}`
  const listing = usDateToIso(start)
  if (listing !== null && typeof listing === "object") return `start_date: ${listing.error}`
  const delisting = usDateToIso(end)
  if (delisting !== null && typeof delisting === "object") return `end_date: ${delisting.error}`
  // Swapped columns: published, the later date made it pass for the symbol's current listing.
  if (listing !== null && delisting !== null && delisting < listing) return `end_date ${end} is before start_date ${start}`
  const r = decodeInstrument({
    symbol,
    exchange: ASX_EXCHANGE,
    company_id: companyId,
    name,
    isin: isin === "" ? null : isin,
    currency: ASX_CURRENCY,
    asset_class: "equities",
    listing_date: listing,
    delisting_date: delisting
  })
  if (Result.isFailure(r)) {
    return fieldProblems(r.failure.issue).map((p) => `${p.field || "(record)"}: ${p.problem}`).join("; ")
  }
  return { companyId, instrument: r.success }
}
