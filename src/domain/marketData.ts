/**
 * Trades and quotes as feeds publish them. Ingestion adds the lineage columns of the
 * tables (ingestion_timestamp, kafka_topic, kafka_partition, kafka_offset).
 */
import { Result, Schema } from "effect"
import { fieldProblems, InvalidRecord } from "./errors.ts"
import { NonNegativeDecimal, PositiveDecimal } from "./decimal.ts"
import { Timestamp } from "./time.ts"

const Text = Schema.String.pipe(Schema.check(Schema.isNonEmpty({ message: "must not be empty" })))

/**
 * The longest message_id, in characters: a page cursor carries the last row's, and must fit the
 * API's 4,096-character cursor parameter (JSON-escaped, then base64url).
 */
export const MESSAGE_ID_MAX = 256
export const MESSAGE_ID_RULE = `must be at most ${MESSAGE_ID_MAX} characters`

const MessageId = Text.pipe(Schema.check(Schema.isMaxLength(MESSAGE_ID_MAX, { message: MESSAGE_ID_RULE })))

/** A symbol or an exchange code. */
export const CODE_PATTERN = /^[A-Z0-9._-]{1,32}$/
export const CODE_RULE = "must be 1-32 upper-case letters, digits, . _ or -"

const Code = Schema.String.pipe(Schema.check(Schema.isPattern(CODE_PATTERN, { message: CODE_RULE })))

const Currency = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[A-Z]{3}$/, { message: "must be an ISO-4217 code such as AUD" }))
)

export const AssetClass = Schema.Literals(["equities", "futures", "options", "fx", "crypto", "fixed_income"])

export const Side = Schema.Literals(["BUY", "SELL", "SELL_SHORT", "UNKNOWN"])
export type Side = typeof Side.Type

/** The source's sequence number: a non-negative integer, exact beyond 2^53, that fits a long. */
const SourceSequence = Schema.NullOr(
  Schema.BigIntFromString.pipe(
    Schema.check(Schema.makeFilter((n: bigint) => (n >= 0n && n < 2n ** 63n) || "must be in 0..2^63-1"))
  )
)

const identityAndTime = {
  /** Deterministic: the same input record always gets the same id (DESIGN.md). */
  message_id: MessageId,
  symbol: Code,
  exchange: Code,
  asset_class: AssetClass,
  exchange_timestamp: Timestamp,
  currency: Currency,
  conditions: Schema.Array(Schema.String),
  source_sequence: SourceSequence,
  vendor_data: Schema.Record(Schema.String, Schema.String)
}

export const Trade = Schema.Struct({
  ...identityAndTime,
  trade_id: Text,
  price: PositiveDecimal,
  quantity: PositiveDecimal,
  side: Side
})
export type Trade = typeof Trade.Type
export type TradeEncoded = typeof Trade.Encoded

/** Quotes may carry a zero side before the open, and may be crossed: both are real and kept. */
export const Quote = Schema.Struct({
  ...identityAndTime,
  quote_id: Text,
  bid_price: NonNegativeDecimal,
  bid_size: NonNegativeDecimal,
  ask_price: NonNegativeDecimal,
  ask_size: NonNegativeDecimal
})
export type Quote = typeof Quote.Type

const decoder = <S extends Schema.Codec<unknown, unknown>>(kind: string, schema: S) => {
  const decode = Schema.decodeUnknownResult(schema as Schema.Codec<S["Type"], unknown>, { errors: "all" })
  return (input: unknown): Result.Result<S["Type"], InvalidRecord> =>
    Result.mapError(decode(input), (e) => new InvalidRecord({ kind, problems: fieldProblems(e.issue) }))
}

export const decodeTrade = decoder("trade", Trade)
export const decodeQuote = decoder("quote", Quote)
