/**
 * Bars and daily summaries from DuckDB's answer chunks (sql.ts OHLCV), read column by column
 * (vectors.ts readers, no row objects), with the exact VWAP and the checks on its notional.
 */
import type { DuckDBVector } from "@duckdb/node-api"
import { Effect } from "effect"
import { invalid, ValueOverflow } from "../../domain/query/errors.ts"
import { approxDivRoundHalfEven, divide, divRoundHalfEven, OUTPUT_SCALE } from "../../domain/query/exact.ts"
import type { Bar, DailySummary } from "../../services/QueryEngine.ts"
import { DuckDbError, NullColumn, WrappedValue } from "../duckdb/DuckDb.ts"
import type { Chunk } from "../duckdb/results.ts"
import {
  bigFixedText,
  decimal128ApproxAt,
  decimal128BigAt,
  decimal128SafeAt,
  decimal128TextAt,
  decimal8ApproxAt,
  decimal8At,
  decimals128,
  decimals8,
  doubles,
  fixedText,
  Interned,
  internedAt,
  isNull,
  textAt,
  texts,
  uniformText
} from "../duckdb/vectors.ts"

/** int128's largest value at the notional's scale (16): ~1.7e22. */
const INT128_MAX = 2 ** 127 / 1e16
/** What a sum wrapped past int128 is off by at that scale: ~3.4e22. */
const WRAP = 2 ** 128 / 1e16

/**
 * DuckDB checks each row's addition to a sum, but merging its threads' partial sums wraps past
 * int128 unchecked: a bar read by several threads was answered with a wrapped, negative VWAP.
 * Every product is positive, so the true notional lies between low x volume and high x volume:
 * below int128 at the high end nothing can have wrapped. Past it, a notional outside those bounds
 * has wrapped, and one with room for another 2^128 above it cannot be told from a wrapped one:
 * both are an overflow, as DuckDB's own would have been. Doubles: the margins are ~1e22, their
 * error ~1e7. (A sum of the products in doubles beside the exact one would tell it too, for a
 * quarter more DuckDB time on a day's bars in a measurement.)
 */
const notionalWrapped = (c: OhlcvColumns, r: number): void => {
  const volume = decimal128ApproxAt(c.volume, r) / 10 ** c.volume.scale
  const most = (decimal8ApproxAt(c.high, r) / 1e8) * volume
  if (!(most >= INT128_MAX * 0.999)) return
  const notional = decimal128ApproxAt(c.notional, r) / 10 ** c.notional.scale // NaN when negative: wrapped
  const least = (decimal8ApproxAt(c.low, r) / 1e8) * volume
  if (!(notional >= least * 0.999 && notional <= most * 1.001 && most - notional < WRAP * 0.999)) {
    throw new WrappedValue("a notional wrapped past int128 merging the partial sums of its threads")
  }
}

/** DuckDB's overflow summing a notional (its own, or one `notionalWrapped` found), as the refusal it is: not a 500. */
export const notionalOverflow = (what: string, advice: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(Effect.catchIf(
    (e: E) => e instanceof DuckDbError && e.reason === "Overflow",
    () => invalid(new ValueOverflow({ what: `the notional (sum of price x quantity) of ${what}`, advice }))
  ))

/**
 * Aggregates of non-empty groups over required columns are never NULL but where another engine
 * dropped or nulled `column` (`name` by default; it then reads as null, ADR-2): a NullColumn, which
 * fails the read as a DuckDbError of reason `NullColumn` (engine.ts `refusingNulls` makes it the MissingColumn it is).
 */
export const nonNull = <C extends { readonly valid: Uint8Array | null }>(c: C, rows: number, name: string, column = name): C => {
  if (c.valid !== null) for (let r = 0; r < rows; r++) if (isNull(c.valid, r)) throw new NullColumn(column, name)
  return c
}


/** The symbol and OHLCV columns of a bars or summary answer (sql.ts): every group has a trade. */
const ohlcvColumns = (chunk: Chunk) => {
  const rows = chunk.rowCount
  // Each with the trades' column it is of (notional: price x quantity, both checked before it).
  const column = <C extends { readonly valid: Uint8Array | null }>(read: (vector: DuckDBVector) => C, name: string, of = name) =>
    nonNull(read(chunk.column(name)), rows, name, of)
  return {
    symbol: column(texts, "symbol"),
    open: column(decimals8, "open", "price"),
    high: column(decimals8, "high", "price"),
    low: column(decimals8, "low", "price"),
    close: column(decimals8, "close", "price"),
    volume: column(decimals128, "volume", "quantity"),
    tradeCount: doubles(chunk.column("trade_count")),
    notional: column(decimals128, "notional", "price")
  }
}

type OhlcvColumns = ReturnType<typeof ohlcvColumns>

/**
 * Exact: the notional (scale 16) over the volume (scale 8), half-even at 8 places. Scales 16 and
 * 8 (sql.ts OHLCV) give the quotient at 8 places as it is; doubles decide it unless it is too
 * close to a half to call (bigint division was a third of converting a bar).
 */
const vwapAt = (c: OhlcvColumns, r: number): string => {
  notionalWrapped(c, r)
  const volume = decimal128SafeAt(c.volume, r)
  if (volume === 0) return "0.00000000"
  const atScale = c.notional.scale - c.volume.scale === OUTPUT_SCALE
  if (atScale && volume > 0) {
    const q = approxDivRoundHalfEven(decimal128ApproxAt(c.notional, r), volume)
    if (q === q) return fixedText(q)
  }
  // Too close to call, or beyond doubles (a volume past 2^53 is not zero).
  const notional = decimal128BigAt(c.notional, r)
  const exact = decimal128BigAt(c.volume, r)
  return bigFixedText(
    atScale
      ? divRoundHalfEven(notional, exact)
      : divide({ unscaled: notional, scale: c.notional.scale }, { unscaled: exact, scale: c.volume.scale })
  )
}

/** The OHLCV fields bars and daily summaries share, of row `r`. */
const ohlcvAt = (c: OhlcvColumns, r: number) => ({
  open: decimal8At(c.open, r),
  high: decimal8At(c.high, r),
  low: decimal8At(c.low, r),
  close: decimal8At(c.close, r),
  volume: decimal128TextAt(c.volume, r),
  tradeCount: c.tradeCount[r]!,
  vwap: vwapAt(c, r)
})

export const barsOf = (chunk: Chunk, out: Array<Bar>) => {
  const c = ohlcvColumns(chunk)
  const bucket = doubles(chunk.column("bucket"))
  const symbol = uniformText(c.symbol, chunk.rowCount)
  const exchanges = nonNull(texts(chunk.column("exchange")), chunk.rowCount, "exchange")
  const exchange = uniformText(exchanges, chunk.rowCount)
  for (let r = 0; r < chunk.rowCount; r++) {
    out.push({
      symbol: symbol ?? textAt(c.symbol, r),
      exchange: exchange ?? textAt(exchanges, r),
      bucket: bucket[r]!,
      ...ohlcvAt(c, r)
    })
  }
}

export const summariesOf = (chunk: Chunk, out: Array<DailySummary>) => {
  const c = ohlcvColumns(chunk)
  const names = new Interned()
  // Not NULL either: a summary answered an exchange "" where another engine had dropped it.
  const exchange = nonNull(texts(chunk.column("exchange")), chunk.rowCount, "exchange")
  const tradingDay = texts(chunk.column("trading_day"))
  const firstTs = doubles(chunk.column("first_ts"))
  const lastTs = doubles(chunk.column("last_ts"))
  for (let r = 0; r < chunk.rowCount; r++) {
    out.push({
      symbol: internedAt(c.symbol, r, names),
      exchange: internedAt(exchange, r, names),
      tradingDay: internedAt(tradingDay, r, names),
      ...ohlcvAt(c, r),
      firstTrade: firstTs[r]!,
      lastTrade: lastTs[r]!
    })
  }
}
