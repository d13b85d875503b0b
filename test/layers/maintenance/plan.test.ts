/**
 * Expiry planning against the Iceberg spec's snapshot retention policy: a branch's own
 * `min-snapshots-to-keep` / `max-snapshot-age-ms` keep its ancestors (format/spec.md,
 * "Snapshot Retention Policy").
 */
import { assert, describe, it } from "@effect/vitest"
import { countedReads } from "../../support/countedReads.ts"
import { markerIn } from "../../support/marker.ts"
import { ancestry, applyUpdates, newTableMetadata } from "../../../src/domain/iceberg/metadata.ts"
import { carriedOf, markerKey, mirrorCarry, mirroredCarry } from "../../../src/domain/ingest/marker.ts"
import type { DataFile, Snapshot, TableMetadata } from "../../../src/domain/iceberg/spec.ts"
import { tables } from "../../../src/domain/tables.ts"
import { planCompaction, planExpiry } from "../../../src/layers/maintenance/plan.ts"

const DAY = 86_400_000

const snap = (id: bigint, parent: bigint | undefined, timestampMs: number): Snapshot => ({
  "snapshot-id": id,
  ...(parent === undefined ? {} : { "parent-snapshot-id": parent }),
  "sequence-number": id,
  "timestamp-ms": timestampMs,
  "manifest-list": `file:///t/metadata/snap-${id}.avro`,
  summary: { operation: "append" }
})

/**
 * main: 1 <- 2 <- ... <- 6, one a day from day 1; branch `audit` at 4 with 10 and 11 on top
 * (days 7, 8). `refs` as another engine wrote them (with retention fields K2 does not write).
 */
const table = (refs: Record<string, Record<string, unknown>>): TableMetadata => {
  let m = newTableMetadata({
    uuid: "u",
    location: "file:///t",
    schema: tables.trades.schema,
    spec: tables.trades.spec,
    sortOrder: null,
    nowMs: 0
  })
  const main = [1n, 2n, 3n, 4n, 5n, 6n].map((id) => snap(id, id === 1n ? undefined : id - 1n, Number(id) * DAY))
  const audit = [snap(10n, 4n, 7 * DAY), snap(11n, 10n, 8 * DAY)]
  m = applyUpdates(m, null, [
    ...[...main, ...audit].map((snapshot) => ({ action: "add-snapshot" as const, snapshot })),
    { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 6n }
  ], 0)
  return { ...m, refs: refs as unknown as TableMetadata["refs"] }
}

const kept = (m: TableMetadata, options: { maxSnapshotAgeMs: number; retainLast: number; nowMs: number }) =>
  [...planExpiry(m, options).keep].sort((a, b) => Number(a - b))

describe("planExpiry: the spec's retention policy of each branch", () => {
  it("a snapshot current within the window stays, however old its commit: as_of any instant of the window finds it", () => {
    // A table idle a day: 5 was current from day 5 until 6 was committed at day 6, half an hour ago.
    const m = { ...table({ main: { "snapshot-id": 6n, type: "branch" } }), "snapshot-log": [1n, 2n, 3n, 4n, 5n, 6n].map((id) => ({ "snapshot-id": id, "timestamp-ms": Number(id) * DAY })) }
    const hour = 3_600_000
    // (10 and 11, off main, are stamped days 7 and 8: young.)
    assert.deepStrictEqual(kept(m, { maxSnapshotAgeMs: hour, retainLast: 1, nowMs: 6 * DAY + hour / 2 }), [5n, 6n, 10n, 11n])
    // An hour and more after 6 replaced it, 5 goes.
    assert.deepStrictEqual(kept(m, { maxSnapshotAgeMs: hour, retainLast: 1, nowMs: 6 * DAY + hour }), [6n, 10n, 11n])
  })

  it("a branch's min-snapshots-to-keep keeps that many of its ancestors", () => {
    const m = table({
      main: { "snapshot-id": 6n, type: "branch" },
      audit: { "snapshot-id": 11n, type: "branch", "min-snapshots-to-keep": 4 }
    })
    // Everything is old; the table keeps 1 snapshot by default, the audit branch 4 of its own.
    assert.deepStrictEqual(kept(m, { maxSnapshotAgeMs: DAY, retainLast: 1, nowMs: 100 * DAY }), [3n, 4n, 6n, 10n, 11n])
  })

  it("a branch's max-snapshot-age-ms keeps its ancestors younger than that", () => {
    const m = table({
      main: { "snapshot-id": 6n, type: "branch", "max-snapshot-age-ms": 3 * DAY + 1 },
      audit: { "snapshot-id": 11n, type: "branch" }
    })
    // now = day 8: main keeps days 5 and 6 (younger than 3 days); the default (1 day) keeps only heads.
    assert.deepStrictEqual(kept(m, { maxSnapshotAgeMs: DAY, retainLast: 1, nowMs: 8 * DAY + 1 }), [5n, 6n, 11n])
  })

  it("without retention fields, the table-wide options decide as before", () => {
    const m = table({ main: { "snapshot-id": 6n, type: "branch" }, audit: { "snapshot-id": 11n, type: "branch" } })
    assert.deepStrictEqual(kept(m, { maxSnapshotAgeMs: DAY, retainLast: 1, nowMs: 100 * DAY }), [6n, 11n])
  })

  it("retainLast keeps that many newest snapshots of the table, off the branch too, however old", () => {
    // main keeps only its head by its own policy: the table-wide newest four are 11, 10, 6 and 5.
    const m = table({ main: { "snapshot-id": 6n, type: "branch", "min-snapshots-to-keep": 1 } })
    assert.deepStrictEqual(kept(m, { maxSnapshotAgeMs: DAY, retainLast: 4, nowMs: 100 * DAY }), [5n, 6n, 10n, 11n])
  })

  it("a snapshot committed exactly max-snapshot-age-ms ago is kept: the window's start is inclusive", () => {
    // now = day 8, a day's window: 10 (off main, day 7) is at its start, 11 inside it.
    const m = table({ main: { "snapshot-id": 6n, type: "branch", "min-snapshots-to-keep": 1 } })
    assert.deepStrictEqual(kept(m, { maxSnapshotAgeMs: DAY, retainLast: 1, nowMs: 8 * DAY }), [6n, 10n, 11n])
    assert.deepStrictEqual(kept(m, { maxSnapshotAgeMs: DAY, retainLast: 1, nowMs: 8 * DAY + 1 }), [6n, 11n])
  })

  it("a marker only off the main line (another branch's, no ref now) keeps its newest snapshot", () => {
    const m = table({ main: { "snapshot-id": 6n, type: "branch", "min-snapshots-to-keep": 1 } })
    const marked = {
      ...m,
      snapshots: m.snapshots.map((s) => s["snapshot-id"] === 10n ? { ...s, summary: { ...s.summary, [markerKey("g")]: `{"t":{"0":7}}` } } : s)
    }
    const plan = planExpiry(marked, { maxSnapshotAgeMs: DAY, retainLast: 1, nowMs: 100 * DAY })
    assert.deepStrictEqual([...plan.keep].sort((a, b) => Number(a - b)), [6n, 10n, 11n])
    assert.deepStrictEqual(plan.markers, { g: 10n })
  })

  it("a ref older than its max-ref-age-ms is expired and keeps nothing; main never ages; younger refs stay", () => {
    const m = table({
      main: { "snapshot-id": 6n, type: "branch", "max-ref-age-ms": 1 },
      old: { "snapshot-id": 3n, type: "tag", "max-ref-age-ms": 5 * DAY },
      young: { "snapshot-id": 4n, type: "tag", "max-ref-age-ms": 97 * DAY },
      audit: { "snapshot-id": 11n, type: "branch", "max-ref-age-ms": 2 * DAY, "min-snapshots-to-keep": 3 }
    })
    // now = day 100: old's snapshot (day 3) is 97 days old, past 5; young's (day 4) 96, within 97;
    // audit's head (day 8) is past 2 days, so its branch retention keeps nothing either (11 stays
    // only as the table's newest snapshot; 10, its second, goes).
    const plan = planExpiry(m, { maxSnapshotAgeMs: DAY, retainLast: 1, nowMs: 100 * DAY })
    assert.deepStrictEqual([...plan.expiredRefs].sort(), ["audit", "old"])
    assert.deepStrictEqual([...plan.keep].sort((a, b) => Number(a - b)), [4n, 6n, 11n])
  })

  it("the table's max-ref-age-ms ages refs without their own; unset, refs never age", () => {
    const m = table({
      main: { "snapshot-id": 6n, type: "branch" },
      v1: { "snapshot-id": 2n, type: "tag" },
      v2: { "snapshot-id": 5n, type: "tag", "max-ref-age-ms": 365 * DAY }
    })
    const options = { maxSnapshotAgeMs: DAY, retainLast: 1, nowMs: 100 * DAY }
    assert.deepStrictEqual(planExpiry(m, options).expiredRefs, [])
    assert.deepStrictEqual(planExpiry(m, { ...options, maxRefAgeMs: 98 * DAY - 1 }).expiredRefs, ["v1"])
    // Exactly max-ref-age-ms old is still kept, as Java keeps it.
    assert.deepStrictEqual(planExpiry(m, { ...options, maxRefAgeMs: 98 * DAY }).expiredRefs, [])
  })

  it("a tag keeps only its own snapshot: retention of ancestors is for branches", () => {
    const m = table({
      main: { "snapshot-id": 6n, type: "branch" },
      v1: { "snapshot-id": 11n, type: "tag", "min-snapshots-to-keep": 4 }
    })
    assert.deepStrictEqual(kept(m, { maxSnapshotAgeMs: DAY, retainLast: 1, nowMs: 100 * DAY }), [6n, 11n])
  })
})

describe("planExpiry on a table of many snapshots", () => {
  // One commit a second: a trading day is 23,400 snapshots, all younger than the default 5 days.
  // The plan runs in the ingesting process (--maintain-every) and holds its event loop meanwhile:
  // walking parents by a scan of every snapshot per step took seconds (quadratic).
  it("walks a 40,000-snapshot history reading each snapshot a few times, not once per step", () => {
    const n = 40_000
    // A walk that scans the list per parent reads ~n²/2 entries.
    const { items: snapshots, reads } = countedReads(Array.from({ length: n }, (_, i) => ({
      ...snap(BigInt(i + 1), i === 0 ? undefined : BigInt(i), DAY + i * 1000),
      summary: { operation: "append" as const, "k2.kafka.offsets.g1": `{"t":{"0":${i}}}` }
    })))
    const base = table({ main: { "snapshot-id": 6n, type: "branch" } })
    const m: TableMetadata = {
      ...base,
      snapshots,
      "current-snapshot-id": BigInt(n),
      refs: { main: { "snapshot-id": BigInt(n), type: "branch" } } as unknown as TableMetadata["refs"]
    }
    const plan = planExpiry(m, { maxSnapshotAgeMs: 5 * DAY, retainLast: 1, nowMs: DAY + n * 1000 })
    assert.strictEqual(plan.keep.size, n)
    assert.strictEqual(plan.markers.g1, BigInt(n))
    assert.isAtMost(reads(), 10 * n, `${reads()} reads of ${n} snapshots`)
  })
})

describe("planExpiry and the ingestion markers", () => {
  /** A deterministic pseudo-random source (mulberry32). */
  const random = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /**
   * A main line as K2 and another engine leave it: K2 commits carry every group's marker forward
   * (group g2 starts part way), foreign commits carry none; a rollback now and then moves main back.
   */
  const history = (rnd: () => number) => {
    let m = newTableMetadata({ uuid: "u", location: "file:///t", schema: tables.trades.schema, spec: tables.trades.spec, sortOrder: null, nowMs: 0 })
    const marks: Record<string, number> = {}
    let t = 0
    const n = 5 + Math.floor(rnd() * 40)
    for (let i = 1; i <= n; i++) {
      t += 1 + Math.floor(rnd() * 3 * DAY / n)
      const parent = m["current-snapshot-id"]
      const k2 = rnd() < 0.7
      const summary: Record<string, string> = { operation: "append" }
      if (k2) {
        const lastOurs = ancestry(m).find((s) => s.summary["k2.commit-id"] !== undefined)
        Object.assign(summary, lastOurs === undefined ? {} : carriedOf(lastOurs.summary))
        for (const g of i > n / 2 ? ["g1", "g2"] : ["g1"]) {
          if (rnd() < 0.5) {
            marks[g] = (marks[g] ?? 0) + 1
            summary[markerKey(g)] = `{"t":{"0":${marks[g]}}}`
          }
        }
        summary["k2.commit-id"] = String(i)
      }
      const snapshot: Snapshot = {
        "snapshot-id": BigInt(i),
        ...(parent === undefined ? {} : { "parent-snapshot-id": parent }),
        "sequence-number": BigInt(i),
        "timestamp-ms": t,
        "manifest-list": `ml-${i}`,
        summary: summary as Snapshot["summary"]
      }
      m = applyUpdates(m, null, [
        { action: "add-snapshot", snapshot },
        { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": snapshot["snapshot-id"] },
        ...(k2 ? mirrorCarry(snapshot, m.properties) : [])
      ], t)
      // A rollback to an earlier snapshot of the line, now and then.
      if (rnd() < 0.05) {
        const line = ancestry(m)
        const target = line[Math.floor(rnd() * line.length)]!
        m = applyUpdates(m, null, [{ action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": target["snapshot-id"] }], t)
      }
    }
    return { m, now: t }
  }

  it("an expiry changes no group's marker, the snapshot it is read from, what it carries, nor where the next commit carries from (2,000 histories)", () => {
    const rnd = random(7)
    let expiring = 0
    for (let run = 0; run < 2_000; run++) {
      const { m, now } = history(rnd)
      const options = { maxSnapshotAgeMs: Math.floor(rnd() * 2 * DAY), retainLast: 1 + Math.floor(rnd() * 3), nowMs: now + Math.floor(rnd() * DAY) }
      const plan = planExpiry(m, options)
      if (plan.expire.length === 0) continue
      expiring++
      const after = applyUpdates(m, null, [{ action: "remove-snapshots", "snapshot-ids": plan.expire }], now)
      for (const group of ["g1", "g2", "absent"]) {
        const before = markerIn(m, group)
        const kept = markerIn(after, group)
        assert.deepStrictEqual(kept?.offsets, before?.offsets, `run ${run}, ${group}`)
        assert.strictEqual(kept?.snapshotId, before?.snapshotId, `run ${run}, ${group}`)
        assert.deepStrictEqual(kept?.carried, before?.carried, `run ${run}, ${group}`)
      }
      // What the next K2 commit carries forward (as commitChange takes it): the newest K2 snapshot's, else the mirror's.
      const carried = (t: TableMetadata) => {
        const lastOurs = ancestry(t).find((s) => s.summary["k2.commit-id"] !== undefined)
        return lastOurs === undefined ? mirroredCarry(t) ?? {} : carriedOf(lastOurs.summary)
      }
      assert.deepStrictEqual(carried(after), carried(m), `run ${run}`)
    }
    // Histories with nothing to expire check nothing: most of them must expire something (1,740 of 2,000 do).
    assert.isAbove(expiring, 1_000)
  })
})

describe("planCompaction", () => {
  const file = (name: string, bytes: number) => ({ filePath: `file:///t/data/${name}.parquet`, partition: { day: 1 }, fileSizeInBytes: bytes }) as unknown as DataFile
  it("rewrites the files below the small-file size; one of exactly that size is not small", () => {
    const live = [file("a", 10), file("b", 10), file("c", 100)].map((f) => ({ file: f, specId: 0 }))
    const groups = planCompaction(live, { smallFileBytes: 100, minInputFiles: 2, targetFileSizeBytes: 1_000 })
    assert.deepStrictEqual(groups.map((g) => g.inputs.map((f) => f.filePath)), [["file:///t/data/a.parquet", "file:///t/data/b.parquet"]])
    assert.strictEqual(groups[0]!.files.length, 3)
  })
})
