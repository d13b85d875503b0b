/** Trade, quote and instrument records as read from the wire, before the domain checks. */
import type { Unscaled } from "./reader.ts"

/** The Avro record as avsc reads it (bigint longs, raw decimal bytes). */
export interface RawCommon {
  readonly message_id: string
  readonly symbol: string
  readonly exchange: string
  readonly asset_class: string
  /** NaN when beyond 2^53 in magnitude (then out of range). */
  readonly exchange_timestamp: number
  readonly currency: string
  readonly conditions: ReadonlyArray<string>
  readonly source_sequence: bigint | null
  readonly vendor_data: Readonly<Record<string, string>>
}
/** Decimals as their unscaled value at scale 8 (a number when the reader read it as one). */
export interface RawTrade extends RawCommon {
  readonly trade_id: string
  readonly price: Unscaled
  readonly quantity: Unscaled
  readonly side: string
}
export interface RawQuote extends RawCommon {
  readonly quote_id: string
  readonly bid_price: Unscaled
  readonly bid_size: Unscaled
  readonly ask_price: Unscaled
  readonly ask_size: Unscaled
}
export const DECIMAL_FIELDS = {
  trade: ["price", "quantity"],
  quote: ["bid_price", "bid_size", "ask_price", "ask_size"]
} as const

export interface RawInstrument {
  readonly symbol: string
  readonly exchange: string
  readonly company_id: string | null
  readonly name: string
  readonly isin: string | null
  readonly currency: string
  readonly asset_class: string
  readonly listing_date: number | null
  readonly delisting_date: number | null
}
