/** Replay events for tests of what replay does with them (republish, progress). */
import type { ReplayEvent } from "../../src/services/ReplayEngine.ts"

/** The i-th BHP trade on partition 0 of the ASX trades topic, at offset i, 1 µs apart from 2024-01-01. */
export const replayTrade = (i: number): ReplayEvent => ({
  _tag: "Trade",
  message_id: `m${i}`,
  symbol: "BHP",
  exchange: "ASX",
  asset_class: "equities",
  exchange_timestamp: 1_704_067_200_000_000 + i,
  currency: "AUD",
  conditions: [],
  source_sequence: BigInt(i + 1),
  ingestion_timestamp: 1_704_067_200_000_000 + i,
  kafka_topic: "market.equities.trades.asx",
  kafka_partition: 0,
  kafka_offset: BigInt(i),
  vendor_data: {},
  trade_id: `t${i}`,
  price: "45.12000000",
  quantity: "100.00000000",
  side: "BUY"
})
