/**
 * Interop with the reference implementation: Apache Iceberg Java opens the tables K2
 * writes, through the same catalog (SQL on SQLite and PostgreSQL; Apache's REST catalog
 * server), and K2 reads and extends what Iceberg Java writes. Values are compared exactly
 * (compare.ts).
 *
 * Per catalog, one warm JVM (Harness.IcebergJava) serves every Iceberg Java command.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, layer } from "@effect/vitest"
import { BigDecimal, Context, Effect, Layer } from "effect"
import { encodeOffsets, markerKey } from "../../src/domain/ingest/marker.ts"
import { type TradeRow, tradeColumns } from "../../src/domain/rows.ts"
import { tables } from "../../src/domain/tables.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import * as MaintenanceLayer from "../../src/layers/maintenance/maintenance.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { type CommitOutcome, IcebergSink } from "../../src/services/IcebergSink.ts"
import { Maintenance } from "../../src/services/Maintenance.ts"
import { type SnapshotSelector, TableScanner } from "../../src/services/TableScanner.ts"
import { START_MICROS } from "../support/fixtures.ts"
import { type InteropCatalog, sides } from "./catalogs.ts"
import {
  assertSamePlan,
  assertSameRows,
  fromJava,
  fromTradeRow,
  ourPaths,
  readOurs,
  str,
  toJavaJson,
  tradesFor
} from "./compare.ts"
import * as Harness from "./harness.ts"
import { ensureRestCatalog } from "./restCatalog.ts"
import { markerIn } from "../support/marker.ts"

const DAY = 86_400_000_000
/** An ingestion marker on our second snapshot (DESIGN.md "Ingest"), beyond 2^53 to keep it honest. */
const MARKER_GROUP = "interop"
const MARKER = new Map([["market.equities.trades.asx", new Map([[0, 610n], [3, 9_007_199_254_740_993n]])]])
const trades = { namespace: tables.trades.namespace, name: tables.trades.name }
const dayRange = (day: number) => ({ column: "exchange_timestamp", from: START_MICROS + day * DAY, to: START_MICROS + (day + 1) * DAY })

/** Edge values: the first and last microsecond of a day, the largest decimal(18, 8), a price below 1. */
const edgeTrades = (idPrefix: string, day: number): Array<TradeRow> => {
  const [first, second, third] = tradesFor({ count: 3, idPrefix, offsetBase: 50_000, startMicros: START_MICROS + day * DAY })
  return [
    { ...first!, exchange_timestamp: START_MICROS + day * DAY, price: BigDecimal.make(999_999_999_999_999_999n, 8) },
    { ...second!, exchange_timestamp: START_MICROS + (day + 1) * DAY - 1, price: BigDecimal.make(1n, 8), source_sequence: null },
    { ...third!, price: BigDecimal.make(12_345n, 3), quantity: BigDecimal.make(5n, -3), conditions: [], vendor_data: {} }
  ]
}

/** K2's plan of the table at `snapshot`, over one day or everything. */
const planFor = (snapshot: SnapshotSelector, day?: number) =>
  Effect.gen(function*() {
    const scanner = yield* TableScanner
    return yield* scanner.plan(trades, { snapshot, ...(day === undefined ? {} : { filter: { time: dayRange(day) } }) })
  })

const javaPlanStep = (day: number, snapshotId?: bigint): Harness.Step => ({
  command: "plan",
  options: {
    column: "exchange_timestamp",
    from: String(dayRange(day).from),
    to: String(dayRange(day).to),
    ...(snapshotId === undefined ? {} : { "snapshot-id": String(snapshotId) })
  }
})

// ---------------------------------------------------------------------------------------------
// The suite, once per catalog.

/** What the suite's set-up wrote with K2 (two snapshots) and what Iceberg Java then saw of it. */
class Written extends Context.Service<Written, {
  readonly warehouse: string
  /** performance.now() when the set-up began. */
  readonly started: number
  readonly first: { readonly outcome: CommitOutcome; readonly rows: ReadonlyArray<TradeRow> }
  readonly second: { readonly outcome: CommitOutcome; readonly rows: ReadonlyArray<TradeRow> }
  readonly java: {
    readonly readCurrent: ReadonlyArray<Harness.Json>
    readonly readFirst: ReadonlyArray<Harness.Json>
    /** As of the first commit's time (Java's time travel, by the snapshot log). */
    readonly readFirstAsOf: ReadonlyArray<Harness.Json>
    /** Per day 0..4: the files Java plans at the current (second) snapshot. */
    readonly planByDay: ReadonlyArray<ReadonlyArray<Harness.Json>>
    readonly planFirstDay1: ReadonlyArray<Harness.Json>
  }
}>()("test/interop/Written") {}

const DAYS = [0, 1, 2, 3, 4]

const writeAndReadWithJava = (target: Harness.HarnessTarget, warehouse: string) =>
  Layer.effect(Written)(Effect.gen(function*() {
    const started = performance.now()
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    // Snapshot 1: days 0-2. Snapshot 2: days 1-3, so days 1 and 2 hold a file of each.
    const firstRows = [...tradesFor({ count: 900, days: 3, idPrefix: "k2a" }), ...edgeTrades("k2a-edge", 0)]
    const first = yield* sink.append(trades, tradeColumns(firstRows), { properties: { "k2.test": "first" } })
    yield* Effect.sleep("20 millis") // distinct snapshot timestamps for the as-of read
    const secondRows = tradesFor({ count: 600, days: 3, idPrefix: "k2b", offsetBase: 10_000, startMicros: START_MICROS + DAY })
    const second = yield* sink.append(trades, tradeColumns(secondRows), {
      properties: { "k2.test": "second", [markerKey(MARKER_GROUP)]: encodeOffsets(MARKER) }
    })

    const firstId = first.snapshot["snapshot-id"]
    const java = yield* Harness.IcebergJava
    const javaRun = (step: Harness.Step) => java.run(target, step)
    const readCurrent = yield* javaRun({ command: "read" })
    const readFirst = yield* javaRun({ command: "read", options: { "snapshot-id": String(firstId) } })
    const readFirstAsOf = yield* javaRun({ command: "read", options: { "as-of-ms": String(first.snapshot["timestamp-ms"]) } })
    const planFirstDay1 = yield* javaRun(javaPlanStep(1, firstId))
    const planByDay = yield* Effect.forEach(DAYS, (d) => javaRun(javaPlanStep(d)))
    return Written.of({
      warehouse,
      started,
      first: { outcome: first, rows: firstRows },
      second: { outcome: second, rows: secondRows },
      java: { readCurrent, readFirst, readFirstAsOf, planFirstDay1, planByDay }
    })
  }))

const suite = (kind: InteropCatalog) => {
  const { options, targetOf } = sides(kind)
  const target = targetOf(trades)
  const lakehouse = Lakehouse.layer(options)
  // Set K2_KEEP_INTEROP_WAREHOUSE=1 to keep the files for a look after a failure.
  afterAll(() => {
    if (process.env.K2_KEEP_INTEROP_WAREHOUSE !== "1") fs.rmSync(options.warehouse, { recursive: true, force: true })
  })

  // The JVM starts with the layer, so it boots while K2 writes.
  const services = Layer.mergeAll(lakehouse, Harness.IcebergJava.layer)
  layer(Layer.provideMerge(writeAndReadWithJava(target, options.warehouse), services), {
    excludeTestServices: true, // real clock: snapshot timestamps and as-of reads are real
    timeout: "5 minutes"
  })(`Apache Iceberg Java and K2 on one table (${kind} catalog ${target.catalog})`, (it) => {
    it.effect("(1) Iceberg Java reads every row K2 wrote, every value exact", () =>
      Effect.gen(function*() {
        const { first, second, java } = yield* Written
        const written = [...first.rows, ...second.rows].map(fromTradeRow)
        assertSameRows(java.readCurrent.map(fromJava), written, `Java read of snapshot ${second.outcome.snapshot["snapshot-id"]}`)
      }))

    it.effect("(2) Iceberg Java plans the same files as K2 for a one-day filter, on every day", () =>
      Effect.gen(function*() {
        const { java, second } = yield* Written
        for (const day of DAYS) {
          const ours = yield* planFor({ _tag: "Current" }, day)
          assert.strictEqual(ours.snapshot?.["snapshot-id"], second.outcome.snapshot["snapshot-id"])
          assertSamePlan(java.planByDay[day]!, ours, `day ${day} at snapshot ${second.outcome.snapshot["snapshot-id"]}`)
        }
        // The shape itself: one file per day per append, nothing on the day after.
        assert.deepStrictEqual(java.planByDay.map((files) => files.length), [1, 2, 2, 1, 0])
      }))

    it.effect("(3) Iceberg Java's by-id and as-of reads of the older snapshot equal K2's", () =>
      Effect.gen(function*() {
        const { first, java } = yield* Written
        const id = first.outcome.snapshot["snapshot-id"]
        const byId = yield* planFor({ _tag: "ById", snapshotId: id })
        const asOf = yield* planFor({ _tag: "AsOf", timestampMs: first.outcome.snapshot["timestamp-ms"] })
        assert.strictEqual(asOf.snapshot?.["snapshot-id"], id, "as-of the first commit's time picks the first snapshot")
        const expected = first.rows.map(fromTradeRow)
        assertSameRows(java.readFirst.map(fromJava), expected, `Java read --snapshot-id ${id}`)
        assertSameRows(java.readFirstAsOf.map(fromJava), expected, `Java read --as-of-ms ${first.outcome.snapshot["timestamp-ms"]}`)
        assertSameRows(yield* readOurs(byId), expected, `K2 read of snapshot ${id} by id`)
        assertSameRows(yield* readOurs(asOf), expected, `K2 read as of ${first.outcome.snapshot["timestamp-ms"]}`)
        assertSamePlan(java.planFirstDay1, yield* planFor({ _tag: "ById", snapshotId: id }, 1), `day 1 at snapshot ${id}`)
      }))

    it.effect("(4) K2 plans and reads what Iceberg Java appends, then appends on top of it", () =>
      Effect.gen(function*() {
        const { first, second, started, warehouse } = yield* Written
        const sink = yield* IcebergSink
        const before = yield* planFor({ _tag: "Current" })
        const ourRows = [...first.rows, ...second.rows]

        // Iceberg Java appends day 2 (which we also wrote) and day 4 (new).
        const javaRows = [
          ...tradesFor({ count: 150, days: 1, idPrefix: "java", offsetBase: 20_000, startMicros: START_MICROS + 2 * DAY }),
          ...tradesFor({ count: 80, days: 1, idPrefix: "java4", offsetBase: 30_000, startMicros: START_MICROS + 4 * DAY }),
          ...edgeTrades("java-edge", 4)
        ]
        const rowsFile = path.join(warehouse, "java-rows.jsonl")
        fs.writeFileSync(rowsFile, javaRows.map((r) => JSON.stringify(toJavaJson(r))).join("\n") + "\n")
        const java = yield* Harness.IcebergJava
        const [appended] = yield* java.run(target, { command: "append", options: { rows: rowsFile }, properties: ["k2.test=java"] })
        const javaSnapshotId = BigInt(str(appended!.snapshot_id))
        assert.strictEqual(appended!.files, 2)

        // Our planner: Java's snapshot is current, its two files are new, the totals add up.
        const after = yield* planFor({ _tag: "Current" })
        const snap = after.snapshot!
        assert.strictEqual(snap["snapshot-id"], javaSnapshotId, "K2 sees Java's snapshot as current")
        assert.strictEqual(snap["parent-snapshot-id"], second.outcome.snapshot["snapshot-id"], "Java's parent is our second")
        assert.strictEqual(snap.summary.operation, "append")
        assert.strictEqual(snap.summary["k2.test"], "java")
        assert.strictEqual(snap.summary["total-records"], String(ourRows.length + javaRows.length), "Java's summary total-records")
        assert.strictEqual(snap.summary["total-data-files"], String(before.files.length + 2), "Java's summary total-data-files")
        const oldPaths = new Set(ourPaths(before.files))
        const newFiles = after.files.filter((f) => !oldPaths.has(Harness.normalizePath(f.filePath)))
        assert.strictEqual(newFiles.length, 2, `Java's new files in our plan: ${ourPaths(newFiles).join(", ")}`)
        assert.strictEqual(after.files.length, before.files.length + 2)
        assert.strictEqual(newFiles.reduce((n, f) => n + f.recordCount, 0), javaRows.length)
        assert.strictEqual(after.stats.filesTotal, after.files.length)

        // One-day pruning over Java's manifests: day 2 has our two files and Java's; day 4 only Java's.
        const day2 = yield* planFor({ _tag: "Current" }, 2)
        const day4 = yield* planFor({ _tag: "Current" }, 4)
        assert.strictEqual(day2.files.length, 3, `day 2 files: ${ourPaths(day2.files).join(", ")}`)
        assert.deepStrictEqual(ourPaths(day4.files), ourPaths(newFiles.filter((f) => f.partition.exchange_timestamp_day === 4 + START_MICROS / DAY)))
        assert.strictEqual(day4.files.length, 1)
        const day4Expected = javaRows.filter((r) => r.exchange_timestamp >= dayRange(4).from).map(fromTradeRow)
        assertSameRows(yield* readOurs(day4), day4Expected, `K2 read of Java's day-4 file ${ourPaths(day4.files)[0]}`)
        assertSameRows(yield* readOurs(after), [...ourRows, ...javaRows].map(fromTradeRow), `K2 read of Java's snapshot ${javaSnapshotId}`)

        // Our sink continues the chain on top of Java's snapshot.
        const thirdRows = tradesFor({ count: 200, days: 2, idPrefix: "k2c", offsetBase: 40_000, startMicros: START_MICROS + 4 * DAY })
        const third = yield* sink.append(trades, tradeColumns(thirdRows), { properties: { "k2.test": "third" } })
        const allRows = [...ourRows, ...javaRows, ...thirdRows]
        assert.strictEqual(third.snapshot["parent-snapshot-id"], javaSnapshotId, "our append's parent is Java's snapshot")
        assert.strictEqual(third.snapshot.summary["total-records"], String(allRows.length))
        assert.strictEqual(third.snapshot.summary["total-data-files"], String(after.files.length + third.files.length))
        // Java's commit carries no K2 marker; our next snapshot carries it forward again.
        const marker = markerIn(third.table.metadata, MARKER_GROUP)
        assert.deepStrictEqual(marker?.offsets, MARKER, "the ingestion marker survives a foreign commit in the chain")
        assert.strictEqual(marker?.snapshotId, third.snapshot["snapshot-id"], "carried onto our next snapshot")

        // Iceberg Java follows the whole chain and reads everything, ours and its own.
        const snapshots = yield* java.run(target, { command: "snapshots" })
        const readAll = yield* java.run(target, { command: "read" })
        const planDay4 = yield* java.run(target, javaPlanStep(4))
        const chain = snapshots.map((s) => ({
          id: str(s.snapshot_id),
          parent: s.parent_id as string | null,
          sequence: s.sequence_number,
          test: (s.summary as Record<string, string>)["k2.test"]
        }))
        const [s1, s2, s3, s4] = [first.outcome.snapshot, second.outcome.snapshot, snap, third.snapshot]
          .map((snapshot) => String(snapshot["snapshot-id"])) as [string, string, string, string]
        assert.deepStrictEqual(chain, [
          { id: s1, parent: null, sequence: 1, test: "first" },
          { id: s2, parent: s1, sequence: 2, test: "second" },
          { id: s3, parent: s2, sequence: 3, test: "java" },
          { id: s4, parent: s3, sequence: 4, test: "third" }
        ], "snapshot chain as Iceberg Java sees it (ids, parents, sequence numbers)")
        assert.isTrue(snapshots.at(-1)!.current, "our append is Java's current snapshot")
        assert.strictEqual((snapshots.at(-1)!.summary as Record<string, string>)["total-records"], String(allRows.length))
        assertSameRows(readAll.map(fromJava), allRows.map(fromTradeRow), `Java read after our append ${third.snapshot["snapshot-id"]}`)
        assertSamePlan(planDay4, yield* planFor({ _tag: "Current" }, 4), "day 4 after our append on Java's")
        yield* Effect.log(`interop ${kind}: ${Math.round(performance.now() - started)} ms from set-up to the last check`)
      }))

    it.effect("(5) The ingestion marker outlives Iceberg Java expiring every snapshot K2 committed (ADR-21)", () =>
      Effect.gen(function*() {
        const { warehouse } = yield* Written
        const sink = yield* IcebergSink
        const java = yield* Harness.IcebergJava
        // Java commits on top of K2's last snapshot, then expires all but its own.
        const rowsFile = path.join(warehouse, "java-rows-5.jsonl")
        const javaRows = tradesFor({ count: 40, days: 1, idPrefix: "java5", offsetBase: 60_000, startMicros: START_MICROS + 5 * DAY })
        fs.writeFileSync(rowsFile, javaRows.map((r) => JSON.stringify(toJavaJson(r))).join("\n") + "\n")
        const [appended] = yield* java.run(target, { command: "append", options: { rows: rowsFile } })
        const [expired] = yield* java.run(target, { command: "expire" })
        assert.isAbove(Number(expired!.expired), 0)
        const m = (yield* (yield* Catalog).loadTable(trades)).metadata
        assert.deepStrictEqual(m.snapshots.map((s) => String(s["snapshot-id"])), [str(appended!.snapshot_id)], "only Java's snapshot is left")

        // No snapshot carries the marker now; the table properties K2's commits set do.
        const marker = markerIn(m, MARKER_GROUP)
        assert.deepStrictEqual(marker?.offsets, MARKER, "the marker, from the table properties")
        assert.strictEqual(String(marker?.snapshotId), str(appended!.snapshot_id), "describing the current snapshot's data")
        // K2's next commit carries it onto a snapshot again.
        const next = yield* sink.append(trades, tradeColumns(tradesFor({ count: 20, days: 1, idPrefix: "k2d", offsetBase: 70_000, startMicros: START_MICROS + 5 * DAY })))
        assert.strictEqual(next.snapshot.summary[markerKey(MARKER_GROUP)], encodeOffsets(MARKER))
        assert.strictEqual(markerIn(next.table.metadata, MARKER_GROUP)?.snapshotId, next.snapshot["snapshot-id"])
      }))

    it.effect("(6) K2's expiry removes a tag Java set past its max-ref-age-ms, with its snapshot; a tag without one stays", () =>
      Effect.gen(function*() {
        const sink = yield* IcebergSink
        const java = yield* Harness.IcebergJava
        const append = (idPrefix: string, offsetBase: number) =>
          sink.append(trades, tradeColumns(tradesFor({ count: 10, days: 1, idPrefix, offsetBase, startMicros: START_MICROS + 6 * DAY })))
        const idOf = (o: CommitOutcome) => String(o.snapshot["snapshot-id"])
        const aged = yield* append("k2e", 80_000)
        const tagged = yield* append("k2f", 81_000)
        const current = yield* append("k2g", 82_000)
        yield* java.run(target, { command: "tag", options: { name: "hourly", "snapshot-id": idOf(aged), "max-ref-age-ms": "1" } })
        yield* java.run(target, { command: "tag", options: { name: "release", "snapshot-id": idOf(tagged) } })
        yield* Effect.sleep("10 millis") // past the hourly tag's age
        const expired = yield* Maintenance.use((m) => m.expireSnapshots(trades, { maxSnapshotAgeMs: 1, retainLast: 1 }))
        assert.deepStrictEqual(expired.refsRemoved, ["hourly"])
        const refs = yield* java.run(target, { command: "refs" })
        assert.deepStrictEqual(refs.map((r) => [r.name, r.type, r.snapshot_id]), [
          ["main", "branch", idOf(current)],
          ["release", "tag", idOf(tagged)]
        ])
        const snapshots = yield* java.run(target, { command: "snapshots" })
        assert.deepStrictEqual(snapshots.map((s) => s.snapshot_id), [idOf(tagged), idOf(current)])
        const atTag = yield* java.run(target, { command: "read", options: { "snapshot-id": idOf(tagged) } })
        assert.isAbove(atTag.length, 0, "Java reads the tagged snapshot")
      }).pipe(Effect.provide(MaintenanceLayer.layer())))
  })
}

beforeAll(() => Harness.buildHarness(), 10 * 60_000)
beforeAll(() => ensureRestCatalog())

suite("sqlite")
suite("postgres")
suite("rest")
