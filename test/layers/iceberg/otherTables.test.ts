/**
 * `tableUuidOf` reads a metadata file's top-level `table-uuid` without decoding the file into one
 * string: past V8's ~512 MiB string limit that failed with a RangeError, untyped (ADR-77). The
 * limit is faked here: `maxString` is the longest piece it may decode.
 */
import * as zlib from "node:zlib"
import { afterEach, assert, describe, it, vi } from "@effect/vitest"
import { tableUuidOf } from "../../../src/layers/iceberg/otherTables.ts"

const UUID = "9c12d441-03fe-4693-9a96-a0705ddf69c1"
const bytes = (text: string) => new TextEncoder().encode(text)

/** A metadata document whose snapshots (and their summaries, each naming a table-uuid of its own) make it `snapshots` long. */
const metadata = (snapshots: number, order: "uuid first" | "uuid last" = "uuid first") => {
  const list = Array.from({ length: snapshots }, (_, i) => ({
    "snapshot-id": i + 1,
    "timestamp-ms": 1_700_000_000_000 + i,
    summary: { operation: "append", "table-uuid": "not-this-one", "k2.commit-id": `c-${i}` },
    "manifest-list": `s3://b/t/metadata/snap-${i}.avro`
  }))
  const head = { "format-version": 2, "table-uuid": UUID, location: "s3://b/t" }
  return order === "uuid first"
    ? JSON.stringify({ ...head, snapshots: list })
    : JSON.stringify({ "format-version": 2, location: "s3://b/t", snapshots: list, "table-uuid": UUID })
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe("tableUuidOf", () => {
  it("decodes no piece of the file longer than its limit: a file past what a string holds still names its table", () => {
    const decoded: Array<number> = []
    const decode = TextDecoder.prototype.decode
    vi.spyOn(TextDecoder.prototype, "decode").mockImplementation(function(this: InstanceType<typeof TextDecoder>, ...args: Parameters<typeof decode>) {
      decoded.push(args[0]?.byteLength ?? 0)
      return decode.apply(this, args)
    })
    const doc = bytes(metadata(2_000))
    assert.isAbove(doc.length, 200_000)
    assert.strictEqual(tableUuidOf(doc, 1_000), UUID)
    assert.strictEqual(tableUuidOf(bytes(metadata(2_000, "uuid last")), 1_000), UUID)
    assert.isBelow(Math.max(...decoded), 1_000, "no whole-file string")
  })

  it("reads the top-level member only, the last one as JSON.parse keeps, plain or gzip, after a byte order mark", () => {
    assert.strictEqual(tableUuidOf(bytes(metadata(3, "uuid last"))), UUID)
    assert.strictEqual(tableUuidOf(zlib.gzipSync(bytes(metadata(3)))), UUID)
    assert.strictEqual(tableUuidOf(bytes(`\ufeff${metadata(3)}`)), UUID)
    assert.strictEqual(tableUuidOf(bytes(`{"table-uuid":"a","x":{"table-uuid":"b"},"table-uuid":"c"}`)), "c")
    // A member name is compared as JSON reads it, escapes and all.
    assert.strictEqual(tableUuidOf(bytes(`{"table\\u002duuid":"${UUID}"}`)), UUID)
    assert.strictEqual(tableUuidOf(bytes(` \n{ "table-uuid" : "${UUID}" } \n`)), UUID)
  })

  it("names no table for what is not table metadata: truncated (a crash mid-write), trailing text, no member, not a string, not an object", () => {
    const whole = metadata(50)
    for (const cut of [whole.length - 1, whole.length - 40, Math.floor(whole.length / 2), 80]) {
      assert.isNull(tableUuidOf(bytes(whole.slice(0, cut))), `cut at ${cut}`)
    }
    assert.isNull(tableUuidOf(zlib.gzipSync(bytes(whole)).subarray(0, 100)))
    assert.isNull(tableUuidOf(bytes(`${whole}x`)))
    assert.isNull(tableUuidOf(bytes(`${whole}{}`)))
    assert.isNull(tableUuidOf(bytes(`{"format-version":2}`)))
    assert.isNull(tableUuidOf(bytes(`{"table-uuid":7}`)))
    assert.isNull(tableUuidOf(bytes(`["table-uuid","${UUID}"]`)))
    assert.isNull(tableUuidOf(bytes(`{"table-uuid":"${UUID}",}`)))
    assert.isNull(tableUuidOf(bytes(`{"table-uuid" "${UUID}"}`)))
    assert.isNull(tableUuidOf(bytes("")))
  })
})
