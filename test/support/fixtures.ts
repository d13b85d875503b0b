/** Deterministic synthetic trades for tests and benchmarks. */
import { BigDecimal } from "effect"
import type { DataFile } from "../../src/domain/iceberg/spec.ts"
import type { TradeRow } from "../../src/domain/rows.ts"

const SYMBOLS = ["BHP", "CBA", "CSL", "NAB", "WBC", "ANZ", "RIO", "WES", "TLS", "FMG"]

const DAY_MICROS = 86_400_000_000

/** A data file of one row and no column statistics; `overrides` hold what a test is about. */
export const dataFileOf = (overrides: Partial<DataFile> = {}): DataFile => ({
  content: 0,
  filePath: "f.parquet",
  fileFormat: "PARQUET",
  partition: {},
  recordCount: 1,
  fileSizeInBytes: 1,
  columnSizes: new Map(),
  valueCounts: new Map(),
  nullValueCounts: new Map(),
  nanValueCounts: new Map(),
  lowerBounds: new Map(),
  upperBounds: new Map(),
  splitOffsets: null,
  sortOrderId: null,
  ...overrides
})

/** 2024-01-02T00:00:00Z, a Tuesday. */
export const START_MICROS = Date.UTC(2024, 0, 2) * 1000

export interface TradeSpec {
  readonly count: number
  readonly days?: number
  readonly symbols?: ReadonlyArray<string>
  readonly startMicros?: number
  /** Distinguishes the message ids of separate writers. */
  readonly idPrefix?: string
  readonly offsetBase?: number
}

/** `count` trades spread evenly over `days` days, round-robin over symbols; prices exact to 8 places. */
export const makeTrades = (spec: TradeSpec): Array<TradeRow> => {
  const days = spec.days ?? 1
  const symbols = spec.symbols ?? SYMBOLS
  const start = spec.startMicros ?? START_MICROS
  const step = Math.max(1, Math.floor((days * DAY_MICROS) / Math.max(1, spec.count)))
  const out: Array<TradeRow> = []
  for (let i = 0; i < spec.count; i++) {
    const symbol = symbols[i % symbols.length]!
    const offset = (spec.offsetBase ?? 0) + i
    out.push({
      message_id: `${spec.idPrefix ?? "t"}-${offset}`,
      trade_id: `T${offset}`,
      symbol,
      exchange: "ASX",
      asset_class: "equities",
      exchange_timestamp: start + i * step,
      price: BigDecimal.make(BigInt(1_000_000_000 + ((i * 7919) % 900_000_000)) + 12_345_678n, 8),
      quantity: BigDecimal.make(BigInt(100 + (i % 1000)), 0),
      currency: "AUD",
      side: i % 3 === 0 ? "BUY" : i % 3 === 1 ? "SELL" : "UNKNOWN",
      conditions: i % 4 === 0 ? [] : ["XT"],
      source_sequence: BigInt(Math.floor(i / symbols.length) + 1),
      vendor_data: i % 2 === 0 ? {} : { venue: "CXA" },
      ingestion_timestamp: start + days * DAY_MICROS,
      kafka_topic: "market.equities.trades.asx",
      kafka_partition: i % 12,
      kafka_offset: BigInt(offset)
    })
  }
  return out
}
