/**
 * The live half of catch-up to live: the source topics read from exactly the catch-up offsets
 * by a throwaway consumer group of one member (it commits nothing), decoded into replay events
 * the way ingestion decodes them.
 *
 * No gap, no overlap, per (topic, partition): the first live record is the marker's offset
 * (the next offset the table does not hold; the log's start where the marker has no entry), and a
 * partition regained after a rebalance continues after the last batch this stream delivered.
 */
import { type BigDecimal, Clock, Effect, Result, type Scope, Stream } from "effect"
import type { WireMessage } from "../../domain/avro/codec.ts"
import { type Offsets, offsetOf, type TopicIds } from "../../domain/ingest/marker.ts"
import { formatFixed } from "../../domain/query/exact.ts"
import { toUnscaled } from "../../domain/decimal.ts"
import { misplaced, TABLE_OF_KIND, topicRouteOf } from "../../domain/ingest/routing.ts"
import { parseTopicName } from "../../domain/wire.ts"
import { type KafkaError, KafkaSource, type PartitionBatch, type TpKey, tpKey, tpKeyOf } from "../../services/KafkaSource.ts"
import { CatchUpGap, CatchUpTopicRecreated, type QuoteEvent, type ReplayEvent, type TradeEvent } from "../../services/ReplayEngine.ts"
import type { SchemaRegistryError } from "../../services/SchemaRegistry.ts"
import * as WriterSchemas from "../ingest/writerSchemas.ts"
import type { WireSchemas } from "../ingest/writerSchemas.ts"

export interface LiveRequest {
  /** Source topics (`market.{asset_class}.{trades|quotes}.{exchange}`). */
  readonly topics: ReadonlyArray<string>
  /** Where each partition continues the table (absent: 0). */
  readonly starts: Offsets
  /** The topic ids the tables' markers record (ADR-29): a topic with another id is another log. */
  readonly topicIds?: TopicIds
  /** Exchange-time start, inclusive. */
  readonly from: number
  /** Empty: every symbol. */
  readonly symbols: ReadonlyArray<string>
  readonly schemas: WireSchemas
}

export interface Live {
  /** The start offset of every partition of every topic. */
  readonly offsets: Offsets
  readonly events: Stream.Stream<ReplayEvent, KafkaError | CatchUpGap | CatchUpTopicRecreated | SchemaRegistryError>
}

/** Decoded decimals are checked to fit decimal(18, 8): exact text with 8 places, as the table part gives. */
const text8 = (d: BigDecimal.BigDecimal) => formatFixed(toUnscaled(d)!)

type MarketMessage = Extract<WireMessage, { readonly kind: "trade" | "quote" }>

/** A decoded record as a replay event, with its real Kafka coordinates. */
export const eventOf = (
  message: MarketMessage,
  lineage: { ingestion_timestamp: number; kafka_topic: string; kafka_partition: number; kafka_offset: bigint }
): ReplayEvent => {
  const m = message.value
  const common = {
    message_id: m.message_id,
    symbol: m.symbol,
    exchange: m.exchange,
    asset_class: m.asset_class,
    exchange_timestamp: m.exchange_timestamp,
    currency: m.currency,
    conditions: m.conditions,
    source_sequence: m.source_sequence,
    ingestion_timestamp: lineage.ingestion_timestamp,
    kafka_topic: lineage.kafka_topic,
    kafka_partition: lineage.kafka_partition,
    kafka_offset: lineage.kafka_offset,
    vendor_data: m.vendor_data
  }
  if (message.kind === "trade") {
    const t = message.value
    return { _tag: "Trade", ...common, trade_id: t.trade_id, price: text8(t.price), quantity: text8(t.quantity), side: t.side } satisfies TradeEvent
  }
  const q = message.value
  return {
    _tag: "Quote",
    ...common,
    quote_id: q.quote_id,
    bid_price: text8(q.bid_price),
    bid_size: text8(q.bid_size),
    ask_price: text8(q.ask_price),
    ask_size: text8(q.ask_size)
  } satisfies QuoteEvent
}

/**
 * Joins a fresh group on `topics` (left when the scope closes), checks that every partition's
 * log still holds its start offset, and returns the stream of live events.
 */
export const openLive = Effect.fnUntraced(function*(
  request: LiveRequest
): Effect.fn.Return<Live, KafkaError | CatchUpGap, KafkaSource | Scope.Scope> {
  const source = yield* KafkaSource
  const { codec, resolveSchema } = request.schemas
  // Writer schemas the codec does not know (a producer on another version) are learned from the
  // registry, as ingestion learns them: else the live part would skip what the tables hold.
  const writerSchemas = resolveSchema === undefined ? undefined : WriterSchemas.make(codec, resolveSchema)
  const symbols = request.symbols.length === 0 ? null : new Set(request.symbols)
  const kindOf = new Map(request.topics.map((t) => [t, parseTopicName(t)?.dataType === "trades" ? "trade" as const : "quote" as const]))
  /** The next offset to deliver per partition: the start, then after each delivered batch. */
  const next = new Map<TpKey, bigint>()
  /** Where the partitions the marker lacks start: their log's start (read below). */
  const logStarts = new Map<TpKey, bigint>()
  const startOf = (topic: string, partition: number) =>
    next.get(tpKey(topic, partition)) ?? offsetOf(request.starts, topic, partition) ?? logStarts.get(tpKey(topic, partition)) ?? 0n

  const consumer = yield* source.subscribe({
    groupId: `k2-replay-${crypto.randomUUID()}`,
    clientId: "k2-replay",
    topics: request.topics,
    onAssign: (tps) => Effect.sync(() => new Map(tps.map((tp) => [tpKeyOf(tp), startOf(tp.topic, tp.partition)])))
  })

  const offsets = new Map<string, Map<number, bigint>>()
  for (const topic of request.topics) {
    const starts = new Map<number, bigint>()
    for (const w of yield* consumer.watermarks(topic)) {
      const marker = offsetOf(request.starts, topic, w.partition)
      if (marker === undefined) {
        // Never ingested, so the table holds none of it: records retention deleted are no gap between
        // table and log (ingestion, starting there, skips them too). Refusing them failed every follow
        // of a topic, or a new partition, whose log no longer starts at 0.
        logStarts.set(tpKey(topic, w.partition), w.low)
        starts.set(w.partition, w.low)
        continue
      }
      if (w.low > marker || w.high < marker) {
        return yield* new CatchUpGap({ topic, partition: w.partition, marker, low: w.low, high: w.high, live: false })
      }
      starts.set(w.partition, marker)
    }
    offsets.set(topic, starts)
  }

  /**
   * The id of each topic's log: the markers' (offsets count in it), else the first batch's. A batch
   * of another log (the topic deleted and made again) would continue the table, or the live part,
   * at positions of the old one: records below them skipped, without a word.
   */
  const topicIds = new Map(request.topicIds)

  const decodeBatch = (batch: PartitionBatch, receivedAt: number) => {
    const out: Array<ReplayEvent> = []
    const kind = kindOf.get(batch.topic)!
    const address = topicRouteOf(batch.topic)
    let skipped = 0
    for (const record of batch.records) {
      // What ingestion dead-letters (poison, a trade on a quotes topic, a record of another exchange
      // or asset class than its topic's) never reaches the table either.
      const decoded = record.value === null ? undefined : codec.decode(record.value)
      const message = decoded !== undefined && Result.isSuccess(decoded) ? decoded.success : undefined
      if (message === undefined || message.kind !== kind || misplaced(message, TABLE_OF_KIND[kind], address) !== undefined) {
        skipped++
        continue
      }
      if (message.value.exchange_timestamp < request.from) continue
      if (symbols !== null && !symbols.has(message.value.symbol)) continue
      out.push(eventOf(message, {
        ingestion_timestamp: receivedAt,
        kafka_topic: batch.topic,
        kafka_partition: batch.partition,
        kafka_offset: record.offset
      }))
    }
    next.set(tpKeyOf(batch), batch.nextOffset)
    return { out, skipped }
  }

  const events = consumer.batches.pipe(
    Stream.mapEffect((batch) =>
      Effect.gen(function*() {
        if (batch.topicId !== undefined) {
          const known = topicIds.get(batch.topic)
          if (known === undefined) topicIds.set(batch.topic, batch.topicId)
          else if (known !== batch.topicId) {
            return yield* new CatchUpTopicRecreated({ topic: batch.topic, partition: batch.partition, tableTopicId: known, topicId: batch.topicId })
          }
        }
        // A batch starting past its position skipped offsets: transaction markers, or records deleted
        // before they were read, after which the client goes on from the log's start (a table part or
        // a reader slower than retention). Those were due after the marker: a gap, said so. A partition
        // the marker lacks, not yet delivered from, starts at its log's start whatever it is then.
        const tp = tpKeyOf(batch)
        if (batch.firstOffset > batch.fromOffset && (next.has(tp) || offsetOf(request.starts, batch.topic, batch.partition) !== undefined)) {
          const w = (yield* consumer.watermarks(batch.topic)).find((m) => m.partition === batch.partition)
          if (w !== undefined && w.low > batch.fromOffset) {
            return yield* new CatchUpGap({ topic: batch.topic, partition: batch.partition, marker: batch.fromOffset, low: w.low, high: w.high, live: true })
          }
        }
        if (writerSchemas !== undefined) {
          yield* writerSchemas.learn(batch.records, 0n)
        }
        const { out, skipped } = decodeBatch(batch, (yield* Clock.currentTimeMillis) * 1000)
        if (skipped > 0) yield* Effect.logWarning(`replay skipped ${skipped} record(s) of ${tpKeyOf(batch)} that ingestion dead-letters (undecodable or misrouted)`)
        return out
      })
    ),
    Stream.flattenIterable
  )
  return { offsets, events }
})
