/** Reference data: the instrument master and the sequence anomalies found during ingestion. */
import { Schema } from "effect"
import { IsoDate, Timestamp } from "./time.ts"
import { AssetClass } from "./marketData.ts"

export const Instrument = Schema.Struct({
  symbol: Schema.String.pipe(Schema.check(Schema.isNonEmpty())),
  exchange: Schema.String.pipe(Schema.check(Schema.isNonEmpty())),
  company_id: Schema.NullOr(Schema.String),
  name: Schema.String,
  isin: Schema.NullOr(
    Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Z]{2}[A-Z0-9]{9}\d$/, { message: "must be a 12-character ISIN" })))
  ),
  currency: Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Z]{3}$/))),
  asset_class: AssetClass,
  listing_date: Schema.NullOr(IsoDate),
  delisting_date: Schema.NullOr(IsoDate)
})
export type Instrument = typeof Instrument.Type

export const SequenceEventKind = Schema.Literals(["GAP", "DUPLICATE", "OUT_OF_ORDER", "RESET", "GAP_FILLED"])
export type SequenceEventKind = typeof SequenceEventKind.Type

export const SequenceEvent = Schema.Struct({
  detected_at: Timestamp,
  symbol: Schema.String,
  exchange: Schema.String,
  kind: SequenceEventKind,
  expected: Schema.NullOr(Schema.BigIntFromString),
  received: Schema.NullOr(Schema.BigIntFromString),
  gap_size: Schema.NullOr(Schema.BigIntFromString),
  exchange_timestamp: Timestamp,
  message_id: Schema.String,
  kafka_topic: Schema.NullOr(Schema.String),
  kafka_partition: Schema.NullOr(Schema.Int),
  kafka_offset: Schema.NullOr(Schema.BigIntFromString)
})
export type SequenceEvent = typeof SequenceEvent.Type
