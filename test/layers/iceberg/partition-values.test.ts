/**
 * The planner's decision which partition values K2 reads (domain/iceberg/partitioning.ts) against
 * what decoding a manifest gives: a field it reads decodes to numbers, one it refuses would not.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Bounds from "../../../src/domain/iceberg/bounds.ts"
import { unheldPartitionValues } from "../../../src/domain/iceberg/partitioning.ts"
import { ManifestEntryStatus, type PrimitiveType, type Schema } from "../../../src/domain/iceberg/spec.ts"
import { decodeManifestSync, encodeManifest } from "../../../src/layers/iceberg/manifests.ts"
import { dataFileOf } from "../../support/fixtures.ts"

/**
 * A value of each type whose Avro type K2 writes (void fields carry their column's type), in the
 * form avsc takes it: a long, of a logical type (timestamp) or not, as a bigint.
 */
const samples: ReadonlyArray<readonly [PrimitiveType, unknown]> = [
  ["boolean", true],
  ["int", 7],
  ["long", 7n],
  ["float", 1.5],
  ["double", 2.5],
  ["date", 7],
  ["string", "AAPL"],
  ["binary", Buffer.from([1])],
  ["timestamp", 7n],
  ["timestamptz", 7n],
  // Past 2^53: K2 would not hold it exactly.
  ["long", 2n ** 53n],
  ["timestamptz", 2n ** 53n]
]

/** The partition value of `value` as K2 decodes it from a manifest, or what decoding says. */
const decoded = (type: PrimitiveType, value: unknown) => {
  const schema: Schema = { type: "struct", "schema-id": 0, fields: [{ id: 1, name: "c", required: false, type }] }
  const spec = { "spec-id": 0, fields: [{ "source-id": 1, "field-id": 1000, name: "p", transform: "void" }] }
  const dataFile = dataFileOf({ partition: { p: value as number } })
  const bytes = encodeManifest([{ status: ManifestEntryStatus.ADDED, snapshotId: 1n, sequenceNumber: 1n, fileSequenceNumber: 1n, dataFile }], { schema, spec })
  try {
    return decodeManifestSync(bytes, "m.avro")[0]!.dataFile.partition.p
  } catch (e) {
    return String(e)
  }
}

describe("partition values the planner reads", () => {
  it("are exactly those decoding gives as the same number", () => {
    for (const [type, value] of samples) {
      const schema: Schema = { type: "struct", "schema-id": 0, fields: [{ id: 1, name: "c", required: false, type }] }
      const spec = { "spec-id": 0, fields: [{ "source-id": 1, "field-id": 1000, name: "p", transform: "identity" }] }
      const bound = typeof value === "bigint" ? Bounds.encode("long", value) : null
      const summaries = [{ containsNull: false, containsNan: null, lowerBound: bound, upperBound: bound }]
      const read = unheldPartitionValues(spec, schema, "read", summaries) === null
      const got = decoded(type, value)
      assert.strictEqual(read, typeof got === "number" && got === Number(value), `identity(${type}) of ${String(value)}: read ${read}, decoded ${String(got)}`)
    }
  })
})
