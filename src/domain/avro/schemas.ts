/**
 * The Avro value schemas of the market-data and reference topics. They are also in
 * `schemas/trade.avsc`, `schemas/quote.avsc` and `schemas/instrument.avsc` (a test keeps them
 * identical); this copy exists because the domain does no I/O. Embedded schema ids (used when no
 * registry is configured): trade = 1, quote = 2, instrument = 3.
 *
 * Mapping to the domain (src/domain/marketData.ts):
 * - decimals: `bytes`, logicalType decimal(18, 8): the unscaled value at scale 8 as a
 *   big-endian two's-complement integer, to and from the domain BigDecimal exactly;
 * - instants: `long` timestamp-micros (integer microseconds since the epoch, UTC);
 * - source_sequence: `["null", "long"]`, read as a bigint (exact beyond 2^53);
 * - conditions: array<string>; vendor_data: map<string>;
 * - calendar dates (listing, delisting): `int` date (days since the epoch), nullable.
 */

export type MessageKind = "trade" | "quote" | "instrument"

export const EMBEDDED_SCHEMA_IDS: Readonly<Record<MessageKind, number>> = { trade: 1, quote: 2, instrument: 3 }

const decimal = { type: "bytes", logicalType: "decimal", precision: 18, scale: 8 } as const
const micros = { type: "long", logicalType: "timestamp-micros" } as const
const date = { type: "int", logicalType: "date" } as const

export const tradeSchema = {
  type: "record",
  name: "Trade",
  namespace: "k2",
  doc: "A trade as a feed publishes it (K2 wire format: Confluent framing, schema id 1 when no registry is configured).",
  fields: [
    { name: "message_id", type: "string", doc: "Deterministic: the same input record always gets the same id" },
    { name: "trade_id", type: "string" },
    { name: "symbol", type: "string" },
    { name: "exchange", type: "string" },
    { name: "asset_class", type: "string", doc: "equities | futures | options | fx | crypto | fixed_income" },
    { name: "exchange_timestamp", type: micros },
    { name: "price", type: decimal },
    { name: "quantity", type: decimal },
    { name: "currency", type: "string" },
    { name: "side", type: "string", doc: "BUY | SELL | SELL_SHORT | UNKNOWN" },
    { name: "conditions", type: { type: "array", items: "string" }, default: [] },
    { name: "source_sequence", type: ["null", "long"], default: null },
    { name: "vendor_data", type: { type: "map", values: "string" }, default: {} }
  ]
} as const

export const quoteSchema = {
  type: "record",
  name: "Quote",
  namespace: "k2",
  doc: "A quote as a feed publishes it (K2 wire format: Confluent framing, schema id 2 when no registry is configured).",
  fields: [
    { name: "message_id", type: "string", doc: "Deterministic: the same input record always gets the same id" },
    { name: "quote_id", type: "string" },
    { name: "symbol", type: "string" },
    { name: "exchange", type: "string" },
    { name: "asset_class", type: "string", doc: "equities | futures | options | fx | crypto | fixed_income" },
    { name: "exchange_timestamp", type: micros },
    { name: "bid_price", type: decimal },
    { name: "bid_size", type: decimal },
    { name: "ask_price", type: decimal },
    { name: "ask_size", type: decimal },
    { name: "currency", type: "string" },
    { name: "conditions", type: { type: "array", items: "string" }, default: [] },
    { name: "source_sequence", type: ["null", "long"], default: null },
    { name: "vendor_data", type: { type: "map", values: "string" }, default: {} }
  ]
} as const

export const instrumentSchema = {
  type: "record",
  name: "Instrument",
  namespace: "k2",
  doc: "An instrument of an exchange's reference data, keyed by symbol on reference.instruments.{exchange} (schema id 3 when no registry is configured).",
  fields: [
    { name: "symbol", type: "string" },
    { name: "exchange", type: "string" },
    { name: "company_id", type: ["null", "string"], default: null },
    { name: "name", type: "string" },
    { name: "isin", type: ["null", "string"], default: null },
    { name: "currency", type: "string" },
    { name: "asset_class", type: "string", doc: "equities | futures | options | fx | crypto | fixed_income" },
    { name: "listing_date", type: ["null", date], default: null },
    { name: "delisting_date", type: ["null", date], default: null }
  ]
} as const

