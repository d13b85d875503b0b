import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { applyUpdates, newTableMetadata } from "../../../src/domain/iceberg/metadata.ts"
import type { TableMetadata } from "../../../src/domain/iceberg/spec.ts"
import { definitionOf, type TableName } from "../../../src/domain/tables.ts"
import { encodeCursor } from "../../../src/domain/query/cursor.ts"
import { pinCursor, pinSnapshots } from "../../../src/layers/query/pinning.ts"

/** A table with one snapshot per [id, committed at ms], in that order, each the parent of the next. */
const table = (name: TableName, commits: ReadonlyArray<readonly [bigint, number]>): TableMetadata => {
  let m = newTableMetadata({ uuid: name, location: `file:///${name}`, schema: definitionOf(name).schema, spec: definitionOf(name).spec, sortOrder: null, nowMs: 0 })
  for (const [id, at] of commits) {
    const parent = m["current-snapshot-id"] === undefined ? {} : { "parent-snapshot-id": m["current-snapshot-id"] }
    m = applyUpdates(m, null, [
      { action: "add-snapshot", snapshot: { "snapshot-id": id, ...parent, "sequence-number": id, "timestamp-ms": at, "manifest-list": "x", summary: { operation: "append" } } },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": id }
    ], at)
  }
  return m
}

const trades = table("trades", [[1n, 1_000], [2n, 2_000]])
const quotes = table("quotes", [[10n, 1_500], [11n, 2_500]])
const NOW = 100_000

describe("pinSnapshots", () => {
  it("latest of one table: its current snapshot by id, which may still change", () => {
    assert.deepStrictEqual(
      pinSnapshots([["trades", trades]], { _tag: "Latest" }, NOW),
      Result.succeed({ ids: { trades: "2" }, selector: { _tag: "ById", snapshotId: 2n }, immutable: false, revision: "trades@2000" })
    )
  })

  it("latest of several: every table as of the newest commit among them", () => {
    assert.deepStrictEqual(
      pinSnapshots([["trades", trades], ["quotes", quotes]], { _tag: "Latest" }, NOW),
      Result.succeed({ ids: { trades: "2", quotes: "11" }, selector: { _tag: "AsOf", timestampMs: 2_500 }, immutable: false, revision: "trades@2000,quotes@2500" })
    )
  })

  it("a table not created yet reads as empty: no selector", () => {
    assert.deepStrictEqual(
      pinSnapshots([["trades", trades], ["quotes", undefined]], { _tag: "Latest" }, NOW),
      Result.succeed({ ids: { trades: "2", quotes: null }, selector: undefined, immutable: false, revision: "trades@2000,quotes@none" })
    )
  })

  it("a snapshot id pins its table for good, and the others as they were when it was committed", () => {
    assert.deepStrictEqual(
      pinSnapshots([["trades", trades]], { _tag: "ById", snapshotId: 1n }, NOW),
      Result.succeed({ ids: { trades: "1" }, selector: { _tag: "ById", snapshotId: 1n }, immutable: true, revision: "" })
    )
    assert.deepStrictEqual(
      pinSnapshots([["trades", trades], ["quotes", quotes]], { _tag: "ById", snapshotId: 1n }, NOW),
      Result.succeed({ ids: { trades: "1", quotes: null }, selector: { _tag: "AsOf", timestampMs: 1_000 }, immutable: true, revision: "" })
    )
  })

  it("a snapshot id over several tables names that snapshot, not the one the log shows current at its commit time", () => {
    // 2 committed in the same millisecond as 1, after it: as of that instant, 2 was current.
    const sameMs = table("trades", [[1n, 1_000], [2n, 1_000]])
    const byId = pinSnapshots([["trades", sameMs], ["quotes", quotes]], { _tag: "ById", snapshotId: 1n }, NOW)
    assert.isTrue(Result.isSuccess(byId) && byId.success.ids["trades"] === "1", JSON.stringify(byId))
    // A snapshot kept (a tag) while later ones expired has left the log: asked for by id, it is read.
    const tagged = applyUpdates(table("trades", [[1n, 1_000], [2n, 2_000], [3n, 3_000]]), null, [
      { action: "set-snapshot-ref", "ref-name": "audit", type: "tag", "snapshot-id": 1n },
      { action: "remove-snapshots", "snapshot-ids": [2n] }
    ], 4_000)
    assert.deepStrictEqual(
      pinSnapshots([["trades", tagged], ["quotes", quotes]], { _tag: "ById", snapshotId: 1n }, NOW),
      Result.succeed({ ids: { trades: "1", quotes: null }, selector: { _tag: "AsOf", timestampMs: 1_000 }, immutable: true, revision: "" })
    )
  })

  it("an instant is immutable only once no commit can still be stamped before it", () => {
    const at = (nowMs: number) => pinSnapshots([["trades", trades], ["quotes", quotes]], { _tag: "AsOf", timestampMs: 2_200 }, nowMs)
    assert.deepStrictEqual(at(2_300), Result.succeed({ ids: { trades: "2", quotes: "10" }, selector: { _tag: "AsOf", timestampMs: 2_200 }, immutable: false, revision: "" }))
    const later = at(NOW)
    assert.isTrue(Result.isSuccess(later) && later.success.immutable)
  })

  it("a snapshot id over several tables is immutable only once no commit can still be stamped before its commit time", () => {
    // quotes may still land a commit stamped before trades' 2 (at 2_000): the answer can change.
    const recent = pinSnapshots([["trades", trades], ["quotes", quotes]], { _tag: "ById", snapshotId: 2n }, 2_300)
    assert.isTrue(Result.isSuccess(recent) && !recent.success.immutable, JSON.stringify(recent, (_, v) => typeof v === "bigint" ? v.toString() : v))
    const settled = pinSnapshots([["trades", trades], ["quotes", quotes]], { _tag: "ById", snapshotId: 2n }, NOW)
    assert.isTrue(Result.isSuccess(settled) && settled.success.immutable)
    // One table: the id is the whole answer, whenever it was committed.
    const one = pinSnapshots([["trades", trades]], { _tag: "ById", snapshotId: 2n }, 2_300)
    assert.isTrue(Result.isSuccess(one) && one.success.immutable)
  })

  it("an instant over one table reads the snapshot it resolved to, by id: a commit landing meanwhile stamped before the instant is not read", () => {
    assert.deepStrictEqual(
      pinSnapshots([["trades", trades]], { _tag: "AsOf", timestampMs: 2_200 }, 2_300),
      Result.succeed({ ids: { trades: "2" }, selector: { _tag: "ById", snapshotId: 2n }, immutable: false, revision: "" })
    )
  })

  it("the latest state changes revision when the metadata changes without a new snapshot (snapshots expired)", () => {
    const expired = { ...trades, snapshots: trades.snapshots.slice(1), "last-updated-ms": 3_000 }
    const before = pinSnapshots([["trades", trades]], { _tag: "Latest" }, NOW)
    const after = pinSnapshots([["trades", expired]], { _tag: "Latest" }, NOW)
    assert.isTrue(Result.isSuccess(before) && Result.isSuccess(after))
    if (Result.isSuccess(before) && Result.isSuccess(after)) {
      assert.deepStrictEqual(after.success.ids, before.success.ids)
      assert.notStrictEqual(after.success.revision, before.success.revision)
    }
  })

  it("an unknown id, or an instant before every table's first commit, is SnapshotNotFound", () => {
    const unknown = pinSnapshots([["trades", trades], ["quotes", quotes]], { _tag: "ById", snapshotId: 99n }, NOW)
    assert.isTrue(Result.isFailure(unknown) && unknown.failure._tag === "SnapshotNotFound" && unknown.failure.detail.startsWith("id 99, ") && unknown.failure.detail.includes("expired"))
    const early = pinSnapshots([["trades", trades], ["quotes", quotes]], { _tag: "AsOf", timestampMs: 500 }, NOW)
    assert.isTrue(Result.isFailure(early) && early.failure.table === "trades, quotes")
  })

  it("a table whose state at the instant was expired is SnapshotNotFound, not read as empty beside the others", () => {
    // trades' snapshots 1 and 2 expired: the log no longer says what was current at 2_200.
    const expired = applyUpdates(table("trades", [[1n, 1_000], [2n, 2_000], [3n, 3_000]]), null, [{ action: "remove-snapshots", "snapshot-ids": [1n, 2n] }], 4_000)
    for (const param of [{ _tag: "AsOf", timestampMs: 2_200 }, { _tag: "ById", snapshotId: 11n }] as const) {
      const pinned = pinSnapshots([["trades", expired], ["quotes", quotes]], param, NOW)
      assert.isTrue(Result.isFailure(pinned) && pinned.failure._tag === "SnapshotNotFound" && pinned.failure.table === "trades", JSON.stringify(pinned))
    }
    // Before its first snapshot, with none expired, a table still reads as empty.
    const fresh = table("trades", [[3n, 3_000]])
    assert.deepStrictEqual(
      pinSnapshots([["trades", fresh], ["quotes", quotes]], { _tag: "AsOf", timestampMs: 2_200 }, NOW),
      Result.succeed({ ids: { trades: null, quotes: "10" }, selector: { _tag: "AsOf", timestampMs: 2_200 }, immutable: true, revision: "" })
    )
  })
})

describe("pinCursor", () => {
  const at = { exchangeTimestamp: 1, sequence: 2n, messageId: "m" }
  it("a cursor page reads what the cursor pinned, for good", () => {
    assert.deepStrictEqual(
      pinCursor(["trades"], encodeCursor({ table: "trades", snapshotId: 1n, ...at })),
      { ids: { trades: "1" }, selector: undefined, immutable: true, revision: "" }
    )
    assert.deepStrictEqual(
      pinCursor(["trades", "quotes"], encodeCursor({ table: "trades_with_quotes", snapshotId: 2n, ...at, joined: { quotes: null } })),
      { ids: { trades: "2", quotes: null }, selector: undefined, immutable: true, revision: "" }
    )
  })

  it("leaves text that is not such a cursor to the engine", () => {
    assert.isUndefined(pinCursor(["trades"], "garbage"))
    assert.isUndefined(pinCursor(["trades", "quotes"], encodeCursor({ table: "trades", snapshotId: 1n, ...at })))
    // Another route's cursor: its snapshot id is another table's, which this one does not keep.
    assert.isUndefined(pinCursor(["trades"], encodeCursor({ table: "quotes", snapshotId: 1n, ...at })))
    assert.isUndefined(pinCursor(["quotes"], encodeCursor({ table: "trades_with_quotes", snapshotId: 2n, ...at, joined: { quotes: 3n } })))
  })
})
