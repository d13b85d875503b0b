/**
 * A SQL answer's rows as JSON (sql.ts): column names made unique as DuckDB makes them, values
 * converted as the other routes answer them (`toJson`), and their size in the answer (`jsonBytes`).
 */
import {
  DuckDBDateValue,
  DuckDBMapType,
  DuckDBMapValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBValueConverter,
  type Json,
  DuckDBTypeId,
  JsonDuckDBValueConverter
} from "@duckdb/node-api"
import { floorDiv, formatIsoMicros, formatIsoMicrosBig } from "../../domain/time.ts"
import { setEntry } from "../../domain/wire.ts"

/**
 * A result's column names made unique as DuckDB makes them when it writes Parquet (and in any
 * subquery): a repeated name, compared without case, becomes `name_1`, `name_2`..., past any name
 * already taken. So a join's `t.price, q.price` is `price, price_1` in JSON and CSV as in the
 * Parquet answer. (@duckdb/node-api's `deduplicatedColumnNames` says `price:1`, and could make a
 * name another column already had, `a:1`, whose value the second then overwrote in the row.)
 */
export const duckDbColumnNames = (names: ReadonlyArray<string>): Array<string> => {
  const seen = new Map<string, number>()
  return names.map((name) => {
    const low = name.toLowerCase()
    const count = seen.get(low)
    if (count === undefined) {
      seen.set(low, 1)
      return name
    }
    let n = count
    let renamed = `${name}_${n}`
    while (seen.has(renamed.toLowerCase())) {
      n += 1
      seen.set(low, n)
      renamed = `${name}_${n}`
    }
    seen.set(renamed.toLowerCase(), 1)
    return renamed
  })
}

/** An instant's microseconds (digits past them truncated, as time.ts does), or undefined if not an instant value. */
const microsOf = (value: unknown): bigint | undefined => {
  if (value instanceof DuckDBTimestampTZValue || value instanceof DuckDBTimestampValue) return value.micros
  if (value instanceof DuckDBTimestampMillisecondsValue) return value.millis * 1000n
  if (value instanceof DuckDBTimestampSecondsValue) return value.seconds * 1_000_000n
  if (value instanceof DuckDBTimestampNanosecondsValue) return floorDiv(value.nanos, 1000n)
  return undefined
}

/**
 * @duckdb/node-api's JSON conversion, but instants (TIMESTAMP of any precision, read as UTC like
 * the session, and TIMESTAMPTZ) as the other routes answer them: ISO-8601 UTC with microseconds,
 * whatever the year (those past ±285 years were DuckDB's text, so one column could mix two forms).
 * Infinities and instants past what a Date holds keep DuckDB's text. Nested values (lists, structs) too.
 * A MAP with text keys (vendor_data) is an object, as /v1/trades answers it, not DuckDB's list of
 * {key, value}; other keys keep that list (a number key would turn into text).
 * DATE (yyyy-mm-dd), TIME and decimals are DuckDB's text already, but for a DATE's infinities:
 * the client library writes them as the days they are stored as (5881580-07-11).
 */
export const toJson: DuckDBValueConverter<Json> = (value, type) => {
  if (value instanceof DuckDBDateValue && (value.days === DuckDBDateValue.PosInf.days || value.days === DuckDBDateValue.NegInf.days)) {
    return value.days > 0 ? "infinity" : "-infinity"
  }
  const micros = microsOf(value)
  if (micros !== undefined) {
    const n = Number(micros)
    return Number.isSafeInteger(n) ? formatIsoMicros(n) : formatIsoMicrosBig(micros) ?? String(value)
  }
  if (value instanceof DuckDBMapValue && type instanceof DuckDBMapType && type.keyType.typeId === DuckDBTypeId.VARCHAR) {
    const out: Record<string, Json> = {}
    // setEntry: a key "__proto__" would set the prototype and vanish.
    for (const e of value.entries) setEntry(out, e.key as string, toJson(e.value, type.valueType, toJson))
    return out
  }
  return JsonDuckDBValueConverter(value, type, toJson)
}

/**
 * The bytes a value (or column name) takes in the answer's JSON text, as sent: in UTF-8, escapes and
 * number widths included (counted without them, quotes and control characters passed the budget
 * sixfold). One stringify of the value, about what sending it costs anyway.
 */
export const jsonBytes = (v: Json): number => Buffer.byteLength(JSON.stringify(v))
