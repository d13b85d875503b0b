/**
 * The symbol list's binary search (ADR-76) against the check it replaced, over arbitrary unicode
 * (astral characters, whose UTF-16 order differs from their UTF-8 order): string bounds are UTF-8
 * bytes compared unsigned, and a file holding a requested symbol is never dropped.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as Bounds from "../../../src/domain/iceberg/bounds.ts"
import { fileMayMatch } from "../../../src/domain/iceberg/pruning.ts"
import type { DataFile, PartitionSpec, Schema } from "../../../src/domain/iceberg/spec.ts"

const schema: Schema = { type: "struct", "schema-id": 0, fields: [{ id: 1, name: "symbol", required: true, type: "string" }] }
const spec: PartitionSpec = { "spec-id": 0, fields: [] }

const file = (lower: Uint8Array | undefined, upper: Uint8Array | undefined): DataFile => ({
  content: 0, filePath: "file:///t/f.parquet", fileFormat: "PARQUET", partition: {}, recordCount: 1, fileSizeInBytes: 1,
  columnSizes: new Map(), valueCounts: new Map(), nullValueCounts: new Map(), nanValueCounts: new Map(),
  lowerBounds: new Map(lower === undefined ? [] : [[1, lower]]), upperBounds: new Map(upper === undefined ? [] : [[1, upper]]),
  splitOffsets: null, sortOrderId: null
})

/** The check before ADR-76: each value encoded and compared with the bounds. */
const naive = (lower: Uint8Array | undefined, upper: Uint8Array | undefined, values: ReadonlyArray<string>) =>
  values.some((value) => {
    const v = Bounds.encode("string", value)
    return (lower === undefined || Bounds.compareBounds("string", lower, v) <= 0) && (upper === undefined || Bounds.compareBounds("string", v, upper) <= 0)
  })

const symbol = fc.oneof(
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.string({ unit: fc.constantFrom("A", "z", "é", "\uffff", "\ue000", "😀", "𝔸", "\u{10ffff}"), maxLength: 20 })
)
const utf8Order = (a: string, b: string) => Bounds.compareBounds("string", Bounds.encode("string", a), Bounds.encode("string", b))

describe("symbol list pruning, unicode", () => {
  it("decides as the per-value check did, for any bounds", () => {
    fc.assert(fc.property(fc.array(symbol, { maxLength: 12 }), fc.option(symbol, { nil: undefined }), fc.option(symbol, { nil: undefined }), (values, lo, hi) => {
      const lower = lo === undefined ? undefined : Bounds.encode("string", lo)
      const upper = hi === undefined ? undefined : Bounds.encode("string", hi)
      assert.strictEqual(fileMayMatch(file(lower, upper), spec, schema, { values: [{ column: "symbol", values }] }), naive(lower, upper, values))
    }), { numRuns: 5000 })
  })

  it("keeps a file whose rows hold a requested symbol, under truncated bounds", () => {
    fc.assert(fc.property(fc.array(symbol, { minLength: 1, maxLength: 8 }), fc.array(symbol, { maxLength: 8 }), fc.nat(), (rows, others, pick) => {
      const sorted = [...rows].sort(utf8Order)
      const upper = Bounds.truncateStringUpper(sorted.at(-1)!)
      const f = file(Bounds.encode("string", Bounds.truncateStringLower(sorted[0]!)), upper === null ? undefined : Bounds.encode("string", upper))
      const values = [...others, rows[pick % rows.length]!]
      assert.isTrue(fileMayMatch(f, spec, schema, { values: [{ column: "symbol", values }] }))
    }), { numRuns: 5000 })
  })
})
