/**
 * Instants as integer microseconds since the Unix epoch (Iceberg timestamptz on
 * format v2). Safe-integer numbers hold micros exactly for ±285 years around 1970.
 * On the wire: ISO-8601 with an offset; digits past the microsecond are truncated
 * (v2 cannot store them; DESIGN.md).
 */
import { Schema, SchemaGetter } from "effect"

export type EpochMicros = number

/** `T` or `Z` in either case (RFC 3339 §5.6 allows lowercase); seconds optional (ISO 8601's hh:mm), a fraction only after them. */
const ISO = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}:?\d{2})$/

/**
 * Microseconds of an ISO-8601 instant, or undefined when it is not one. `t`/`z` may be lowercase
 * (RFC 3339), and the seconds left out (`10:05Z` is `10:05:00Z`). Digits past the microsecond are
 * truncated, or with `"up"` round up to the next one: the bound of a range of whole-microsecond rows.
 */
export const parseIsoMicros = (text: string, pastMicros: "truncate" | "up" = "truncate"): EpochMicros | undefined => {
  const m = ISO.exec(text)
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s = "00", frac = "", zone] = m
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s))
  const check = new Date(ms)
  // Date.UTC rolls 2024-02-30 over into March and 10:75 into 11:15, and reads year 0050 as 1950:
  // reject instead.
  if (
    check.getUTCFullYear() !== Number(y) || check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d) ||
    Number(h) > 23 || Number(mi) > 59 || Number(s) > 59
  ) return undefined
  const utc = zone === "Z" || zone === "z"
  const zoneHours = utc ? 0 : Number(zone!.slice(1, 3))
  const zoneMinutes = utc ? 0 : Number(zone!.slice(-2))
  if (zoneHours > 23 || zoneMinutes > 59) return undefined
  const offsetMinutes = (zone!.startsWith("-") ? -1 : 1) * (zoneHours * 60 + zoneMinutes)
  const up = pastMicros === "up" && /[1-9]/.test(frac.slice(6)) ? 1 : 0
  const micros = (ms - offsetMinutes * 60_000) * 1000 + Number(frac.padEnd(6, "0").slice(0, 6)) + up
  return Number.isSafeInteger(micros) ? micros : undefined
}

/** ISO-8601 UTC of epoch milliseconds and the microseconds past them (0-999). */
const isoOf = (ms: number, sub: number): string =>
  // Slicing, not a regex replace: the API formats every instant of every row it encodes.
  `${new Date(ms).toISOString().slice(0, -1)}${sub < 10 ? "00" : sub < 100 ? "0" : ""}${sub}Z`

/** ISO-8601 UTC with exactly six fractional digits. */
export const formatIsoMicros = (micros: EpochMicros): string => {
  const ms = Math.floor(micros / 1000)
  return isoOf(ms, micros - ms * 1000)
}

/** The most milliseconds from 1970 a Date holds (±273,790 years). */
const DATE_RANGE_MS = 8_640_000_000_000_000n

/**
 * `formatIsoMicros` of an instant in bigint microseconds, exact past the ±285 years a number holds
 * (years past 0000-9999 in ISO's expanded form, as Date writes them); undefined past what a Date holds.
 */
export const formatIsoMicrosBig = (micros: bigint): string | undefined => {
  const ms = floorDiv(micros, 1000n)
  if (ms > DATE_RANGE_MS || ms < -DATE_RANGE_MS) return undefined
  return isoOf(Number(ms), Number(micros - ms * 1000n))
}

export const MICROS_PER_DAY = 86_400_000_000
export const MICROS_PER_DAY_BIGINT = BigInt(MICROS_PER_DAY)

/** a / b rounded down (bigint division truncates toward 0: an instant before 1970 would round up). */
export const floorDiv = (a: bigint, b: bigint): bigint => (a < 0n && a % b !== 0n ? a / b - 1n : a / b)

/**
 * Midnight UTC of a date as epoch milliseconds, rolled over as Date.UTC rolls an impossible one
 * (2023-02-29 is 2023-03-01): unlike Date.UTC, years 0-99 are those years, not 1900-1999.
 */
export const utcMidnightMillis = (year: number, month: number, day: number): number => new Date(0).setUTCFullYear(year, month - 1, day)

/** Years 1900..2199: anything outside is a broken clock, not market data. */
export const MIN_YEAR = 1900
export const MAX_YEAR = 2199

/** An epoch day (days since 1970-01-01) as yyyy-mm-dd. */
export const dayText = (day: number): string => new Date(day * 86_400_000).toISOString().slice(0, 10)

const MIN_MICROS = Date.UTC(MIN_YEAR, 0, 1) * 1000
const MAX_MICROS = Date.UTC(MAX_YEAR + 1, 0, 1) * 1000

export const TimestampMicros = Schema.Number.pipe(
  Schema.check(Schema.makeFilter((n: number) =>
    (Number.isSafeInteger(n) && n >= MIN_MICROS && n < MAX_MICROS) || "must be an instant between 1900 and 2200"
  ))
)

/** An instant from ISO-8601 text with an offset. */
export const Timestamp = Schema.String.pipe(
  Schema.check(Schema.makeFilter((s: string) =>
    parseIsoMicros(s) !== undefined || "must be an ISO-8601 instant with an offset, e.g. 2024-03-10T10:05:44.516Z"
  )),
  Schema.decodeTo(TimestampMicros, {
    decode: SchemaGetter.transform((s: string) => parseIsoMicros(s)!),
    encode: SchemaGetter.transform(formatIsoMicros)
  })
)

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/

/**
 * Days since 1970-01-01 of an ISO yyyy-mm-dd calendar date (any four-digit year), or undefined when
 * it is none. Calendar arithmetic, not an instant: read as microseconds, a date was held to the
 * ±285 years a safe integer spans, and 9999-12-31 (an instrument master's "no end date") was refused.
 */
const isoDateDays = (s: string): number | undefined => {
  const m = ISO_DATE.exec(s)
  if (m === null) return undefined
  const year = Number(m[1]), month = Number(m[2])
  const days = dayOfCivil(year, month, Number(m[3]))
  // A date that is none (month 13, day 0, February 30) rolls into another month: it does not read back.
  const [y, mo] = civilOfDay(days)
  return y === year && mo === month ? days : undefined
}

/** A calendar date as ISO yyyy-mm-dd; stored as days since the epoch. */
export const IsoDate = Schema.String.pipe(
  Schema.check(Schema.makeFilter((s: string) => isoDateDays(s) !== undefined || "must be a date yyyy-mm-dd"))
)

export const daysOfIsoDate = (date: string): number => isoDateDays(date)!

// Proleptic Gregorian calendar arithmetic for any year (H. Hinnant's algorithms). Not Date.UTC:
// it reads years 0-99 as 1900-1999 and gives NaN past year 275760.

/** Days since 1970-01-01 of a year, month (1-12) and day. */
export const dayOfCivil = (year: number, month: number, day: number): number => {
  const y = year - (month <= 2 ? 1 : 0)
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146_097 + doe - 719_468
}

/** Year and month (1-12) of days since 1970-01-01. */
export const civilOfDay = (epochDay: number): readonly [number, number] => {
  const z = epochDay + 719_468
  const era = Math.floor(z / 146_097)
  const doe = z - era * 146_097
  const yoe = Math.floor((doe - Math.floor(doe / 1_460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const month = mp < 10 ? mp + 3 : mp - 9
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month]
}
