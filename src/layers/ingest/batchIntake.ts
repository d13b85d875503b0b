/**
 * What a partition actor does with one batch: decode and validate its new records, dead-letter
 * the poison, run the sequence tracker and append the rows to the partition's buffer. Records
 * below the partition's marks were ingested before: they feed the tracker only (to rebuild its
 * state up to the table's mark), or nothing.
 */
import { Clock, Effect, Metric, Result, type Tracer } from "effect"
import type { WireCodec } from "../../domain/avro/codec.ts"
import { UnknownSchemaId } from "../../domain/avro/poisonReasons.ts"
import { claim } from "../../domain/ingest/streamOwnership.ts"
import type { Quote, Trade } from "../../domain/marketData.ts"
import type { QuoteRow, TradeRow } from "../../domain/rows.ts"
import { forEachKept, type Observation } from "../../domain/sequence/tracker.ts"
import { misplaced, topicRouteOf } from "../../domain/ingest/routing.ts"
import { TopicRecreated } from "../../services/Ingestor.ts"
import { type PartitionBatch, tpKeyOf } from "../../services/KafkaSource.ts"
import * as KafkaTracing from "../kafka/tracing.ts"
import * as Metrics from "../telemetry/metrics.ts"
import type { makeDeadLetter, Poison } from "./deadLetters.ts"
import type { IngestCounters } from "./ingestProgress.ts"
import { lagGauge, lostOffsetsCounter, type Rejudged } from "./ingestMetrics.ts"
import { atomically, ingestedBelow, logBehindTable, type PartitionState, type Partitions, type Rereading, type Row, rowBytes, entryCount, type TrackedTable, type Trackers } from "./partitionState.ts"
import type * as WriterSchemas from "./writerSchemas.ts"

// Trades and quotes as literals, field by field: a spread of the decoded value made each row an
// object about three times the size (its properties out of line), on the path of every message.
const tradeRow = (t: Trade, ingestedAt: number, topic: string, partition: number, offset: bigint): TradeRow => ({
  message_id: t.message_id,
  trade_id: t.trade_id,
  symbol: t.symbol,
  exchange: t.exchange,
  asset_class: t.asset_class,
  exchange_timestamp: t.exchange_timestamp,
  price: t.price,
  quantity: t.quantity,
  currency: t.currency,
  side: t.side,
  conditions: t.conditions,
  source_sequence: t.source_sequence,
  vendor_data: t.vendor_data,
  ingestion_timestamp: ingestedAt,
  kafka_topic: topic,
  kafka_partition: partition,
  kafka_offset: offset
})

const quoteRow = (q: Quote, ingestedAt: number, topic: string, partition: number, offset: bigint): QuoteRow => ({
  message_id: q.message_id,
  quote_id: q.quote_id,
  symbol: q.symbol,
  exchange: q.exchange,
  asset_class: q.asset_class,
  exchange_timestamp: q.exchange_timestamp,
  bid_price: q.bid_price,
  bid_size: q.bid_size,
  ask_price: q.ask_price,
  ask_size: q.ask_size,
  currency: q.currency,
  conditions: q.conditions,
  source_sequence: q.source_sequence,
  vendor_data: q.vendor_data,
  ingestion_timestamp: ingestedAt,
  kafka_topic: topic,
  kafka_partition: partition,
  kafka_offset: offset
})

/** What the tracker would say of rows it does not track. */
const untracked: Observation = { duplicates: [], events: [] }

/** A record its partition reads again of a stream that moved on: judged apart (`PartitionState.rereading`). */
const judgedApart = (part: PartitionState, row: Row): boolean =>
  part.rereading !== undefined && row.kafka_offset < part.rereading.below && part.rereading.streams.has(row.exchange, row.symbol)

export interface BatchIntakeContext {
  readonly group: string
  readonly codec: WireCodec
  /** With a schema registry: what teaches the codec a batch's unknown schema ids. */
  readonly writerSchemas: ReturnType<typeof WriterSchemas.make> | undefined
  readonly trackers: Trackers
  readonly parts: Partitions
  readonly counters: IngestCounters
  /** What the trackers evicted and gave up on records judged again (not counted again). */
  readonly rejudged: Rejudged
  readonly deadLetter: ReturnType<typeof makeDeadLetter>
  /** IngestConfig.logRemadeEachRun: a log behind the marks is records coming again, not another log. */
  readonly logRemadeEachRun: boolean
}

/** One batch in its consumer span, linked to its records' producer spans when tracing is on. */
export const makeConsumeBatch = (
  { codec, counters, deadLetter, group, logRemadeEachRun, parts, rejudged, trackers, writerSchemas }: BatchIntakeContext
) => {
  /**
   * Decodes and validates a batch's new records: rows to track (with the heap each would hold
   * buffered, in `sizes`), poison to dead-letter. Returns how many it skipped as already ingested
   * (below the marks).
   */
  const decodeInto = (
    batch: PartitionBatch,
    part: PartitionState,
    ingestedAt: number,
    toTrack: Array<Row>,
    sizes: Array<number>,
    poison: Array<Poison>
  ): number => {
    let alreadyIngested = 0
    const ingested = ingestedBelow(part)
    const route = topicRouteOf(batch.topic)
    for (const record of batch.records) {
      if (record.offset < part.next) continue
      if (record.offset < ingested) {
        alreadyIngested++
        continue
      }
      const decoded = record.value === null
        ? Result.fail({ _tag: "NotFramed", message: "tombstone (null value)" })
        : codec.decode(record.value)
      const wrongTopic = Result.isSuccess(decoded) ? misplaced(decoded.success, part.table, route) : undefined
      if (Result.isFailure(decoded) || wrongTopic !== undefined) {
        if (record.offset < part.tableMark) {
          alreadyIngested++
          continue
        }
        const failure = Result.isFailure(decoded) ? decoded.failure : undefined
        const refusal = failure instanceof UnknownSchemaId ? writerSchemas?.refusal(failure.schemaId) : undefined
        poison.push({
          record,
          reason: failure === undefined ? "WrongTopic" : failure._tag,
          detail: failure === undefined
            ? `${wrongTopic} on ${batch.topic}`
            : refusal === undefined
            ? failure.message
            : `${failure.message}: ${refusal}`
        })
        continue
      }
      const m = decoded.success
      toTrack.push(
        m.kind === "trade"
          ? tradeRow(m.value, ingestedAt, batch.topic, batch.partition, record.offset)
          : m.kind === "quote"
          ? quoteRow(m.value, ingestedAt, batch.topic, batch.partition, record.offset)
          : { ...m.value, ingestion_timestamp: ingestedAt, kafka_topic: batch.topic, kafka_partition: batch.partition, kafka_offset: record.offset }
      )
      sizes.push(
        m.kind === "instrument"
          ? rowBytes(record.value!.length)
          : rowBytes(record.value!.length, m.value.conditions.length, entryCount(m.value.vendor_data))
      )
    }
    return alreadyIngested
  }

  /**
   * Offsets the batch passes over. Records deleted (retention, DeleteRecords) past what the tables
   * hold before they were read are lost to the tables: an error naming the partition and the
   * offsets, counted in `k2_ingest_offsets_lost_total` (ADR-68). A log that starts past a partition
   * the tables hold nothing of is where a new group starts, as auto.offset.reset=earliest: a
   * warning. Offsets with nothing to read (compaction, transaction markers, aborted records) are
   * no loss: debug only (a compacted or transactional topic has them on every fetch).
   */
  const reportGap = Effect.fnUntraced(function*(batch: PartitionBatch, part: PartitionState) {
    const deletedTo = batch.logStartOffset
    // Below the table's mark the records are in the table: only a tracker rebuild reads them.
    // In `lost` they were told lost already (before a restart or a revoke), unless told of another
    // log of the name (the topic made again since): another id, or a log start gone back below it (a
    // log's start never goes back; kafkajs tells no ids).
    const readFrom = part.next > part.tableMark ? part.next : part.tableMark
    const told = part.lost
    const stillTold = told !== undefined && deletedTo !== undefined && told.below > readFrom && deletedTo >= told.below &&
      (told.topicId === undefined || batch.topicId === undefined || told.topicId === batch.topicId)
    // What was told starts where that state read from: records it had read past the table's mark
    // (not committed, so read again from the mark) and deleted since are not told yet.
    const lostRanges: Array<readonly [bigint, bigint]> = deletedTo === undefined
      ? []
      : stillTold
      ? [[readFrom, told.from < deletedTo ? told.from : deletedTo], [told.below, deletedTo]]
      : [[readFrom, deletedTo]]
    const untold = lostRanges.filter(([from, to]) => to > from)
    if (deletedTo !== undefined && untold.length > 0) {
      part.lost = { from: stillTold && told.from < readFrom ? told.from : readFrom, below: deletedTo, topicId: batch.topicId }
      if (part.tableMark === 0n && part.next === 0n) {
        return yield* Effect.logWarning(
          `${part.key}: the log starts at ${deletedTo} and ${part.table} holds nothing of this partition for group ${group}: ingesting from the log start ` +
            `(offsets 0 to ${deletedTo - 1n} were deleted before this group read any, as auto.offset.reset=earliest starts)`
        )
      }
      for (const [lostFrom, lostTo] of untold) {
        const lost = lostTo - lostFrom
        yield* Metric.update(lostOffsetsCounter(part.tp), Number(lost))
        yield* Effect.logError(
          `DATA LOSS ${part.key}: offsets ${lostFrom} to ${lostTo - 1n} (${lost}) were deleted from the log (retention or DeleteRecords) ` +
            `before group ${group} ingested them into ${part.table}; they are not in the table and cannot be read again. Going on from the log start ${deletedTo} ` +
            `(re-publish them from the source to fill the gap; a retention longer than ingest's longest outage prevents it)`
        )
      }
      return
    }
    if (batch.firstOffset > part.next + 1n) {
      yield* Effect.logDebug(
        `${part.key}: offsets ${part.next} to ${batch.firstOffset - 1n} hold no record to read (compaction, transaction markers, aborted transactions)`
      )
    }
  })

  /** The tracker's verdicts on a batch's rows, those judged apart by their own judge. */
  const observeApart = (part: PartitionState, rereading: Rereading, table: TrackedTable, rows: ReadonlyArray<TradeRow | QuoteRow>) =>
    Effect.gen(function*() {
      const again: Array<number> = []
      const live: Array<number> = []
      for (let i = 0; i < rows.length; i++) (judgedApart(part, rows[i]!) ? again : live).push(i)
      if (again.length === 0) return yield* trackers[table].observe(rows)
      const apart = yield* rereading.judge.observe(again.map((i) => rows[i]!))
      const main = live.length === 0 ? untracked : yield* trackers[table].observe(live.map((i) => rows[i]!))
      // Back to the batch's indices, and its order (a partition's records are in offset order).
      const duplicates = [...apart.duplicates.map((j) => again[j]!), ...main.duplicates.map((j) => live[j]!)].sort((a, b) => a - b)
      const events = [...apart.events, ...main.events].sort((a, b) => (a.kafka_offset! < b.kafka_offset! ? -1 : a.kafka_offset! > b.kafka_offset! ? 1 : 0))
      return { duplicates, events } satisfies Observation
    })

  /**
   * The tracker's verdicts on a batch's rows. Those this process's trackers judged before (below
   * `judgedBelow`, in offset order: a prefix) are judged first, on their own, and what the tracker
   * evicted and gave up on them is set aside in `rejudged`: it was counted the first time. The
   * trackers are shared by a table's partitions: the difference of their totals is this call's only
   * as it runs inside `atomically` (no other fiber observes between the two reads).
   */
  const observeCounted = (part: PartitionState, table: TrackedTable, rows: ReadonlyArray<TradeRow | QuoteRow>) =>
    Effect.gen(function*() {
      const judge = (some: ReadonlyArray<TradeRow | QuoteRow>) =>
        part.rereading === undefined ? trackers[table].observe(some) : observeApart(part, part.rereading, table, some)
      let again = 0
      while (again < rows.length && rows[again]!.kafka_offset < part.judgedBelow) again++
      if (again === 0) return yield* judge(rows)
      const before = yield* trackers[table].stats
      const first = yield* judge(again === rows.length ? rows : rows.slice(0, again))
      const after = yield* trackers[table].stats
      rejudged.evictions += after.evictions - before.evictions
      rejudged.gapsGivenUp.reset += after.gapsGivenUp.reset - before.gapsGivenUp.reset
      rejudged.gapsGivenUp.limit += after.gapsGivenUp.limit - before.gapsGivenUp.limit
      if (again === rows.length) return first
      const rest = yield* judge(rows.slice(again))
      return {
        duplicates: [...first.duplicates, ...rest.duplicates.map((i) => i + again)],
        events: [...first.events, ...rest.events]
      } satisfies Observation
    })

  /** `span`: the batch's consumer span when tracing is on, kept for the flush to link. */
  const processBatch = Effect.fnUntraced(function*(batch: PartitionBatch, span: Tracer.Span | undefined) {
    const part = parts.get(tpKeyOf(batch))
    // Of a valid mark only (at least the batch's end).
    const behind = !logRemadeEachRun && part !== undefined && batch.highWatermark >= batch.nextOffset
      ? logBehindTable(part, batch.highWatermark, part.tableMark)
      : undefined
    if (behind !== undefined) return yield* behind
    // Another log of the same name, past the marker, tells itself apart by its topic id only. The
    // id is recorded with the partition's next commit.
    if (part !== undefined && !part.retired && batch.topicId !== undefined && batch.topicId !== part.topicId) {
      if (part.topicId !== undefined && !logRemadeEachRun) {
        return yield* new TopicRecreated({
          topic: batch.topic,
          partition: batch.partition,
          table: part.table,
          tableTopicId: part.topicId,
          topicId: batch.topicId
        })
      }
      part.topicId = batch.topicId
    }
    // Nothing new, or fetched for a position beyond this partition's (a batch already routed when
    // the partition restarted from the tables: taking it would skip the records between; the
    // seek brings them, and it, again).
    if (part === undefined || part.retired || batch.nextOffset <= part.next || batch.fromOffset > part.next) return
    yield* reportGap(batch, part)
    yield* Metric.update(Metrics.messagesConsumed, batch.records.length)
    const ingestedAt = (yield* Clock.currentTimeMillis) * 1000
    const toTrack: Array<Row> = []
    const sizes: Array<number> = []
    const poison: Array<Poison> = []
    if (writerSchemas !== undefined) {
      // A registry that cannot be reached is waited out (then the supervisor restarts the
      // partition): its records are not dead-lettered.
      const from = ingestedBelow(part)
      yield* writerSchemas.learn(batch.records, part.next > from ? part.next : from)
    }
    const skipped = yield* Effect.sync(() => decodeInto(batch, part, ingestedAt, toTrack, sizes, poison)).pipe(
      Effect.withSpan("ingest.decode", { attributes: { "messaging.batch.message_count": batch.records.length } })
    )
    yield* deadLetter(batch, poison)
    const table = part.table
    // Tracker and buffer change together: a checkpoint always matches `next`. The sequence events
    // found, or undefined when the batch is dropped.
    const detected = yield* atomically(Effect.gen(function*() {
      // A restart replaced this partition's state while the batch waited on the registry or the
      // DLQ: its seek brings the batch again, and the tracker must not have seen it.
      if (parts.get(part.key) !== part || part.retired) return undefined
      const observation = table === "instruments"
        ? untracked
        : yield* observeCounted(part, table, toTrack as ReadonlyArray<TradeRow | QuoteRow>)
      // Each record is counted once: below the table's mark it was ingested before (read again
      // after a restart to rebuild the tracker), else it is consumed now.
      counters.alreadyIngested += skipped
      counters.consumed += poison.length
      part.poison += poison.length
      for (const i of observation.duplicates) {
        if (toTrack[i]!.kafka_offset < part.tableMark) counters.alreadyIngested++
        else {
          counters.consumed++
          part.duplicates++
        }
      }
      forEachKept(toTrack, observation, (row, i) => {
        if (row.kafka_offset < part.tableMark) counters.alreadyIngested++
        else {
          counters.consumed++
          part.rows.push(row)
          part.bytes += sizes[i]!
        }
      })
      // Events of records below sequence_events' mark are in it already (read again after the
      // data table went back behind it).
      const events = observation.events.filter((e) => e.kafka_offset === null || e.kafka_offset >= part.sequenceMark)
      for (const e of events) part.events.push(e)
      // A record read again of a stream that moved on (judged apart) does not take it back.
      for (const row of toTrack) {
        if (!part.streams.has(row.exchange, row.symbol) && !judgedApart(part, row)) claim(parts, part, row.exchange, row.symbol)
      }
      part.next = batch.nextOffset
      if (part.rereading !== undefined && part.next >= part.rereading.below) part.rereading = undefined
      part.lag = batch.highWatermark - batch.nextOffset
      part.logEnd = batch.highWatermark > batch.nextOffset ? batch.highWatermark : batch.nextOffset
      if (span !== undefined && part.spans.length < KafkaTracing.MAX_LINKS) part.spans.push(span)
      return events
    }))
    if (detected === undefined) return
    yield* Metric.update(lagGauge(part.tp), Number(part.lag > 0n ? part.lag : 0n))
  })

  return (batch: PartitionBatch) =>
    Effect.flatMap(KafkaTracing.tracingOn, (on) =>
      Effect.useSpan(`process ${batch.topic}`, {
        kind: "consumer",
        attributes: KafkaTracing.consumeAttributes(batch, group),
        ...(on ? { links: KafkaTracing.producerLinks(batch.records) } : {})
      }, (span) => processBatch(batch, on ? span : undefined).pipe(Effect.withParentSpan(span))))
}
