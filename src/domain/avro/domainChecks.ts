/** Domain checks of a wire record, equivalent to src/domain/marketData.ts (tested against decodeTrade/decodeQuote). */
import { Schema } from "effect"
import type { FieldProblem as FieldProblemSchema } from "../errors.ts"
import { CODE_PATTERN, CODE_RULE, MESSAGE_ID_MAX, MESSAGE_ID_RULE } from "../marketData.ts"
import { Instrument } from "../reference.ts"
import { dayText } from "../time.ts"
import type { RawCommon } from "./rawRecords.ts"
import type { Unscaled } from "./reader.ts"

export type FieldProblem = typeof FieldProblemSchema.Type

const CURRENCY = /^[A-Z]{3}$/

/** Codes a pattern passed, remembered; past this many it starts over. */
const KNOWN_CODES = 4_096

/**
 * A code check that tests each distinct code once: the reader interns codes, so a feed's few
 * symbols, exchanges and currencies come back as the same strings, and a set lookup of one (its
 * hash kept in the string) is cheaper than the pattern on every record.
 */
const knownValid = (pattern: RegExp) => {
  const known = new Set<string>()
  return (s: string): boolean => {
    if (known.has(s)) return true
    if (!pattern.test(s)) return false
    if (known.size >= KNOWN_CODES) known.clear()
    known.add(s)
    return true
  }
}
const isCode = knownValid(CODE_PATTERN)
const isCurrency = knownValid(CURRENCY)
const ASSET_CLASSES: ReadonlySet<string> = new Set(["equities", "futures", "options", "fx", "crypto", "fixed_income"])
export const SIDES: ReadonlySet<string> = new Set(["BUY", "SELL", "SELL_SHORT", "UNKNOWN"])
/** Years 1900..2199, as src/domain/time.ts. */
const MIN_MICROS = Date.UTC(1900, 0, 1) * 1000
const MAX_MICROS = Date.UTC(2200, 0, 1) * 1000

/** Days the JS Date can represent (about 273,000 years either side of 1970). */
const MAX_DATE_DAYS = 100_000_000

/** yyyy-mm-dd of a day number; a day outside the Date range gives text the IsoDate check refuses. */
export const isoOfDays = (days: number | null): string | null =>
  days === null ? null : Math.abs(days) <= MAX_DATE_DAYS ? dayText(days) : `day ${days}`

export const decodeInstrument = Schema.decodeUnknownResult(Instrument, { errors: "all" })

export const checkCommon = (r: RawCommon, problems: Array<FieldProblem>): void => {
  if (r.message_id.length === 0) problems.push({ field: "message_id", problem: "must not be empty" })
  else if (r.message_id.length > MESSAGE_ID_MAX) problems.push({ field: "message_id", problem: MESSAGE_ID_RULE })
  if (!isCode(r.symbol)) problems.push({ field: "symbol", problem: CODE_RULE })
  if (!isCode(r.exchange)) {
    problems.push({ field: "exchange", problem: CODE_RULE })
  }
  if (!ASSET_CLASSES.has(r.asset_class)) problems.push({ field: "asset_class", problem: "must be a known asset class" })
  const ts = r.exchange_timestamp
  // NaN (beyond 2^53) fails too.
  if (!(ts >= MIN_MICROS && ts < MAX_MICROS)) {
    problems.push({ field: "exchange_timestamp", problem: "must be an instant between 1900 and 2200" })
  }
  if (!isCurrency(r.currency)) problems.push({ field: "currency", problem: "must be an ISO-4217 code such as AUD" })
  if (r.source_sequence !== null && r.source_sequence < 0n) {
    problems.push({ field: "source_sequence", problem: "must not be negative" })
  }
}

/** Unscaled decimal(18, 8) values are below it. */
const LIMIT = 10n ** 18n
/** A number is below 2^53, so within decimal(18, 8). */
const tooLarge = (u: Unscaled) => typeof u === "bigint" && u >= LIMIT
export const positive = (field: string, u: Unscaled, problems: Array<FieldProblem>) => {
  if (u <= 0) problems.push({ field, problem: "must be greater than 0" })
  else if (tooLarge(u)) problems.push({ field, problem: "must fit decimal(18, 8)" })
}
export const nonNegative = (field: string, u: Unscaled, problems: Array<FieldProblem>) => {
  if (u < 0) problems.push({ field, problem: "must not be negative" })
  else if (tooLarge(u)) problems.push({ field, problem: "must fit decimal(18, 8)" })
}
