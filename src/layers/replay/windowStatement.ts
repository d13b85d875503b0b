/** The replay statement of a window: its tables' rows, filtered and sorted in replay order by DuckDB. */
import type { MarketTable } from "../../services/QueryEngine.ts"
import { idPieces } from "../query/sql.ts"
import { profileKey } from "./profiles.ts"

// The conversion to events is the replay's hot path (duckdb/vectors.ts). DuckDB shapes the columns for
// JS before it sorts them (in parallel, where after the sort each chunk's projection would run on
// the one thread fetching it): the ids as 12-character pieces (query/sql.ts), which DuckDB keeps
// inside the vector where JS reads them without a native call each; decimals as their unscaled
// int64; conditions and vendor_data as one JSON column, NULL when both are empty (nearly always).
// The columns whose values repeat (symbol, exchange, ...: a row's `Profile`) travel as one number,
// a hash of them, looked up in the day's few profiles (`profilesOf`, profiles.ts): every column costs DuckDB's
// sort and fetch and JS a native call per chunk (eight string columns were half the fetch time).
// A statement has only the columns of the tables it replays; `kind` (0 Quote, 1 Trade) only when it replays both.

/** One table's rows of a window, `from` its filtered files, as the replay statement's columns. */
export const windowPart = (table: MarketTable, both: boolean, from: string, salt: string) => {
  const trades = table === "trades"
  const columns = [
    ...(both ? [`${trades ? 1 : 0}::UTINYINT AS kind`] : []),
    idPieces("message_id", "mid"),
    idPieces(trades ? "trade_id" : "quote_id", "id"),
    `${profileKey(table, salt)} AS profile, epoch_us(exchange_timestamp)::DOUBLE AS ts, source_sequence AS seq`,
    // The decimals as the table holds them: DECIMAL(18, 8) as K2 writes them (int64 vectors), or another
    // engine's widened ones (ADR-2, int128 vectors), which chunkEvents.ts reads exactly too. Cast back to
    // DECIMAL(18, 8), a value only the wider type holds failed the replay (DuckDB's conversion error).
    ...(trades ? ["price", "quantity"] : ["bid_price", "bid_size", "ask_price", "ask_size"]).map((c, i) => `${c} AS ${"abcd"[i]}`),
    ...(trades && both ? ["NULL::DECIMAL(18, 8) AS c, NULL::DECIMAL(18, 8) AS d"] : []),
    `epoch_us(ingestion_timestamp)::DOUBLE AS its, kafka_offset,
    CASE WHEN len(conditions) > 0 OR cardinality(vendor_data) > 0 THEN to_json({c: conditions, v: vendor_data})::VARCHAR END AS extra,
    coalesce(source_sequence, -1) AS oseq, kafka_topic AS otopic, kafka_partition AS opart`
  ]
  return `SELECT ${columns.join(", ")} FROM ${from}`
}

/**
 * The replay statement over the `windowPart`s of a window, in replay order. The message_id pieces
 * order as the whole id (split at characters, a missing piece first), so the sort carries no copy.
 * The Kafka lineage breaks the ties of one record ingested twice, as pages do: without it their
 * order was whatever DuckDB's sort left, so two replays of one snapshot could differ.
 */
export const windowSql = (parts: ReadonlyArray<string>) =>
  `SELECT * EXCLUDE (oseq, otopic, opart) FROM (${parts.join(" UNION ALL ")})
   ORDER BY ts, oseq, mid_0, mid_1 NULLS FIRST, mid_2 NULLS FIRST${parts.length > 1 ? ", kind" : ""}, otopic, opart, kafka_offset`
