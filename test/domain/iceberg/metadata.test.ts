import { assert, describe, it } from "@effect/vitest"
import { countedReads } from "../../support/countedReads.ts"
import {
  applyUpdates,
  currentSnapshot,
  defaultSpec,
  freshSnapshotId,
  newTableMetadata,
  noSnapshotAt,
  snapshotAsOf,
  snapshotById,
  snapshotSummary,
  specById,
  unwritableSchemaChange,
  UpdateRefused
} from "../../../src/domain/iceberg/metadata.ts"
import type { DataFile, Schema, Snapshot } from "../../../src/domain/iceberg/spec.ts"
import { definitionOf } from "../../../src/domain/tables.ts"
import { dataFileOf } from "../../support/fixtures.ts"

const base = () => {
  const d = definitionOf("trades")
  return newTableMetadata({ uuid: "u", location: "file:///t", schema: d.schema, spec: d.spec, sortOrder: null, nowMs: 0 })
}

/** An append snapshot numbered by its id, committed at `t`. */
const snap = (id: bigint, t: number, parent?: bigint) => ({
  "snapshot-id": id,
  ...(parent === undefined ? {} : { "parent-snapshot-id": parent }),
  "sequence-number": id,
  "timestamp-ms": t,
  "manifest-list": `file:///t/metadata/snap-${id}.avro`,
  summary: { operation: "append" as const }
})

describe("applyUpdates: partition specs (another engine's evolution)", () => {
  it("adds a spec and makes it the default; the old one stays for the files it partitions", () => {
    const m = base()
    const spec = { "spec-id": 1, fields: [{ "source-id": 1, "field-id": 1005, name: "by_id", transform: "bucket[4]" }] }
    const next = applyUpdates(m, null, [{ action: "add-spec", spec }, { action: "set-default-spec", "spec-id": 1 }], 1)
    assert.deepStrictEqual(defaultSpec(next), spec)
    assert.deepStrictEqual(specById(next, 0), defaultSpec(m))
    assert.strictEqual(next["last-partition-id"], Math.max(m["last-partition-id"], 1005))
  })

  it("refuses a spec id that exists and a default that does not", () => {
    const m = base()
    assert.throws(() => applyUpdates(m, null, [{ action: "add-spec", spec: { ...defaultSpec(m) } }], 1), /exists already/)
    assert.throws(() => applyUpdates(m, null, [{ action: "set-default-spec", "spec-id": 7 }], 1), /unknown partition spec 7/)
  })
})

describe("applyUpdates: sequence numbers (Java's metadata builder)", () => {
  const snapshot = (id: bigint, sequence: bigint, parent?: bigint) => ({
    "snapshot-id": id,
    ...(parent === undefined ? {} : { "parent-snapshot-id": parent }),
    "sequence-number": sequence,
    "timestamp-ms": 1,
    "manifest-list": `file:///t/metadata/snap-${id}.avro`,
    summary: { operation: "append" as const }
  })
  const refusal = (f: () => unknown) => {
    try {
      f()
    } catch (e) {
      assert.instanceOf(e, UpdateRefused)
      return e as UpdateRefused
    }
    return assert.fail("expected the update to be refused")
  }

  it("refuses, as stale, a child numbered at or below the table's last sequence number", () => {
    const m = applyUpdates(base(), null, [{ action: "add-snapshot", snapshot: snapshot(1n, 1n) }, { action: "add-snapshot", snapshot: snapshot(2n, 2n, 1n) }], 1)
    for (const sequence of [1n, 2n]) {
      const refused = refusal(() => applyUpdates(m, null, [{ action: "add-snapshot", snapshot: snapshot(3n, sequence, 1n) }], 2))
      assert.isTrue(refused.stale)
      assert.strictEqual(refused.message, `Cannot add snapshot with sequence number ${sequence} older than last sequence number 2`)
    }
    assert.strictEqual(applyUpdates(m, null, [{ action: "add-snapshot", snapshot: snapshot(3n, 3n, 1n) }], 2)["last-sequence-number"], 3n)
    // Java lets a snapshot without a parent through: it starts a history of its own.
    assert.strictEqual(applyUpdates(m, null, [{ action: "add-snapshot", snapshot: snapshot(4n, 1n) }], 2)["last-sequence-number"], 2n)
  })

  it("refuses, as stale, a snapshot whose id the table has (Java: \"Snapshot already exists for id\"), without a parent too", () => {
    const m = applyUpdates(base(), null, [{ action: "add-snapshot", snapshot: snapshot(1n, 1n) }, { action: "add-snapshot", snapshot: snapshot(2n, 2n, 1n) }], 1)
    for (const again of [snapshot(2n, 3n, 2n), snapshot(1n, 3n)]) {
      const refused = refusal(() => applyUpdates(m, null, [{ action: "add-snapshot", snapshot: again }], 2))
      assert.isTrue(refused.stale)
      assert.strictEqual(refused.message, `Snapshot already exists for id: ${again["snapshot-id"]}`)
    }
    // Twice in one change, too.
    const twice = refusal(() => applyUpdates(base(), null, [{ action: "add-snapshot", snapshot: snapshot(5n, 1n) }, { action: "add-snapshot", snapshot: snapshot(5n, 2n) }], 1))
    assert.strictEqual(twice.message, "Snapshot already exists for id: 5")
  })

  it("refuses, as invalid, a ref to a snapshot the table does not have", () => {
    const refused = refusal(() => applyUpdates(base(), null, [{ action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 7n }], 1))
    assert.isFalse(refused.stale)
    assert.strictEqual(refused.message, "cannot set main to unknown snapshot 7")
  })

  it("a set-snapshot-ref's retention fields become the ref's, as Java's SetSnapshotRef builds it (the REST update carries them)", () => {
    const m = applyUpdates(base(), null, [{ action: "add-snapshot", snapshot: snapshot(1n, 1n) }], 1)
    const retention = { "min-snapshots-to-keep": 5, "max-snapshot-age-ms": 86_400_000, "max-ref-age-ms": 604_800_000 }
    const set = applyUpdates(m, null, [{ action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 1n, ...retention }], 2)
    assert.deepStrictEqual(set.refs["main"], { "snapshot-id": 1n, type: "branch", ...retention })
    // The update replaces the ref: one without them clears them, as Java's does.
    const cleared = applyUpdates(set, null, [{ action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 1n }], 3)
    assert.deepStrictEqual(cleared.refs["main"], { "snapshot-id": 1n, type: "branch" })
  })
})

describe("freshSnapshotId: an id the table does not name", () => {
  /** Draws `ids` in turn, counting the draws. */
  const drawing = (...ids: ReadonlyArray<bigint>) => {
    const state = { draws: 0 }
    return { state, draw: () => ids[Math.min(state.draws++, ids.length - 1)]! }
  }

  it("draws again while the id is a snapshot's, a parent's (expired), in the log, or a ref's", () => {
    // 1 and 9 expired (parents of 2 and 3), 4 expired but logged, 8 tagged.
    const m = {
      ...base(),
      snapshots: [snap(2n, 2, 1n), snap(3n, 3, 9n)],
      "snapshot-log": [{ "snapshot-id": 1n, "timestamp-ms": 1 }, { "snapshot-id": 4n, "timestamp-ms": 2 }],
      refs: { audit: { "snapshot-id": 8n, type: "tag" as const } }
    }
    for (const taken of [1n, 2n, 3n, 4n, 8n, 9n]) {
      const { draw, state } = drawing(taken, 42n)
      assert.strictEqual(freshSnapshotId(m, draw), 42n)
      assert.strictEqual(state.draws, 2)
    }
    const { draw, state } = drawing(7n)
    assert.strictEqual(freshSnapshotId(m, draw), 7n)
    assert.strictEqual(state.draws, 1)
    // Taken twice in a row: drawn until free, not just once more.
    const again = drawing(2n, 8n, 42n)
    assert.strictEqual(freshSnapshotId(m, again.draw), 42n)
    assert.strictEqual(again.state.draws, 3)
  })
})

describe("applyUpdates: the metadata log", () => {
  it("keeps as many earlier metadata files as write.metadata.previous-versions-max says (Java's default 100)", () => {
    const commitN = (properties: Record<string, string>, n: number) => {
      let m = applyUpdates(base(), null, [{ action: "set-properties", updates: properties }], 1)
      for (let i = 0; i < n; i++) m = applyUpdates(m, `file:///t/metadata/${i}.metadata.json`, [], i + 2)
      return m["metadata-log"].map((e) => e["metadata-file"])
    }
    assert.deepStrictEqual(commitN({ "write.metadata.previous-versions-max": "3" }, 5), [2, 3, 4].map((i) => `file:///t/metadata/${i}.metadata.json`))
    assert.strictEqual(commitN({}, 120).length, 100)
    // As Java: at least one is kept.
    assert.deepStrictEqual(commitN({ "write.metadata.previous-versions-max": "0" }, 2), ["file:///t/metadata/1.metadata.json"])
  })
})

describe("applyUpdates: the snapshot log (Java's metadata builder)", () => {
  const main = (id: bigint) => ({ action: "set-snapshot-ref" as const, "ref-name": "main", type: "branch" as const, "snapshot-id": id })

  it("logs a rollback of main at the time it happens, not at the old snapshot's: time travel finds it", () => {
    let m = applyUpdates(base(), null, [{ action: "add-snapshot", snapshot: snap(1n, 100) }, main(1n)], 100)
    m = applyUpdates(m, null, [{ action: "add-snapshot", snapshot: snap(2n, 200, 1n) }, main(2n)], 200)
    m = applyUpdates(m, null, [main(1n)], 300)
    assert.deepStrictEqual(m["snapshot-log"].map((e) => [e["snapshot-id"], e["timestamp-ms"]]), [[1n, 100], [2n, 200], [1n, 300]])
    assert.strictEqual(snapshotAsOf(m, 250)?.["snapshot-id"], 2n)
    assert.strictEqual(snapshotAsOf(m, 350)?.["snapshot-id"], 1n)
  })

  /** What Iceberg Java's TableMetadata checks as it loads a table (more than a minute back is refused). */
  const javaRefuses = (m: ReturnType<typeof base>): string | undefined => {
    const minute = 60_000
    const log = m["snapshot-log"]
    for (let i = 1; i < log.length; i++) {
      if (log[i]!["timestamp-ms"] - log[i - 1]!["timestamp-ms"] < -minute) return "Expected sorted snapshot log entries"
    }
    const last = log.at(-1)
    if (last !== undefined && m["last-updated-ms"] - last["timestamp-ms"] < -minute) return "Invalid update timestamp"
    const metadataLog = m["metadata-log"]
    for (let i = 1; i < metadataLog.length; i++) {
      if (metadataLog[i]!["timestamp-ms"] - metadataLog[i - 1]!["timestamp-ms"] < -minute) return "Expected sorted previous metadata log entries"
    }
    return undefined
  }

  it("a clock set back an hour (between the snapshot's stamp and the catalog's, or before a rollback) writes nothing Java refuses", () => {
    const hour = 3_600_000
    let m = applyUpdates(base(), null, [{ action: "add-snapshot", snapshot: snap(1n, 10 * hour) }, main(1n)], 10 * hour)
    // Stamped at 12 h by the committer; the clock set back before the catalog applies it.
    m = applyUpdates(m, "file:///t/metadata/1.metadata.json", [{ action: "add-snapshot", snapshot: snap(2n, 12 * hour, 1n) }, main(2n)], 11 * hour)
    assert.isUndefined(javaRefuses(m))
    assert.strictEqual(m["last-updated-ms"], 12 * hour)
    // A rollback of main, with the clock still behind: logged at the log's newest time, not an hour before it.
    m = applyUpdates(m, "file:///t/metadata/2.metadata.json", [main(1n)], 11 * hour + 1)
    assert.isUndefined(javaRefuses(m))
    assert.deepStrictEqual(m["snapshot-log"].at(-1), { "snapshot-id": 1n, "timestamp-ms": 12 * hour })
    assert.strictEqual(snapshotAsOf(m, 12 * hour)?.["snapshot-id"], 1n)
  })

  it("logs nothing when main is set where it already is", () => {
    const m = applyUpdates(base(), null, [{ action: "add-snapshot", snapshot: snap(1n, 100) }, main(1n)], 100)
    assert.deepStrictEqual(applyUpdates(m, null, [main(1n)], 300)["snapshot-log"], m["snapshot-log"])
  })
})

describe("snapshotAsOf: time travel over an expired snapshot", () => {
  // A (t=100), B (t=200), C (t=300), one after the other on main; a tag keeps A when B expires.
  const history = () => {
    let m = base()
    for (const [s, ref] of [[snap(1n, 100), "main"], [snap(2n, 200, 1n), "main"], [snap(3n, 300, 2n), "main"]] as const) {
      m = applyUpdates(m, null, [
        { action: "add-snapshot", snapshot: s },
        { action: "set-snapshot-ref", "ref-name": ref, type: "branch", "snapshot-id": s["snapshot-id"] }
      ], s["timestamp-ms"])
    }
    return applyUpdates(m, null, [{ action: "set-snapshot-ref", "ref-name": "eod", type: "tag", "snapshot-id": 1n }], 400)
  }
  const idAsOf = (m: ReturnType<typeof base>, t: number) => snapshotAsOf(m, t)?.["snapshot-id"]

  it("does not answer with an older snapshot for the time an expired one was current", () => {
    const expired = applyUpdates(history(), null, [{ action: "remove-snapshots", "snapshot-ids": [2n] }], 500)
    // B was current from 200 to 300: A's state would miss B's rows.
    assert.strictEqual(idAsOf(expired, 250), undefined)
    assert.strictEqual(idAsOf(expired, 300), 3n)
  })

  it("refuses to remove a snapshot a ref points to, as stale (the remover plans again and keeps it)", () => {
    try {
      applyUpdates(history(), null, [{ action: "remove-snapshots", "snapshot-ids": [1n, 2n] }], 500)
      assert.fail("removed the snapshot tag eod points to")
    } catch (e) {
      assert.instanceOf(e, UpdateRefused)
      assert.isTrue((e as UpdateRefused).stale)
      assert.include((e as UpdateRefused).detail, "eod")
    }
  })

  it("removes a ref, then its snapshot in the same commit; a ref not there is no change; main is never removed", () => {
    const m = applyUpdates(history(), null, [
      { action: "remove-snapshot-ref", "ref-name": "eod" },
      { action: "remove-snapshots", "snapshot-ids": [1n] },
      { action: "remove-snapshot-ref", "ref-name": "nowhere" }
    ], 500)
    assert.deepStrictEqual(Object.keys(m.refs), ["main"])
    assert.deepStrictEqual(m.snapshots.map((s) => s["snapshot-id"]), [2n, 3n])
    try {
      applyUpdates(history(), null, [{ action: "remove-snapshot-ref", "ref-name": "main" }], 500)
      assert.fail("removed main")
    } catch (e) {
      assert.instanceOf(e, UpdateRefused)
      assert.isFalse((e as UpdateRefused).stale)
    }
  })

  it("refuses to remove the current snapshot, as invalid (the table would read as empty)", () => {
    try {
      applyUpdates(history(), null, [{ action: "remove-snapshots", "snapshot-ids": [3n] }], 500)
      assert.fail("removed the current snapshot")
    } catch (e) {
      assert.instanceOf(e, UpdateRefused)
      assert.isFalse((e as UpdateRefused).stale)
    }
  })

  it("drops the statistics files of removed snapshots, as Java does (else they name snapshots the table no longer has)", () => {
    const stats = (id: bigint) => ({ "snapshot-id": id, "statistics-path": `file:///t/metadata/stats-${id}.puffin`, "file-size-in-bytes": 10 })
    const partitionStats = (id: bigint) => ({ "snapshot-id": id, "statistics-path": `file:///t/metadata/partition-stats-${id}.parquet`, "file-size-in-bytes": 10 })
    const m = { ...history(), statistics: [stats(2n), stats(3n)], "partition-statistics": [partitionStats(2n), partitionStats(3n)] }
    const expired = applyUpdates(m, null, [{ action: "remove-snapshots", "snapshot-ids": [2n] }], 500)
    assert.deepStrictEqual(expired.statistics, [stats(3n)])
    assert.deepStrictEqual(expired["partition-statistics"], [partitionStats(3n)])
  })

  it("detects the gap in a snapshot log written without it (a log that only dropped the expired entry)", () => {
    const m = history()
    const gapped = {
      ...m,
      snapshots: m.snapshots.filter((s) => s["snapshot-id"] !== 2n),
      "snapshot-log": m["snapshot-log"].filter((e) => e["snapshot-id"] !== 2n)
    }
    assert.strictEqual(idAsOf(gapped, 250), undefined)
    assert.strictEqual(idAsOf(gapped, 150), undefined, "when B replaced A is unknown")
    assert.strictEqual(idAsOf(gapped, 300), 3n)
    // Without a gap, every instant has its snapshot.
    assert.deepStrictEqual([150, 250, 300].map((t) => idAsOf(m, t)), [1n, 2n, 3n])
  })

  it("finds the snapshot main was rolled back from, once the rollback target's parent has expired (no gap: the log was trimmed)", () => {
    // A, B, C on main; main rolled back to B at 400; then A expires, as an expiry by age removes it.
    let m = history()
    m = applyUpdates(m, null, [{ action: "set-snapshot-ref", "ref-name": "eod", type: "tag", "snapshot-id": 3n }], 350)
    m = applyUpdates(m, null, [{ action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 2n }], 400)
    m = applyUpdates(m, null, [{ action: "remove-snapshots", "snapshot-ids": [1n] }], 500)
    assert.deepStrictEqual(m["snapshot-log"].map((e) => [e["snapshot-id"], e["timestamp-ms"]]), [[2n, 200], [3n, 300], [2n, 400]])
    // C was current from 300 to 400, and C is still in the table (Java's time travel reads it).
    assert.deepStrictEqual([250, 300, 350, 400].map((t) => idAsOf(m, t)), [2n, 3n, 3n, 2n])
    assert.strictEqual(idAsOf(m, 150), undefined, "A, current then, has expired")
  })
})

describe("snapshotSummary: totals (spec \"Snapshot summary\", Java's SnapshotProducer)", () => {
  const file = (recordCount: number, fileSizeInBytes: number): DataFile =>
    dataFileOf({ filePath: `f${recordCount}.parquet`, recordCount, fileSizeInBytes })
  const parent = (summary: Record<string, string>): Snapshot => ({
    "snapshot-id": 1n,
    "sequence-number": 1n,
    "timestamp-ms": 0,
    "manifest-list": "l.avro",
    summary: { operation: "append", ...summary }
  })
  const totals = (s: Readonly<Record<string, string>>) =>
    Object.fromEntries(Object.entries(s).filter(([k]) => k.startsWith("total-")))

  it("start at zero for a table's first snapshot and carry the parent's forward", () => {
    assert.deepStrictEqual(totals(snapshotSummary("append", undefined, [file(5, 50)], [], {})), {
      "total-data-files": "1",
      "total-records": "5",
      "total-files-size": "50",
      "total-delete-files": "0",
      "total-position-deletes": "0",
      "total-equality-deletes": "0"
    })
    const p = parent({
      "total-data-files": "2",
      "total-records": "7",
      "total-files-size": "70",
      "total-delete-files": "0",
      "total-position-deletes": "0",
      "total-equality-deletes": "0"
    })
    assert.deepStrictEqual(totals(snapshotSummary("replace", p, [file(5, 50)], [file(2, 20)], {})), {
      "total-data-files": "2",
      "total-records": "10",
      "total-files-size": "100",
      "total-delete-files": "0",
      "total-position-deletes": "0",
      "total-equality-deletes": "0"
    })
  })

  it("are left out, not restarted from zero, when the parent does not state them", () => {
    // A parent written without totals (an older writer): the table's totals are unknown, and a
    // total of this commit's files alone would be wrong.
    const p = parent({ "total-records": "7" })
    assert.deepStrictEqual(totals(snapshotSummary("append", p, [file(5, 50)], [], {})), { "total-records": "12" })
  })
})

/** n snapshots, each the parent of the next, one a second. */
const chain = (n: number): Array<Snapshot> =>
  Array.from({ length: n }, (_, i): Snapshot => ({
    "snapshot-id": BigInt(i + 1),
    ...(i === 0 ? {} : { "parent-snapshot-id": BigInt(i) }),
    "sequence-number": BigInt(i + 1),
    "timestamp-ms": i * 1000,
    "manifest-list": `file:///t/metadata/snap-${i + 1}.avro`,
    summary: { operation: "append" }
  }))

describe("snapshot lookups on a table of many snapshots", () => {
  // Every read pins the current snapshot of each table it involves, on metadata the catalog
  // caches: a scan of the snapshots per lookup made each request pay for the whole history
  // (432,000 snapshots at one commit a second under the default 5-day retention).
  it("reads each snapshot a few times in all, not once per lookup", () => {
    const n = 20_000
    const { items: snapshots, reads } = countedReads(chain(n))
    const m = { ...base(), snapshots, "current-snapshot-id": BigInt(n) }
    for (let request = 0; request < 100; request++) {
      assert.strictEqual(currentSnapshot(m)?.["snapshot-id"], BigInt(n))
      assert.strictEqual(snapshotById(m, 7n)?.["snapshot-id"], 7n)
    }
    assert.isUndefined(snapshotById(m, BigInt(n + 1)))
    assert.isAtMost(reads(), 3 * n, `${reads()} reads of ${n} snapshots`)
  })

  it("finds the snapshot as of a time reading each log entry a few times in all, not once per lookup", () => {
    const n = 20_000
    const snapshots = chain(n)
    const { items: log, reads } = countedReads(snapshots.map((s) => ({ "snapshot-id": s["snapshot-id"], "timestamp-ms": s["timestamp-ms"] })))
    const m = { ...base(), snapshots, "snapshot-log": log, "current-snapshot-id": BigInt(n) }
    for (let request = 0; request < 100; request++) {
      assert.strictEqual(snapshotAsOf(m, request * 1000 + 500)?.["snapshot-id"], BigInt(request + 1))
      assert.strictEqual(snapshotAsOf(m, n * 1000)?.["snapshot-id"], BigInt(n))
      assert.isUndefined(snapshotAsOf(m, -1))
    }
    assert.isAtMost(reads(), 3 * n, `${reads()} reads of ${n} log entries`)
    // A log out of time order (another writer's clock) is still read as before: the last entry at or before.
    const unordered = { ...m, "snapshot-log": [{ "snapshot-id": 2n, "timestamp-ms": 5 }, { "snapshot-id": 1n, "timestamp-ms": 1 }] }
    assert.strictEqual(snapshotAsOf(unordered, 6)?.["snapshot-id"], 1n)
    // "At or before" includes the entry logged at exactly that millisecond.
    assert.strictEqual(snapshotAsOf(unordered, 1)?.["snapshot-id"], 1n)
  })
})

describe("noSnapshotAt", () => {
  it("is false at the very millisecond a snapshot was committed (the table had it then), true only before every snapshot", () => {
    // A log that does not name the snapshot (another engine's metadata): time travel cannot say which was current.
    const m = { ...base(), snapshots: [snap(1n, 100)], "snapshot-log": [], "current-snapshot-id": 1n }
    assert.isTrue(noSnapshotAt(m, 99))
    assert.isFalse(noSnapshotAt(m, 100))
  })
})

describe("unwritableSchemaChange: what another engine's schema change leaves K2's writer", () => {
  /** The trades table with `fields` (from the first schema's) as its current schema 1. */
  const evolved = (fields: (fields: Schema["fields"]) => Schema["fields"]) => {
    const m = base()
    const next: Schema = { type: "struct", "schema-id": 1, fields: fields(m.schemas[0]!.fields) }
    return { ...m, schemas: [...m.schemas, next], "current-schema-id": 1 }
  }
  const change = (name: string, to: (f: Schema["fields"][number]) => Schema["fields"][number]) => (fields: Schema["fields"]) =>
    fields.map((f) => (f.name === name ? to(f) : f))
  const columns = definitionOf("trades").schema.fields.map((f) => f.name)

  it("writes K2's columns after columns were added, dropped, reordered, made optional or their names swapped", () => {
    assert.isNull(unwritableSchemaChange(base(), columns))
    assert.isNull(unwritableSchemaChange(evolved((fs) => [...fs, { id: 21, name: "venue_note", required: false, type: "string" }]), columns))
    assert.isNull(unwritableSchemaChange(evolved((fs) => fs.filter((f) => f.name !== "vendor_data")), columns))
    assert.isNull(unwritableSchemaChange(evolved((fs) => [...fs].reverse()), columns))
    assert.isNull(unwritableSchemaChange(evolved(change("currency", (f) => ({ ...f, required: false }))), columns))
    // The name is the column's now: K2's side values go to the column named side.
    assert.isNull(unwritableSchemaChange(evolved((fs) => [...fs.filter((f) => f.name !== "side"), { id: 21, name: "side", required: false, type: "string" }]), columns))
    // A column K2 does not write may have changed in any way.
    const score = evolved((fs) => [...fs, { id: 21, name: "score", required: false, type: "float" }])
    const widened = { ...score, schemas: [...score.schemas, { ...score.schemas[1]!, "schema-id": 2, fields: change("score", (f) => ({ ...f, type: "double" }))(score.schemas[1]!.fields) }], "current-schema-id": 2 }
    assert.isNull(unwritableSchemaChange(widened, columns))
    assert.include(unwritableSchemaChange(widened, [...columns, "score"]), "score (id 21) changed type")
  })

  it("refuses, naming the column, after a rename (its values would be written as null) or a type change", () => {
    assert.include(unwritableSchemaChange(evolved(change("source_sequence", (f) => ({ ...f, name: "seq" }))), columns), "source_sequence (id 12) was renamed to seq")
    assert.include(unwritableSchemaChange(evolved(change("kafka_partition", (f) => ({ ...f, type: "long" }))), columns), "kafka_partition (id 15) changed type")
    assert.include(unwritableSchemaChange(evolved(change("price", (f) => ({ ...f, type: "decimal(20, 8)" }))), columns), "price (id 7) changed type")
  })

  it("refuses a K2 column absent from every schema once another engine removed older schemas (Java's cleanExpiredMetadata): renamed or dropped, nobody can tell", () => {
    // Java renamed price, then expired every snapshot of schema 0 and removed the schema with them.
    const renamed = evolved(change("price", (f) => ({ ...f, name: "trade_price" })))
    const cleaned = { ...renamed, schemas: renamed.schemas.slice(1) }
    assert.include(unwritableSchemaChange(cleaned, columns), "price")
    // Columns the schemas left still name are written as before.
    assert.isNull(unwritableSchemaChange(cleaned, columns.filter((c) => c !== "price")))
  })

  it("refuses a K2 column dropped and added again under its name at another type: K2's values are not of it", () => {
    // price's unscaled decimals would be written into a double, kafka_partition's ints into a string.
    const readded = (name: string, type: Schema["fields"][number]["type"]) =>
      evolved((fs) => [...fs.filter((f) => f.name !== name), { id: 21, name, required: false, type }])
    assert.include(unwritableSchemaChange(readded("price", "double"), columns), "price (id 7) was dropped and added again as id 21 of type double")
    assert.include(unwritableSchemaChange(readded("kafka_partition", "string"), columns), "kafka_partition (id 15) was dropped and added again as id 21 of type string")
    assert.include(unwritableSchemaChange(readded("price", "decimal(20, 8)"), columns), "price (id 7) was dropped and added again")
    // At its own type the new column is written (by field id 21, as any engine writing by name does).
    assert.isNull(unwritableSchemaChange(readded("price", "decimal(18, 8)"), columns))
    // What counts is the type K2 gave the column, not that of another engine's column in between.
    const twice = readded("side", "int")
    const back = { ...twice, schemas: [...twice.schemas, { ...twice.schemas[1]!, "schema-id": 2, fields: [...twice.schemas[1]!.fields.filter((f) => f.name !== "side"), { id: 22, name: "side", required: false, type: "string" as const }] }], "current-schema-id": 2 }
    assert.include(unwritableSchemaChange(twice, columns), "side (id 10) was dropped and added again as id 21 of type int")
    assert.isNull(unwritableSchemaChange(back, columns))
  })
})
