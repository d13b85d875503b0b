/**
 * The ingest counters count what their names say: a commit retried because the catalog did not
 * answer is not a lost compare-and-swap, and a sequence event found again after a restart is
 * one event.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Metric, Schedule } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { SequenceEventKind } from "../../../src/domain/reference.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import { committedMetrics } from "../../../src/layers/ingest/ingestMetrics.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import * as Metrics from "../../../src/layers/telemetry/metrics.ts"
import { Catalog, catalogError, CatalogUnavailable, CommitStateUnknown } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { ASX_TOPICS, ingestorOver, ingestUntil, tradeRecords } from "../../support/memoryFeed.ts"
import { lakehouseRefusingCommits, lakehouseWrapping, warehouseOptions } from "../../support/warehouse.ts"
import { parseExposition } from "./opsMetrics.ts"

const valueOf = (text: string, name: string, labels: Record<string, string> = {}) =>
  parseExposition(text).series.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value

describe("ingest counters", () => {
  it.effect("every sequence event kind the tracker writes is registered at 0 before traffic (GAP_FILLED was not)", () =>
    Effect.gen(function*() {
      yield* Metrics.registerIngestSeries
      const text = yield* PrometheusMetrics.format()
      for (const kind of SequenceEventKind.literals) assert.strictEqual(valueOf(text, "k2_sequence_events_total", { kind }), "0", kind)
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("every dead-letter reason and every table ingest writes is registered at 0 before traffic", () =>
    Effect.gen(function*() {
      yield* Metrics.registerIngestSeries
      const text = yield* PrometheusMetrics.format()
      // The decoder's poison reasons, and a record on a topic of another kind (batchIntake's WrongTopic).
      for (const reason of ["NotFramed", "Undecodable", "UnknownSchemaId", "SchemaInvalid", "WrongTopic"]) {
        assert.strictEqual(valueOf(text, "k2_ingest_dead_letters_total", { reason }), "0", reason)
      }
      for (const { name: table } of Object.values(tables)) {
        for (const name of ["k2_ingest_records_written_total", "k2_ingest_bytes_written_total", "k2_ingest_files_written_total", "k2_ingest_commits_total"]) {
          assert.strictEqual(valueOf(text, name, { table }), "0", `${name} ${table}`)
        }
      }
      assert.strictEqual(valueOf(text, "k2_ingest_commit_conflicts_total"), "0")
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

  it.live("the sequence trackers' counters are registered at 0 by the ingestor, before traffic", () =>
    Effect.gen(function*() {
      yield* Ingestor
      const text = yield* PrometheusMetrics.format()
      assert.strictEqual(valueOf(text, "k2_sequence_tracker_evictions_total"), "0")
      for (const reason of ["reset", "limit"]) assert.strictEqual(valueOf(text, "k2_sequence_gaps_given_up_total", { reason }), "0", reason)
      for (const reason of ["damaged", "missing", "ahead", "released"]) {
        assert.strictEqual(valueOf(text, "k2_sequence_checkpoint_ignored_total", { reason }), "0", reason)
      }
    }).pipe(
      Effect.provide(ingestorOver({ kafka: KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker()), lakehouse: warehouseOptions("sqlite") })),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ))

  it.live("gaps the trackers give up beyond K2_SEQUENCE_MAX_GAPS open ranges a stream are counted under reason limit", () => {
    const topic = ASX_TOPICS[0]!
    const ingestor = ingestorOver({
      kafka: KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker()),
      lakehouse: warehouseOptions("sqlite"),
      settings: { topics: [topic], commitIntervalMs: 100 },
      trackers: { maxGaps: 2 }
    })
    // Sequences 1, 3, 5, 7, 9 of one stream: four gaps (2, 4, 6, 8), of which two ranges stay open.
    const trades = makeTrades({ count: 9, symbols: ["XYZ"], days: 0.01 }).filter((_, i) => i % 2 === 0)
    return Effect.gen(function*() {
      yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([topic], 1)!)
      yield* (yield* KafkaSink).send(tradeRecords(trades))
      const progress = yield* ingestUntil((p) => p.position === 5 && p.unwritten === 0)
      assert.strictEqual(progress.written.trades, 5)
      const text = yield* PrometheusMetrics.format()
      assert.strictEqual(valueOf(text, "k2_sequence_events_total", { kind: "GAP" }), "4")
      assert.strictEqual(valueOf(text, "k2_sequence_gaps_given_up_total", { reason: "limit" }), "2")
      assert.strictEqual(valueOf(text, "k2_sequence_gaps_given_up_total", { reason: "reset" }), "0")
    }).pipe(
      Effect.provide(ingestor),
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
  }, 60_000)

  // The tracker judges again what a restart reads again (to rebuild its state, or to buffer it again):
  // what it gave up or evicted then was counted the first time.
  it.live("gaps given up and streams evicted are counted once when a restart from the tables reads their records again", () => {
    const topic = ASX_TOPICS[0]!
    // The first sequence_events commit fails after the trades commit landed: the partition restarts
    // from the tables and reads its records again from sequence_events' mark.
    let failuresLeft = 1
    const lake = lakehouseRefusingCommits({ ...warehouseOptions("sqlite"), sink: { maxCommitAttempts: 1 } }, (table) => table === "sequence_events" && failuresLeft-- > 0)
    const ingestor = ingestorOver({
      kafka: KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker()),
      lakehouse: lake,
      settings: { topics: [topic], flushRows: 6, commitIntervalMs: 600_000 },
      trackers: { maxGaps: 2, capacity: 1 }
    })
    // XYZ 1, 3, 5, 7, 9: four gaps, two ranges given up (limit); then ABC 1 evicts XYZ.
    const trades = [
      ...makeTrades({ count: 9, symbols: ["XYZ"], days: 0.01 }).filter((_, i) => i % 2 === 0),
      ...makeTrades({ count: 1, symbols: ["ABC"], days: 0.01, offsetBase: 100 })
    ]
    return Effect.gen(function*() {
      yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([topic], 1)!)
      yield* (yield* KafkaSink).send(tradeRecords(trades))
      const ing = yield* Ingestor
      const fiber = yield* Effect.forkChild(ing.run)
      yield* ing.progress.pipe(Effect.repeat({
        schedule: Schedule.spaced("20 millis"),
        until: (p) => p.restarts > 0 && p.alreadyIngested >= 6 && p.position === 6 && p.lag === 0
      }))
      yield* Fiber.interrupt(fiber)
      const progress = yield* ing.progress
      assert.strictEqual(progress.written.trades, 6)
      const text = yield* PrometheusMetrics.format()
      assert.strictEqual(valueOf(text, "k2_sequence_events_total", { kind: "GAP" }), "4")
      assert.strictEqual(valueOf(text, "k2_sequence_gaps_given_up_total", { reason: "limit" }), "2")
      assert.strictEqual(valueOf(text, "k2_sequence_tracker_evictions_total"), "1")
    }).pipe(
      Effect.provide(ingestor),
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
  }, 60_000)

  it.live("a commit retried after the catalog did not answer counts no conflict; one that lost the swap counts one", () => {
    const faults = { unavailable: 0, conflicting: 0 }
    let otherWriter: IcebergSink["Service"] | undefined
    const lake = lakehouseWrapping(warehouseOptions("sqlite"), (catalog) =>
      Catalog.of({
        ...catalog,
        commitTable: (id, requirements, updates) =>
          Effect.gen(function*() {
            if (faults.unavailable > 0) {
              faults.unavailable--
              return yield* Effect.fail(catalogError(new CatalogUnavailable({ detail: "connection refused" })))
            }
            if (faults.conflicting > 0) {
              // Another writer commits between this writer's load and its swap.
              faults.conflicting--
              yield* Effect.orDie(otherWriter!.append(tables.trades, tradeColumns(makeTrades({ count: 5, offsetBase: 1_000 }))))
            }
            return yield* catalog.commitTable(id, requirements, updates)
          })
      }))
    return Effect.gen(function*() {
      yield* Metrics.registerIngestSeries
      const sink = yield* IcebergSink
      otherWriter = sink
      yield* sink.ensureTable(tables.trades)
      faults.unavailable = 1
      const retried = yield* sink.append(tables.trades, tradeColumns(makeTrades({ count: 10 })))
      assert.strictEqual(retried.attempts, 2)
      yield* committedMetrics("trades", 10, retried, performance.now())
      assert.strictEqual(valueOf(yield* PrometheusMetrics.format(), "k2_ingest_commit_conflicts_total"), "0")

      faults.conflicting = 1
      const conflicted = yield* sink.append(tables.trades, tradeColumns(makeTrades({ count: 10, offsetBase: 10 })))
      yield* committedMetrics("trades", 10, conflicted, performance.now())
      assert.strictEqual(valueOf(yield* PrometheusMetrics.format(), "k2_ingest_commit_conflicts_total"), "1")
      // The snapshots the table keeps after the last commit: the two appends and the other writer's.
      assert.strictEqual(valueOf(yield* PrometheusMetrics.format(), "k2_ingest_table_snapshots", { table: "trades" }), "3")
    }).pipe(
      Effect.provide(lake),
      // A registry of its own: other tests' series are not these.
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
  })

  it.live("a sequence event found again when its partition restarts after a failed commit counts once, as it is written once", () => {
    const topic = ASX_TOPICS[0]!
    // The first sequence_events commit fails: the partition restarts from the tables and reads its
    // records again from sequence_events' mark, finding the same duplicate again.
    let failuresLeft = 1
    const lake = lakehouseRefusingCommits({ ...warehouseOptions("sqlite"), sink: { maxCommitAttempts: 1 } }, (table) => table === "sequence_events" && failuresLeft-- > 0)
    const ingestor = ingestorOver({
      kafka: KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker()),
      lakehouse: lake,
      settings: { topics: [topic], flushRows: 60, commitIntervalMs: 600_000 }
    })
    const trades = makeTrades({ count: 60, symbols: ["XYZ"], days: 0.01 })
    return Effect.gen(function*() {
      yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([topic], 1)!)
      // 60 trades and a duplicate of the last: one DUPLICATE event.
      yield* (yield* KafkaSink).send(tradeRecords([...trades, trades[59]!]))
      const ing = yield* Ingestor
      const fiber = yield* Effect.forkChild(ing.run)
      yield* ing.progress.pipe(Effect.repeat({
        schedule: Schedule.spaced("20 millis"),
        until: (p) => p.restarts > 0 && p.alreadyIngested >= 61 && p.position === 61 && p.lag === 0
      }))
      // The drain commits sequence_events.
      yield* Fiber.interrupt(fiber)
      const progress = yield* ing.progress
      assert.strictEqual(progress.written.sequence_events, 1)
      const text = yield* PrometheusMetrics.format()
      assert.strictEqual(valueOf(text, "k2_sequence_events_total", { kind: "DUPLICATE" }), "1")
      assert.strictEqual(valueOf(text, "k2_ingest_records_written_total", { table: "sequence_events" }), "1")
    }).pipe(
      Effect.provide(ingestor),
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
  }, 60_000)

  it.live("a commit that landed though its answer was lost counts its rows as written: the summary matches the table", () => {
    const topic = ASX_TOPICS[0]!
    // The first trades commit lands, and its answer is lost (a timeout): with one attempt a commit,
    // the flush fails with an unknown outcome, and the partition restarts from the tables.
    let lost = 1
    const lake = lakehouseWrapping({ ...warehouseOptions("sqlite"), sink: { maxCommitAttempts: 1 } }, (catalog) =>
      Catalog.of({
        ...catalog,
        commitTable: (id, requirements, updates) =>
          catalog.commitTable(id, requirements, updates).pipe(Effect.tap(() =>
            id.name === "trades" && lost-- > 0
              ? Effect.fail(catalogError(new CommitStateUnknown({ table: id.name, detail: "injected: the answer was lost" })))
              : Effect.void
          ))
      }))
    const ingestor = ingestorOver({
      kafka: KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker()),
      lakehouse: lake,
      settings: { topics: [topic], flushRows: 60, commitIntervalMs: 600_000 }
    })
    const trades = makeTrades({ count: 60, symbols: ["XYZ"], days: 0.01 })
    return Effect.gen(function*() {
      yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([topic], 1)!)
      yield* (yield* KafkaSink).send(tradeRecords(trades))
      const ing = yield* Ingestor
      const fiber = yield* Effect.forkChild(ing.run)
      yield* ing.progress.pipe(Effect.repeat({
        schedule: Schedule.spaced("20 millis"),
        until: (p) => p.restarts > 0 && p.position === 60 && p.lag === 0 && p.unwritten === 0
      }))
      yield* Fiber.interrupt(fiber)
      const progress = yield* ing.progress
      // The restart found the rows in the table (its marker past them): they were written once, by this run.
      assert.strictEqual(progress.written.trades, 60)
      assert.strictEqual(valueOf(yield* PrometheusMetrics.format(), "k2_ingest_records_written_total", { table: "trades" }), "60")
      const table = yield* (yield* Catalog).loadTable(tables.trades)
      assert.strictEqual(table.metadata.snapshots.length, 1)
    }).pipe(
      Effect.provide(ingestor),
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
  }, 60_000)

  it.live("a run that fails on a fault it waits out and rejoins is counted: its partitions and their lag series are gone meanwhile", () => {
    const topic = ASX_TOPICS[0]!
    // The catalog cannot be reached for the first second: each run fails at its start and rejoins.
    const downUntil = Date.now() + 1_000
    const lake = lakehouseWrapping(warehouseOptions("sqlite"), (catalog) =>
      Catalog.of({
        ...catalog,
        namespaceExists: (namespace) =>
          Date.now() < downUntil
            ? Effect.fail(catalogError(new CatalogUnavailable({ detail: "injected outage" })))
            : catalog.namespaceExists(namespace)
      }))
    const ingestor = ingestorOver({
      kafka: KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker()),
      lakehouse: lake,
      settings: { topics: [topic], commitIntervalMs: 100 }
    })
    const trades = makeTrades({ count: 20, symbols: ["XYZ"], days: 0.01 })
    return Effect.gen(function*() {
      yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([topic], 1)!)
      yield* (yield* KafkaSink).send(tradeRecords(trades))
      const ing = yield* Ingestor
      const fiber = yield* Effect.forkChild(ing.run)
      yield* ing.progress.pipe(Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (p) => p.written.trades === 20 }))
      yield* Fiber.interrupt(fiber)
      const retries = Number(valueOf(yield* PrometheusMetrics.format(), "k2_ingest_run_retries_total"))
      assert.isAtLeast(retries, 1)
    }).pipe(
      Effect.provide(ingestor),
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
  }, 60_000)
})
