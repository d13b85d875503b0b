/**
 * Table rows: a decoded trade, quote or instrument plus the lineage ingestion records, turned
 * into the columns data files are written from (conventions in columnBatch.ts).
 */
import type { ColumnBatch } from "./columnBatch.ts"
import { toUnscaled } from "./decimal.ts"
import type { Quote, Trade } from "./marketData.ts"
import type { Instrument } from "./reference.ts"
import { daysOfIsoDate, type EpochMicros } from "./time.ts"

export interface Lineage {
  readonly ingestion_timestamp: EpochMicros
  readonly kafka_topic: string
  readonly kafka_partition: number
  readonly kafka_offset: bigint
}

export type TradeRow = Trade & Lineage
export type QuoteRow = Quote & Lineage
export type InstrumentRow = Instrument & Lineage

/** Decimals were checked to fit decimal(18, 8) when decoded. */
const unscaled = (d: Parameters<typeof toUnscaled>[0]) => toUnscaled(d)!

const micros = (m: EpochMicros) => BigInt(m)

const NO_ENTRIES: ReadonlyArray<readonly [string, string]> = Object.freeze([])

/** Map entries; most rows have none, and share one empty list. */
const entriesOf = (m: Readonly<Record<string, string>>) => {
  for (const _ in m) return Object.entries(m)
  return NO_ENTRIES
}

const common = <R extends TradeRow | QuoteRow>(rows: ReadonlyArray<R>) => ({
  message_id: rows.map((r) => r.message_id),
  symbol: rows.map((r) => r.symbol),
  exchange: rows.map((r) => r.exchange),
  asset_class: rows.map((r) => r.asset_class),
  exchange_timestamp: rows.map((r) => micros(r.exchange_timestamp)),
  currency: rows.map((r) => r.currency),
  conditions: rows.map((r) => r.conditions),
  source_sequence: rows.map((r) => r.source_sequence),
  ingestion_timestamp: rows.map((r) => micros(r.ingestion_timestamp)),
  kafka_topic: rows.map((r) => r.kafka_topic),
  kafka_partition: rows.map((r) => r.kafka_partition),
  kafka_offset: rows.map((r) => r.kafka_offset),
  vendor_data: rows.map((r) => entriesOf(r.vendor_data))
})

export const tradeColumns = (rows: ReadonlyArray<TradeRow>): ColumnBatch => ({
  rowCount: rows.length,
  columns: {
    ...common(rows),
    trade_id: rows.map((r) => r.trade_id),
    price: rows.map((r) => unscaled(r.price)),
    quantity: rows.map((r) => unscaled(r.quantity)),
    side: rows.map((r) => r.side)
  }
})

export const quoteColumns = (rows: ReadonlyArray<QuoteRow>): ColumnBatch => ({
  rowCount: rows.length,
  columns: {
    ...common(rows),
    quote_id: rows.map((r) => r.quote_id),
    bid_price: rows.map((r) => unscaled(r.bid_price)),
    bid_size: rows.map((r) => unscaled(r.bid_size)),
    ask_price: rows.map((r) => unscaled(r.ask_price)),
    ask_size: rows.map((r) => unscaled(r.ask_size))
  }
})

const days = (date: string | null) => (date === null ? null : daysOfIsoDate(date))

export const instrumentColumns = (rows: ReadonlyArray<InstrumentRow>): ColumnBatch => ({
  rowCount: rows.length,
  columns: {
    symbol: rows.map((r) => r.symbol),
    exchange: rows.map((r) => r.exchange),
    company_id: rows.map((r) => r.company_id),
    name: rows.map((r) => r.name),
    isin: rows.map((r) => r.isin),
    currency: rows.map((r) => r.currency),
    asset_class: rows.map((r) => r.asset_class),
    listing_date: rows.map((r) => days(r.listing_date)),
    delisting_date: rows.map((r) => days(r.delisting_date)),
    ingestion_timestamp: rows.map((r) => micros(r.ingestion_timestamp)),
    kafka_topic: rows.map((r) => r.kafka_topic),
    kafka_partition: rows.map((r) => r.kafka_partition),
    kafka_offset: rows.map((r) => r.kafka_offset)
  }
})
