/**
 * What a market feed emits (trades, quotes, instruments and deliberately broken payloads),
 * what it reports about a load, and how it fails. No I/O.
 */
import { Schema } from "effect"
import type { Quote, Trade } from "../marketData.ts"
import type { Instrument } from "../reference.ts"

export type DataType = "trades" | "quotes"

/**
 * Bytes the producer publishes as-is, so that ingestion's dead-letter path can be tested.
 * `exchange` and `assetClass` name the topic; `message_id` matches the simulator's manifest.
 */
interface PoisonPayload {
  readonly _tag: "Poison"
  readonly symbol: string
  readonly exchange: string
  readonly assetClass: string
  readonly dataType: DataType
  readonly message_id: string
  readonly payload: Uint8Array
  readonly reason: string
}

export type FeedEvent =
  | { readonly _tag: "Trade"; readonly trade: Trade }
  | { readonly _tag: "Quote"; readonly quote: Quote }
  | { readonly _tag: "Instrument"; readonly instrument: Instrument }
  | PoisonPayload

/** Counts for one symbol. */
export interface SymbolCounts {
  trades: number
  quotes: number
  deadLettered: number
  poison: number
}

/** What the dead letters of a load are (ASX): data rows, company_info rows, files (or directories) not read. */
export interface DeadLetterCounts {
  rows: number
  companyInfo: number
  files: number
}

/**
 * What a load read and emitted. `rowsRead` counts data lines that are neither blank nor a
 * header (ASX) or generated events (simulator). ASX: each dead letter is a data row, a
 * company_info row or a file not read (`deadLetters`, adding up to `deadLettered`), and every data
 * row read is emitted or dead-lettered: rowsRead = trades + quotes + deadLetters.rows. Simulator:
 * trades + quotes is rowsRead plus the injected duplicates (each emitted twice), less any event held
 * back (out of order) when the feed was stopped (never emitted); it dead-letters nothing.
 */
export interface FeedSummary {
  readonly source: string
  readonly complete: boolean
  readonly rowsRead: number
  readonly instruments: number
  readonly trades: number
  readonly quotes: number
  readonly poison: number
  /** Every dead letter: deadLetters.rows + deadLetters.companyInfo + deadLetters.files. */
  readonly deadLettered: number
  readonly deadLetters: Readonly<DeadLetterCounts>
  readonly bySymbol: Readonly<Record<string, Readonly<SymbolCounts>>>
}

/** Mutable counters behind a summary; hot paths bump fields directly. */
export class SummaryCounter {
  rowsRead = 0
  instruments = 0
  trades = 0
  quotes = 0
  poison = 0
  /** Bumped where each is written; `deadLettered` is their sum. */
  readonly deadLetters: DeadLetterCounts = { rows: 0, companyInfo: 0, files: 0 }
  complete = false
  readonly bySymbol = new Map<string, SymbolCounts>()
  readonly source: string
  constructor(source: string) {
    this.source = source
  }

  symbol(symbol: string): SymbolCounts {
    let c = this.bySymbol.get(symbol)
    if (c === undefined) {
      c = { trades: 0, quotes: 0, deadLettered: 0, poison: 0 }
      this.bySymbol.set(symbol, c)
    }
    return c
  }

  snapshot(): FeedSummary {
    const bySymbol: Record<string, SymbolCounts> = {}
    for (const [s, c] of [...this.bySymbol].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) bySymbol[s] = { ...c }
    return {
      source: this.source,
      complete: this.complete,
      rowsRead: this.rowsRead,
      instruments: this.instruments,
      trades: this.trades,
      quotes: this.quotes,
      poison: this.poison,
      deadLettered: this.deadLetters.rows + this.deadLetters.companyInfo + this.deadLetters.files,
      deadLetters: { ...this.deadLetters },
      bySymbol
    }
  }
}

/** One rejected source row: where it was, why, and its text. Written as one JSON line. */
export interface DeadLetter {
  readonly file: string
  /** 1-based line number in `file`; 0 when the whole file was rejected. */
  readonly line: number
  readonly reason: string
  readonly raw: string
}

/** An anomaly the simulator injected on purpose; tests compare it with what ingestion reports. */
const AnomalyKind = Schema.Literals(["GAP", "DUPLICATE", "OUT_OF_ORDER", "RESET", "POISON"])
type AnomalyKind = typeof AnomalyKind.Type

export const InjectedAnomaly = Schema.Struct({
  kind: AnomalyKind,
  exchange: Schema.String,
  symbol: Schema.String,
  data_type: Schema.Literals(["trades", "quotes"]),
  /** The sequence number a consumer expects when the event arrives (null for poison). */
  expected: Schema.NullOr(Schema.Number),
  /** The sequence number the event carries (null for poison). */
  received: Schema.NullOr(Schema.Number),
  message_id: Schema.String
})
export type InjectedAnomaly = typeof InjectedAnomaly.Type
export const InjectedAnomalies = Schema.Array(InjectedAnomaly)

/** The source (directory, file) is missing. */
export class SourceMissing extends Schema.TaggedError<SourceMissing>()("SourceMissing", {
  path: Schema.String
}) {
  override get message() {
    return `feed source missing: ${this.path}`
  }
}

/** The source exists but cannot be used as a whole (e.g. company_info.csv without its header). */
export class SourceInvalid extends Schema.TaggedError<SourceInvalid>()("SourceInvalid", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `invalid feed source ${this.path}: ${this.detail}`
  }
}

/** Reading the source or writing the dead letters / manifest failed (I/O). */
export class FeedIoFailure extends Schema.TaggedError<FeedIoFailure>()("FeedIoFailure", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `feed I/O failure on ${this.path}: ${this.detail}`
  }
}

/** A configuration the feed cannot run with (unknown time zone, empty universe, ...). */
export class FeedMisconfigured extends Schema.TaggedError<FeedMisconfigured>()("FeedMisconfigured", {
  detail: Schema.String
}) {
  override get message() {
    return `feed misconfigured: ${this.detail}`
  }
}

/** Any failure of a feed; `reason` says which. Bad rows are never errors: they are dead-lettered. */
export class FeedError extends Schema.TaggedError<FeedError>()("FeedError", {
  reason: Schema.Union([SourceMissing, SourceInvalid, FeedIoFailure, FeedMisconfigured])
}) {
  override get message() {
    return this.reason.message
  }
}
