/** sequence_events rows as the columns of market_data.sequence_events (conventions in columnBatch.ts). */
import type { ColumnBatch } from "../columnBatch.ts"
import type { SequenceEvent } from "../reference.ts"

/** timestamptz → bigint epoch micros; long → bigint; int → number; null when absent. */
export const sequenceEventColumns = (rows: ReadonlyArray<SequenceEvent>): ColumnBatch => ({
  rowCount: rows.length,
  columns: {
    detected_at: rows.map((r) => BigInt(r.detected_at)),
    symbol: rows.map((r) => r.symbol),
    exchange: rows.map((r) => r.exchange),
    kind: rows.map((r) => r.kind),
    expected: rows.map((r) => r.expected),
    received: rows.map((r) => r.received),
    gap_size: rows.map((r) => r.gap_size),
    exchange_timestamp: rows.map((r) => BigInt(r.exchange_timestamp)),
    message_id: rows.map((r) => r.message_id),
    kafka_topic: rows.map((r) => r.kafka_topic),
    kafka_partition: rows.map((r) => r.kafka_partition),
    kafka_offset: rows.map((r) => r.kafka_offset)
  }
})
