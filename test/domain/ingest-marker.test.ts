import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import {
  CARRIED_FROM,
  CARRIED_FROM_SEQUENCE,
  carriedOf,
  decodeOffsets,
  decodeTopicIds,
  encodeOffsets,
  fence,
  markerKey,
  mergeOffsets,
  mirrorCarry,
  mirroredCarry,
  topicIdsKey
} from "../../src/domain/ingest/marker.ts"
import { applyUpdates, newTableMetadata } from "../../src/domain/iceberg/metadata.ts"
import type { Snapshot } from "../../src/domain/iceberg/spec.ts"
import { tables } from "../../src/domain/tables.ts"
import { markerIn } from "../support/marker.ts"

const offsets = (o: Record<string, Record<number, bigint>>) =>
  new Map(Object.entries(o).map(([t, ps]) => [t, new Map(Object.entries(ps).map(([p, v]) => [Number(p), v]))]))

describe("ingestion marker", () => {
  it("round-trips exactly, beyond 2^53", () => {
    const o = offsets({ "market.equities.trades.asx": { 0: 12n, 11: 9_007_199_254_740_993n } })
    const text = encodeOffsets(o)
    assert.strictEqual(text, `{"market.equities.trades.asx":{"0":12,"11":9007199254740993}}`)
    assert.deepStrictEqual(decodeOffsets(text), o)
  })

  it("refuses text that is not a marker", () => {
    assert.isUndefined(decodeOffsets("nope"))
    assert.isUndefined(decodeOffsets(`{"t":{"x":1}}`))
    assert.isUndefined(decodeOffsets(`{"t":{"0":"1"}}`))
  })

  it("refuses a damaged marker rather than reading offsets it does not hold", () => {
    // Each would start a partition at a position no writer ever committed.
    for (const text of [`{"t":{"0":-1}}`, `{"t":5}`, `{"t":[7]}`, `[{"0":3}]`, `{"t":{"00":3,"0":5}}`, `null`, `{"t":null}`]) {
      assert.isUndefined(decodeOffsets(text), text)
    }
  })

  it("only moves forward when merged", () => {
    const merged = mergeOffsets(offsets({ t: { 0: 10n, 1: 5n } }), offsets({ t: { 0: 7n, 2: 1n }, u: { 0: 3n } }))
    assert.deepStrictEqual(merged, offsets({ t: { 0: 10n, 1: 5n, 2: 1n }, u: { 0: 3n } }))
  })

  it("is found in the newest snapshot that carries it", () => {
    const m = withSnapshots()
    const found = markerIn(m, "g")
    assert.strictEqual(found?.snapshotId, 1n)
    assert.deepStrictEqual(found?.offsets, offsets({ t: { 0: 5n } }))
    assert.isUndefined(markerIn(m, "other"))
  })

  it("refuses a newest marker that does not decode rather than resuming from an older one (rows twice)", () => {
    // Snapshot 3, newest, carries g's marker garbled (another tool, damage, a later encoding) over snapshot 1's {t: {0: 5}}.
    const m = applyUpdates(withSnapshots(), null, [
      { action: "add-snapshot", snapshot: { "snapshot-id": 3n, "parent-snapshot-id": 2n, "sequence-number": 3n, "timestamp-ms": 3, "manifest-list": "x", summary: { operation: "append", [markerKey("g")]: `{"t":{"0":"9"}}` } } },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 3n }
    ], 1)
    const thrown = (() => {
      try {
        return { found: markerIn(m, "g", "trades") }
      } catch (e) {
        return { error: e as { _tag: string; snapshotId?: bigint; group: string; key: string; message: string } }
      }
    })()
    assert.isUndefined(thrown.found, "the older marker must not be used")
    assert.strictEqual(thrown.error?._tag, "MarkerUnreadable")
    assert.strictEqual(thrown.error?.snapshotId, 3n)
    assert.strictEqual(thrown.error?.key, markerKey("g"))
    assert.include(thrown.error?.message, "table trades")
    assert.include(thrown.error?.message, "snapshot 3")
    // Nor may a commit be fenced against the older marker.
    const fenced = fence(m, "g", [{ topic: "t", partition: 0, from: 5n, to: 9n }], "trades")
    assert.isTrue(Result.isFailure(fenced))
    assert.include(Result.isFailure(fenced) ? fenced.failure : "", markerKey("g"))
    // Another group's absent marker keeps its meaning.
    assert.isUndefined(markerIn(m, "other"))
  })

  it("refuses the mirrored copy when it does not decode, once the snapshots carrying the marker are expired", () => {
    const m = applyUpdates(withSnapshots(), null, [
      ...mirrorOf(1n, { [markerKey("g")]: "not offsets" }),
      { action: "remove-snapshots", "snapshot-ids": [1n] }
    ], 1)
    const error = (() => {
      try {
        markerIn(m, "g")
        return undefined
      } catch (e) {
        return e as { _tag: string; snapshotId?: bigint; message: string }
      }
    })()
    assert.strictEqual(error?._tag, "MarkerUnreadable")
    assert.isUndefined(error?.snapshotId)
    assert.include(error?.message, "table properties")
  })

  it("fences a commit: it moves the marker forward only from where this writer started", () => {
    const m = withSnapshots()
    const moved = fence(m, "g", [{ topic: "t", partition: 0, from: 5n, to: 9n }, { topic: "t", partition: 1, from: 0n, to: 3n }], "trades")
    assert.deepStrictEqual(Result.map(moved, (p) => decodeOffsets(p[markerKey("g")]!)), Result.succeed(offsets({ t: { 0: 9n, 1: 3n } })))
    const stale = fence(m, "g", [{ topic: "t", partition: 0, from: 4n, to: 9n }], "trades")
    assert.deepStrictEqual(stale, Result.fail("t:0 is at 5 in trades, this writer started at 4: another writer owns it"))
    // Behind where this writer started (a rollback took the marker back): committing would skip 5..7.
    const behind = fence(m, "g", [{ topic: "t", partition: 0, from: 7n, to: 9n }], "trades")
    assert.deepStrictEqual(behind, Result.fail("t:0 is at 5 in trades, this writer started at 7: another writer owns it"))
    // Another group's marker is its own: nothing there yet, so it starts at 0.
    assert.isTrue(Result.isSuccess(fence(m, "other", [{ topic: "t", partition: 0, from: 0n, to: 2n }], "trades")))
  })

  it("fences out a group's commit of a topic another group adopted its marks of (ADR-61): it would write that copy's records again", () => {
    const m = withSnapshots({ [markerKey("g")]: `{"t":{"0":5},"u":{"0":2}}`, [markerKey("h")]: `{"t":{"0":5}}`, "k2.kafka.handed-over.g": `{"t":"h"}` })
    const handed = fence(m, "g", [{ topic: "t", partition: 0, from: 5n, to: 9n }], "trades")
    assert.isTrue(Result.isFailure(handed))
    assert.include(Result.isFailure(handed) ? handed.failure : "", "group h adopted group g's marks of t")
    // Its other topics, and the adopter, commit as before.
    assert.isTrue(Result.isSuccess(fence(m, "g", [{ topic: "u", partition: 0, from: 2n, to: 3n }], "trades")))
    assert.isTrue(Result.isSuccess(fence(m, "h", [{ topic: "t", partition: 0, from: 5n, to: 9n }], "trades")))
  })

  it("records beside the marker the ids of the topics it moved; a topic read without its id loses the one recorded", () => {
    const m = withSnapshots()
    const ids = (r: Result.Result<Record<string, string>, string>) =>
      Result.isSuccess(r) ? Object.fromEntries(decodeTopicIds(r.success[topicIdsKey("g")])) : r.failure
    const first = fence(m, "g", [{ topic: "t", partition: 0, from: 5n, to: 9n, topicId: "A" }, { topic: "u", partition: 0, from: 0n, to: 1n, topicId: "B" }], "trades")
    assert.deepStrictEqual(ids(first), { t: "A", u: "B" })
    // Without ids (kafkajs), nothing was recorded: nothing is written.
    const unknown = fence(m, "g", [{ topic: "t", partition: 0, from: 5n, to: 9n }], "trades")
    assert.isTrue(Result.isSuccess(unknown) && !(topicIdsKey("g") in unknown.success))

    const recorded = withSnapshots({ [markerKey("g")]: `{"t":{"0":9},"u":{"0":1}}`, [topicIdsKey("g")]: `{"t":"A","u":"B"}` })
    assert.deepStrictEqual(Object.fromEntries(markerIn(recorded, "g")!.topicIds), { t: "A", u: "B" })
    // A new id replaces the old; a topic read without one loses it (it may be another log now).
    assert.deepStrictEqual(ids(fence(recorded, "g", [{ topic: "t", partition: 0, from: 9n, to: 12n, topicId: "C" }], "trades")), { t: "C", u: "B" })
    assert.deepStrictEqual(ids(fence(recorded, "g", [{ topic: "t", partition: 0, from: 9n, to: 12n }], "trades")), { u: "B" })
    // Losing the last one writes an empty map, or the parent's would be carried forward.
    const onlyT = withSnapshots({ [markerKey("g")]: `{"t":{"0":9}}`, [topicIdsKey("g")]: `{"t":"A"}` })
    const emptied = fence(onlyT, "g", [{ topic: "t", partition: 0, from: 9n, to: 12n }], "trades")
    assert.deepStrictEqual(Result.map(emptied, (p) => p[topicIdsKey("g")]), Result.succeed("{}"))
  })

  it("carries forward every group's marker, topic ids and sequence checkpoints, and nothing else", () => {
    const summary = {
      [markerKey("g")]: `{"t":{"0":5}}`,
      [topicIdsKey("g")]: `{"t":"A"}`,
      [markerKey("h")]: `{"t":{"0":7}}`,
      [topicIdsKey("h")]: `{"t":"A"}`,
      "k2.sequence.checkpoint.g.t:0": "f",
      "k2.commit-id": "c",
      "added-records": "3"
    }
    assert.deepStrictEqual(Object.keys(carriedOf(summary)).sort(), [
      "k2.kafka.offsets.g", "k2.kafka.offsets.h", "k2.kafka.topic-ids.g", "k2.kafka.topic-ids.h", "k2.sequence.checkpoint.g.t:0"
    ])
  })

  it("reads damaged topic ids as none: a check then has nothing to compare", () => {
    for (const text of [undefined, "nope", `{"t":1}`, `["A"]`, "null"]) assert.strictEqual(decodeTopicIds(text).size, 0, String(text))
  })

  it("survives another engine expiring the snapshots that carry it, through the table properties", () => {
    // K2's commit of snapshot 1 mirrored what it carries into the properties.
    let m = applyUpdates(withSnapshots(), null, [
      ...mirrorOf(1n, { [markerKey("g")]: `{"t":{"0":5}}`, "k2.sequence.checkpoint.g.t:0": "f", "k2.other": "x" })
    ], 1)
    assert.deepStrictEqual(m.properties[CARRIED_FROM], "1")
    assert.isUndefined(m.properties["k2.other"], "only carried keys are mirrored")
    // While snapshot 1 is in the table, the ancestry is the truth and the copy is not used.
    assert.isUndefined(mirroredCarry(m))
    assert.strictEqual(markerIn(m, "g")?.snapshotId, 1n)

    // Expired (snapshot 2, foreign, is current): the copy describes the current snapshot's data.
    m = applyUpdates(m, null, [{ action: "remove-snapshots", "snapshot-ids": [1n] }], 1)
    const found = markerIn(m, "g")
    assert.strictEqual(found?.snapshotId, 2n)
    assert.deepStrictEqual(found?.offsets, offsets({ t: { 0: 5n } }))
    assert.strictEqual(found?.carried["k2.sequence.checkpoint.g.t:0"], "f")
    assert.isTrue(Result.isSuccess(fence(m, "g", [{ topic: "t", partition: 0, from: 5n, to: 9n }], "trades")))
    assert.isUndefined(markerIn(m, "other"))
  })

  it("reads the copy an earlier K2 mirrored (before k2.carried-from-sequence-number), and a marker without topic ids", () => {
    // As 8f35a72 wrote it: the carried keys and the snapshot it names, no sequence number.
    const m = applyUpdates(withSnapshots(), null, [
      { action: "set-properties", updates: { [markerKey("g")]: `{"t":{"0":5}}`, [CARRIED_FROM]: "1" } },
      { action: "remove-snapshots", "snapshot-ids": [1n] }
    ], 1)
    const found = markerIn(m, "g")
    assert.strictEqual(found?.snapshotId, 2n)
    assert.deepStrictEqual(found?.offsets, offsets({ t: { 0: 5n } }))
    assert.strictEqual(found?.topicIds.size, 0)
    // The next commit fences at the old mark and records what a new K2 mirrors.
    assert.deepStrictEqual(
      fence(m, "g", [{ topic: "t", partition: 0, from: 5n, to: 9n, topicId: "id-t" }], "trades"),
      Result.succeed({ [markerKey("g")]: `{"t":{"0":9}}`, [topicIdsKey("g")]: `{"t":"id-t"}` })
    )
  })

  it("ignores the copy after a rollback: the current data no longer holds what it describes", () => {
    // The copy names snapshot 2 (marker 9); the table is rolled back to snapshot 1 (marker 5).
    const m = applyUpdates(withSnapshots(), null, [
      ...mirrorOf(2n, { [markerKey("g")]: `{"t":{"0":9}}` }),
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 1n }
    ], 1)
    assert.deepStrictEqual(markerIn(m, "g")?.offsets, offsets({ t: { 0: 5n } }), "the ancestry's marker")
    assert.isUndefined(mirroredCarry(m), "snapshot 2 is still in the table, off the current line")
  })

  it("ignores the copy of a snapshot rolled back from while it is still in the table, though its line's older snapshots expired", () => {
    // K2 commits 3 on 1 (mirrored, marker 9); main is rolled back to 1; another engine commits 4 on 1,
    // then 1 expires: the ancestry (4) holds no marker and nothing numbered at or below 3, but 3 is
    // still in the table, off the current line: the data no longer holds what the copy describes.
    const snapshot = (id: bigint, parent: bigint): Snapshot =>
      ({ "snapshot-id": id, "parent-snapshot-id": parent, "sequence-number": id, "timestamp-ms": Number(id), "manifest-list": "x", summary: { operation: "append" } })
    const m = applyUpdates(withSnapshots({}), null, [
      { action: "add-snapshot", snapshot: snapshot(3n, 1n) },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 3n },
      ...mirrorOf(3n, { [markerKey("h")]: `{"t":{"0":9}}` }),
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 1n },
      { action: "add-snapshot", snapshot: snapshot(4n, 1n) },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 4n },
      { action: "remove-snapshots", "snapshot-ids": [1n, 2n] }
    ], 1)
    assert.deepStrictEqual(m.snapshots.map((s) => s["snapshot-id"]), [3n, 4n])
    assert.isUndefined(mirroredCarry(m))
    assert.isUndefined(markerIn(m, "h"), "h must read from the start")
  })

  it("ignores the copy after a rollback followed by the expiry of the snapshot it names", () => {
    // The copy names snapshot 3 (sequence number 3, marker of group h); the table is rolled back
    // to snapshot 2 (sequence number 2) and snapshot 3 expired: h's rows went with the rollback.
    const three: Snapshot = { "snapshot-id": 3n, "parent-snapshot-id": 2n, "sequence-number": 3n, "timestamp-ms": 3, "manifest-list": "x", summary: { operation: "append" } }
    const m = applyUpdates(withSnapshots(), null, [
      { action: "add-snapshot", snapshot: three },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 3n },
      ...mirrorOf(3n, { [markerKey("h")]: `{"t":{"0":9}}` }),
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 2n },
      { action: "remove-snapshots", "snapshot-ids": [3n] }
    ], 1)
    assert.isUndefined(markerIn(m, "h"), "h must read from the start")
    // The same copy after an expiry of every snapshot up to 3 under a newer current one is read.
    const expired = applyUpdates(withSnapshots(), null, [
      ...mirrorOf(3n, { [markerKey("h")]: `{"t":{"0":9}}` }),
      { action: "add-snapshot", snapshot: { ...three, "snapshot-id": 4n, "parent-snapshot-id": 3n, "sequence-number": 4n } },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 4n },
      { action: "remove-snapshots", "snapshot-ids": [1n, 2n] }
    ], 1)
    assert.deepStrictEqual(markerIn(expired, "h")?.offsets, offsets({ t: { 0: 9n } }))
  })

  it("ignores the copy under a new root snapshot numbered like the one it names (a root may reuse a number)", () => {
    // K2 commits 3 (mirrored, marker 9); another engine replaces the table with a root snapshot 4
    // that takes sequence number 3 again (allowed without a parent), then 1 to 3 expire.
    const three: Snapshot = { "snapshot-id": 3n, "parent-snapshot-id": 2n, "sequence-number": 3n, "timestamp-ms": 3, "manifest-list": "x", summary: { operation: "append" } }
    const m = applyUpdates(withSnapshots({}), null, [
      { action: "add-snapshot", snapshot: three },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 3n },
      ...mirrorOf(3n, { [markerKey("h")]: `{"t":{"0":9}}` }),
      { action: "add-snapshot", snapshot: { "snapshot-id": 4n, "sequence-number": 3n, "timestamp-ms": 4, "manifest-list": "y", summary: { operation: "overwrite" } } },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": 4n },
      { action: "remove-snapshots", "snapshot-ids": [1n, 2n, 3n] }
    ], 1)
    assert.isUndefined(markerIn(m, "h"), "the root's data is not what the copy describes")
  })

  it("mirrors nothing for a commit that carries nothing, unless a mirror exists: then it removes what is no longer carried", () => {
    assert.deepStrictEqual(mirrorOf(7n, { "k2.commit-id": "c" }), [])
    const properties = { [markerKey("b")]: "{}", "k2.sequence.checkpoint.b.t:0": "f", [CARRIED_FROM]: "5", owner: "x" }
    assert.deepStrictEqual(mirrorOf(7n, { "k2.commit-id": "c" }, properties), [
      { action: "set-properties", updates: { [CARRIED_FROM]: "7", [CARRIED_FROM_SEQUENCE]: "7" } },
      { action: "remove-properties", removals: [markerKey("b"), "k2.sequence.checkpoint.b.t:0"] }
    ])
  })
})

/** The property updates K2's commit of snapshot `id` (sequence number `id`) carrying `summary` makes. */
const mirrorOf = (id: bigint, summary: Record<string, string>, properties: Record<string, string> = {}) =>
  mirrorCarry({ "snapshot-id": id, "sequence-number": id, "timestamp-ms": Number(id), "manifest-list": "x", summary: { operation: "append", ...summary } }, properties)

/** A table whose first snapshot carries group g's marker ({t: {0: 5}}, or `first`) and whose second carries none. */
const withSnapshots = (first: Record<string, string> = { [markerKey("g")]: `{"t":{"0":5}}` }) => {
  let m = newTableMetadata({
    uuid: "u",
    location: "file:///t",
    schema: tables.trades.schema,
    spec: tables.trades.spec,
    sortOrder: null,
    nowMs: 1
  })
  const snap = (id: bigint, parent: bigint | undefined, summary: Record<string, string>): Snapshot => ({
    "snapshot-id": id,
    ...(parent === undefined ? {} : { "parent-snapshot-id": parent }),
    "sequence-number": id,
    "timestamp-ms": Number(id),
    "manifest-list": "x",
    summary: { operation: "append", ...summary }
  })
  for (const s of [snap(1n, undefined, first), snap(2n, 1n, {})]) {
    m = applyUpdates(m, null, [
      { action: "add-snapshot", snapshot: s },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": s["snapshot-id"] }
    ], 1)
  }
  return m
}
