/** Generated trades and quotes with the awkward cases: timestamp ties, null sequences, zones either side of UTC. */
import { BigDecimal } from "effect"
import type { QuoteRow, TradeRow } from "../../../src/domain/rows.ts"

export const DAY = 86_400_000_000
export const HOUR = 3_600_000_000
/** 2024-01-02T00:00:00Z. */
export const T0 = Date.UTC(2024, 0, 2) * 1000

/** One trade for a hand-built case: symbol X on the NYSE in USD, quantity 1, sequence 1, read from offset `ts`; `over` changes any field. */
export const tradeRow = (id: string, ts: number, price: string, over: Partial<TradeRow> = {}): TradeRow => ({
  message_id: id, trade_id: id, symbol: "X", exchange: "NYSE", asset_class: "equities", exchange_timestamp: ts,
  price: BigDecimal.fromStringUnsafe(price), quantity: BigDecimal.fromStringUnsafe("1"), currency: "USD", side: "UNKNOWN", conditions: [],
  source_sequence: 1n, vendor_data: {}, ingestion_timestamp: T0, kafka_topic: "t", kafka_partition: 0, kafka_offset: BigInt(ts), ...over
})

/** One quote for a hand-built case, as `tradeRow`: sizes 1; `over` changes any field. */
export const quoteRow = (id: string, ts: number, bid: string, ask: string, over: Partial<QuoteRow> = {}): QuoteRow => ({
  message_id: id, quote_id: id, symbol: "X", exchange: "NYSE", asset_class: "equities", exchange_timestamp: ts,
  bid_price: BigDecimal.fromStringUnsafe(bid), bid_size: BigDecimal.fromStringUnsafe("1"), ask_price: BigDecimal.fromStringUnsafe(ask),
  ask_size: BigDecimal.fromStringUnsafe("1"), currency: "USD", conditions: [], source_sequence: 1n, vendor_data: {},
  ingestion_timestamp: T0, kafka_topic: "t", kafka_partition: 0, kafka_offset: BigInt(ts), ...over
})

const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const LISTINGS: ReadonlyArray<{ symbol: string; exchange: string }> = [
  { symbol: "BHP", exchange: "ASX" },
  { symbol: "CBA", exchange: "ASX" },
  { symbol: "IBM", exchange: "NYSE" },
  { symbol: "MSFT", exchange: "NYSE" }
]

const lineage = (i: number, topic: string) => ({
  ingestion_timestamp: T0 + 10 * DAY,
  kafka_topic: topic,
  kafka_partition: i % 3,
  kafka_offset: BigInt(i)
})

/** `count` trades over `days` days from T0, ~1/4 of them sharing a timestamp with the previous trade of the symbol. */
export const genTrades = (count: number, options: { days?: number; seed?: number; idPrefix?: string; start?: number } = {}): Array<TradeRow> => {
  const r = random(options.seed ?? 1)
  const days = options.days ?? 3
  const start = options.start ?? T0
  const out: Array<TradeRow> = []
  const lastTs = new Map<string, number>()
  const seqs = new Map<string, bigint>()
  for (let i = 0; i < count; i++) {
    const l = LISTINGS[Math.floor(r() * LISTINGS.length)]!
    const tie = r() < 0.25 && lastTs.has(l.symbol)
    const ts = tie ? lastTs.get(l.symbol)! : start + Math.floor(r() * days * DAY)
    lastTs.set(l.symbol, ts)
    const seq = (seqs.get(l.symbol) ?? 0n) + 1n
    seqs.set(l.symbol, seq)
    const nullSeq = r() < 0.1
    out.push({
      message_id: `${options.idPrefix ?? "t"}-${String(Math.floor(r() * 1e9)).padStart(9, "0")}-${i}`,
      trade_id: `T${i}`,
      symbol: l.symbol,
      exchange: l.exchange,
      asset_class: "equities",
      exchange_timestamp: ts,
      price: BigDecimal.make(BigInt(1_000_000_000 + Math.floor(r() * 9_000_000_000)), 8),
      quantity: BigDecimal.make(BigInt(1 + Math.floor(r() * 100_000)), 2),
      currency: l.exchange === "ASX" ? "AUD" : "USD",
      side: r() < 0.5 ? "BUY" : "SELL",
      conditions: r() < 0.5 ? [] : ["XT", "L"],
      // Tied seqs too: a reset feed repeats numbers, and a missing one is NULL.
      source_sequence: nullSeq ? null : (r() < 0.1 ? 7n : seq),
      vendor_data: r() < 0.5 ? {} : { venue: "X" },
      ...lineage(i, "market.equities.trades.test")
    })
  }
  return out
}

export const genQuotes = (count: number, options: { days?: number; seed?: number; start?: number } = {}): Array<QuoteRow> => {
  const r = random(options.seed ?? 2)
  const days = options.days ?? 3
  const start = options.start ?? T0
  const out: Array<QuoteRow> = []
  const lastTs = new Map<string, number>()
  for (let i = 0; i < count; i++) {
    const l = LISTINGS[Math.floor(r() * LISTINGS.length)]!
    const tie = r() < 0.2 && lastTs.has(l.symbol)
    const ts = tie ? lastTs.get(l.symbol)! : start + Math.floor(r() * days * DAY)
    lastTs.set(l.symbol, ts)
    const bid = BigInt(1_000_000_000 + Math.floor(r() * 9_000_000_000))
    // Mostly ask above bid; some crossed or zero, as real feeds have.
    const ask = r() < 0.05 ? bid - 1_000n : r() < 0.02 ? 0n : bid + BigInt(1 + Math.floor(r() * 5_000_000))
    out.push({
      message_id: `q-${String(Math.floor(r() * 1e9)).padStart(9, "0")}-${i}`,
      quote_id: `Q${i}`,
      symbol: l.symbol,
      exchange: l.exchange,
      asset_class: "equities",
      exchange_timestamp: ts,
      bid_price: BigDecimal.make(bid, 8),
      bid_size: BigDecimal.make(BigInt(Math.floor(r() * 1_000_000)), 3),
      ask_price: BigDecimal.make(ask, 8),
      ask_size: BigDecimal.make(BigInt(Math.floor(r() * 1_000_000)), 3),
      currency: l.exchange === "ASX" ? "AUD" : "USD",
      conditions: [],
      source_sequence: r() < 0.1 ? null : BigInt(i + 1),
      vendor_data: {},
      ...lineage(i, "market.equities.quotes.test")
    })
  }
  return out
}
