/**
 * Parquet column types of each answer, every field in order (respond.ts writeRowsParquet):
 * decimal text to exact DECIMAL, ISO instants to TIMESTAMPTZ (µs), longs (text or number) to BIGINT.
 */
import { tables } from "../../domain/tables.ts"
import type {
  Bar,
  DailySummary,
  QuoteBar,
  SnapshotInfo,
  SymbolInfo,
  SymbolTableStats,
  TableStats,
  TradeWithQuote
} from "../../services/QueryEngine.ts"
import { PARQUET_DECIMAL as DECIMAL, type ParquetColumns, parquetStruct } from "./respond.ts"
import { duckType } from "../duckdb/sqlText.ts"

const INSTANT = "TIMESTAMPTZ"

export const barColumns: ParquetColumns<Bar> = {
  symbol: "VARCHAR", exchange: "VARCHAR", bucket: INSTANT, open: DECIMAL, high: DECIMAL, low: DECIMAL, close: DECIMAL, volume: DECIMAL,
  tradeCount: "BIGINT", vwap: DECIMAL
}
export const quoteBarColumns: ParquetColumns<QuoteBar> = {
  symbol: "VARCHAR", exchange: "VARCHAR", bucket: INSTANT, quoteCount: "BIGINT", midOpen: DECIMAL, midHigh: DECIMAL, midLow: DECIMAL,
  midClose: DECIMAL, spreadMin: DECIMAL, spreadMax: DECIMAL, spreadMean: DECIMAL, spreadClose: DECIMAL
}
export const summaryColumns: ParquetColumns<DailySummary> = {
  symbol: "VARCHAR", exchange: "VARCHAR", tradingDay: "DATE", open: DECIMAL, high: DECIMAL, low: DECIMAL, close: DECIMAL,
  volume: DECIMAL, tradeCount: "BIGINT", vwap: DECIMAL, firstTrade: INSTANT, lastTrade: INSTANT
}
export const tradeWithQuoteColumns: ParquetColumns<TradeWithQuote> = {
  symbol: "VARCHAR", exchange: "VARCHAR", exchangeTimestamp: INSTANT, sourceSequence: "BIGINT", messageId: "VARCHAR", price: DECIMAL,
  quantity: DECIMAL, side: "VARCHAR", kafkaTopic: "VARCHAR", kafkaPartition: "INTEGER", kafkaOffset: "BIGINT", quoteTimestamp: INSTANT, bidPrice: DECIMAL, bidSize: DECIMAL, askPrice: DECIMAL,
  askSize: DECIMAL, mid: DECIMAL, effectiveSpread: DECIMAL, classification: "VARCHAR"
}
const symbolTableStats = parquetStruct({ count: "BIGINT", first: INSTANT, last: INSTANT } satisfies ParquetColumns<SymbolTableStats>)
export const symbolColumns: ParquetColumns<SymbolInfo> = { symbol: "VARCHAR", trades: symbolTableStats, quotes: symbolTableStats }
export const instrumentColumns = Object.fromEntries(tables.instruments.schema.fields.map((f) => [f.name, duckType(f.type)]))
export const snapshotColumns: ParquetColumns<SnapshotInfo & { readonly time: string }> = {
  snapshotId: "BIGINT", parentId: "BIGINT", timestampMs: "BIGINT", operation: "VARCHAR", summary: "MAP(VARCHAR, VARCHAR)",
  current: "BOOLEAN", time: INSTANT
}
export const statsColumns: ParquetColumns<TableStats> = {
  table: "VARCHAR", snapshotId: "BIGINT", snapshotTimestampMs: "BIGINT", records: "BIGINT", dataFiles: "BIGINT", bytes: "BIGINT",
  manifests: "BIGINT", firstTimestamp: INSTANT, lastTimestamp: INSTANT, days: "BIGINT"
}
