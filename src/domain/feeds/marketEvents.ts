/**
 * The simulator's trades, quotes and instruments. A quote snaps the symbol's mid to the tick grid
 * with a spread of max(1, round(mid·spreadBps/10⁴/tick)) ticks plus a geometric extra; a trade
 * happens against the symbol's last published quote, at the bid (SELL) or ask (BUY) with
 * probability 0.85, else strictly inside the spread (UNKNOWN side). Each returns the event for a
 * given sequence number, which fault injection assigns.
 */
import { BigDecimal } from "effect"
import type { Quote, Side, Trade } from "../marketData.ts"
import type { Instrument } from "../reference.ts"
import type { FeedEvent } from "./events.ts"
import { advanceMid } from "./pricePath.ts"
import type { Rng } from "./random.ts"
import type { SimulatorModel } from "./simulatorModel.ts"
import type { SymbolState } from "./symbolState.ts"
import type { TickGrid } from "./tickGrid.ts"

const TOUCH_PROBABILITY = 0.85
/** Shared (frozen) empty values: the simulator sets no conditions or vendor data. */
const NO_CONDITIONS: ReadonlyArray<string> = Object.freeze([])
const NO_VENDOR_DATA: Readonly<Record<string, string>> = Object.freeze({})

/** Draws a trade against the symbol's last published quote. */
export const drawTrade = (
  rng: Rng, grid: TickGrid, m: SimulatorModel, st: SymbolState, messageId: string, micros: number
): (seq: number) => FeedEvent => {
  const spread = st.ask - st.bid
  let ticks: number
  let side: Side
  if (spread <= 1 || rng.next() < TOUCH_PROBABILITY) {
    const buy = rng.next() < 0.5
    ticks = buy ? st.ask : st.bid
    side = buy ? "BUY" : "SELL"
  } else {
    ticks = st.bid + 1 + rng.int(spread - 1)
    side = "UNKNOWN"
  }
  const qty = Math.max(1, Math.round(Math.exp(Math.log(300) + rng.normal())))
  const price = grid.price(ticks)
  const quantity = BigDecimal.make(BigInt(qty), 0)
  return (seq: number): FeedEvent => ({ _tag: "Trade", trade: {
    message_id: messageId,
    trade_id: `${st.symbol}-${st.n}`,
    symbol: st.symbol,
    exchange: m.exchange,
    asset_class: "equities",
    exchange_timestamp: micros,
    price,
    quantity,
    currency: m.currency,
    side,
    conditions: NO_CONDITIONS,
    source_sequence: BigInt(seq),
    vendor_data: NO_VENDOR_DATA
  } satisfies Trade })
}

/** Moves the symbol's mid to session time `t` and draws a quote around it, which becomes the symbol's last quote. */
export const drawQuote = (
  rng: Rng, grid: TickGrid, m: SimulatorModel, st: SymbolState, t: number, sessionSeconds: number, messageId: string, micros: number
): (seq: number) => FeedEvent => {
  advanceMid(st, t, sessionSeconds, m.annualVolatility, rng)
  const midTicks = Math.max(2, st.mid / grid.tick)
  const spread = Math.max(1, Math.round((midTicks * m.spreadBps) / 10_000)) + rng.geometric(0.7)
  const bid = Math.max(1, Math.floor(midTicks - spread / 2))
  st.bid = bid
  st.ask = bid + spread
  st.quoted = true
  const bidSize = 100 * (1 + rng.geometric(0.25))
  const askSize = 100 * (1 + rng.geometric(0.25))
  const bid_price = grid.price(bid)
  const ask_price = grid.price(st.ask)
  const bid_size = BigDecimal.make(BigInt(bidSize), 0)
  const ask_size = BigDecimal.make(BigInt(askSize), 0)
  return (seq: number): FeedEvent => ({ _tag: "Quote", quote: {
    message_id: messageId,
    quote_id: `${st.symbol}-${st.n}`,
    symbol: st.symbol,
    exchange: m.exchange,
    asset_class: "equities",
    exchange_timestamp: micros,
    bid_price,
    bid_size,
    ask_price,
    ask_size,
    currency: m.currency,
    conditions: NO_CONDITIONS,
    source_sequence: BigInt(seq),
    vendor_data: NO_VENDOR_DATA
  } satisfies Quote })
}

/** The instrument master row of a simulated symbol. */
export const simulatedInstrument = (m: SimulatorModel, symbol: string): Instrument => ({
  symbol,
  exchange: m.exchange,
  company_id: null,
  name: `Simulated ${symbol}`,
  isin: null,
  currency: m.currency,
  asset_class: "equities",
  listing_date: null,
  delisting_date: null
})
