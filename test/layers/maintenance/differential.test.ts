/**
 * Maintenance never changes an answer: seeded random runs of appends (some carrying ingest
 * markers, sequence_events with checkpoint side files), compactions (some with an append landing
 * between the compaction's plan and its commit), expiries at small retention and orphan removal on
 * trades, quotes and sequence_events, checked after every step against a model of the rows appended:
 * the latest snapshot's rows, every retained snapshot's rows and bars as they were when it was
 * current (by id and as of its commit), each group's newest marker, and the files on disk.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Layer } from "effect"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import type { TableMetadata } from "../../../src/domain/iceberg/spec.ts"
import { markerKey } from "../../../src/domain/ingest/marker.ts"
import { quoteColumns, tradeColumns } from "../../../src/domain/rows.ts"
import { sequenceEventColumns } from "../../../src/domain/sequence/events.ts"
import { tables } from "../../../src/domain/tables.ts"
import type { DuckDb } from "../../../src/layers/duckdb/DuckDb.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import { checkpointKey } from "../../../src/layers/ingest/tableCommits.ts"
import * as MaintenanceLayer from "../../../src/layers/maintenance/maintenance.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { Catalog, type TableIdentifier } from "../../../src/services/Catalog.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { tpKey } from "../../../src/services/KafkaSource.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { type SnapshotSelector, TableScanner } from "../../../src/services/TableScanner.ts"
import { afterLoad, disarmLoad, maintenanceLayer, racingStorage } from "../../support/maintenanceRace.ts"
import { markerIn } from "../../support/marker.ts"
import { DAY, genQuotes, genTrades, T0 } from "../query/data.ts"

const SEEDS = [11, 23, 37]
const STEPS = 40
const GROUPS = ["g1", "g2"]
const TOPIC = "t"
const HOUR_MS = 3_600_000
const RANGE = { from: T0, to: T0 + 4 * DAY }

const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

type Kind = "trades" | "quotes" | "sequence_events"
const KINDS: ReadonlyArray<Kind> = ["trades", "quotes", "sequence_events"]
const idOf = (kind: Kind): TableIdentifier => ({ namespace: "market_data", name: kind })
/** The column each row's fingerprint carries besides its identity, and its decimal scale. */
const VALUE: Record<Kind, { column: string; scale: number }> = {
  trades: { column: "price", scale: 8 },
  quotes: { column: "bid_price", scale: 8 },
  sequence_events: { column: "gap_size", scale: 0 }
}

/** As DuckDB prints the column as VARCHAR. */
const show = (v: unknown, scale: number) => {
  if (v === null || v === undefined) return "NULL"
  if (scale === 0) return String(v)
  const s = (v as bigint).toString().padStart(scale + 1, "0")
  return `${s.slice(0, -scale)}.${s.slice(-scale)}`
}

/** One row as the model holds it and the fingerprint query prints it. */
const fingerprints = (kind: Kind, batch: ColumnBatch) => {
  const c = batch.columns
  const { column, scale } = VALUE[kind]
  const out: Array<string> = []
  for (let i = 0; i < batch.rowCount; i++) {
    out.push(`${c.message_id![i]}|${c.exchange_timestamp![i]}|${c.kafka_offset![i]}|${show(c[column]![i], scale)}`)
  }
  return out
}

const FINGERPRINT_SQL = (kind: Kind) =>
  `message_id || '|' || epoch_us(exchange_timestamp) || '|' || coalesce(kafka_offset::VARCHAR, 'NULL') || '|' || coalesce(${VALUE[kind].column}::VARCHAR, 'NULL') AS f`

const genEvents = (count: number, r: () => number, days: number, offsetBase: number) =>
  sequenceEventColumns(Array.from({ length: count }, (_, i) => {
    const ts = T0 + Math.floor(r() * days * DAY)
    return {
      detected_at: ts + 1_000,
      symbol: ["BHP", "CBA", "IBM"][Math.floor(r() * 3)]!,
      exchange: "ASX",
      kind: "GAP" as const,
      expected: BigInt(i + 1),
      received: BigInt(i + 3),
      gap_size: r() < 0.1 ? null : BigInt(1 + Math.floor(r() * 9)),
      exchange_timestamp: ts,
      message_id: `e-${offsetBase + i}`,
      kafka_topic: TOPIC,
      kafka_partition: 0,
      kafka_offset: BigInt(offsetBase + i)
    }
  }))

interface Answer {
  readonly rows: string
  readonly bars: string
}

interface TableModel {
  readonly kind: Kind
  readonly id: TableIdentifier
  /** The multiset of rows appended so far, as fingerprints. */
  rows: Array<string>
  /** What each snapshot answered when it was current. */
  readonly answers: Map<bigint, Answer>
  /** The answer of the newest state appended: compaction's replaces answer the same. */
  latest: Answer | undefined
  /** Next offset per group: the newest marker each group committed. */
  readonly markers: Map<string, bigint>
  /** The newest checkpoint side file per group (sequence_events). */
  readonly checkpoints: Map<string, string>
  /** Files planted beside the table's own, never referenced. */
  readonly planted: Set<string>
  nextOffset: number
}

const sortedRows = (rows: ReadonlyArray<string>) => JSON.stringify([...rows].sort())

/** Rows of the snapshot `selector` picks, and bars (trades, quotes) over every day, via the query engine. */
const read = (model: TableModel, selector: SnapshotSelector) =>
  Effect.gen(function*() {
    const plan = yield* (yield* TableScanner).plan(model.id, { snapshot: selector })
    for (const f of plan.files) assert.isTrue(fs.existsSync(localPath(f.filePath)), `${model.kind}: planned file ${f.filePath} exists`)
    const rows = (yield* selectPlanned(plan, FINGERPRINT_SQL(model.kind))).map((r) => String(r.f))
    const engine = yield* QueryEngine
    const bars = model.kind === "trades"
      ? (yield* engine.bars({ ...RANGE, interval: "1h", snapshot: selector })).rows
      : model.kind === "quotes"
      ? (yield* engine.quoteBars({ ...RANGE, interval: "1h", snapshot: selector })).rows
      : []
    return { rows: sortedRows(rows), bars: JSON.stringify(bars, (_, v) => typeof v === "bigint" ? v.toString() : v) }
  })

const load = (model: TableModel) =>
  Effect.gen(function*() {
    return (yield* (yield* Catalog).loadTable(model.id)).metadata
  })

/** The current snapshot (an append's) has the model's rows; its answer is remembered as that snapshot's. */
const recordCurrent = (model: TableModel, context: string) =>
  Effect.gen(function*() {
    const m = yield* load(model)
    const id = m["current-snapshot-id"]!
    const now = yield* read(model, { _tag: "Current" })
    assert.strictEqual(now.rows, sortedRows(model.rows), `${context}: ${model.kind} latest rows = the rows appended`)
    model.answers.set(id, now)
    model.latest = now
  })

/** Snapshots the model has not seen (compaction's replaces) answer as the newest state appended. */
const adoptReplaces = (model: TableModel, m: TableMetadata, context: string) => {
  for (const s of m.snapshots) {
    const id = s["snapshot-id"]
    if (model.answers.has(id)) continue
    assert.strictEqual(s.summary.operation, "replace", `${context}: ${model.kind} unseen snapshot ${id} is a compaction's`)
    model.answers.set(id, model.latest!)
  }
}

/** When each snapshot stopped being current (Infinity: it still is), from the snapshot log. */
const stoppedAt = (m: TableMetadata) => {
  const out = new Map<bigint, number>()
  const log = m["snapshot-log"]
  log.forEach((e, i) => out.set(e["snapshot-id"], i + 1 < log.length ? log[i + 1]!["timestamp-ms"] : Infinity))
  return out
}

/** The current snapshot's ancestors, newest first. */
const lineage = (m: TableMetadata) => {
  const byId = new Map(m.snapshots.map((s) => [s["snapshot-id"], s]))
  const out: Array<bigint> = []
  for (let s = byId.get(m["current-snapshot-id"] ?? -1n); s !== undefined; s = byId.get(s["parent-snapshot-id"] ?? -1n)) {
    out.push(s["snapshot-id"])
  }
  return out
}

/** Every check of one table after a step. */
const verify = (model: TableModel, context: string) =>
  Effect.gen(function*() {
    const m = yield* load(model)
    const current = m["current-snapshot-id"]
    if (current === null || current === undefined) {
      // Only a table nothing was appended to yet has no current snapshot; else maintenance lost it.
      assert.deepStrictEqual(model.rows, [], `${context}: ${model.kind} has rows appended but no current snapshot`)
      return
    }
    adoptReplaces(model, m, context)
    const latest = yield* read(model, { _tag: "Current" })
    assert.strictEqual(latest.rows, sortedRows(model.rows), `${context}: ${model.kind} latest rows = the rows appended`)
    assert.deepStrictEqual(latest, model.latest, `${context}: ${model.kind} latest answer unchanged by maintenance`)
    // Time travel: by id to every retained snapshot, and as of each one's commit (where the
    // snapshot current at that instant is retained) answer as when it was current.
    const retained = new Set(m.snapshots.map((s) => s["snapshot-id"]))
    for (const id of retained) {
      const got = yield* read(model, { _tag: "ById", snapshotId: id })
      assert.deepStrictEqual(got, model.answers.get(id), `${context}: ${model.kind} snapshot ${id} answers as when it was current`)
      const s = m.snapshots.find((x) => x["snapshot-id"] === id)!
      const log = m["snapshot-log"].filter((e) => e["timestamp-ms"] <= s["timestamp-ms"])
      const then = log.at(-1)?.["snapshot-id"]
      if (then !== undefined && retained.has(then)) {
        const asOf = yield* read(model, { _tag: "AsOf", timestampMs: s["timestamp-ms"] })
        assert.deepStrictEqual(asOf, model.answers.get(then), `${context}: ${model.kind} as of ${s["timestamp-ms"]}`)
      }
    }
    // Ingest's resume point: each group's newest marker, found walking back from the current snapshot.
    for (const [group, offset] of model.markers) {
      const marker = markerIn(m, group)
      assert.isDefined(marker, `${context}: ${model.kind} marker of ${group} readable`)
      assert.strictEqual(marker!.offsets.get(TOPIC)?.get(0), offset, `${context}: ${model.kind} marker of ${group}`)
      // Mirrored into the table properties (ADR-21), for when another engine expires the snapshots.
      assert.strictEqual(m.properties[markerKey(group)], marker!.carried[markerKey(group)], `${context}: ${model.kind} marker of ${group} mirrored`)
      const checkpoint = model.checkpoints.get(group)
      if (checkpoint !== undefined) {
        assert.strictEqual(marker!.carried[checkpointKey(group, tpKey(TOPIC, 0))], checkpoint)
        assert.isTrue(fs.existsSync(localPath(checkpoint)), `${context}: ${model.kind} checkpoint of ${group} kept`)
      }
    }
    for (const s of m.snapshots) assert.isTrue(fs.existsSync(localPath(s["manifest-list"])), `${context}: manifest list of ${s["snapshot-id"]}`)
    for (const f of model.planted) assert.isTrue(fs.existsSync(f), `${context}: ${model.kind} planted ${f} untouched`)
  })

/**
 * The Effect clock, which stamps each snapshot's commit, moved only by the test (sleeps stay
 * real: a commit that conflicts waits before its retry), so that what expiry keeps is the same on every run.
 */
const steppedClock = (live: Clock.Clock, now: { ms: number }): Clock.Clock => ({
  currentTimeMillisUnsafe: () => now.ms,
  currentTimeMillis: Effect.sync(() => now.ms),
  currentTimeNanosUnsafe: () => BigInt(now.ms) * 1_000_000n,
  currentTimeNanos: Effect.sync(() => BigInt(now.ms) * 1_000_000n),
  monotonicTimeNanosUnsafe: () => live.monotonicTimeNanosUnsafe(),
  monotonicTimeNanos: live.monotonicTimeNanos,
  sleep: (d) => live.sleep(d)
})

/** A warehouse of its own, whose table loads run the step `afterLoad` arms. */
const warehouse = () =>
  QueryLayer.layer().pipe(
    Layer.provideMerge(maintenanceLayer),
    Layer.provideMerge(racingStorage(fs.mkdtempSync(path.join(os.tmpdir(), "k2-maint-diff-"))))
  )

describe("maintenance against a model of the rows appended", () => {
  it.live.each(SEEDS)("seed %i: appends, compactions (some raced by an append), expiries and orphan removals never change an answer", (seed) =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const maintenance = yield* Maintenance
      const catalog = yield* Catalog
      const clock = { ms: Date.UTC(2026, 0, 5) }
      // Another run's Maintenance (its own caches, as in another process) over the same warehouse.
      const otherProcess = yield* MaintenanceLayer.make()
      const seen = { daysCompacted: 0, expired: 0, raced: 0 }
      yield* Effect.gen(function*() {
        yield* sink.ensureTable(tables.trades)
        yield* sink.ensureTable(tables.quotes)
        yield* sink.ensureTable(tables.sequenceEvents)
        const r = rng(seed)
        const pick = <A>(xs: ReadonlyArray<A>) => xs[Math.floor(r() * xs.length)]!
        const models = new Map<Kind, TableModel>(KINDS.map((kind) => [kind, {
          kind,
          id: idOf(kind),
          rows: [],
          answers: new Map(),
          markers: new Map(),
          checkpoints: new Map(),
          planted: new Set(),
          nextOffset: 0,
          latest: undefined
        }]))
        // Small retention as a table property (ADR-33's, shortened), on one table per seed.
        const short = pick(KINDS)
        yield* catalog.commitTable(idOf(short), [], [{ action: "set-properties", updates: { "history.expire.max-snapshot-age-ms": String(1 + Math.floor(r() * 50)) } }])

        const append = (model: TableModel) =>
          Effect.gen(function*() {
            const count = 1 + Math.floor(r() * 40)
            const days = 1 + Math.floor(r() * 3)
            const start = T0 + Math.floor(r() * 2) * DAY
            const offsetBase = model.nextOffset
            const batch = model.kind === "trades"
              ? tradeColumns(genTrades(count, { seed: Math.floor(r() * 1e9), days, start, idPrefix: `${seed}-${offsetBase}-` }))
              : model.kind === "quotes"
              ? quoteColumns(genQuotes(count, { seed: Math.floor(r() * 1e9), days, start }))
              : genEvents(count, r, days, offsetBase)
            model.nextOffset += count
            const properties: Record<string, string> = {}
            const group = r() < 0.6 ? pick(GROUPS) : undefined
            if (group !== undefined) {
              // As ingest writes them: the group's next offset, and for sequence_events a checkpoint side file.
              properties[markerKey(group)] = JSON.stringify({ [TOPIC]: { "0": model.nextOffset } })
              if (model.kind === "sequence_events") {
                const location = (yield* load(model)).location
                const file = `${location}/metadata/k2-sequence-${seed}-${offsetBase}.json`
                fs.writeFileSync(localPath(file), "{}")
                properties[checkpointKey(group, tpKey(TOPIC, 0))] = file
              }
            }
            yield* sink.append(model.id, batch, { properties })
            model.rows = [...model.rows, ...fingerprints(model.kind, batch)]
            if (group !== undefined) {
              model.markers.set(group, BigInt(model.nextOffset))
              if (model.kind === "sequence_events") model.checkpoints.set(group, properties[checkpointKey(group, tpKey(TOPIC, 0))]!)
            }
            yield* recordCurrent(model, `seed ${seed} append`)
          })

        for (let step = 0; step < STEPS; step++) {
          // Commits a few milliseconds apart, now and then after an idle spell.
          clock.ms += r() < 0.1 ? Math.floor(r() * 2 * HOUR_MS) : Math.floor(r() * 20)
          const model = models.get(pick(KINDS))!
          const op = r()
          const context = `seed ${seed} step ${step}`
          if (op < 0.45) {
            yield* append(model)
          } else if (op < 0.65) {
            // Some compactions meet an append committed after their plan (1st load), or after the
            // base of their first commit was loaded (2nd: the commit conflicts), or between days.
            // Or another process's compaction, or an expiry of everything but the current snapshot.
            const race = r()
            const raced = Effect.gen(function*() {
              adoptReplaces(model, yield* load(model), "raced")
              seen.raced++
              if (race < 0.3) yield* append(model)
              else if (race < 0.4) yield* otherProcess.compact(model.id, { targetFileSizeBytes: 64 * 1024 * 1024 })
              else yield* otherProcess.expireSnapshots(model.id, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: clock.ms + HOUR_MS })
            })
            const services = yield* Effect.context<Catalog | DuckDb | TableScanner | QueryEngine>()
            if (race < 0.5) yield* afterLoad(Effect.provideContext(Effect.orDie(raced), services), 1 + Math.floor(r() * 3))
            // Small targets split a day's rewrite into several files, or leave a day as it is.
            const compacted = yield* maintenance.compact(model.id, { targetFileSizeBytes: pick([12 * 1024, 40 * 1024, 64 * 1024 * 1024]), rowGroupSize: pick([undefined, 7]) })
            yield* disarmLoad
            seen.daysCompacted += compacted.partitions.length
          } else if (op < 0.87) {
            const before = yield* load(model)
            const nowMs = clock.ms + Math.floor(r() * 40)
            const explicit = r() < 0.7
            // The cutoff on, just before or just after a commit of the table, or the table's property.
            const log = before["snapshot-log"]
            const at = log.length === 0 ? nowMs : pick(log)["timestamp-ms"] + pick([-1, 0, 1])
            const maxAge = explicit ? Math.max(0, nowMs - at) : Number(before.properties["history.expire.max-snapshot-age-ms"])
            const retainLast = pick([1, 1, 2, 3])
            yield* maintenance.expireSnapshots(model.id, { ...(explicit ? { maxSnapshotAgeMs: maxAge } : {}), retainLast, nowMs })
            // Kept: the current snapshot, the newest `retainLast`, those current within the age, and
            // the chain from each group's newest marker to the current snapshot.
            const after = new Set((yield* load(model)).snapshots.map((s) => s["snapshot-id"]))
            const stopped = stoppedAt(before)
            const line = lineage(before)
            const mustKeep = new Set(line.slice(0, retainLast))
            for (const s of before.snapshots) {
              if (s["timestamp-ms"] >= nowMs - maxAge || stopped.get(s["snapshot-id"])! > nowMs - maxAge) mustKeep.add(s["snapshot-id"])
            }
            for (const group of model.markers.keys()) {
              const carrier = markerIn(before, group)!.snapshotId
              for (const id of line.slice(0, line.indexOf(carrier) + 1)) mustKeep.add(id)
            }
            assert.deepStrictEqual([...after].sort(), [...mustKeep].sort(), `${context}: expiry kept exactly what the docs keep`)
            seen.expired += before.snapshots.length - after.size
          } else {
            // Orphans beside the table's own files, one old and one within the grace.
            const location = localPath((yield* load(model)).location)
            const grace = HOUR_MS
            const old = path.join(location, "data", `orphan-${seed}-${step}.parquet`)
            const young = path.join(location, "metadata", `orphan-${seed}-${step}.avro`)
            fs.mkdirSync(path.dirname(old), { recursive: true })
            fs.writeFileSync(old, "x")
            fs.writeFileSync(young, "x")
            const past = (Date.now() - 2 * grace) / 1000
            fs.utimesSync(old, past, past)
            const listed = yield* maintenance.removeOrphans(model.id, { olderThanMs: grace, dryRun: true })
            assert.include(listed.removed.map(localPath), old)
            assert.isTrue(fs.existsSync(old), `${context}: a dry run removes nothing`)
            const report = yield* maintenance.removeOrphans(model.id, { olderThanMs: grace })
            assert.isFalse(fs.existsSync(old), `${context}: old orphan removed`)
            assert.isTrue(fs.existsSync(young), `${context}: orphan within the grace kept`)
            assert.include(report.removed.map(localPath), old)
            // Then everything past the grace: what is left of the data files is exactly what retained snapshots read.
            yield* maintenance.removeOrphans(model.id, { olderThanMs: grace, nowMs: Date.now() + 2 * grace })
            assert.isFalse(fs.existsSync(young), `${context}: orphan past the grace removed`)
            const m = yield* load(model)
            const referenced = new Set<string>()
            for (const s of m.snapshots) {
              const plan = yield* (yield* TableScanner).plan(model.id, { snapshot: { _tag: "ById", snapshotId: s["snapshot-id"] } })
              for (const f of plan.files) referenced.add(localPath(f.filePath))
            }
            const dataDir = path.join(location, "data")
            const onDisk = fs.readdirSync(dataDir, { recursive: true, withFileTypes: true })
              .filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name))
            assert.deepStrictEqual(onDisk.sort(), [...referenced].sort(), `${context}: data files = those retained snapshots read`)
            model.planted.clear()
          }
          yield* verify(model, context)
          // Another table's files are never touched: a file planted among them stays.
          for (const other of models.values()) {
            if (other === model) continue
            for (const f of other.planted) assert.isTrue(fs.existsSync(f), `${context}: ${other.kind}'s ${f} untouched`)
            if (r() < 0.3) {
              const location = localPath((yield* load(other)).location)
              const file = path.join(location, "data", `other-${seed}-${step}.parquet`)
              fs.mkdirSync(path.dirname(file), { recursive: true })
              fs.writeFileSync(file, "x")
              const past = (Date.now() - 48 * HOUR_MS) / 1000
              fs.utimesSync(file, past, past)
              other.planted.add(file)
            }
          }
        }
        for (const model of models.values()) yield* verify(model, `seed ${seed} end`)
        // The run did what it is for.
        assert.isAbove(seen.daysCompacted, 0)
        assert.isAbove(seen.expired, 0)
        assert.isAbove(seen.raced, 0)
      }).pipe(Effect.provideService(Clock.Clock, steppedClock(yield* Clock.Clock, clock)))
    // Every commit and compaction syncs its files (ADR-42): on a loaded VM a seed takes ~40 s.
    }).pipe(Effect.provide(warehouse())), 120_000)
})
