/**
 * Other groups' markers (ADR-61), worked out without I/O from one walk of each table's ancestry
 * (readMarkers): each group's marker as readMarker alone reads it, and what the start check makes
 * of them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { applyUpdates, newTableMetadata } from "../../src/domain/iceberg/metadata.ts"
import type { Snapshot, TableMetadata } from "../../src/domain/iceberg/spec.ts"
import {
  CARRIED_FROM,
  CARRIED_FROM_SEQUENCE,
  decodeTopicIds,
  encodeHandedOver,
  encodeTopicIds,
  handedOverKey,
  handedOverOf,
  markerKey,
  readMarker,
  readMarkers
} from "../../src/domain/ingest/marker.ts"
import { heldIn, othersTopicsIn, type TableMarkers } from "../../src/domain/ingest/otherGroups.ts"
import { tables } from "../../src/domain/tables.ts"

/** A trades table whose snapshots (1, 2, ...) carry `summaries`, each the parent of the next; the last is current. */
const tableOf = (summaries: ReadonlyArray<Record<string, string>>, properties: Record<string, string> = {}): TableMetadata => {
  let m = newTableMetadata({ uuid: "u", location: "file:///t", schema: tables.trades.schema, spec: tables.trades.spec, sortOrder: null, nowMs: 1 })
  summaries.forEach((summary, i) => {
    const id = BigInt(i + 1)
    const snapshot: Snapshot = {
      "snapshot-id": id,
      ...(i === 0 ? {} : { "parent-snapshot-id": id - 1n }),
      "sequence-number": id,
      "timestamp-ms": i + 1,
      "manifest-list": "x",
      summary: { operation: "append", ...summary }
    }
    m = applyUpdates(m, null, [
      { action: "add-snapshot", snapshot },
      { action: "set-snapshot-ref", "ref-name": "main", type: "branch", "snapshot-id": id }
    ], 1)
  })
  return Object.keys(properties).length === 0 ? m : applyUpdates(m, null, [{ action: "set-properties", updates: properties }], 1)
}

const mark = (topic: string, offset: number) => JSON.stringify({ [topic]: { "0": offset } })

/** Every group's marker from readMarkers, as readMarker reads each alone (a group it does not name has none). */
const assertSameAsReadMarker = (m: TableMetadata, groups: ReadonlyArray<string>) => {
  const all = readMarkers(m, "trades")
  for (const group of groups) {
    const alone = readMarker(m, group, "trades")
    const read = all.get(group) ?? Result.succeed(undefined)
    assert.deepStrictEqual(Result.isSuccess(read) ? read.success : read.failure.message, Result.isSuccess(alone) ? alone.success : alone.failure.message, group)
  }
}

describe("every group's marker from one walk", () => {
  it("is each group's as readMarker reads it: the newest carrying it, an undecodable one refused, another engine's snapshot passed over", () => {
    const m = tableOf([
      { [markerKey("a")]: mark("t", 5), [markerKey("b")]: mark("t", 3) },
      { [markerKey("a")]: mark("t", 9), [markerKey("c")]: "not offsets" },
      {} // another engine's: carries none
    ])
    assertSameAsReadMarker(m, ["a", "b", "c", "d"])
    assert.deepStrictEqual([...readMarkers(m).keys()], ["a", "c", "b"], "newest first")
    assert.strictEqual(Result.getOrUndefined(readMarkers(m).get("a")!)?.snapshotId, 2n)
  })

  it("reads the mirrored copy once the snapshots carrying a marker are expired, its groups first", () => {
    const m = tableOf([{ [markerKey("a")]: mark("t", 4) }], {
      [markerKey("z")]: mark("t", 7),
      [CARRIED_FROM]: "99",
      [CARRIED_FROM_SEQUENCE]: "0"
    })
    assertSameAsReadMarker(m, ["a", "z"])
    assert.deepStrictEqual([...readMarkers(m).keys()], ["z", "a"])
  })
})

describe("other groups' topics, without I/O", () => {
  const T = "market.equities.trades.asx"
  const withMarkers = (summary: Record<string, string>): ReadonlyArray<TableMarkers> => [{ table: "trades", topics: [T], markers: readMarkers(tableOf([summary])) }]

  it("names the groups that keep a topic this group does not, and what a group holds", () => {
    const found = withMarkers({ [markerKey("a")]: mark(T, 30), [markerKey("b")]: mark(T, 0) })
    assert.deepStrictEqual(othersTopicsIn(found, "new", [T]), [{ table: "trades", topic: T, groups: ["a"] }], "b holds no record of it")
    assert.deepStrictEqual(othersTopicsIn(found, "a", [T]), [])
    assert.deepStrictEqual(heldIn(found, "a"), [{ table: "trades", topic: T }])
    assert.deepStrictEqual(heldIn(found, "b"), [])
  })

  it("a group that handed a topic over does not keep it: its adopter does", () => {
    const found = withMarkers({ [markerKey("a")]: mark(T, 30), [handedOverKey("a")]: encodeHandedOver(new Map([[T, "b"]])), [markerKey("b")]: mark(T, 30) })
    assert.deepStrictEqual(othersTopicsIn(found, "a", [T]), [{ table: "trades", topic: T, groups: ["b"] }])
    assert.deepStrictEqual(othersTopicsIn(found, "c", [T]), [{ table: "trades", topic: T, groups: ["b"] }])
  })

  it("a group whose own marker does not decode is not told of others there (the ingestor refuses it)", () => {
    assert.deepStrictEqual(othersTopicsIn(withMarkers({ [markerKey("a")]: mark(T, 30), [markerKey("new")]: "x" }), "new", [T]), [])
  })
})

describe("the handed-over record", () => {
  it("is written as the topic ids are, a JSON object of strings keys sorted, and read back from an older K2's text", () => {
    const handedOver = new Map([["t2", "g2"], ["t1", "g1"]])
    assert.strictEqual(encodeHandedOver(handedOver), `{"t1":"g1","t2":"g2"}`)
    assert.strictEqual(encodeHandedOver(handedOver), encodeTopicIds(handedOver))
    assert.deepStrictEqual(handedOverOf({ [handedOverKey("g")]: `{"t2":"g2","t1":"g1"}` }, "g"), handedOver)
    assert.deepStrictEqual(handedOverOf({ [handedOverKey("g")]: `{"t1":3}` }, "g"), new Map())
    assert.deepStrictEqual(decodeTopicIds(`{"t1":"id"}`), new Map([["t1", "id"]]))
  })
})
