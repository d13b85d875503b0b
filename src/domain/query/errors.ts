/** Why a query or replay request was refused before it reached DuckDB. */
import { Schema } from "effect"

/** `from` is after `to`. An empty range (`from == to`) is not an error: it answers nothing. */
export class InvertedRange extends Schema.TaggedError<InvertedRange>()("InvertedRange", {
  from: Schema.String,
  to: Schema.String
}) {
  override get message() {
    return `inverted range: from ${this.from} is after to ${this.to}`
  }
}

export class LimitOutOfRange extends Schema.TaggedError<LimitOutOfRange>()("LimitOutOfRange", {
  name: Schema.String,
  value: Schema.Number,
  min: Schema.Number,
  max: Schema.Number
}) {
  override get message() {
    return `${this.name} must be an integer from ${this.min} to ${this.max}, got ${this.value}`
  }
}

/** A pagination cursor that is not one of ours, or does not fit the request it came with. */
export class InvalidCursor extends Schema.TaggedError<InvalidCursor>()("InvalidCursor", {
  detail: Schema.String
}) {
  override get message() {
    return `invalid cursor: ${this.detail}`
  }
}

/** Any other bad argument (unknown field or interval, malformed symbol or decimal). */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>()("InvalidArgument", {
  name: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `invalid ${this.name}: ${this.detail}`
  }
}

/**
 * An answer that would hold more rows than one response may, and cannot be paged (bars): the
 * only refusal that comes after the query, which counted the rows without returning them.
 */
export class TooManyRows extends Schema.TaggedError<TooManyRows>()("TooManyRows", {
  what: Schema.String,
  /** How many the request makes, when they were counted to the end. */
  count: Schema.optional(Schema.Number),
  max: Schema.Number,
  advice: Schema.String
}) {
  override get message() {
    return this.count === undefined
      ? `the request makes more ${this.what} than the ${this.max} one answer may hold: ${this.advice}`
      : `the request makes ${this.count} ${this.what}, more than the ${this.max} one answer may hold: ${this.advice}`
  }
}

/**
 * An exact aggregate past the 38 digits DuckDB's decimals hold: a bar's notional (the sum of
 * price x quantity, at scale 16) past ~1.7e22. K2 answers money exactly or not at all.
 */
export class ValueOverflow extends Schema.TaggedError<ValueOverflow>()("ValueOverflow", {
  what: Schema.String,
  advice: Schema.String
}) {
  override get message() {
    return `${this.what} passes the 38 digits an exact answer holds: ${this.advice}`
  }
}

/**
 * A column an answer needs (a bar's exchange, its trades' price and quantity) NULL in rows it reads:
 * another engine dropped K2's column (which then reads as null in every file, ADR-2) or wrote it
 * NULL. No retry helps, and no answer without it would be true: HTTP 501 `unsupported_table`.
 */
export class MissingColumn extends Schema.TaggedError<MissingColumn>()("MissingColumn", {
  /** The table, e.g. `market_data.trades`. */
  table: Schema.String,
  column: Schema.String,
  /** What needs it, e.g. `bars`. */
  need: Schema.String
}) {
  override get message() {
    return `${this.table} has rows without ${this.column}, which ${this.need} need: another engine dropped the column or wrote it null`
  }
}

/** A request refused, before any I/O but for TooManyRows and ValueOverflow; `reason` says which rule it broke. */
export class InvalidQuery extends Schema.TaggedError<InvalidQuery>()("InvalidQuery", {
  reason: Schema.Union([InvertedRange, LimitOutOfRange, InvalidCursor, InvalidArgument, TooManyRows, ValueOverflow])
}) {
  override get message() {
    return this.reason.message
  }
}

export type InvalidQueryReason = InvalidQuery["reason"]

export const invalid = (reason: InvalidQueryReason) => new InvalidQuery({ reason })
