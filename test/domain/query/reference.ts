/**
 * Independent answers in plain TypeScript over the generated rows (never through DuckDB):
 * Effect BigDecimal arithmetic, the calendar's own zone logic, plain sorting.
 */
import { BigDecimal } from "effect"
import { toUnscaled } from "../../../src/domain/decimal.ts"
import type { QuoteRow, TradeRow } from "../../../src/domain/rows.ts"
import { ExchangeCalendars } from "../../../src/domain/sequence/calendar.ts"

export type Row = TradeRow | QuoteRow

/** decimal(18, 8) text with exactly 8 places. */
export const text8 = (d: BigDecimal.BigDecimal): string => {
  const u = toUnscaled(d)
  if (u === undefined) {
    // Wider than decimal(18, 8) (sums): scale to 8 places exactly.
    const n = BigDecimal.normalize(d)
    const scaled = n.scale <= 8 ? n.value * 10n ** BigInt(8 - n.scale) : (() => {
      throw new Error("more than 8 places")
    })()
    return fixed(scaled)
  }
  return fixed(u)
}

const fixed = (u: bigint) => {
  const neg = u < 0n
  const digits = (neg ? -u : u).toString().padStart(9, "0")
  return `${neg ? "-" : ""}${digits.slice(0, -8)}.${digits.slice(-8)}`
}

const round8 = (d: BigDecimal.BigDecimal): string => text8(BigDecimal.round(d, { scale: 8, mode: "half-even" }))

const seq = (r: Row) => r.source_sequence ?? -1n

export const compareRows = (a: Row, b: Row): number =>
  a.exchange_timestamp !== b.exchange_timestamp
    ? a.exchange_timestamp - b.exchange_timestamp
    : seq(a) !== seq(b)
    ? (seq(a) < seq(b) ? -1 : 1)
    : a.message_id < b.message_id
    ? -1
    : a.message_id > b.message_id
    ? 1
    : 0

export const inRange = (r: Row, from: number, to: number, symbols: ReadonlyArray<string>) =>
  r.exchange_timestamp >= from && r.exchange_timestamp < to && (symbols.length === 0 || symbols.includes(r.symbol))

export const selectRows = <R extends Row>(
  rows: ReadonlyArray<R>,
  q: { from: number; to: number; symbols?: ReadonlyArray<string>; where?: (r: R) => boolean }
): Array<R> => rows.filter((r) => inRange(r, q.from, q.to, q.symbols ?? []) && (q.where?.(r) ?? true)).sort(compareRows)

interface Agg {
  open: TradeRow
  close: TradeRow
  high: BigDecimal.BigDecimal
  low: BigDecimal.BigDecimal
  volume: BigDecimal.BigDecimal
  notional: BigDecimal.BigDecimal
  count: number
  first: number
  last: number
}

const aggregate = (group: ReadonlyArray<TradeRow>): Agg => {
  const sorted = [...group].sort(compareRows)
  let high = sorted[0]!.price, low = sorted[0]!.price
  let volume = BigDecimal.fromBigInt(0n), notional = BigDecimal.fromBigInt(0n)
  for (const t of sorted) {
    if (BigDecimal.isGreaterThan(t.price, high)) high = t.price
    if (BigDecimal.isLessThan(t.price, low)) low = t.price
    volume = BigDecimal.sum(volume, t.quantity)
    notional = BigDecimal.sum(notional, BigDecimal.multiply(t.price, t.quantity))
  }
  return {
    open: sorted[0]!,
    close: sorted[sorted.length - 1]!,
    high,
    low,
    volume,
    notional,
    count: sorted.length,
    first: sorted[0]!.exchange_timestamp,
    last: sorted[sorted.length - 1]!.exchange_timestamp
  }
}

const vwap = (a: Agg) => round8(BigDecimal.divideUnsafe(a.notional, a.volume))

/** The OHLCV fields of a bar or a daily summary. */
const ohlcv = (a: Agg) => ({
  open: text8(a.open.price),
  high: text8(a.high),
  low: text8(a.low),
  close: text8(a.close.price),
  volume: text8(a.volume),
  tradeCount: a.count,
  vwap: vwap(a)
})

const groupBy = <A>(items: ReadonlyArray<A>, key: (a: A) => string) => {
  const m = new Map<string, Array<A>>()
  for (const i of items) {
    const k = key(i)
    const list = m.get(k)
    if (list === undefined) m.set(k, [i])
    else list.push(i)
  }
  return m
}

const floorTo = (micros: number, size: number) => Math.floor(micros / size) * size

/** Bars in the engine's order: symbol, exchange, bucket. */
const byInstrumentThenBucket = (a: { symbol: string; exchange: string; bucket: number }, b: { symbol: string; exchange: string; bucket: number }) =>
  a.symbol !== b.symbol ? (a.symbol < b.symbol ? -1 : 1) : a.exchange !== b.exchange ? (a.exchange < b.exchange ? -1 : 1) : a.bucket - b.bucket

export const bars = (trades: ReadonlyArray<TradeRow>, q: { from: number; to: number; symbols?: ReadonlyArray<string>; size: number }) => {
  const rows = trades.filter((t) => inRange(t, q.from, q.to, q.symbols ?? []))
  const groups = groupBy(rows, (t) => `${t.symbol}\u0000${t.exchange}\u0000${floorTo(t.exchange_timestamp, q.size)}`)
  return [...groups.values()].map((g) => {
    const a = aggregate(g)
    return {
      symbol: g[0]!.symbol,
      exchange: g[0]!.exchange,
      bucket: floorTo(g[0]!.exchange_timestamp, q.size),
      ...ohlcv(a)
    }
  }).sort(byInstrumentThenBucket)
}

const isoDay = (day: number) => new Date(day * 86_400_000).toISOString().slice(0, 10)

export const dailySummary = (
  trades: ReadonlyArray<TradeRow>,
  q: { fromDay: string; toDay: string; symbols?: ReadonlyArray<string> }
) => {
  const calendars = new ExchangeCalendars()
  const rows = trades
    .map((t) => ({ t, day: isoDay(calendars.forExchange(t.exchange).localDay(t.exchange_timestamp)) }))
    .filter(({ t, day }) => day >= q.fromDay && day <= q.toDay && ((q.symbols ?? []).length === 0 || q.symbols!.includes(t.symbol)))
  const groups = groupBy(rows, ({ t, day }) => `${t.symbol}\u0000${t.exchange}\u0000${day}`)
  return [...groups.values()].map((g) => {
    const a = aggregate(g.map((x) => x.t))
    return {
      symbol: g[0]!.t.symbol,
      exchange: g[0]!.t.exchange,
      tradingDay: g[0]!.day,
      ...ohlcv(a),
      firstTrade: a.first,
      lastTrade: a.last
    }
  }).sort((a, b) => `${a.symbol}\u0000${a.exchange}\u0000${a.tradingDay}` < `${b.symbol}\u0000${b.exchange}\u0000${b.tradingDay}` ? -1 : 1)
}

const two = BigDecimal.fromBigInt(2n)
const zero = BigDecimal.fromBigInt(0n)

/** A quote has a mid and a spread only with both sides priced (a zero side is a pre-open one: ADR-40). */
const twoSided = (r: QuoteRow) => BigDecimal.isGreaterThan(r.bid_price, zero) && BigDecimal.isGreaterThan(r.ask_price, zero)

export const quoteBars = (quotes: ReadonlyArray<QuoteRow>, q: { from: number; to: number; symbols?: ReadonlyArray<string>; size: number }) => {
  const rows = quotes.filter((r) => inRange(r, q.from, q.to, q.symbols ?? []))
  const groups = groupBy(rows, (r) => `${r.symbol}\u0000${r.exchange}\u0000${floorTo(r.exchange_timestamp, q.size)}`)
  return [...groups.values()].map((g) => {
    const s = [...g].sort(compareRows)
    const head = { symbol: s[0]!.symbol, exchange: s[0]!.exchange, bucket: floorTo(s[0]!.exchange_timestamp, q.size), quoteCount: s.length }
    // Mids and spreads of the two-sided quotes only; none: null fields.
    const priced = s.filter(twoSided)
    if (priced.length === 0) {
      const none = null as string | null
      return { ...head, midOpen: none, midHigh: none, midLow: none, midClose: none, spreadMin: none, spreadMax: none, spreadMean: none, spreadClose: none }
    }
    const mid = (r: QuoteRow) => BigDecimal.divideUnsafe(BigDecimal.sum(r.bid_price, r.ask_price), two)
    const spread = (r: QuoteRow) => BigDecimal.subtract(r.ask_price, r.bid_price)
    const mids = priced.map(mid)
    const spreads = priced.map(spread)
    const max = (xs: Array<BigDecimal.BigDecimal>) => xs.reduce((a, b) => (BigDecimal.isGreaterThan(b, a) ? b : a))
    const min = (xs: Array<BigDecimal.BigDecimal>) => xs.reduce((a, b) => (BigDecimal.isLessThan(b, a) ? b : a))
    const total = spreads.reduce((a, b) => BigDecimal.sum(a, b), BigDecimal.fromBigInt(0n))
    return {
      ...head,
      midOpen: round8(mids[0]!) as string | null,
      midHigh: round8(max(mids)),
      midLow: round8(min(mids)),
      midClose: round8(mids[mids.length - 1]!),
      spreadMin: text8(min(spreads)),
      spreadMax: text8(max(spreads)),
      spreadMean: round8(BigDecimal.divideUnsafe(total, BigDecimal.fromBigInt(BigInt(priced.length)))),
      spreadClose: text8(spreads[spreads.length - 1]!)
    }
  }).sort(byInstrumentThenBucket)
}

export const tradesWithQuotes = (
  trades: ReadonlyArray<TradeRow>,
  quotes: ReadonlyArray<QuoteRow>,
  q: { from: number; to: number; symbols?: ReadonlyArray<string>; lookback: number; limit: number }
) => {
  const ts = selectRows(trades, q).slice(0, q.limit)
  return ts.map((t) => {
    let best: QuoteRow | undefined
    for (const c of quotes) {
      if (c.symbol !== t.symbol || c.exchange !== t.exchange || c.exchange_timestamp > t.exchange_timestamp || c.exchange_timestamp < q.from - q.lookback) continue
      if (best === undefined || compareRows(c, best) > 0) best = c
    }
    if (best === undefined) return { messageId: t.message_id, quoteTimestamp: null as number | null, mid: null as string | null, effectiveSpread: null as string | null, classification: null as string | null, bidPrice: null as string | null }
    // The quote is shown whatever it holds; one with a zero side has no mid, spread or side.
    if (!twoSided(best)) return { messageId: t.message_id, quoteTimestamp: best.exchange_timestamp as number | null, mid: null, effectiveSpread: null, classification: null, bidPrice: text8(best.bid_price) as string | null }
    const sum = BigDecimal.sum(best.bid_price, best.ask_price)
    const twice = BigDecimal.multiply(t.price, two)
    const diff = BigDecimal.abs(BigDecimal.subtract(twice, sum))
    return {
      messageId: t.message_id,
      quoteTimestamp: best.exchange_timestamp,
      mid: round8(BigDecimal.divideUnsafe(sum, two)),
      effectiveSpread: text8(diff),
      classification: (BigDecimal.isGreaterThan(twice, sum) ? "BUY" : BigDecimal.isLessThan(twice, sum) ? "SELL" : "MID") as string | null,
      bidPrice: text8(best.bid_price)
    }
  })
}
