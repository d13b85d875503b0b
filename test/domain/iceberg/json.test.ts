/**
 * parseJson is a plain JSON.parse with the 64-bit keys' values put back from their literals; the
 * definition it must agree with is the reviver reading every number's source (parseJsonRevived).
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { parseJson, parseJsonRevived, stringifyJson } from "../../../src/domain/iceberg/json.ts"
import { newSnapshotId } from "../../../src/domain/iceberg/metadata.ts"
import { decodeTableMetadata, encodeTableMetadata } from "../../../src/domain/iceberg/metadataFile.ts"

/** Parsed by both, which must agree (bigint against number included); parseJson's value. */
const parsed = (text: string): unknown => {
  const value = parseJson(text)
  assert.deepStrictEqual(value, parseJsonRevived(text), text)
  return value
}

const MAX = 9223372036854775807n
const MIN = -9223372036854775808n

describe("parseJson", () => {
  it("keeps ids beyond 2^53 exact wherever Iceberg puts them: snapshots, parents, refs, logs, statistics, partition statistics", () => {
    const a = 9007199254740993n
    const b = MAX
    const text = `{"current-snapshot-id":${b},"last-sequence-number":${a},` +
      `"snapshots":[{"snapshot-id":${a},"sequence-number":1,"timestamp-ms":1700000000000},{"snapshot-id":${b},"parent-snapshot-id":${a},"sequence-number":${b}}],` +
      `"refs":{"main":{"snapshot-id":${b},"type":"branch","max-ref-age-ms":86400000},"tag":{"snapshot-id":${a},"type":"tag"}},` +
      `"snapshot-log":[{"snapshot-id":${a},"timestamp-ms":1},{"snapshot-id":${b},"timestamp-ms":2}],` +
      `"metadata-log":[{"metadata-file":"file:///t/metadata/00001-${a}.metadata.json","timestamp-ms":1700000000001}],` +
      `"statistics":[{"snapshot-id":${b},"statistics-path":"s.puffin","file-size-in-bytes":413,"file-footer-size-in-bytes":42,` +
      `"blob-metadata":[{"type":"apache-datasketches-theta-v1","snapshot-id":${a},"sequence-number":${a},"fields":[1]}]}],` +
      `"partition-statistics":[{"snapshot-id":${b},"statistics-path":"p.parquet","file-size-in-bytes":43}]}`
    const m = parsed(text) as any
    assert.strictEqual(m["current-snapshot-id"], b)
    assert.strictEqual(m["last-sequence-number"], a)
    assert.deepStrictEqual(m.snapshots.map((s: any) => [s["snapshot-id"], s["parent-snapshot-id"], s["sequence-number"]]), [[a, undefined, 1n], [b, a, b]])
    assert.strictEqual(m.snapshots[0]["timestamp-ms"], 1700000000000)
    assert.deepStrictEqual([m.refs.main["snapshot-id"], m.refs.tag["snapshot-id"], m.refs.main["max-ref-age-ms"]], [b, a, 86400000])
    assert.deepStrictEqual(m["snapshot-log"], [{ "snapshot-id": a, "timestamp-ms": 1 }, { "snapshot-id": b, "timestamp-ms": 2 }])
    assert.strictEqual(m["metadata-log"][0]["timestamp-ms"], 1700000000001)
    assert.deepStrictEqual([m.statistics[0]["snapshot-id"], m.statistics[0]["file-size-in-bytes"], m.statistics[0]["blob-metadata"][0]["snapshot-id"], m.statistics[0]["blob-metadata"][0]["sequence-number"]], [b, 413, a, a])
    assert.deepStrictEqual([m["partition-statistics"][0]["snapshot-id"], m["partition-statistics"][0]["file-size-in-bytes"]], [b, 43])
  })

  it("keeps negative ids exact (-1 for none, the 64-bit minimum) and -0 as 0", () => {
    const m = parsed(`{"current-snapshot-id":-1,"snapshots":[{"snapshot-id":${MIN},"parent-snapshot-id":-9007199254740993},{"snapshot-id":-0}]}`) as any
    assert.strictEqual(m["current-snapshot-id"], -1n)
    assert.deepStrictEqual(m.snapshots, [{ "snapshot-id": MIN, "parent-snapshot-id": -9007199254740993n }, { "snapshot-id": 0n }])
  })

  it("leaves numbers that are not ids numbers, and decimals and floats as written, under any key", () => {
    const m = parsed(`{"timestamp-ms":1700000000000,"schema-id":0,"x":-3,"f":1.5,"e":1e3,"g":-2.5E-3,"big-float":1e300,"long-fraction":12345678901234567.5,"safe":9007199254740991,"n":null,"t":true}`) as any
    assert.deepStrictEqual(m, { "timestamp-ms": 1700000000000, "schema-id": 0, x: -3, f: 1.5, e: 1000, g: -0.0025, "big-float": 1e300, "long-fraction": 12345678901234567.5, safe: 9007199254740991, n: null, t: true })
    // A 64-bit key's value written as a fraction or an exponent stays a number (the decoder then refuses it).
    assert.deepStrictEqual(parsed(`{"snapshot-id":5.0,"sequence-number":1e2}`), { "snapshot-id": 5, "sequence-number": 100 })
  })

  it("makes an unsafe integer under any other key a bigint, as the reviver does, and keeps a root number's rule", () => {
    assert.deepStrictEqual(parsed(`{"file-size-in-bytes":9007199254740993,"list":[18446744073709551615]}`), { "file-size-in-bytes": 9007199254740993n, list: [18446744073709551615n] })
    assert.strictEqual(parsed("12345678901234567890"), 12345678901234567890n)
    assert.strictEqual(parsed("7"), 7)
  })

  it("tells apart ids one double holds (2^53 and 2^53 + 1), whichever comes first", () => {
    for (const [x, y] of [[9007199254740992n, 9007199254740993n], [9007199254740993n, 9007199254740992n]]) {
      assert.deepStrictEqual(parsed(`[{"snapshot-id":${x}},{"snapshot-id":${y}}]`), [{ "snapshot-id": x }, { "snapshot-id": y }])
    }
  })

  it("takes a duplicate key's last value, as JSON.parse does, ids included", () => {
    assert.deepStrictEqual(parsed(`{"snapshot-id":1,"snapshot-id":9007199254740993}`), { "snapshot-id": 9007199254740993n })
    assert.deepStrictEqual(parsed(`{"snapshot-id":9007199254740993,"snapshot-id":9007199254740992}`), { "snapshot-id": 9007199254740992n })
    assert.deepStrictEqual(parsed(`{"a":{"snapshot-id":${MAX}},"a":{"snapshot-id":7}}`), { a: { "snapshot-id": 7n } })
  })

  it("reads unicode escapes, in strings and in keys (a key spelt with one is still a 64-bit key), and a key's text inside strings", () => {
    assert.deepStrictEqual(parsed(`{"snapshot\\u002did":9007199254740993,"s":"caf\\u00e9 \\ud83d\\ude00"}`), { "snapshot-id": 9007199254740993n, s: "café 😀" })
    const inString = `{"summary":{"note":"\\"snapshot-id\\":9007199254740995","k\\"snapshot-id":"x"},"snapshot-id":9007199254740993,"manifest-list":"snap-9007199254740993-1.avro"}`
    assert.deepStrictEqual(parsed(inString), { summary: { note: `"snapshot-id":9007199254740995`, 'k"snapshot-id': "x" }, "snapshot-id": 9007199254740993n, "manifest-list": "snap-9007199254740993-1.avro" })
    // A key ending as a 64-bit key does is not one, and whitespace may stand around the colon.
    assert.deepStrictEqual(parsed(`{"my-snapshot-id" : 9007199254740993, "snapshot-id" :\n 9007199254740995 }`), { "my-snapshot-id": 9007199254740993n, "snapshot-id": 9007199254740995n })
    assert.deepStrictEqual(parsed(`{"old-snapshot-id":4.5,"snapshot-id":9007199254740993}`), { "old-snapshot-id": 4.5, "snapshot-id": 9007199254740993n })
  })

  it("keeps a __proto__ key an own property, not the prototype", () => {
    const m = parsed(`{"__proto__":{"snapshot-id":9007199254740993},"snapshot-id":2}`) as any
    assert.strictEqual(Object.getPrototypeOf(m), Object.prototype)
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(m, "__proto__")?.value, { "snapshot-id": 9007199254740993n })
  })

  it("refuses what is not JSON as JSON.parse does", () => {
    assert.throws(() => parseJson(`{"snapshot-id":}`), SyntaxError)
    assert.throws(() => parseJson(`{"snapshot-id":012345678901234567}`), SyntaxError)
  })
})

/** A K2 table's metadata.json of `n` snapshots with Java's random 63-bit ids, as a commit writes it. */
const metadataText = (n: number): string => {
  const snapshots: Array<Record<string, unknown>> = []
  let parent: bigint | undefined
  for (let i = 0; i < n; i++) {
    const id = newSnapshotId()
    snapshots.push({
      "sequence-number": BigInt(i + 1), "snapshot-id": id, ...(parent === undefined ? {} : { "parent-snapshot-id": parent }),
      "timestamp-ms": 1700000000000 + i * 1000,
      summary: { operation: "append", "added-records": "10", "k2.kafka.offsets.k2-ingest": JSON.stringify({ "market.equities.trades.asx": { "0": 1_000_000 + i } }) },
      "manifest-list": `file:///wh/market_data/trades/metadata/snap-${id}-1-${crypto.randomUUID()}.avro`, "schema-id": 0
    })
    parent = id
  }
  return new TextDecoder().decode(encodeTableMetadata({
    "format-version": 2, "table-uuid": crypto.randomUUID(), location: "file:///wh/market_data/trades",
    "last-sequence-number": BigInt(n), "last-updated-ms": 1700000000000 + n * 1000, "last-column-id": 1, "current-schema-id": 0,
    schemas: [{ type: "struct", "schema-id": 0, fields: [{ id: 1, name: "price", required: false, type: "decimal(18, 8)" }] }],
    "default-spec-id": 0, "partition-specs": [{ "spec-id": 0, fields: [] }], "last-partition-id": 999,
    "default-sort-order-id": 0, "sort-orders": [{ "order-id": 0, fields: [] }], properties: { "history.expire.max-snapshot-age-ms": "3600000" },
    "current-snapshot-id": parent, refs: { main: { "snapshot-id": parent!, type: "branch" } }, snapshots,
    "snapshot-log": snapshots.map((s) => ({ "snapshot-id": s["snapshot-id"], "timestamp-ms": s["timestamp-ms"] })),
    "metadata-log": [{ "metadata-file": "file:///wh/market_data/trades/metadata/00001-a.metadata.json", "timestamp-ms": 1700000000000 }]
  } as never))
}

describe("decodeTableMetadata over parseJson", () => {
  it("reads a K2 table of random 63-bit ids as the reviver does, and decode, encode, decode is the identity", () => {
    const text = metadataText(500)
    assert.deepStrictEqual(parsed(text), parsed(text))
    const first = Result.getOrThrow(decodeTableMetadata(text, "m.json", "t"))
    assert.isTrue(first.snapshots.every((s) => typeof s["snapshot-id"] === "bigint" && text.includes(`"snapshot-id":${s["snapshot-id"]}`)))
    const written = new TextDecoder().decode(encodeTableMetadata(first))
    const again = Result.getOrThrow(decodeTableMetadata(written, "m.json", "t"))
    assert.deepStrictEqual(again, first)
    assert.strictEqual(new TextDecoder().decode(encodeTableMetadata(again)), written)
    assert.strictEqual(stringifyJson(parseJson(written)), written)
  })
})
