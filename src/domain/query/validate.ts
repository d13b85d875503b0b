/** Checks on query and replay requests: pure, before any I/O. Failures say what to fix. */
import { Result } from "effect"
import { formatIsoMicros, MAX_YEAR, MIN_YEAR, utcMidnightMillis } from "../time.ts"
import { DECIMAL_ARGUMENT } from "./exact.ts"
import {
  InvalidArgument,
  type InvalidQuery,
  InvertedRange,
  invalid,
  LimitOutOfRange
} from "./errors.ts"
import { quoted, someNames } from "../errors.ts"
import { CODE_PATTERN } from "../marketData.ts"

export const MAX_SYMBOLS = 10_000
export const MAX_LIMIT = 100_000
const DEFAULT_LIMIT = 1_000

const show = (micros: number) => Number.isSafeInteger(micros) ? formatIsoMicros(micros) : String(micros)

export const checkSymbols = (symbols: ReadonlyArray<string> | undefined): Result.Result<ReadonlyArray<string>, InvalidQuery> => {
  const list = symbols ?? []
  if (list.length > MAX_SYMBOLS) {
    return Result.fail(invalid(new LimitOutOfRange({ name: "number of symbols", value: list.length, min: 0, max: MAX_SYMBOLS })))
  }
  const bad = list.find((s) => !CODE_PATTERN.test(s))
  if (bad !== undefined) {
    return Result.fail(invalid(new InvalidArgument({ name: "symbol", detail: `${quoted(bad)} is not 1-32 of A-Z 0-9 . _ -` })))
  }
  return Result.succeed([...new Set(list)].sort())
}

/** [from, to) in epoch micros; `from == to` is an empty range, `from > to` an error. */
export const checkRange = (from: number, to: number): Result.Result<{ from: number; to: number }, InvalidQuery> => {
  for (const [name, v] of [["from", from], ["to", to]] as const) {
    if (!Number.isSafeInteger(v)) {
      return Result.fail(invalid(new InvalidArgument({ name, detail: `${v} is not an instant in integer epoch microseconds` })))
    }
  }
  if (from > to) return Result.fail(invalid(new InvertedRange({ from: show(from), to: show(to) })))
  return Result.succeed({ from, to })
}

export const checkLimit = (
  limit: number | undefined,
  options: { readonly name?: string; readonly max?: number; readonly fallback?: number } = {}
): Result.Result<number, InvalidQuery> => {
  const max = options.max ?? MAX_LIMIT
  const value = limit ?? options.fallback ?? DEFAULT_LIMIT
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    return Result.fail(invalid(new LimitOutOfRange({ name: options.name ?? "limit", value, min: 1, max })))
  }
  return Result.succeed(value)
}

export const checkDecimal = (name: string, text: string | undefined): Result.Result<string | undefined, InvalidQuery> =>
  text === undefined || DECIMAL_ARGUMENT.test(text)
    ? Result.succeed(text)
    : Result.fail(invalid(new InvalidArgument({ name, detail: `${quoted(text)} is not a decimal with at most 10 integer digits and 8 places` })))

/** A field list checked against the table's columns (in the table's order, duplicates removed). */
export const checkFields = (
  fields: ReadonlyArray<string> | undefined,
  columns: ReadonlyArray<string>
): Result.Result<ReadonlyArray<string>, InvalidQuery> => {
  if (fields === undefined || fields.length === 0) return Result.succeed(columns)
  const unknown = fields.filter((f) => !columns.includes(f))
  if (unknown.length > 0) {
    return Result.fail(invalid(new InvalidArgument({ name: "fields", detail: `unknown ${someNames(unknown)}; known: ${columns.join(", ")}` })))
  }
  return Result.succeed(columns.filter((c) => fields.includes(c)))
}

/**
 * An ISO date yyyy-mm-dd as days since 1970-01-01, in the years K2 holds (instants are 1900 to
 * 2199, as the API's days): past them no row can match, and the day's bounds in epoch
 * microseconds would not all be exact.
 */
export const checkDate = (name: string, text: string): Result.Result<number, InvalidQuery> => {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text)
  // Not Date.UTC: it reads years 0-99 as 19xx, and 0050-01-02 was refused as no date.
  const ms = m === null ? NaN : utcMidnightMillis(Number(m[1]), Number(m[2]), Number(m[3]))
  if (m === null || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== text) {
    return Result.fail(invalid(new InvalidArgument({ name, detail: `${quoted(text)} is not a date yyyy-mm-dd` })))
  }
  const year = Number(m[1])
  if (year < MIN_YEAR || year > MAX_YEAR) {
    return Result.fail(invalid(new InvalidArgument({ name, detail: `${quoted(text)} is outside the years ${MIN_YEAR}-${MAX_YEAR} K2 holds` })))
  }
  return Result.succeed(ms / 86_400_000)
}

