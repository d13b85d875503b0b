/**
 * The ingest pipeline (DESIGN.md "Ingest: exactly once into Iceberg").
 *
 * One actor per assigned partition (a fiber with a bounded mailbox) decodes, validates,
 * dead-letters poison, runs the sequence tracker and appends rows to its partition's
 * buffer; it waits while the buffers are full, which stalls fetching (memory stays bounded
 * whatever the backlog). One flusher commits all partitions' buffers: trades, quotes and
 * instruments side by side, then sequence_events (with the tracker checkpoints; only when
 * anomalies were found or `checkpointIntervalMs` has passed), each snapshot carrying the
 * group's marker. Instruments (reference topics) are not sequence-tracked. Every table commit
 * is fenced: it is abandoned if another writer moved the marker of one of its partitions since
 * this process read it, so a zombie never commits twice what a new owner committed.
 *
 * With a schema registry, a batch's schema ids the codec does not know (other versions of our
 * schemas) are fetched and taught to it before the batch decodes (writerSchemas.ts).
 *
 * Tracing: each batch is a consumer span (`process <topic>`) linked to the producer spans in
 * its records' `traceparent` headers; a flush span (`ingest.flush`, with the Parquet writes and
 * catalog commits under it) lives in the trace of the first batch it commits and links to the
 * others. Links are only collected when spans are exported.
 */
import {
  Cause,
  Clock,
  Effect,
  Exit,
  Fiber,
  FiberMap,
  Layer,
  Metric,
  Queue,
  Ref,
  Result,
  Schedule,
  Scheduler,
  Scope,
  Semaphore,
  Stream,
  type Tracer
} from "effect"
import { concatBatches } from "../../domain/columnBatch.ts"
import { DEFAULT_INGEST_GROUP, fence, type Offsets, markerIn, offsetOf } from "../../domain/ingest/marker.ts"
import { claim, newestCheckpoints, ownerOf, StreamSet } from "../../domain/ingest/streamOwnership.ts"
import { UnknownSchemaId, type WireCodec } from "../../domain/avro/codec.ts"
import type { TableMetadata } from "../../domain/iceberg/spec.ts"
import type { SequenceEvent } from "../../domain/reference.ts"
import {
  instrumentRows,
  type InstrumentRow,
  type QuoteRow,
  quoteRows,
  type RowBuffer,
  type TradeRow,
  tradeRows
} from "../../domain/rows.ts"
import { sequenceEventColumns } from "../../domain/sequence/events.ts"
import { checkpointStreams, type Observation, withoutDuplicates } from "../../domain/sequence/tracker.ts"
import { identifierOf, tables } from "../../domain/tables.ts"
import { dlqTopicName, Header, parseInstrumentsTopicName, parseTopicName } from "../../domain/wire.ts"
import { Catalog, CatalogError } from "../../services/Catalog.ts"
import { FileIO } from "../../services/FileIO.ts"
import { type CommitOutcome, IcebergSink } from "../../services/IcebergSink.ts"
import { type IngestError, type IngestProgress, Ingestor } from "../../services/Ingestor.ts"
import {
  type Consumer,
  KafkaError,
  KafkaSource,
  type PartitionBatch,
  type TopicPartition,
  type TpKey,
  tpKeyOf
} from "../../services/KafkaSource.ts"
import { KafkaSink, type ProducerRecord } from "../../services/KafkaSink.ts"
import type { SequenceTracker } from "../../services/SequenceTracker.ts"
import * as KafkaTracing from "../kafka/tracing.ts"
import * as Metrics from "../telemetry/metrics.ts"
import * as WriterSchemas from "./writerSchemas.ts"

export interface IngestConfig {
  readonly groupId: string
  /** Source topics, `market.{asset_class}.{trades|quotes}.{exchange}` and `reference.instruments.{exchange}`. */
  readonly topics: ReadonlyArray<string>
  /** Flush when this many rows are buffered... */
  readonly flushRows: number
  /** ...or this many bytes (estimated)... */
  readonly flushBytes: number
  /** ...or this long after the last flush, whichever comes first. */
  readonly commitIntervalMs: number
  /** Partition actors wait while this many rows wait for a flush (backpressure; bounds memory). */
  readonly maxBufferedRows: number
  /** Batches queued per partition actor. */
  readonly mailbox: number
  /** Group session timeout: how soon a silent member's partitions move to another. */
  readonly sessionTimeoutMs: number
  /**
   * A flush that found no sequence anomalies commits sequence_events (its marker and the tracker
   * checkpoints) only this long after the last one: a restart re-reads at most this much to
   * rebuild tracker state, and the flushes between commit only the data tables.
   */
  readonly checkpointIntervalMs: number
}

export const defaultIngestConfig: Omit<IngestConfig, "topics"> = {
  groupId: DEFAULT_INGEST_GROUP,
  flushRows: 15_000,
  flushBytes: 128 * 1024 * 1024,
  commitIntervalMs: 1_000,
  // With one batch per mailbox and 256 KB fetches (the Kafka layers' defaults), these keep the
  // live heap within package.json's V8 old space whatever the backlog (docs/benchmarks.md, "peak
  // RSS"). Three flushes' worth: actors keep decoding while a flush writes its files.
  maxBufferedRows: 45_000,
  mailbox: 1,
  sessionTimeoutMs: 30_000,
  checkpointIntervalMs: 10_000
}

/** Sources number trades and quotes: those tables go through a sequence tracker. */
type TrackedTable = "trades" | "quotes"
/** The tables a partition feeds. */
type DataTable = TrackedTable | "instruments"
type Row = TradeRow | QuoteRow | InstrumentRow

const TABLE_OF_KIND = { trade: "trades", quote: "quotes", instrument: "instruments" } as const

/** An empty buffer for a table's rows (a partition feeds one table). */
const rowsFor = (table: DataTable): RowBuffer<Row> =>
  (table === "trades" ? tradeRows() : table === "quotes" ? quoteRows() : instrumentRows()) as RowBuffer<Row>

const SEQUENCE_EVENTS = identifierOf("sequence_events")

/** Summary key of one partition's tracker checkpoint (a side file; DESIGN.md step 2). */
const checkpointKey = (group: string, key: TpKey) => `k2.sequence.checkpoint.${group}.${key}`

/** A rough size of a row in a data file buffer, for the byte threshold. */
const ROW_BYTES = 160

/** Batches a flush span links to (OpenTelemetry's default limit is 128 links per span). */
const MAX_FLUSH_LINKS = 64

interface PartitionState {
  readonly tp: TopicPartition
  readonly key: TpKey
  readonly table: DataTable
  /** Records below this are in the data table. */
  tableMark: bigint
  /** Records below this are in sequence_events (and in the tracker's checkpoint); the tableMark for instruments. */
  sequenceMark: bigint
  /** The next offset to process: rows below it are buffered or committed. */
  next: bigint
  rows: RowBuffer<Row>
  events: Array<SequenceEvent>
  /** Streams of this partition: what its checkpoint holds. */
  readonly streams: StreamSet
  lag: bigint
  /** Consumer spans of the batches buffered since the last flush (tracing on; at most MAX_LINKS). */
  spans: Array<Tracer.Span>
  /**
   * Restarting from the tables: its buffer lost rows (a failed flush), so nothing more is taken
   * into it or committed from it until the restart replaces it.
   */
  retired: boolean
}

/** What one flush commits for one partition. */
interface Taken {
  readonly part: PartitionState
  readonly rows: RowBuffer<Row>
  readonly events: ReadonlyArray<SequenceEvent>
  readonly tableMark: bigint
  readonly sequenceMark: bigint
  readonly next: bigint
  /** The tracker checkpoint at `next`, when this flush commits sequence_events. */
  readonly checkpoint: string | undefined
  readonly spans: ReadonlyArray<Tracer.Span>
}

/** A record for the DLQ, with why. */
interface Poison {
  readonly offset: bigint
  readonly reason: string
  readonly detail: string
  readonly key: string | null
  readonly value: Uint8Array | null
  readonly headers: Record<string, string>
}

/** The flush span: in the trace of the first batch it commits, linked to the others. */
const flushSpanOptions = (taken: ReadonlyArray<Taken>): Tracer.SpanOptionsNoTrace => {
  let rows = 0
  for (const t of taken) rows += t.rows.size
  const attributes = { "k2.flush.partitions": taken.length, "k2.flush.rows": rows }
  const batches = taken.flatMap((t) => t.spans).slice(0, MAX_FLUSH_LINKS)
  if (batches.length === 0) return { attributes }
  return { attributes, parent: batches[0]!, links: batches.slice(1).map((span) => ({ span, attributes: {} })) }
}

/**
 * Runs `effect` without yielding to other fibers and without interruption: a partition's state,
 * its tracker streams and its buffer change together, never half-seen by the flusher, an actor or
 * a restart. Only for effects that do no I/O (they would yield anyway).
 */
const atomically = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  effect.pipe(Effect.provideService(Scheduler.PreventSchedulerYield, true), Effect.uninterruptible)

/** What the tracker would say of rows it does not track. */
const untracked: Observation = { duplicates: [], events: [] }

/** Occurrences by key, for labelled counters. */
const countBy = <A>(items: ReadonlyArray<A>, key: (a: A) => string): Array<[string, number]> => {
  const counts = new Map<string, number>()
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1)
  return [...counts]
}

const lagGauge = (tp: TopicPartition) =>
  Metric.withAttributes(Metrics.consumerLag, { topic: tp.topic, partition: String(tp.partition) })

/** The metrics of one committed table snapshot (DataFile sizes are the Parquet files written). */
const committedMetrics = (table: Metrics.IngestTable, rows: number, outcome: CommitOutcome, started: number) =>
  Effect.gen(function*() {
    const t = { table }
    let bytes = 0
    for (const f of outcome.files) bytes += f.fileSizeInBytes
    yield* Metric.update(Metric.withAttributes(Metrics.recordsWritten, t), rows)
    yield* Metric.update(Metric.withAttributes(Metrics.bytesWritten, t), bytes)
    yield* Metric.update(Metric.withAttributes(Metrics.filesWritten, t), outcome.files.length)
    yield* Metric.update(Metric.withAttributes(Metrics.commits, t), 1)
    yield* Metric.update(Metric.withAttributes(Metrics.commitDuration, t), (performance.now() - started) / 1000)
    if (outcome.attempts > 1) yield* Metric.update(Metrics.commitConflicts, outcome.attempts - 1)
  })

export interface IngestorDeps {
  readonly codec: WireCodec
  /** One tracker per table: trades and quotes are numbered separately by their sources. */
  readonly trackers: Readonly<Record<TrackedTable, SequenceTracker["Service"]>>
  /**
   * With a schema registry: its by-id lookup, for records framed with ids the codec does not
   * know (other versions of our schemas). Without, only the codec's ids decode.
   */
  readonly resolveSchema?: WriterSchemas.ResolveSchema
}

export const make = Effect.fnUntraced(function*(config: IngestConfig, deps: IngestorDeps) {
  const source = yield* KafkaSource
  const producer = yield* KafkaSink
  const sink = yield* IcebergSink
  const catalog = yield* Catalog
  const files = yield* FileIO
  const { codec, trackers } = deps
  const group = config.groupId
  const writerSchemas = deps.resolveSchema === undefined ? undefined : WriterSchemas.make(codec, deps.resolveSchema)

  const tableOfTopic = new Map<string, DataTable>()
  for (const topic of config.topics) {
    const table = parseTopicName(topic)?.dataType ?? (parseInstrumentsTopicName(topic) === undefined ? undefined : "instruments")
    if (table === undefined) return yield* Effect.die(new Error(`not a market data or instruments topic: ${topic}`))
    tableOfTopic.set(topic, table)
  }

  const parts = new Map<TpKey, PartitionState>()
  const counters = {
    consumed: 0,
    written: { trades: 0, quotes: 0, instruments: 0, sequence_events: 0 },
    deadLettered: 0,
    alreadyIngested: 0,
    duplicatesDropped: 0,
    commits: 0,
    restarts: 0,
    waitedForRoomMs: 0
  }
  /** Newest exchange_timestamp (us) committed by this process, for the freshness gauge. */
  let newestCommitted = -1
  yield* Metrics.registerIngestSeries
  // NaN while no partition is owned: the age of what this process once committed would keep
  // growing after a rebalance took its partitions away, and alert for tables it no longer feeds.
  yield* Metrics.registerGauge(Metrics.freshness, () =>
    newestCommitted < 0 || parts.size === 0 ? Number.NaN : Math.max(0, Date.now() / 1000 - newestCommitted / 1e6))
  yield* Metrics.registerGauge(Metrics.assignedPartitions, () => parts.size)
  yield* Metrics.registerCounter(Metrics.backpressure, () => counters.waitedForRoomMs / 1000)
  const statsOf = () => {
    let streams = 0
    let evictions = 0
    for (const t of new Set([trackers.trades, trackers.quotes])) {
      const st = Effect.runSync(t.stats)
      streams += st.streams
      evictions += st.evictions
    }
    return { streams, evictions }
  }
  yield* Metrics.registerGauge(Metrics.sequenceTrackerStreams, () => statsOf().streams)
  yield* Metrics.registerCounter(Metrics.sequenceTrackerEvictions, () => statsOf().evictions)
  const flushLock = yield* Semaphore.make(1)
  const lastFlush = yield* Ref.make(0)

  const buffered = () => {
    let rows = 0
    for (const p of parts.values()) rows += p.rows.size + p.events.length
    return rows
  }
  /** Records of batches being processed now: counted with the buffers, so that actors which
   * pass the room check together cannot overshoot it by a batch each. */
  let inProcess = 0
  /** Whether `records` more rows fit. A batch larger than the whole budget still goes through, alone. */
  const fits = (records: number) => {
    const load = buffered() + inProcess
    return load === 0 || load + records <= config.maxBufferedRows
  }
  /**
   * Runs `use` once the buffers have room for `records` more rows (the flusher empties them). The
   * wait is the backpressure: time in it means the flushes, not Kafka, set the pace.
   */
  const withRoom = <A, E, R>(records: number, use: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Clock.clockWith((clock) =>
      Effect.suspend(() => {
        // The release is in place before the room is taken, and it gives back only what was
        // taken: an interruption at any point cannot leak room. Check and take are one step.
        let taken = 0
        const take = Effect.sync(() => {
          if (!fits(records)) return false
          inProcess += records
          taken = records
          return true
        })
        const since = clock.currentTimeMillisUnsafe()
        const waitForRoom = take.pipe(
          Effect.delay("5 millis"),
          Effect.repeat({ until: (admitted) => admitted }),
          Effect.tap(() => Effect.sync(() => void (counters.waitedForRoomMs += clock.currentTimeMillisUnsafe() - since)))
        )
        return take.pipe(
          Effect.flatMap((admitted) => admitted ? use : Effect.andThen(waitForRoom, use)),
          Effect.ensuring(Effect.sync(() => void (inProcess -= taken)))
        )
      })
    )

  // ---------------------------------------------------------------------------------------
  // Markers and checkpoints, read from the tables

  const markersOf = Effect.fnUntraced(function*(tps: ReadonlyArray<TopicPartition>) {
    const tablesNeeded = new Set(tps.map((tp) => tableOfTopic.get(tp.topic)!))
    const data = new Map<DataTable, Offsets | undefined>()
    for (const t of tablesNeeded) {
      data.set(t, markerIn((yield* catalog.loadTable(identifierOf(t))).metadata, group)?.offsets)
    }
    const sequenceTable = (yield* catalog.loadTable(SEQUENCE_EVENTS)).metadata
    const sequenceMarker = markerIn(sequenceTable, group)
    return { data, sequence: sequenceMarker }
  })

  /**
   * (Re)starts partitions from the tables: marks, tracker state, and where to read from. What
   * the tables hold is read first; then every partition's state is replaced at once, so an actor
   * holding the old state can tell (`parts.get(key) !== part`) and feeds nothing to the tracker.
   */
  const startFromTables = Effect.fnUntraced(function*(
    tps: ReadonlyArray<TopicPartition>,
    replacing?: ReadonlyMap<TpKey, PartitionState>
  ) {
    const markers = yield* markersOf(tps)
    const checkpoints = new Map<TpKey, { readonly file: string; readonly json: string }>()
    for (const tp of tps) {
      const file = markers.sequence?.snapshot.summary[checkpointKey(group, tpKeyOf(tp))]
      if (file === undefined || tableOfTopic.get(tp.topic) === "instruments") continue
      checkpoints.set(tpKeyOf(tp), { file, json: new TextDecoder().decode(yield* files.read(file)) })
    }
    return yield* atomically(install(tps, markers, checkpoints, replacing))
  })

  const install = Effect.fnUntraced(function*(
    tps: ReadonlyArray<TopicPartition>,
    markers: Effect.Success<ReturnType<typeof markersOf>>,
    checkpoints: ReadonlyMap<TpKey, { readonly file: string; readonly json: string }>,
    replacing: ReadonlyMap<TpKey, PartitionState> | undefined
  ) {
    const starts = new Map<TpKey, bigint>()
    const installing = new Set(tps.map(tpKeyOf))
    const restoredFrom = newestCheckpoints(tps.flatMap((tp) => {
      const checkpoint = checkpoints.get(tpKeyOf(tp))
      return checkpoint === undefined ? [] : [{ key: tpKeyOf(tp), table: tableOfTopic.get(tp.topic)!, json: checkpoint.json }]
    }))
    for (const tp of tps) {
      const key = tpKeyOf(tp)
      // A restart installs only over the state it retired: a revoke or a new assignment that came
      // while it read the tables owns the partition now (and its start position).
      if (replacing !== undefined && parts.get(key) !== replacing.get(key)) continue
      const table = tableOfTopic.get(tp.topic)!
      const tableMark = offsetOf(markers.data.get(table) ?? new Map(), tp.topic, tp.partition) ?? 0n
      if (table === "instruments") {
        // Not tracked: sequence_events holds no mark or checkpoint of this partition.
        parts.set(key, { tp, key, table, tableMark, sequenceMark: tableMark, next: tableMark, rows: rowsFor(table), events: [], streams: new StreamSet(), lag: 0n, spans: [], retired: false })
        starts.set(key, tableMark)
        continue
      }
      const sequenceMark = markers.sequence === undefined
        ? 0n
        : offsetOf(markers.sequence.offsets, tp.topic, tp.partition) ?? 0n
      const previous = parts.get(key)
      const tracker = trackers[table]
      if (previous !== undefined && previous.streams.size > 0) {
        yield* tracker.forget((exchange, symbol) => previous.streams.has(exchange, symbol))
      }
      const streams = new StreamSet()
      const checkpoint = checkpoints.get(key)
      if (checkpoint !== undefined) {
        // A stream another partition carries now is its own: this checkpoint's state of it is old.
        const mine = (exchange: string, symbol: string) =>
          restoredFrom(table, exchange, symbol) === key && ownerOf(parts.values(), table, exchange, symbol, (k) => installing.has(k)) === undefined
        yield* tracker.restore(checkpoint.json, mine).pipe(
          Effect.catch((e) => Effect.logWarning(`sequence checkpoint ${checkpoint.file} ignored: ${e.message}`))
        )
        for (const [exchange, symbol] of checkpointStreams(checkpoint.json)) if (mine(exchange, symbol)) streams.add(exchange, symbol)
      }
      // sequence_events is committed after the data tables, so its mark is never ahead of theirs.
      const next = sequenceMark < tableMark ? sequenceMark : tableMark
      // The lag is the partition's, not this state's: kept until the next batch says otherwise.
      parts.set(key, { tp, key, table, tableMark, sequenceMark, next, rows: rowsFor(table), events: [], streams, lag: previous?.lag ?? 0n, spans: [], retired: false })
      starts.set(key, next)
    }
    return starts
  })

  // ---------------------------------------------------------------------------------------
  // Partition actors

  /** A batch's poison as dead letters: whole, or `stripped` of its value and source headers (and why). */
  const deadLetters = (batch: PartitionBatch, poison: ReadonlyArray<Poison>, stripped?: string) =>
    poison.map((p): ProducerRecord => ({
      topic: dlqTopicName(batch.topic),
      key: p.key,
      value: stripped === undefined ? p.value : null,
      headers: {
        ...(stripped === undefined ? p.headers : { [Header.dlqStripped]: stripped.slice(0, 1000) }),
        [Header.dlqReason]: p.reason,
        [Header.dlqDetail]: p.detail.slice(0, 1000),
        [Header.dlqSourceTopic]: batch.topic,
        [Header.dlqSourcePartition]: String(batch.partition),
        [Header.dlqSourceOffset]: String(p.offset)
      }
    }))

  const sendDeadLetters = (records: ReadonlyArray<ProducerRecord>) =>
    producer.send(records).pipe(Effect.retry({ schedule: retrySchedule, while: (e) => e.retryable }))

  const deadLetter = (batch: PartitionBatch, poison: ReadonlyArray<Poison>) =>
    poison.length === 0
      ? Effect.void
      : sendDeadLetters(deadLetters(batch, poison)).pipe(
        // A DLQ that refuses the records themselves (too large for it) still gets why and where
        // from: a poison record never stops its partition.
        Effect.catchIf((e) => !e.retryable, (e) => sendDeadLetters(deadLetters(batch, poison, e.message))),
        Effect.tap(() => Effect.sync(() => void (counters.deadLettered += poison.length))),
        Effect.tap(() => Effect.forEach(countBy(poison, (p) => p.reason), ([reason, n]) =>
          Metric.update(Metric.withAttributes(Metrics.deadLetters, { reason }), n), { discard: true }))
      )

  /** `span`: the batch's consumer span when tracing is on, kept for the flush to link. */
  const processBatch = Effect.fnUntraced(function*(batch: PartitionBatch, span: Tracer.Span | undefined) {
    const part = parts.get(tpKeyOf(batch))
    // Nothing new, or fetched for a position beyond this partition's (a batch already routed when
    // the partition restarted from the tables: taking it would skip the records between; the
    // seek brings them, and it, again).
    if (part === undefined || part.retired || batch.nextOffset <= part.next || batch.fromOffset > part.next) return
    if (batch.firstOffset > part.next + 1n) {
      // More than a transaction marker: most likely retention deleted records never ingested.
      yield* Effect.logWarning(
        `${part.key}: offsets ${part.next} to ${batch.firstOffset - 1n} hold nothing to ingest (deleted by retention or compaction, or aborted transactions); going on from ${batch.firstOffset}`
      )
    }
    counters.consumed += batch.records.length
    yield* Metric.update(Metrics.messagesConsumed, batch.records.length)
    const ingestedAt = (yield* Clock.currentTimeMillis) * 1000
    const toTrack: Array<Row> = []
    const poison: Array<Poison> = []
    if (writerSchemas !== undefined) {
      // A registry that cannot be reached is waited out (then the supervisor restarts the
      // partition): its records are not dead-lettered.
      yield* writerSchemas.learn(batch.records, part.next > part.sequenceMark ? part.next : part.sequenceMark)
    }
    yield* Effect.sync(() => decodeInto(batch, part, ingestedAt, toTrack, poison)).pipe(
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
        : yield* trackers[table].observe(toTrack as ReadonlyArray<TradeRow | QuoteRow>)
      counters.duplicatesDropped += observation.duplicates.length
      for (const row of withoutDuplicates(toTrack, observation)) {
        if (row.kafka_offset >= part.tableMark) part.rows.push(row)
        else counters.alreadyIngested++
      }
      for (const e of observation.events) part.events.push(e)
      for (const row of toTrack) if (!part.streams.has(row.exchange, row.symbol)) claim(parts.values(), part, row.exchange, row.symbol)
      part.next = batch.nextOffset
      part.lag = batch.highWatermark - batch.nextOffset
      if (span !== undefined && part.spans.length < KafkaTracing.MAX_LINKS) part.spans.push(span)
      return observation.events
    }))
    if (detected === undefined) return
    yield* Effect.forEach(countBy(detected, (e) => e.kind), ([kind, n]) =>
      Metric.update(Metric.withAttributes(Metrics.sequenceEvents, { kind }), n), { discard: true })
    yield* Metric.update(lagGauge(part.tp), Number(part.lag > 0n ? part.lag : 0n))
  })

  /** Decodes and validates a batch's new records: rows to track, poison to dead-letter. */
  const decodeInto = (
    batch: PartitionBatch,
    part: PartitionState,
    ingestedAt: number,
    toTrack: Array<Row>,
    poison: Array<Poison>
  ) => {
    for (const record of batch.records) {
      if (record.offset < part.next) continue
      if (record.offset < part.sequenceMark) {
        counters.alreadyIngested++
        continue
      }
      const decoded = record.value === null
        ? Result.fail({ _tag: "NotFramed", message: "tombstone (null value)" })
        : codec.decode(record.value)
      const kind = Result.isSuccess(decoded) ? decoded.success.kind : undefined
      if (Result.isFailure(decoded) || TABLE_OF_KIND[kind!] !== part.table) {
        if (record.offset >= part.tableMark) {
          const failure = Result.isFailure(decoded) ? decoded.failure : undefined
          const refusal = failure instanceof UnknownSchemaId ? writerSchemas?.refusal(failure.schemaId) : undefined
          poison.push({
            offset: record.offset,
            reason: failure === undefined ? "WrongTopic" : failure._tag,
            detail: failure === undefined
              ? `a ${kind} on ${batch.topic}`
              : refusal === undefined
              ? failure.message
              : `${failure.message}: ${refusal}`,
            key: record.key,
            value: record.value,
            headers: { ...record.headers }
          })
        }
        continue
      }
      toTrack.push({
        ...decoded.success.value,
        ingestion_timestamp: ingestedAt,
        kafka_topic: batch.topic,
        kafka_partition: batch.partition,
        kafka_offset: record.offset
      } as Row)
    }
  }

  /** One batch in its consumer span, linked to its records' producer spans when tracing is on. */
  const consumeBatch = (batch: PartitionBatch) =>
    Effect.flatMap(KafkaTracing.tracingOn, (on) =>
      Effect.useSpan(`process ${batch.topic}`, {
        kind: "consumer",
        attributes: KafkaTracing.consumeAttributes(batch, group),
        ...(on ? { links: KafkaTracing.producerLinks(batch.records) } : {})
      }, (span) => processBatch(batch, on ? span : undefined).pipe(Effect.withParentSpan(span))))

  // ---------------------------------------------------------------------------------------
  // Flushing

  /** The fence of a commit of `taken` (ADR-6), each partition checked at `mark`. */
  const fenced = (taken: ReadonlyArray<Taken>, mark: (t: Taken) => bigint, table: string) => (base: TableMetadata) =>
    fence(base, group, taken.map((t) => ({ topic: t.part.tp.topic, partition: t.part.tp.partition, from: mark(t), to: t.next })), table)

  const commitTable = Effect.fnUntraced(function*(table: DataTable, taken: ReadonlyArray<Taken>) {
    const mine = taken.filter((t) => t.part.table === table && t.next > t.tableMark)
    if (mine.length === 0) return
    const batch = concatBatches(mine.map((t) => t.rows.columns()))
    const started = performance.now()
    const outcome = yield* sink.append(identifierOf(table), batch, { prepare: fenced(mine, (t) => t.tableMark, table) })
    for (const t of mine) {
      t.part.tableMark = t.next
      if (table === "instruments") t.part.sequenceMark = t.next
    }
    counters.written[table] += batch.rowCount
    counters.commits++
    // Instruments carry no exchange time (newest -1): they do not move the freshness gauge.
    for (const t of mine) if (t.rows.newest > newestCommitted) newestCommitted = t.rows.newest
    yield* committedMetrics(table, batch.rowCount, outcome, started)
  })

  const commitSequenceEvents = Effect.fnUntraced(function*(taken: ReadonlyArray<Taken>) {
    const mine = taken.filter((t) => t.part.table !== "instruments" && t.next > t.sequenceMark)
    if (mine.length === 0) return
    const location = (yield* catalog.loadTable(SEQUENCE_EVENTS)).metadata.location
    const checkpoints: Record<string, string> = {}
    for (const t of mine) {
      const file = `${location}/metadata/k2-sequence-${crypto.randomUUID()}.json`
      yield* files.write(file, new TextEncoder().encode(t.checkpoint ?? ""))
      checkpoints[checkpointKey(group, t.part.key)] = file
    }
    const events = mine.flatMap((t) => t.events)
    const prepare = fenced(mine, (t) => t.sequenceMark, "sequence_events")
    const started = performance.now()
    const outcome = yield* sink.append(SEQUENCE_EVENTS, sequenceEventColumns(events), {
      prepare: (base) => Result.map(prepare(base), (marker) => ({ ...marker, ...checkpoints }))
    })
    for (const t of mine) t.part.sequenceMark = t.next
    counters.written.sequence_events += events.length
    counters.commits++
    yield* committedMetrics("sequence_events", events.length, outcome, started)
  })

  /**
   * Takes every partition's buffer at one instant, with the tracker checkpoints when this flush
   * commits sequence_events: when `due`, or when a buffer holds anomalies (events are only ever
   * committed with a checkpoint).
   */
  const take = (due: boolean) => atomically(Effect.gen(function*() {
    let checkpoints = due
    for (const part of parts.values()) checkpoints ||= part.events.length > 0
    const taken: Array<Taken> = []
    for (const part of parts.values()) {
      if (part.retired || (part.next <= part.sequenceMark && part.next <= part.tableMark)) continue
      const filter = (exchange: string, symbol: string) => part.streams.has(exchange, symbol)
      taken.push({
        part,
        rows: part.rows,
        events: part.events,
        tableMark: part.tableMark,
        sequenceMark: part.sequenceMark,
        next: part.next,
        checkpoint: part.table === "instruments" || !checkpoints ? undefined : yield* trackers[part.table].checkpoint(filter),
        spans: part.spans
      })
      part.rows = rowsFor(part.table)
      part.events = []
      part.spans = []
    }
    return { taken, checkpoints }
  }))

  let lastCheckpoint = 0
  /** Why the last drain left records uncommitted: an interrupted `run` fails with it. */
  let drainFailure: IngestError | undefined

  /**
   * Uninterruptible once started: a drain waits for the flush in flight, then flushes the rest.
   * `final` (the drain) always commits sequence_events, so a clean restart re-reads nothing, and
   * fails when a commit fails: its partitions are let go, not restarted.
   */
  const flushWith = (consumer: Consumer, final = false) =>
    flushLock.withPermits(1)(Effect.uninterruptible(Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      yield* Ref.set(lastFlush, now)
      const { checkpoints, taken } = yield* take(final || now - lastCheckpoint >= config.checkpointIntervalMs)
      if (taken.length === 0) return
      if (checkpoints) lastCheckpoint = now
      yield* commitTaken(consumer, taken, checkpoints, final).pipe(Effect.withSpan("ingest.flush", flushSpanOptions(taken)))
    })))

  const commitTaken = Effect.fnUntraced(function*(
    consumer: Consumer,
    taken: ReadonlyArray<Taken>,
    checkpoints: boolean,
    final: boolean
  ) {
    const committed = yield* Effect.gen(function*() {
      // Each partition feeds one table, so the data tables commit side by side; each commit runs
      // to its end even if another fails, and sequence_events (never ahead of them) comes last.
      const results = yield* Effect.all(
        (["trades", "quotes", "instruments"] as const).map((table) => commitTable(table, taken)),
        { concurrency: "unbounded", mode: "result" }
      )
      for (const result of results) if (Result.isFailure(result)) return yield* Effect.fail(result.failure)
      if (checkpoints) yield* commitSequenceEvents(taken)
      return true
    }).pipe(
      // Whatever failed, the buffers taken are gone: restart those partitions from the tables.
      Effect.catch((error) =>
        final ? Effect.fail(error) : Effect.gen(function*() {
          yield* Effect.logWarning(`flush failed, restarting ${taken.length} partition(s) from the tables: ${error.message}`)
          yield* restart(consumer, taken.map((t) => t.part.tp).filter((tp) => parts.has(tpKeyOf(tp))))
          return false
        })
      )
    )
    if (!committed) return
    yield* Effect.logDebug(`flush committed ${taken.length} partition(s)`)
    yield* consumer.commit(taken.filter((t) => parts.has(t.part.key)).map((t) => ({
      topic: t.part.tp.topic,
      partition: t.part.tp.partition,
      offset: t.next
    }))).pipe(Effect.catch((e) => Effect.logDebug(`group offset commit skipped: ${e.message}`)))
  })

  const restart = Effect.fnUntraced(function*(consumer: Consumer, tps: ReadonlyArray<TopicPartition>) {
    const retiring = new Map<TpKey, PartitionState>()
    for (const tp of tps) {
      const part = parts.get(tpKeyOf(tp))
      if (part === undefined) continue
      part.retired = true
      retiring.set(part.key, part)
    }
    if (retiring.size === 0) return
    counters.restarts += retiring.size
    yield* Metric.update(Metrics.partitionRestarts, retiring.size)
    const retired = [...retiring.values()].map((part) => part.tp)
    const starts = yield* startFromTables(retired, retiring).pipe(Effect.retry({ schedule: retrySchedule, while: isTransient }))
    for (const tp of retired) {
      const start = starts.get(tpKeyOf(tp))
      if (start !== undefined) yield* consumer.seek(tp, start).pipe(Effect.ignore)
    }
  })

  // ---------------------------------------------------------------------------------------

  const runOnce = Effect.scoped(Effect.gen(function*() {
    const reference = [...tableOfTopic.values()].includes("instruments") ? [tables.instruments] : []
    for (const definition of [tables.trades, tables.quotes, tables.sequenceEvents, ...reference]) {
      yield* sink.ensureTable(definition)
    }
    const scope = yield* Effect.scope
    const actors = yield* FiberMap.make<TpKey, never, never>()
    const mailboxes = new Map<TpKey, Queue.Queue<PartitionBatch>>()
    let consumerRef: Consumer | undefined

    const startActor = Effect.fnUntraced(function*(tp: TopicPartition) {
      const key = tpKeyOf(tp)
      const mailbox = yield* Queue.bounded<PartitionBatch>(config.mailbox)
      mailboxes.set(key, mailbox)
      // An actor waiting for room leaves its mailbox full, which stalls the fetch loop upstream.
      const work = Effect.forever(
        Queue.take(mailbox).pipe(Effect.flatMap((batch) => withRoom(batch.records.length, consumeBatch(batch))))
      )
      // The supervisor: past the retry budget a partition pauses, then restarts from the tables'
      // markers after a capped, jittered backoff (a record that keeps failing is retried, not
      // spun on); a restart that fails is retried the same way.
      let failed = false
      const attempt = Effect.gen(function*() {
        if (failed && consumerRef !== undefined) {
          yield* flushLock.withPermits(1)(restart(consumerRef, [tp]))
          yield* consumerRef.resume([tp])
          failed = false
        }
        return yield* work
      })
      const supervised = attempt.pipe(
        Effect.sandbox,
        Effect.tapError((cause) =>
          Effect.gen(function*() {
            if (Cause.hasInterruptsOnly(cause)) return
            yield* Effect.logWarning(`partition ${key} failed, restarting from the tables' markers`, cause)
            failed = true
            if (consumerRef !== undefined) yield* consumerRef.pause([tp])
            yield* Queue.clear(mailbox)
          })
        ),
        Effect.retry({ schedule: backoff, while: (cause) => !Cause.hasInterruptsOnly(cause) }),
        // Only an interruption (a revoke, the run ending) gets past the retry.
        Effect.catch(() => Effect.interrupt)
      )
      yield* FiberMap.run(actors, key, supervised)
    })

    const revoke = Effect.fnUntraced(function*(tps: ReadonlyArray<TopicPartition>) {
      for (const tp of tps) {
        const key = tpKeyOf(tp)
        yield* FiberMap.remove(actors, key)
        yield* Metric.remove(lagGauge(tp))
        // The fetch loop may be waiting to hand this mailbox a batch: shutting it down lets it go on.
        const mailbox = mailboxes.get(key)
        if (mailbox !== undefined) yield* Queue.shutdown(mailbox)
        mailboxes.delete(key)
        const part = parts.get(key)
        if (part !== undefined) {
          if (part.table !== "instruments") yield* trackers[part.table].forget((e, s) => part.streams.has(e, s))
          parts.delete(key)
        }
      }
    })

    const consumer = yield* source.subscribe({
      groupId: group,
      topics: config.topics,
      sessionTimeoutMs: config.sessionTimeoutMs,
      onAssign: (tps) =>
        Effect.gen(function*() {
          // A catalog that stays unreachable fails the subscription, retryable: `run` rejoins.
          const starts = yield* startFromTables(tps).pipe(Effect.retry({ schedule: retrySchedule, while: isTransient }))
          for (const tp of tps) yield* startActor(tp)
          return starts
        }).pipe(Scope.provide(scope)),
      onRevoke: revoke
    })
    consumerRef = consumer
    drainFailure = undefined

    // Registered after the subscription, so it runs before the consumer leaves the group. A
    // consumer that failed revokes nothing itself: what is left is let go here, so that a rejoin
    // starts every partition it gets from the tables.
    yield* Effect.addFinalizer(() =>
      flushWith(consumer, true).pipe(
        Effect.catch((e) =>
          Effect.sync(() => {
            drainFailure = e
          }).pipe(Effect.andThen(Effect.logError(`final flush failed, its records are read again on the next start: ${e.message}`)))
        ),
        Effect.catchCause((c) => Effect.logError("final flush failed", c)),
        Effect.andThen(Effect.suspend(() => revoke([...parts.values()].map((part) => part.tp))))
      )
    )

    const flusher = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const rows = buffered()
      const due = rows >= config.flushRows || rows * ROW_BYTES >= config.flushBytes ||
        now - (yield* Ref.get(lastFlush)) >= config.commitIntervalMs
      if (!due) return
      yield* flushWith(consumer)
    }).pipe(Effect.repeat(Schedule.spaced("20 millis")))
    const flushing = yield* Effect.forkScoped(flusher)

    const fetching = consumer.batches.pipe(
      Stream.runForEach((batch) => {
        const mailbox = mailboxes.get(tpKeyOf(batch))
        return mailbox === undefined ? Effect.void : Queue.offer(mailbox, batch)
      })
    )
    // A flusher that fails (a restart after a failed flush that kept failing) ends the run,
    // which rejoins from the tables: nothing stalls unseen.
    yield* Effect.raceFirst(fetching, Fiber.join(flushing))
  }))

  const progress = Effect.sync((): IngestProgress => {
    let lag = 0n
    let position = 0n
    let uncommitted = 0n
    let unwritten = 0n
    for (const p of parts.values()) {
      lag += p.lag > 0n ? p.lag : 0n
      position += p.next
      const committed = p.tableMark < p.sequenceMark ? p.tableMark : p.sequenceMark
      uncommitted += p.next - committed
      // Replaying what sequence_events has not seen yet puts `next` below the table's mark.
      if (p.next > p.tableMark) unwritten += p.next - p.tableMark
    }
    return {
      ...counters,
      written: { ...counters.written },
      lag: Number(lag),
      partitions: parts.size,
      position: Number(position),
      uncommitted: Number(uncommitted),
      unwritten: Number(unwritten)
    }
  })

  /**
   * A lost broker or catalog is waited out: the subscription is rebuilt from the tables'
   * markers after a capped, jittered backoff, for as long as the fault lasts.
   */
  const run = runOnce.pipe(
    Effect.tapError((e) => Effect.logWarning(`ingestion interrupted by a transient fault, rejoining: ${e.message}`)),
    Effect.retry({ schedule: reconnectSchedule, while: isTransient }),
    Effect.tap(() => Effect.logInfo("ingestion stopped")),
    // Outside the retry, which would turn the failure of an interrupted run into a plain interrupt.
    Effect.onExit((exit) => Exit.hasInterrupts(exit) && drainFailure !== undefined ? Effect.fail(drainFailure) : Effect.void)
  )

  return Ingestor.of({ run, progress })
})

/** Capped, jittered exponential backoff. */
const backoff = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("5 seconds")]).pipe(Schedule.jittered)

/** Transient faults: the backoff, then the failure goes up. */
const retrySchedule = backoff.pipe(Schedule.upTo({ times: 8 }))

const reconnectSchedule = Schedule.min([Schedule.exponential("500 millis"), Schedule.spaced("10 seconds")]).pipe(
  Schedule.jittered
)

/**
 * Faults that pass: the broker or the catalog is unreachable for a while (also when met by the
 * assignment callback, which the consumer reports as CallbackFailed).
 */
const isTransient = (e: IngestError): boolean =>
  e._tag === "KafkaError"
    ? e.reason._tag === "CallbackFailed"
      ? (e.reason.cause instanceof KafkaError || e.reason.cause instanceof CatalogError) && isTransient(e.reason.cause)
      : e.retryable
    : e._tag === "CatalogError" && (e.reason._tag === "CatalogUnavailable" || e.reason._tag === "CommitStateUnknown")

export const layer = (config: IngestConfig, deps: IngestorDeps) => Layer.effect(Ingestor)(make(config, deps))
