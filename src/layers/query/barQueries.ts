/**
 * The SQL of the aggregate reads, trades' bars, daily summaries and quote bars (one row per
 * symbol, exchange and bucket or day), and the checks of a bars request. Their answers are
 * read by barRows.ts and quoteBarRows.ts.
 */
import { Effect } from "effect"
import { quoted } from "../../domain/errors.ts"
import { InvalidArgument, invalid, LimitOutOfRange } from "../../domain/query/errors.ts"
import { BAR_INTERVALS, isBarInterval } from "../../domain/query/intervals.ts"
import { checkRange, checkSymbols } from "../../domain/query/validate.ts"
import { dayText } from "../../domain/time.ts"
import type { ScanPlan } from "../../services/TableScanner.ts"
import { bucketExpression, filteredFiles, localTimestamp, OHLCV, type Params, TWO_SIDED } from "./sql.ts"

export const checkBars = (request: { readonly symbols?: ReadonlyArray<string>; readonly from: number; readonly to: number; readonly interval: string; readonly maxBars?: number }) =>
  Effect.gen(function*() {
    const symbols = yield* Effect.fromResult(checkSymbols(request.symbols))
    const range = yield* Effect.fromResult(checkRange(request.from, request.to))
    if (!isBarInterval(request.interval)) {
      return yield* invalid(new InvalidArgument({ name: "interval", detail: `${quoted(request.interval)}; one of ${Object.keys(BAR_INTERVALS).join(", ")}` }))
    }
    // Before any I/O: a negative or fractional cap made LIMIT nonsense (a TooManyRows of "0 bars" after the query).
    const maxBars = request.maxBars
    if (maxBars !== undefined && (!Number.isSafeInteger(maxBars) || maxBars < 0)) {
      return yield* invalid(new LimitOutOfRange({ name: "maxBars", value: maxBars, min: 0, max: Number.MAX_SAFE_INTEGER }))
    }
    return { symbols, range, interval: BAR_INTERVALS[request.interval] }
  })

/**
 * Trades' bars of `interval` microseconds over [range.from, range.to), unordered (barRows.ts barsOf reads them).
 * The price as the table holds it: DECIMAL(18, 8) as K2 writes it, or another engine's widened one
 * (ADR-2), which barRows.ts reads exactly too. Cast back to DECIMAL(18, 8), a price only the wider
 * type holds failed every bar and summary over it (DuckDB's cast error, a 500) while pages read it.
 */
export const barsSql = (params: Params, p: ScanPlan, range: { readonly from: number; readonly to: number }, symbols: ReadonlyArray<string>, interval: number) =>
  `WITH t AS (
            SELECT symbol, exchange, epoch_us(exchange_timestamp) AS ts, coalesce(source_sequence, -1) AS seq, message_id, price, quantity
            FROM ${filteredFiles(params, p, range.from, range.to, symbols)})
          SELECT symbol, exchange, ${bucketExpression(`${params.add(BigInt(interval))}::BIGINT`)}::DOUBLE AS bucket, ${OHLCV}
          FROM t GROUP BY ALL`

/**
 * The exchange's trading day of each row: one branch per exchange with its zone as a parameter.
 * A constant zone per branch keeps DuckDB's ICU conversion on its fast path (a per-row zone lookup
 * was ~5x slower).
 */
const localDay = (params: Params, zones: ReadonlyArray<readonly [string, string]>, defaultZone: string) => {
  const fallback = localTimestamp(params, defaultZone)
  // No zones configured: a CASE with no WHEN is a syntax error, every day is the default zone's.
  if (zones.length === 0) return `${fallback}::DATE`
  return `CASE exchange ${
    zones.map(([exchange, zone]) => `WHEN ${params.add(exchange)} THEN ${localTimestamp(params, zone)}`).join(" ")
  } ELSE ${fallback} END::DATE`
}

/**
 * Daily summaries of the trading days `first` to `last` (days since the epoch) by each exchange's
 * zone, of the trades in [from, to) (planned wider than those days), in (symbol, exchange, day) order.
 */
export const dailySummarySql = (
  params: Params,
  p: ScanPlan,
  from: number,
  to: number,
  symbols: ReadonlyArray<string>,
  days: { readonly first: number; readonly last: number; readonly zones: ReadonlyArray<readonly [string, string]>; readonly defaultZone: string }
) =>
  `WITH t AS (
            SELECT symbol, exchange, epoch_us(exchange_timestamp) AS ts, coalesce(source_sequence, -1) AS seq, message_id, price, quantity,
              ${localDay(params, days.zones, days.defaultZone)} AS day
            FROM ${filteredFiles(params, p, from, to, symbols)})
          SELECT symbol, exchange, day::VARCHAR AS trading_day, ${OHLCV}, min(ts)::DOUBLE AS first_ts, max(ts)::DOUBLE AS last_ts
          FROM t WHERE day BETWEEN ${params.add(dayText(days.first))}::DATE AND ${params.add(dayText(days.last))}::DATE
          GROUP BY symbol, exchange, day ORDER BY symbol, exchange, day`

/** Quote bars of `interval` microseconds over [range.from, range.to), unordered (quoteBarRows.ts reads them). */
export const quoteBarsSql = (params: Params, p: ScanPlan, range: { readonly from: number; readonly to: number }, symbols: ReadonlyArray<string>, interval: number) => {
  // Ties on the whole order key go by mid, then spread (as OHLCV's by price): the close's mid and spread are one quote's.
  // Mid and spread are over two-sided quotes (bid > 0 and ask > 0, ADR-40); `n` counts every quote, `n_two_sided` those.
  const key = "(ts, seq, message_id, twice_mid, spread)"
  return `WITH q AS (
            SELECT symbol, exchange, epoch_us(exchange_timestamp) AS ts, coalesce(source_sequence, -1) AS seq, message_id,
              bid_price::DECIMAL(38, 8) + ask_price::DECIMAL(38, 8) AS twice_mid, ask_price::DECIMAL(38, 8) - bid_price::DECIMAL(38, 8) AS spread,
              coalesce(${TWO_SIDED("")}, false) AS two_sided
            FROM ${filteredFiles(params, p, range.from, range.to, symbols)})
          SELECT symbol, exchange, ${bucketExpression(`${params.add(BigInt(interval))}::BIGINT`)}::DOUBLE AS bucket, count(*)::DOUBLE AS n,
            count(*) FILTER (WHERE two_sided)::DOUBLE AS n_two_sided,
            arg_min(twice_mid, ${key}) FILTER (WHERE two_sided) AS mid_open, max(twice_mid) FILTER (WHERE two_sided) AS mid_high,
            min(twice_mid) FILTER (WHERE two_sided) AS mid_low, arg_max(twice_mid, ${key}) FILTER (WHERE two_sided) AS mid_close,
            min(spread) FILTER (WHERE two_sided) AS spread_min, max(spread) FILTER (WHERE two_sided) AS spread_max,
            sum(spread) FILTER (WHERE two_sided) AS spread_sum, arg_max(spread, ${key}) FILTER (WHERE two_sided) AS spread_close
          FROM q GROUP BY ALL`
}
