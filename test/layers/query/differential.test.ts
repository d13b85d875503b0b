/**
 * Differential test of the query engine: small random tables (fixed seeds) against an oracle in
 * plain TypeScript written from docs/query.md and docs/api.md, with bigint arithmetic only.
 * Each seed writes its own warehouse: trades in three appends, quotes in two, interleaved, over
 * several symbols and exchanges (zones either side of UTC and with DST changes near the data),
 * timestamps spread over day boundaries (also before 1970 and near 2200) with ties, decimals of
 * every scale from 0.00000001 to 9999999999.99999999 (every fourth seed mostly near the top, so
 * notionals pass DuckDB's int128), and rows tied on the whole order key. A few seeds are read
 * over HTTP as well: ISO instants in, JSON out, pages followed by `Link`.
 */
import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Effect, Layer, Result, Stream } from "effect"
import { InvalidQuery } from "../../../src/domain/query/errors.ts"
import type { BarInterval } from "../../../src/domain/query/intervals.ts"
import { quoteColumns, type QuoteRow, tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { type MarketRow, QueryEngine } from "../../../src/services/QueryEngine.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import type { SnapshotSelector } from "../../../src/services/TableScanner.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { auth, baseUrl, get, KEYS, servedWith, testOptions } from "../../integration/http-support.ts"
import { QUOTES, TRADES, warehouseDir } from "./fixture.ts"

const SECOND = 1_000_000
const HOUR = 3600 * SECOND
const DAY = 24 * HOUR
const at = (iso: string) => Date.parse(iso) * 1000

// --- random data -----------------------------------------------------------------------------

const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
type Rng = ReturnType<typeof random>
const int = (r: Rng, n: number) => Math.floor(r() * n)
const pick = <A>(r: Rng, xs: ReadonlyArray<A>): A => xs[int(r, xs.length)]!
const bigBelow = (r: Rng, n: bigint) => (BigInt(int(r, 2 ** 30)) * 2n ** 30n + BigInt(int(r, 2 ** 30))) % n

/** Zones of the exchanges used (calendar.ts; OTC is in none, so UTC). */
const ZONES: Record<string, string> = {
  ASX: "Australia/Sydney",
  NZX: "Pacific/Auckland",
  NYSE: "America/New_York",
  XETRA: "Europe/Berlin",
  OTC: "UTC"
}
const SYMBOLS = ["A", "AB", "BHP", "BHP.AX", "Z_9-X", "LONGSYMBOLNAME0123456789ABCDEFGH"]

/** Where a seed's data clusters: DST changes, zone midnights, the epoch, the ends of the instant range. */
const BASES = [
  at("2024-04-06T16:00:00Z"), // Sydney leaves DST
  at("2024-03-10T07:00:00Z"), // New York enters DST
  at("2024-10-05T16:00:00Z"), // Sydney enters DST
  at("2024-12-31T11:00:00Z"), // New Year in Auckland (+13)
  at("1970-01-01T00:00:00Z"),
  at("2199-12-30T00:00:00Z"),
  at("1900-01-03T00:00:00Z")
]
const MIN = at("1900-01-01T00:00:00Z")
const MAX = at("2200-01-01T00:00:00Z") - 1

/** A positive (or, `zero`, non-negative) decimal(18, 8) with a random scale, from 1e-8 to ~1e10. */
const decimal = (r: Rng, huge: boolean, zero = false): BigDecimal.BigDecimal => {
  if (zero && r() < 0.05) return BigDecimal.make(0n, int(r, 9))
  const size = r()
  let unscaled = size < 0.08
    ? BigInt(1 + int(r, 999)) // 0.00000001 .. 0.00000999
    : size < (huge ? 0.9 : 0.14)
    ? 10n ** 18n - 1n - bigBelow(r, 10n ** 12n) // close to 9999999999.99999999
    : BigInt(1 + int(r, 2 ** 30)) * 1000n // up to ~1000
  const scale = int(r, 11) - 2 // -2..8: a scale below 8 drops digits
  const drop = 10n ** BigInt(8 - scale)
  if (unscaled / drop === 0n) return BigDecimal.make(unscaled, 8)
  unscaled = unscaled / drop
  return BigDecimal.make(unscaled, scale)
}

interface Gen {
  readonly r: Rng
  /** Mostly values near the decimal's limit: notionals past DuckDB's int128 (refused) and just below it (exact). */
  readonly huge: boolean
  readonly base: number
  readonly spread: number
  readonly listings: ReadonlyArray<{ symbol: string; exchange: string }>
  offset: number
}

const timestamp = (g: Gen, last: number | undefined): number => {
  const r = g.r
  const k = r()
  if (last !== undefined && k < 0.25) return last // a tie with the previous row
  let ts = g.base + Math.floor((r() * 2 - 1) * g.spread)
  if (k < 0.35) ts = Math.floor(ts / DAY) * DAY // on a UTC midnight
  else if (k < 0.45) ts = Math.floor(ts / HOUR) * HOUR - (r() < 0.5 ? 1 : 0) // on or just before an hour
  return Math.min(MAX, Math.max(MIN, ts))
}

const messageId = (r: Rng, i: number, prefix: string) =>
  `${prefix}${i}-${"x".repeat(pick(r, [0, 4, 7, 20, 40]))}${int(r, 1000)}`

const sequence = (r: Rng, i: number): bigint | null => {
  const k = r()
  return k < 0.1 ? null : k < 0.15 ? 2n ** 63n - 1n - BigInt(int(r, 3)) : k < 0.25 ? 7n : BigInt(i)
}

const lineage = (g: Gen, topic: string) => ({
  ingestion_timestamp: at("2025-01-01T00:00:00Z"),
  kafka_topic: topic,
  kafka_partition: int(g.r, 3),
  kafka_offset: BigInt(g.offset++)
})

const genTrades = (g: Gen, n: number, prefix: string): Array<TradeRow> => {
  const out: Array<TradeRow> = []
  for (let i = 0; i < n; i++) {
    const r = g.r
    const prev = out[out.length - 1]
    const l = pick(r, g.listings)
    // An id a source reused: same whole order key, another price (and another Kafka record).
    if (prev !== undefined && r() < 0.05) {
      out.push({ ...prev, price: decimal(r, g.huge), quantity: decimal(r, g.huge), ...lineage(g, prev.kafka_topic) })
      continue
    }
    out.push({
      message_id: messageId(r, i, prefix),
      trade_id: `T${i}`,
      symbol: l.symbol,
      exchange: l.exchange,
      asset_class: "equities",
      exchange_timestamp: timestamp(g, prev?.exchange_timestamp),
      price: decimal(r, g.huge),
      quantity: decimal(r, g.huge),
      currency: "AUD",
      side: pick(r, ["BUY", "SELL", "UNKNOWN"] as const),
      conditions: r() < 0.5 ? [] : ["XT"],
      source_sequence: sequence(r, i),
      vendor_data: {},
      ...lineage(g, "market.equities.trades.differential")
    })
  }
  return out
}

const genQuotes = (g: Gen, n: number, prefix: string): Array<QuoteRow> => {
  const out: Array<QuoteRow> = []
  for (let i = 0; i < n; i++) {
    const r = g.r
    const prev = out[out.length - 1]
    const l = pick(r, g.listings)
    if (prev !== undefined && r() < 0.05) {
      out.push({ ...prev, bid_price: decimal(r, g.huge, true), ask_price: decimal(r, g.huge, true), ...lineage(g, prev.kafka_topic) })
      continue
    }
    out.push({
      message_id: messageId(r, i, prefix),
      quote_id: `Q${i}`,
      symbol: l.symbol,
      exchange: l.exchange,
      asset_class: "equities",
      exchange_timestamp: timestamp(g, prev?.exchange_timestamp),
      bid_price: decimal(r, g.huge, true),
      bid_size: decimal(r, g.huge, true),
      ask_price: decimal(r, g.huge, true),
      ask_size: decimal(r, g.huge, true),
      currency: "AUD",
      conditions: [],
      source_sequence: sequence(r, i),
      vendor_data: {},
      ...lineage(g, "market.equities.quotes.differential")
    })
  }
  return out
}

// --- the oracle: exact decimals as bigints at scale 8 ------------------------------------------

const u8 = (d: BigDecimal.BigDecimal): bigint =>
  d.scale <= 8 ? d.value * 10n ** BigInt(8 - d.scale) : d.value / 10n ** BigInt(d.scale - 8)

const text = (u: bigint, scale = 8): string => {
  const digits = (u < 0n ? -u : u).toString().padStart(scale + 1, "0")
  return `${u < 0n ? "-" : ""}${digits.slice(0, -scale)}.${digits.slice(-scale)}`
}

/** n / d rounded half to even (d > 0). */
const halfEven = (n: bigint, d: bigint): bigint => {
  let q = n / d, rem = n % d
  if (rem < 0n) { q -= 1n; rem += d }
  return 2n * rem > d || (2n * rem === d && q % 2n !== 0n) ? q + 1n : q
}

const cmp = <A extends bigint | number | string>(a: A, b: A) => (a < b ? -1 : a > b ? 1 : 0)

type Row = TradeRow | QuoteRow
const seqOf = (x: Row) => x.source_sequence ?? -1n
/** docs/query.md: (exchange_timestamp, source_sequence with NULL as -1, message_id). */
const byKey = (a: Row, b: Row) => cmp(a.exchange_timestamp, b.exchange_timestamp) || cmp(seqOf(a), seqOf(b)) || cmp(a.message_id, b.message_id)
/** Pages: the key, then the Kafka lineage. */
const byPage = (a: Row, b: Row) =>
  byKey(a, b) || cmp(a.kafka_topic, b.kafka_topic) || cmp(a.kafka_partition, b.kafka_partition) || cmp(a.kafka_offset, b.kafka_offset)

interface Range { readonly from: number; readonly to: number; readonly symbols: ReadonlyArray<string> }
const within = (x: Row, q: Range) => x.exchange_timestamp >= q.from && x.exchange_timestamp < q.to && (q.symbols.length === 0 || q.symbols.includes(x.symbol))

const floorBig = (ts: number, size: number) => {
  const t = BigInt(ts), s = BigInt(size)
  const m = ((t % s) + s) % s
  return Number(t - m)
}

const groups = <A>(xs: ReadonlyArray<A>, key: (a: A) => string) => {
  const m = new Map<string, Array<A>>()
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x])
  return [...m.entries()].sort(([a], [b]) => cmp(a, b)).map(([, g]) => g)
}

/** Past DuckDB's int128 at scale 16 the notional is refused (ValueOverflow), never rounded. */
const NOTIONAL_MAX = 2n ** 127n - 1n

const ohlcv = (g: ReadonlyArray<TradeRow>) => {
  // Open/close: first/last by the key, then the price (lowest opens, highest closes).
  const sorted = [...g].sort((a, b) => byKey(a, b) || cmp(u8(a.price), u8(b.price)))
  const prices = sorted.map((t) => u8(t.price))
  const volume = sorted.reduce((s, t) => s + u8(t.quantity), 0n)
  const notional = sorted.reduce((s, t) => s + u8(t.price) * u8(t.quantity), 0n) // scale 16
  if (notional > NOTIONAL_MAX) return "overflow" as const
  return {
    open: text(prices[0]!),
    high: text(prices.reduce((a, b) => (b > a ? b : a))),
    low: text(prices.reduce((a, b) => (b < a ? b : a))),
    close: text(prices[prices.length - 1]!),
    volume: text(volume),
    tradeCount: sorted.length,
    vwap: text(halfEven(notional, volume))
  }
}

const SEP = "\u0000"
const oracleBars = (trades: ReadonlyArray<TradeRow>, q: Range & { size: number }) => {
  const gs = groups(trades.filter((t) => within(t, q)), (t) => [t.symbol, t.exchange, String(floorBig(t.exchange_timestamp, q.size) + 8e15).padStart(17, "0")].join(SEP))
  const out = []
  for (const g of gs) {
    const o = ohlcv(g)
    if (o === "overflow") return "overflow" as const
    out.push({ symbol: g[0]!.symbol, exchange: g[0]!.exchange, bucket: floorBig(g[0]!.exchange_timestamp, q.size), ...o })
  }
  return out
}

const localDays = new Map<string, Intl.DateTimeFormat>()
/** The exchange's local date of an instant, by Intl (zones from docs: calendar.ts, UTC otherwise). */
const localDay = (exchange: string, micros: number) => {
  const zone = ZONES[exchange] ?? "UTC"
  let f = localDays.get(zone)
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
    localDays.set(zone, f)
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(Math.floor(micros / 1000))).map((p) => [p.type, p.value]))
  return `${parts["year"]}-${parts["month"]}-${parts["day"]}`
}

const oracleSummary = (trades: ReadonlyArray<TradeRow>, q: { fromDay: string; toDay: string; symbols: ReadonlyArray<string> }) => {
  const rows = trades.map((t) => ({ t, day: localDay(t.exchange, t.exchange_timestamp) }))
    .filter(({ t, day }) => day >= q.fromDay && day <= q.toDay && (q.symbols.length === 0 || q.symbols.includes(t.symbol)))
  const out = []
  for (const g of groups(rows, ({ t, day }) => [t.symbol, t.exchange, day].join(SEP))) {
    const o = ohlcv(g.map((x) => x.t))
    if (o === "overflow") return "overflow" as const
    const ts = g.map((x) => x.t.exchange_timestamp)
    out.push({
      symbol: g[0]!.t.symbol,
      exchange: g[0]!.t.exchange,
      tradingDay: g[0]!.day,
      ...o,
      firstTrade: Math.min(...ts),
      lastTrade: Math.max(...ts)
    })
  }
  return out
}

const twiceMid = (x: QuoteRow) => u8(x.bid_price) + u8(x.ask_price)
const spreadOf = (x: QuoteRow) => u8(x.ask_price) - u8(x.bid_price)

/** ADR-40: a quote with a zero side (pre-open) has no mid and no spread. */
const twoSided = (x: QuoteRow) => u8(x.bid_price) > 0n && u8(x.ask_price) > 0n

const oracleQuoteBars = (quotes: ReadonlyArray<QuoteRow>, q: Range & { size: number }) =>
  groups(quotes.filter((x) => within(x, q)), (x) => [x.symbol, x.exchange, String(floorBig(x.exchange_timestamp, q.size) + 8e15).padStart(17, "0")].join(SEP))
    .map((g) => {
      const head = { symbol: g[0]!.symbol, exchange: g[0]!.exchange, bucket: floorBig(g[0]!.exchange_timestamp, q.size), quoteCount: g.length }
      // Mid and spread fields over the two-sided quotes; null when the bucket has none.
      const s = g.filter(twoSided).sort((a, b) => byKey(a, b) || cmp(twiceMid(a), twiceMid(b)) || cmp(spreadOf(a), spreadOf(b)))
      if (s.length === 0) {
        const none = null as string | null
        return { ...head, midOpen: none, midHigh: none, midLow: none, midClose: none, spreadMin: none, spreadMax: none, spreadMean: none, spreadClose: none }
      }
      const mids = s.map(twiceMid), spreads = s.map(spreadOf)
      const max = (xs: Array<bigint>) => xs.reduce((a, b) => (b > a ? b : a))
      const min = (xs: Array<bigint>) => xs.reduce((a, b) => (b < a ? b : a))
      return {
        ...head,
        midOpen: text(halfEven(mids[0]!, 2n)) as string | null,
        midHigh: text(halfEven(max(mids), 2n)),
        midLow: text(halfEven(min(mids), 2n)),
        midClose: text(halfEven(mids[mids.length - 1]!, 2n)),
        spreadMin: text(min(spreads)),
        spreadMax: text(max(spreads)),
        spreadMean: text(halfEven(spreads.reduce((a, b) => a + b, 0n), BigInt(s.length))),
        spreadClose: text(spreads[spreads.length - 1]!)
      }
    })

/** The prevailing quote: the last of the instrument at or before the trade, from `from − lookback`. */
const oracleWithQuotes = (trades: ReadonlyArray<TradeRow>, quotes: ReadonlyArray<QuoteRow>, q: Range & { lookback: number }) =>
  trades.filter((t) => within(t, q)).sort(byPage).map((t) => {
    let best: QuoteRow | undefined
    for (const c of quotes) {
      if (c.symbol !== t.symbol || c.exchange !== t.exchange) continue
      if (c.exchange_timestamp > t.exchange_timestamp || c.exchange_timestamp < q.from - q.lookback) continue
      // Same instant: highest sequence, then message_id, then bid, ask and sizes.
      const later = best === undefined || (byKey(c, best) ||
        cmp(u8(c.bid_price), u8(best.bid_price)) || cmp(u8(c.ask_price), u8(best.ask_price)) ||
        cmp(u8(c.bid_size), u8(best.bid_size)) || cmp(u8(c.ask_size), u8(best.ask_size))) > 0
      if (later) best = c
    }
    const base = { messageId: t.message_id, exchangeTimestamp: t.exchange_timestamp, price: text(u8(t.price)) }
    if (best === undefined) return { ...base, quoteTimestamp: null, bidPrice: null, askPrice: null, bidSize: null, askSize: null, mid: null, effectiveSpread: null, classification: null }
    const twice = 2n * u8(t.price), sum = twiceMid(best)
    const quote = {
      ...base,
      quoteTimestamp: best.exchange_timestamp,
      bidPrice: text(u8(best.bid_price)),
      askPrice: text(u8(best.ask_price)),
      bidSize: text(u8(best.bid_size)),
      askSize: text(u8(best.ask_size))
    }
    // Shown whatever it holds; a zero side: no mid, effective spread or side.
    if (!twoSided(best)) return { ...quote, mid: null, effectiveSpread: null, classification: null }
    return {
      ...quote,
      mid: text(halfEven(sum, 2n)) as string | null,
      effectiveSpread: text(twice > sum ? twice - sum : sum - twice) as string | null,
      classification: (twice > sum ? "BUY" : twice < sum ? "SELL" : "MID") as string | null
    }
  })

// --- reading K2 --------------------------------------------------------------------------------

const INTERVALS: ReadonlyArray<[BarInterval, number]> = [
  ["1s", SECOND], ["5s", 5 * SECOND], ["1m", 60 * SECOND], ["5m", 300 * SECOND],
  ["15m", 900 * SECOND], ["30m", 1800 * SECOND], ["1h", HOUR], ["1d", DAY]
]

const rowView = (table: "trades" | "quotes") => (x: Row) =>
  table === "trades"
    ? { message_id: x.message_id, exchange_timestamp: x.exchange_timestamp, source_sequence: x.source_sequence, kafka_offset: x.kafka_offset, price: text(u8((x as TradeRow).price)), quantity: text(u8((x as TradeRow).quantity)) }
    : { message_id: x.message_id, exchange_timestamp: x.exchange_timestamp, source_sequence: x.source_sequence, kafka_offset: x.kafka_offset, bid_price: text(u8((x as QuoteRow).bid_price)), ask_size: text(u8((x as QuoteRow).ask_size)) }
const FIELDS = {
  trades: ["message_id", "exchange_timestamp", "source_sequence", "kafka_offset", "price", "quantity"],
  quotes: ["message_id", "exchange_timestamp", "source_sequence", "kafka_offset", "bid_price", "ask_size"]
}

/** Every page of a read, by cursor, with a small limit; `between` runs after the first page. */
const allPages = (table: "trades" | "quotes", q: Range & { limit: number; snapshot?: SnapshotSelector; filters?: ReadonlyArray<{ column: string; min?: string; max?: string }> }, between: Effect.Effect<void, unknown, IcebergSink> = Effect.void) =>
  Effect.gen(function*() {
    const engine = yield* QueryEngine
    const rows: Array<MarketRow> = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = yield* engine[table]({
        from: q.from, to: q.to, symbols: q.symbols, limit: q.limit, fields: FIELDS[table],
        ...(q.filters === undefined ? {} : { filters: q.filters }),
        ...(cursor === undefined ? (q.snapshot === undefined ? {} : { snapshot: q.snapshot }) : { cursor })
      })
      assert.isAtMost(page.rows.length, q.limit)
      if (page.nextCursor !== null) assert.strictEqual(page.rows.length, q.limit)
      rows.push(...page.rows)
      cursor = page.nextCursor ?? undefined
      if (pages++ === 0) yield* between
    } while (cursor !== undefined)
    return rows.map((r) => Object.fromEntries(FIELDS[table].map((f) => [f, r[f]])))
  })

/** K2's answer (as a Result) against the oracle's: rows, or a ValueOverflow refusal. */
const agrees = <A>(got: Result.Result<{ readonly rows: ReadonlyArray<A> }, unknown>, want: ReadonlyArray<A> | "overflow", message: string) => {
  if (want !== "overflow") return assert.deepStrictEqual(Result.isSuccess(got) ? got.success.rows : got.failure, want, message)
  const refusal = Result.isFailure(got) ? got.failure : undefined
  assert.isTrue(refusal instanceof InvalidQuery && refusal.reason._tag === "ValueOverflow", `${message}: not refused for overflow: ${Result.isFailure(got) ? String(got.failure) : JSON.stringify(got.success.rows)}`)
}

// --- the test ----------------------------------------------------------------------------------

const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1)

/** A page size giving a few pages of `rows` (one row a page when they are few), or all of them at once. */
const pageLimit = (r: Rng, rows: number) =>
  r() < 0.15 ? 100_000 : rows <= 12 ? 1 + int(r, 3) : Math.max(1, Math.ceil(rows / (2 + int(r, 5))) - int(r, 2))

const randomRange = (g: Gen, all: ReadonlyArray<Row>): Range => {
  const r = g.r
  const edge = () => {
    const k = r()
    const ts = all.length > 0 && k < 0.6 ? pick(r, all).exchange_timestamp : g.base + Math.floor((r() * 2 - 1) * g.spread * 1.2)
    return Math.min(MAX + 1, Math.max(MIN, k > 0.8 ? Math.floor(ts / DAY) * DAY : ts))
  }
  const a = edge(), b = edge()
  const symbols = r() < 0.4 ? [] : [...new Set([pick(r, SYMBOLS), ...(r() < 0.5 ? [pick(r, SYMBOLS)] : []), ...(r() < 0.1 ? ["NOPE"] : [])])]
  return { from: Math.min(a, b), to: Math.max(a, b), symbols }
}

const app = () => Layer.mergeAll(QueryLayer.layer(), ReplayLayer.layer).pipe(Layer.provideMerge(Lakehouse.layer({ warehouse: warehouseDir(), catalog: { _tag: "memory" } })))

interface Snapshot<R> { readonly id: bigint; readonly ms: number; readonly rows: ReadonlyArray<R> }

/**
 * A seed's warehouse: appends T0, Q0, T1 now, and `rest` (Q1, T2) when the caller runs it; each
 * snapshot with the rows it holds.
 */
const load = (seed: number) =>
  Effect.gen(function*() {
    const r = random(seed * 7919)
    const base = BASES[seed % BASES.length]!
    const spread = pick(r, [3 * SECOND, 10 * 60 * SECOND, 6 * HOUR, 2 * DAY])
    const exchanges = Object.keys(ZONES)
    const listings = SYMBOLS.slice(0, 2 + int(r, SYMBOLS.length - 1)).flatMap((symbol) =>
      exchanges.filter(() => r() < 0.4).concat(pick(r, exchanges)).filter((e, i, xs) => xs.indexOf(e) === i).map((exchange) => ({ symbol, exchange }))
    )
    const huge = seed % 4 === 0
    // Huge values in one instrument: a day's notional near or past 1.7e22 takes ~170 trades.
    const g: Gen = { r, huge, base, spread: huge ? Math.min(spread, HOUR) : spread, listings: huge ? listings.slice(0, 1) : listings, offset: 0 }
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    yield* sink.ensureTable(tables.quotes)
    const size = () => (huge ? 90 : 20) + int(r, 80)
    const tradeAppends = [genTrades(g, size(), "a"), genTrades(g, size(), "b"), genTrades(g, size(), "c")]
    const quoteAppends = [genQuotes(g, 20 + int(r, 100), "qa"), genQuotes(g, 20 + int(r, 100), "qb")]
    const tradeSnaps: Array<Snapshot<TradeRow>> = []
    const quoteSnaps: Array<Snapshot<QuoteRow>> = []
    const append = <R>(table: typeof TRADES, appends: ReadonlyArray<ReadonlyArray<R>>, snaps: Array<Snapshot<R>>, columns: (rows: ReadonlyArray<R>) => ReturnType<typeof tradeColumns>) => (i: number) =>
      Effect.gen(function*() {
        yield* Effect.sleep("3 millis") // a distinct commit instant for as-of reads
        const out = yield* sink.append(table, columns(appends[i]!))
        snaps.push({ id: out.snapshot["snapshot-id"], ms: out.snapshot["timestamp-ms"], rows: appends.slice(0, i + 1).flat() })
      })
    const appendTrades = append(TRADES, tradeAppends, tradeSnaps, tradeColumns)
    const appendQuotes = append(QUOTES, quoteAppends, quoteSnaps, quoteColumns)
    yield* appendTrades(0)
    yield* appendQuotes(0)
    yield* appendTrades(1)
    return { r, g, base, tradeSnaps, quoteSnaps, rest: Effect.andThen(appendQuotes(1), appendTrades(2)) }
  })

describe("QueryEngine against an oracle", () => {
  for (const seed of SEEDS) {
    it.live(`seed ${seed}`, () =>
      Effect.gen(function*() {
        const engine = yield* QueryEngine
        const replay = yield* ReplayEngine
        const { r, g, base, tradeSnaps, quoteSnaps, rest } = yield* load(seed)

        // A paged read started now stays on T1 while Q1 and T2 are committed between its pages.
        const pinnedRange = randomRange(g, tradeSnaps[1]!.rows)
        const pinnedWant = tradeSnaps[1]!.rows.filter((t) => within(t, pinnedRange)).sort(byPage).map(rowView("trades"))
        const pinned = yield* allPages("trades", { ...pinnedRange, limit: pageLimit(r, pinnedWant.length) }, rest)
        assert.deepStrictEqual(pinned, pinnedWant, `seed ${seed}: pages pinned across commits`)

        const trades = tradeSnaps[2]!.rows
        const quotes = quoteSnaps[1]!.rows
        const context = (what: string, q: object) => `seed ${seed} ${what} ${JSON.stringify(q, (_, v) => (typeof v === "bigint" ? String(v) : v))}`

        // Rows: every page by cursor, each row once, in order; also with decimal filters.
        for (let k = 0; k < 6; k++) {
          const table = k % 2 === 0 ? "trades" as const : "quotes" as const
          const all: ReadonlyArray<Row> = table === "trades" ? trades : quotes
          const range = randomRange(g, all)
          const want = all.filter((x) => within(x, range)).sort(byPage).map(rowView(table))
          const q = { ...range, limit: pageLimit(r, want.length) }
          assert.deepStrictEqual(yield* allPages(table, q), want, context(table, q))
        }
        for (let k = 0; k < 2; k++) {
          const q = randomRange(g, trades)
          const bound = () => text(u8(pick(r, trades).price))
          const [lo, hi] = [bound(), bound()].sort((a, b) => cmp(BigInt(a.replace(".", "")), BigInt(b.replace(".", ""))))
          const filters = [{ column: "price", min: lo!, max: hi! }]
          const want = trades.filter((t) => within(t, q) && u8(t.price) >= BigInt(lo!.replace(".", "")) && u8(t.price) <= BigInt(hi!.replace(".", "")))
            .sort(byPage).map(rowView("trades"))
          assert.deepStrictEqual(yield* allPages("trades", { ...q, limit: pageLimit(r, want.length), filters }), want, context("filtered trades", { q, filters }))
        }

        // Bars and quote bars at several intervals.
        for (let k = 0; k < 4; k++) {
          const [interval, size] = pick(r, INTERVALS)
          const q = { ...randomRange(g, trades), size }
          const want = oracleBars(trades, q)
          agrees(yield* Effect.result(engine.bars({ from: q.from, to: q.to, symbols: q.symbols, interval })), want, context(`${interval} bars`, q))
          const qq = { ...randomRange(g, quotes), size }
          const qb = yield* engine.quoteBars({ from: qq.from, to: qq.to, symbols: qq.symbols, interval })
          assert.deepStrictEqual(qb.rows, oracleQuoteBars(quotes, qq), context(`${interval} quote bars`, qq))
        }

        // Daily summaries: exchange-local days, both ends inclusive.
        for (let k = 0; k < 2; k++) {
          const d1 = localDay("OTC", Math.max(MIN, base - int(r, 3) * DAY)), d2 = localDay("OTC", Math.min(MAX, base + int(r, 3) * DAY))
          const q = { fromDay: d1, toDay: d2, symbols: r() < 0.5 ? [] : [pick(r, SYMBOLS)] }
          const want = oracleSummary(trades, q)
          agrees(yield* Effect.result(engine.dailySummary(q)), want, context("summary", q))
        }

        // Trades with their prevailing quotes, paged.
        for (let k = 0; k < 3; k++) {
          const q = { ...randomRange(g, trades), lookback: pick(r, [0, SECOND, HOUR, DAY, 31 * DAY]) }
          const want = oracleWithQuotes(trades, quotes, q)
          const limit = pageLimit(r, want.length)
          const got: Array<object> = []
          let cursor: string | undefined
          do {
            const page = yield* engine.tradesWithQuotes({ from: q.from, to: q.to, symbols: q.symbols, limit, quoteLookbackMicros: q.lookback, ...(cursor === undefined ? {} : { cursor }) })
            got.push(...page.rows.map((x) => ({
              messageId: x.messageId, exchangeTimestamp: x.exchangeTimestamp, price: x.price, quoteTimestamp: x.quoteTimestamp,
              bidPrice: x.bidPrice, askPrice: x.askPrice, bidSize: x.bidSize, askSize: x.askSize, mid: x.mid,
              effectiveSpread: x.effectiveSpread, classification: x.classification
            })))
            cursor = page.nextCursor ?? undefined
          } while (cursor !== undefined)
          assert.deepStrictEqual(got, want, context("trades with quotes", { ...q, limit }))
        }

        // Replay: both tables in one order, (key, quote before trade, lineage), at most a window per UTC day.
        for (let k = 0; k < 2; k++) {
          const q = k === 0 ? { from: MIN, to: MAX + 1, symbols: [] } : randomRange(g, trades)
          const events = yield* Stream.runCollect(replay.stream({ ...q, windowRows: 1000 }))
          const tagged = [...quotes.map((x) => ({ x, tag: "Quote" })), ...trades.map((x) => ({ x, tag: "Trade" }))]
            .filter(({ x }) => within(x, q))
            .sort((a, b) => byKey(a.x, b.x) || cmp(a.tag, b.tag) || byPage(a.x, b.x))
          const view = (tag: string, x: { message_id: string; kafka_offset: bigint | null; exchange_timestamp: number }, price: string | null) => [tag, x.message_id, String(x.kafka_offset), x.exchange_timestamp, price]
          assert.deepStrictEqual(
            Array.from(events, (e) => view(e._tag, e, e._tag === "Trade" ? e.price : e.bid_price)),
            tagged.map(({ x, tag }) => view(tag, x, text(u8(tag === "Trade" ? (x as TradeRow).price : (x as QuoteRow).bid_price)))),
            context("replay", q)
          )
        }

        // Time travel: each trades snapshot by id and as of its commit instant.
        const everything = { from: MIN, to: MAX + 1, symbols: [] }
        for (const s of tradeSnaps) {
          for (const snapshot of [{ _tag: "ById", snapshotId: s.id }, { _tag: "AsOf", timestampMs: s.ms }] as const) {
            const want = s.rows.filter((t) => within(t, everything)).sort(byPage).map(rowView("trades"))
            assert.deepStrictEqual(yield* allPages("trades", { ...everything, limit: 100_000, snapshot }), want, context("time travel", snapshot))
            const bars = yield* Effect.result(engine.bars({ ...everything, interval: "1h", snapshot }))
            agrees(bars, oracleBars(s.rows, { ...everything, size: HOUR }), context("time travel bars", snapshot))
          }
          // Both tables as of one trades snapshot: the quotes committed before it.
          const quotesThen = quoteSnaps.filter((x) => x.ms <= s.ms).at(-1)?.rows ?? []
          const q = { ...randomRange(g, s.rows), lookback: DAY }
          const joined = yield* engine.tradesWithQuotes({ from: q.from, to: q.to, symbols: q.symbols, limit: 100_000, quoteLookbackMicros: DAY, snapshot: { _tag: "ById", snapshotId: s.id } })
          assert.deepStrictEqual(
            joined.rows.map((x) => [x.messageId, x.quoteTimestamp, x.mid]),
            oracleWithQuotes(s.rows, quotesThen, q).map((x) => [x.messageId, x.quoteTimestamp, x.mid]),
            context("time travel with quotes", { id: String(s.id), ...q })
          )
        }
      }).pipe(Effect.provide(app())), 60_000)
  }
})

// --- the same over HTTP: query parameters in, JSON out, pages by Link ---------------------------

/** ISO-8601 UTC with microseconds (docs/api.md), from epoch micros. */
const iso = (micros: number) => {
  const ms = Math.floor(micros / 1000)
  return `${new Date(ms).toISOString().slice(0, -1)}${String(micros - ms * 1000).padStart(3, "0")}Z`
}

const served = () => Layer.unwrap(Effect.sync(() => servedWith(testOptions(), warehouseDir(), Layer.empty)))

/** Every page of a JSON read, following `Link` from the URL called. */
const pagesOf = (first: string) =>
  Effect.gen(function*() {
    const rows: Array<Record<string, unknown>> = []
    let url: string | undefined = first
    while (url !== undefined) {
      const res: Response = yield* get(url, auth(KEYS.reader))
      const body = JSON.parse(yield* Effect.promise(() => res.text())) as { data: Array<Record<string, unknown>>; next_cursor?: string | null }
      assert.strictEqual(res.status, 200, JSON.stringify(body))
      rows.push(...body.data)
      const link: string | null = res.headers.get("link")
      assert.strictEqual(res.headers.get("k2-next-cursor"), body.next_cursor ?? null)
      url = link === null ? undefined : new URL(/^<([^>]*)>/.exec(link)![1]!, url).toString()
    }
    return rows
  })

/** Query text: instants (`from`, `to`) as ISO-8601 (epoch micros near 1970 would read as seconds, docs/api.md), lists comma-joined, empty ones left out. */
const query = (params: Record<string, string | number | ReadonlyArray<string>>) =>
  new URLSearchParams(Object.entries(params).flatMap(([k, v]): Array<[string, string]> =>
    typeof v === "object" ? (v.length === 0 ? [] : [[k, v.join(",")]]) : [[k, k === "from" || k === "to" ? iso(Number(v)) : String(v)]]
  )).toString()

/** A page size as `pageLimit`, within the API's page (10,000). */
const httpLimit = (r: Rng, rows: number) => Math.min(10_000, pageLimit(r, rows))

describe("the HTTP API against the oracle", () => {
  for (const seed of [101, 102, 103, 104]) {
    it.live(`seed ${seed}`, () =>
      Effect.gen(function*() {
        const { r, g, base, tradeSnaps, quoteSnaps, rest } = yield* load(seed)
        yield* rest
        const trades = tradeSnaps[2]!.rows, quotes = quoteSnaps[1]!.rows
        const url = yield* baseUrl
        for (let k = 0; k < 3; k++) {
          const q = randomRange(g, trades)
          const want = trades.filter((t) => within(t, q)).sort(byPage)
          const got = yield* pagesOf(`${url}/v1/trades?${query({ from: q.from, to: q.to, symbols: q.symbols, limit: httpLimit(r, want.length), fields: ["message_id", "exchange_timestamp", "price"] })}`)
          assert.deepStrictEqual(got, want.map((t) => ({ message_id: t.message_id, exchange_timestamp: iso(t.exchange_timestamp), price: text(u8(t.price)) })), `seed ${seed} trades ${JSON.stringify(q)}`)
          // The first snapshot, by id.
          const old = tradeSnaps[0]!
          const wantOld = old.rows.filter((t) => within(t, q)).sort(byPage)
          const gotOld = yield* pagesOf(`${url}/v1/trades?${query({ from: q.from, to: q.to, symbols: q.symbols, limit: httpLimit(r, wantOld.length), fields: ["message_id"], snapshot_id: String(old.id) })}`)
          assert.deepStrictEqual(gotOld, wantOld.map((t) => ({ message_id: t.message_id })), `seed ${seed} trades at ${old.id}`)
        }
        for (let k = 0; k < 3; k++) {
          const [interval, size] = pick(r, INTERVALS)
          const q = { ...randomRange(g, trades), size }
          const want = oracleBars(trades, q)
          const got = yield* pagesOf(`${url}/v1/bars?${query({ from: q.from, to: q.to, symbols: q.symbols, interval })}`).pipe(Effect.catchDefect(() => Effect.succeed("refused")))
          assert.deepStrictEqual(got, want === "overflow" ? "refused" : want.map((b) => ({ ...b, bucket: iso(b.bucket) })), `seed ${seed} ${interval} bars ${JSON.stringify(q)}`)
        }
        const fromDay = localDay("OTC", Math.max(MIN, base - DAY)), toDay = localDay("OTC", Math.min(MAX, base + DAY))
        const summary = oracleSummary(trades, { fromDay, toDay, symbols: [] })
        if (summary !== "overflow") {
          const got = yield* pagesOf(`${url}/v1/summary?${query({ from_day: fromDay, to_day: toDay })}`)
          assert.deepStrictEqual(got, summary.map((s) => ({ ...s, firstTrade: iso(s.firstTrade), lastTrade: iso(s.lastTrade) })), `seed ${seed} summary`)
        }
        const q = { ...randomRange(g, trades), lookback: HOUR }
        const want = oracleWithQuotes(trades, quotes, q)
        const got = yield* pagesOf(`${url}/v1/trades/with-quotes?${query({ from: q.from, to: q.to, symbols: q.symbols, limit: httpLimit(r, want.length), lookback_us: HOUR })}`)
        assert.deepStrictEqual(
          got.map((x) => [x["messageId"], x["quoteTimestamp"], x["mid"], x["effectiveSpread"], x["classification"]]),
          want.map((x) => [x.messageId, x.quoteTimestamp === null ? null : iso(x.quoteTimestamp), x.mid, x.effectiveSpread, x.classification]),
          `seed ${seed} trades with quotes ${JSON.stringify(q)}`
        )
      }).pipe(Effect.provide(served())), 60_000)
  }
})
