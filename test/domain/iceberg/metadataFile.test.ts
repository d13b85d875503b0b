import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { stringifyJson } from "../../../src/domain/iceberg/json.ts"
import { decodeTableMetadata, encodeTableMetadata } from "../../../src/domain/iceberg/metadataFile.ts"

const utf8 = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** A small table's metadata.json fields as Java writes them: one snapshot, current on main. */
const javaMetadata = (): Record<string, unknown> => ({
  "format-version": 2,
  "table-uuid": "9c12d441-03fe-4693-9a96-a0705ddf69c1",
  location: "file:///wh/db/t",
  "last-sequence-number": 1,
  "last-updated-ms": 1700000001000,
  "last-column-id": 1,
  "current-schema-id": 0,
  schemas: [{ type: "struct", "schema-id": 0, fields: [{ id: 1, name: "x", required: false, type: "int" }] }],
  "default-spec-id": 0,
  "partition-specs": [{ "spec-id": 0, fields: [] }],
  "last-partition-id": 999,
  "default-sort-order-id": 0,
  "sort-orders": [{ "order-id": 0, fields: [] }],
  properties: {},
  "current-snapshot-id": 7,
  refs: { main: { "snapshot-id": 7, type: "branch" } },
  snapshots: [
    { "sequence-number": 1, "snapshot-id": 7, "timestamp-ms": 1700000001000, summary: { operation: "append" }, "manifest-list": "file:///wh/db/t/metadata/snap-7.avro", "schema-id": 0 }
  ],
  "snapshot-log": [{ "snapshot-id": 7, "timestamp-ms": 1700000001000 }],
  "metadata-log": []
})

const snapshotsOf = () => javaMetadata()["snapshots"] as ReadonlyArray<Record<string, unknown>>

describe("decodeTableMetadata", () => {
  it("gives a table without refs (an older writer's) its main branch at the current snapshot, as the spec says it always has", () => {
    // Else K2's commit asserts main is at the current snapshot, finds no main, and conflicts forever.
    const { refs: _, ...withoutRefs } = javaMetadata()
    const m = Result.getOrThrow(decodeTableMetadata(JSON.stringify(withoutRefs), "v1.metadata.json", "db.t"))
    assert.deepStrictEqual(m.refs, { main: { "snapshot-id": 7n, type: "branch" } })
    const empty = Result.getOrThrow(decodeTableMetadata(JSON.stringify({ ...withoutRefs, "current-snapshot-id": -1, snapshots: [], "snapshot-log": [] }), "v0.metadata.json", "db.t"))
    assert.deepStrictEqual(empty.refs, {})
    // refs without main beside a current snapshot (Java accepts it): main is the current snapshot.
    const withoutMain = Result.getOrThrow(decodeTableMetadata(JSON.stringify({ ...javaMetadata(), refs: {} }), "v1.metadata.json", "db.t"))
    assert.deepStrictEqual(withoutMain.refs, { main: { "snapshot-id": 7n, type: "branch" } })
  })

  it("refuses, as CorruptFile naming what is wrong, metadata whose current schema, default spec, current snapshot or a ref's is not in it, or main is not current (as Java does)", () => {
    const cases: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
      [{ "current-schema-id": 3 }, "schema 3"],
      [{ "default-spec-id": 2 }, "partition spec 2"],
      [{ "current-snapshot-id": 8, refs: { main: { "snapshot-id": 8, type: "branch" } } }, "snapshot 8"],
      [{ refs: { main: { "snapshot-id": 7, type: "branch" }, audit: { "snapshot-id": 9, type: "tag" } } }, "snapshot 9"],
      [{ refs: { main: { "snapshot-id": 6, type: "branch" } }, snapshots: [...snapshotsOf(), { ...snapshotsOf()[0], "snapshot-id": 6 }] }, "main"],
      [{ "current-snapshot-id": -1 }, "main"]
    ]
    for (const [change, named] of cases) {
      const decoded = decodeTableMetadata(JSON.stringify({ ...javaMetadata(), ...change }), "v2.metadata.json", "db.t")
      assert.isTrue(Result.isFailure(decoded), `${JSON.stringify(change)} was accepted`)
      if (Result.isFailure(decoded)) {
        assert.strictEqual(decoded.failure._tag, "CorruptFile")
        assert.include(decoded.failure.message, named)
        assert.include(decoded.failure.message, "v2.metadata.json")
      }
    }
  })

  it("reads a table upgraded from format v1: Java writes no sequence-number for its v1 snapshots (spec: default 0)", () => {
    // As Java 1.10 writes it after `format-version` was set to 2 on a table with one v1 snapshot.
    const text = JSON.stringify({
      ...javaMetadata(),
      "last-updated-ms": 1700000002000,
      "current-snapshot-id": 2,
      refs: { main: { "snapshot-id": 2, type: "branch" } },
      snapshots: [
        { "snapshot-id": 1, "timestamp-ms": 1700000000000, summary: { operation: "append" }, "manifest-list": "file:///wh/db/t/metadata/snap-1.avro", "schema-id": 0 },
        { "sequence-number": 1, "snapshot-id": 2, "parent-snapshot-id": 1, "timestamp-ms": 1700000001000, summary: { operation: "append" }, "manifest-list": "file:///wh/db/t/metadata/snap-2.avro", "schema-id": 0 }
      ],
      "snapshot-log": [{ "snapshot-id": 1, "timestamp-ms": 1700000000000 }, { "snapshot-id": 2, "timestamp-ms": 1700000001000 }]
    })
    const decoded = decodeTableMetadata(text, "v3.metadata.json", "db.t")
    assert.isTrue(Result.isSuccess(decoded), Result.isFailure(decoded) ? decoded.failure.message : "")
    const m = Result.getOrThrow(decoded)
    assert.deepStrictEqual(m.snapshots.map((s) => s["sequence-number"]), [0n, 1n])
    // Written back with the number stated, which Java reads the same way.
    const again = Result.getOrThrow(decodeTableMetadata(utf8(encodeTableMetadata(m)), "v4.metadata.json", "db.t"))
    assert.deepStrictEqual(again.snapshots.map((s) => s["sequence-number"]), [0n, 1n])
  })

  it("writes each commit's metadata as JSON.stringify would, snapshots kept from the last commit included, 64-bit ids exact", () => {
    const big = (n: number) => ({
      "sequence-number": n, "snapshot-id": `9007199254740${990 + n}`, "timestamp-ms": 1700000000000 + n,
      summary: { operation: "append", "k2.commit-id": `c${n}` }, "manifest-list": `file:///wh/db/t/metadata/snap-${n}.avro`, "schema-id": 0
    })
    const textOf = (raw: object) => JSON.stringify(raw).replace(/"(9007199254740\d+)"/g, "$1")
    const first = Result.getOrThrow(decodeTableMetadata(textOf({
      ...javaMetadata(), "last-sequence-number": 2, "current-snapshot-id": "9007199254740992",
      refs: { main: { "snapshot-id": "9007199254740992", type: "branch" } },
      snapshots: [big(1), big(2)],
      "snapshot-log": [{ "snapshot-id": "9007199254740991", "timestamp-ms": 1 }, { "snapshot-id": "9007199254740992", "timestamp-ms": 2 }]
    }), "v1.metadata.json", "db.t"))
    assert.strictEqual(utf8(encodeTableMetadata(first)), stringifyJson(first))
    const added = { ...first.snapshots[1]!, "sequence-number": 3n, "snapshot-id": 9007199254740993n, "parent-snapshot-id": 9007199254740992n }
    const main = { "current-snapshot-id": added["snapshot-id"], refs: { main: { "snapshot-id": added["snapshot-id"], type: "branch" as const } } }
    // The next commits: one added (the arrays extend those written last), then the oldest expired.
    const grown = { ...first, ...main, snapshots: [...first.snapshots, added], "snapshot-log": [...first["snapshot-log"], { "snapshot-id": added["snapshot-id"], "timestamp-ms": 3 }] }
    assert.strictEqual(utf8(encodeTableMetadata(grown)), stringifyJson(grown))
    const next = { ...grown, snapshots: grown.snapshots.slice(1), "snapshot-log": grown["snapshot-log"].slice(1) }
    const written = utf8(encodeTableMetadata(next))
    assert.strictEqual(written, stringifyJson(next))
    const again = Result.getOrThrow(decodeTableMetadata(written, "v3.metadata.json", "db.t"))
    assert.deepStrictEqual(again.snapshots.map((s) => s["snapshot-id"]), [9007199254740992n, 9007199254740993n])
    assert.strictEqual(again["current-snapshot-id"], 9007199254740993n)
  })

  it("writes a table without a snapshot with current-snapshot-id -1, as Java does (Iceberg before 1.4 requires the field), and reads it back as none", () => {
    const { "current-snapshot-id": _, snapshots: __, "snapshot-log": ___, ...rest } = javaMetadata()
    const empty = Result.getOrThrow(decodeTableMetadata(JSON.stringify({ ...rest, refs: {} }), "v1.metadata.json", "db.t"))
    assert.strictEqual(empty["current-snapshot-id"], undefined)
    const written = JSON.parse(utf8(encodeTableMetadata(empty)))
    assert.strictEqual(written["current-snapshot-id"], -1)
    const again = Result.getOrThrow(decodeTableMetadata(utf8(encodeTableMetadata(empty)), "v2.metadata.json", "db.t"))
    assert.strictEqual(again["current-snapshot-id"], undefined)
    assert.deepStrictEqual(again.refs, {})
  })

  it("refuses a table at format version 1 or 3 as UnsupportedFormatVersion naming the table and the version, not as a corrupt file", () => {
    for (const version of [1, 3]) {
      const decoded = decodeTableMetadata(JSON.stringify({ ...javaMetadata(), "format-version": version }), "v9.metadata.json", "db.t")
      assert.isTrue(Result.isFailure(decoded), `format version ${version} was accepted`)
      if (Result.isFailure(decoded)) {
        assert.strictEqual(decoded.failure._tag, "UnsupportedFormatVersion")
        assert.include(decoded.failure.message, `db.t is Iceberg format version ${version}`)
        assert.include(decoded.failure.message, "v9.metadata.json")
        assert.include(decoded.failure.message, "K2 reads and writes format version 2")
      }
    }
    // A version 1 table can be upgraded in place; the message says how.
    const v1 = decodeTableMetadata(JSON.stringify({ ...javaMetadata(), "format-version": 1 }), "v9.metadata.json", "db.t")
    assert.include(Result.isFailure(v1) ? v1.failure.message : "", "'format-version'='2'")
    // A format version that is not a number is a corrupt file still.
    const garbled = decodeTableMetadata(JSON.stringify({ ...javaMetadata(), "format-version": "two" }), "v9.metadata.json", "db.t")
    assert.strictEqual(Result.isFailure(garbled) ? garbled.failure._tag : "decoded", "CorruptFile")
  })
})
