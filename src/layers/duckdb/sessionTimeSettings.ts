import type { DuckDBConnection } from "@duckdb/node-api"

/**
 * Every connection's time settings, whatever the machine's: DuckDB's ICU takes its defaults from the
 * process environment, TimeZone from TZ and Calendar from the locale (LANG, LC_ALL). Under
 * `fa_IR.UTF-8` or `th_TH.UTF-8` the calendar was Persian or Buddhist: a timestamp's local date
 * (`timezone(zone, ts)::DATE`, the daily summary's trading day) fell in the year 1402 or 2567 and
 * no day matched, and user SQL's `year()`, `date_trunc` and text renderings followed suit.
 * Instants are then rendered in UTC (Parquet statistics' text too), on the Gregorian calendar (ADR-55).
 */
const SESSION_TIME_SETTINGS = ["SET TimeZone = 'UTC'", "SET Calendar = 'gregorian'"] as const

/** Runs SESSION_TIME_SETTINGS on a new connection. */
export const useUtcGregorian = async (connection: DuckDBConnection): Promise<void> => {
  for (const statement of SESSION_TIME_SETTINGS) await connection.run(statement)
}
