/** Partition values as the spec's transforms define them, and the refusals, without I/O. */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { fieldValues, partitioning, partitionLabel, partitionOf, partitionResultType, unheldPartitionValues } from "../../../src/domain/iceberg/partitioning.ts"
import * as Bounds from "../../../src/domain/iceberg/bounds.ts"
import type { PartitionField, Schema } from "../../../src/domain/iceberg/spec.ts"

const schema: Schema = {
  type: "struct",
  "schema-id": 0,
  fields: [
    { id: 1, name: "ts", required: false, type: "timestamptz" },
    { id: 2, name: "d", required: false, type: "date" },
    { id: 3, name: "s", required: false, type: "string" },
    { id: 4, name: "n", required: false, type: "int" },
    { id: 5, name: "big", required: false, type: "long" },
    { id: 6, name: "price", required: false, type: "decimal(18, 8)" }
  ]
}

const field = (transform: string, sourceId: number, name = `f_${sourceId}`): PartitionField => ({
  "source-id": sourceId,
  "field-id": 1000,
  name,
  transform
})

const of = (transform: string, sourceId: number) => {
  const p = Result.getOrThrow(partitioning(schema, { "spec-id": 0, fields: [field(transform, sourceId)] }))
  return { p, values: (data: ReadonlyArray<unknown>) => fieldValues(p.fields[0]!, data, data.length) }
}

const US = 1n
const HOUR = 3_600_000_000n
const DAY = 24n * HOUR
// 2024-02-29T23:30Z, the last half hour of a leap day.
const leap = 19_782n * DAY + 23n * HOUR + 30n * 60_000_000n

describe("partition values", () => {
  it("floors instants before 1970 to the hour, day, month and year they fall in", () => {
    const instants = [-US, 0n, -HOUR, -HOUR - US, leap, null]
    assert.deepStrictEqual(of("hour", 1).values(instants), [-1, 0, -1, -2, 19_782 * 24 + 23, null])
    assert.deepStrictEqual(of("day", 1).values(instants), [-1, 0, -1, -1, 19_782, null])
    assert.deepStrictEqual(of("month", 1).values(instants), [-1, 0, -1, -1, 54 * 12 + 1, null])
    assert.deepStrictEqual(of("year", 1).values(instants), [-1, 0, -1, -1, 54, null])
  })

  it("takes months and years of dates by the calendar, centuries and leap days included", () => {
    // 1900-03-01 (1900 is no leap year), 2000-02-29, 1600-01-01, 1969-12-31, 1970-01-31, 1970-02-01.
    const days = [-25_508, 11_016, -135_140, -1, 30, 31, null]
    assert.deepStrictEqual(of("month", 2).values(days), [-838, 361, -4_440, -1, 0, 1, null])
    assert.deepStrictEqual(of("year", 2).values(days), [-70, 30, -370, -1, 0, 0, null])
    assert.deepStrictEqual(of("identity", 2).values(days), days)
  })

  it("keeps ints as they are and makes every void value null", () => {
    assert.deepStrictEqual(of("identity", 4).values([-7, 0, null, 2_147_483_647]), [-7, 0, null, 2_147_483_647])
    assert.deepStrictEqual(of("void", 3).values(["a", null]), [null, null])
  })

  it("lays partitions out as Iceberg Java names them, escaped", () => {
    const spec = {
      "spec-id": 0,
      fields: [field("hour", 1, "h"), field("month", 1, "m"), field("year", 1, "y"), field("day", 1, "d"), field("identity", 2, "a/b"), field("void", 3, "v")]
    }
    const p = Result.getOrThrow(partitioning(schema, spec))
    assert.deepStrictEqual(partitionOf(p, [-1, -1, -1, -1, 0, null]).path, "h=1969-12-31-23/m=1969-12/y=1969/d=1969-12-31/a%2Fb=1970-01-01/v=null")
    assert.deepStrictEqual(partitionOf(p, [0, 54 * 12 + 1, 54, 19_782, 19_782, null]).values, {
      h: 0,
      m: 649,
      y: 54,
      d: 19_782,
      "a/b": 19_782,
      v: null
    })
  })
})

describe("partition labels (what `npm run compact` prints)", () => {
  it("shows a partition tuple as its path, unescaped; one the spec cannot show as its JSON", () => {
    const spec = { "spec-id": 0, fields: [field("day", 1, "exchange_timestamp_day"), field("hour", 1, "h")] }
    assert.strictEqual(partitionLabel(schema, spec, { exchange_timestamp_day: 19_782, h: 19_782 * 24 + 23 }), "exchange_timestamp_day=2024-02-29/h=2024-02-29-23")
    assert.strictEqual(partitionLabel(schema, spec, { exchange_timestamp_day: null, h: 0 }), "exchange_timestamp_day=null/h=1970-01-01-00")
    assert.strictEqual(partitionLabel(schema, { "spec-id": 1, fields: [field("identity", 2, "a/b")] }, { "a/b": 0 }), "a/b=1970-01-01")
    // A tuple of another spec (a field this one lacks), and a transform K2 does not compute.
    assert.strictEqual(partitionLabel(schema, spec, { other: 3 }), `{"other":3}`)
    assert.strictEqual(partitionLabel(schema, spec, { h: 0 }), `{"h":0}`)
    assert.strictEqual(partitionLabel(schema, { "spec-id": 2, fields: [field("bucket[4]", 3)] }, { f_3: 1 }), `{"f_3":1}`)
  })
})

describe("transforms K2 does not write", () => {
  const refusal = (f: PartitionField) => {
    const result = partitioning(schema, { "spec-id": 3, fields: [field("day", 1, "ts_day"), f] })
    assert.isTrue(Result.isFailure(result))
    return Result.isFailure(result) ? result.failure : ""
  }

  it("refuses each naming the spec, the field, its transform and why", () => {
    assert.strictEqual(refusal(field("bucket[16]", 3, "s_bucket")), "partition spec 3, whose field s_bucket is bucket[16](s): K2 does not compute bucket partitions")
    assert.strictEqual(refusal(field("truncate[10]", 4, "n_trunc")), "partition spec 3, whose field n_trunc is truncate[10](n): K2 does not compute truncate partitions")
    assert.match(refusal(field("identity", 3)), /identity\(s\): K2 holds ints and dates as partition values, not strings$/)
    assert.match(refusal(field("identity", 5)), /identity\(big\): K2 holds ints and dates as partition values, not longs$/)
    assert.match(refusal(field("hour", 2)), /hour\(d\): not defined on a date column$/)
    assert.match(refusal(field("zorder", 3)), /zorder\(s\): not a transform of the Iceberg spec$/)
    assert.match(refusal(field("bucket[0]", 3)), /bucket\[0\]\(s\): not a transform of the Iceberg spec$/)
    assert.match(refusal(field("day", 99)), /day\(#99\): its source is not a top-level column/)
  })

  it("still holds the int values of bucket and truncate fields another engine wrote (their manifests can be merged)", () => {
    assert.deepStrictEqual(partitionResultType(field("bucket[16]", 3), schema), Result.succeed("int"))
    assert.deepStrictEqual(partitionResultType(field("truncate[10]", 4), schema), Result.succeed("int"))
    assert.deepStrictEqual(partitionResultType(field("void", 1), schema), Result.succeed("timestamptz"))
    assert.strictEqual(unheldPartitionValues({ "spec-id": 2, fields: [field("bucket[16]", 3), field("day", 1)] }, schema, "write"), null)
    assert.strictEqual(
      unheldPartitionValues({ "spec-id": 2, fields: [field("truncate[4]", 3, "s_trunc")] }, schema, "write"),
      "partition spec 2, whose field s_trunc is truncate[4](s): K2 holds ints and dates as partition values, not strings"
    )
  })
})

describe("the partition values K2 reads and those it writes", () => {
  // Every type a column may have, under every transform: the planner asks "read", commits ask "write".
  const types = ["boolean", "int", "long", "float", "double", "date", "time", "timestamp", "timestamptz", "timestamp_ns", "string", "uuid", "fixed[16]", "binary", "decimal(9, 2)"]
  const transforms = ["identity", "truncate[4]", "bucket[16]", "void", "year", "month", "day", "hour", "zorder"]
  const columns = {
    type: "struct",
    "schema-id": 0,
    fields: [
      ...types.map((type, i) => ({ id: i + 1, name: type, required: false, type })),
      { id: 99, name: "nested", required: false, type: { type: "struct", fields: [] } }
    ]
  } as unknown as Schema
  const spec = (transform: string, sourceId: number) => ({ "spec-id": 7, fields: [field(transform, sourceId)] })

  it("reads the values of every spec it writes", () => {
    for (const transform of transforms) {
      for (const { id, name } of columns.fields) {
        if (unheldPartitionValues(spec(transform, id), columns, "write") === null) {
          assert.isNull(unheldPartitionValues(spec(transform, id), columns, "read"), `${transform}(${name}) is written, so read`)
        }
      }
    }
  })

  it("reads 64-bit values it does not write, up to 2^53 as a manifest's summary shows them", () => {
    const long = spec("identity", 3)
    assert.match(unheldPartitionValues(long, columns, "write")!, /identity\(long\): K2 holds ints and dates as partition values, not longs$/)
    const summary = (upper: bigint) => [{ containsNull: false, containsNan: null, lowerBound: Bounds.encode("long", -1n), upperBound: Bounds.encode("long", upper) }]
    assert.isNull(unheldPartitionValues(long, columns, "read", summary(2n ** 53n - 1n)))
    assert.strictEqual(
      unheldPartitionValues(long, columns, "read", summary(2n ** 53n)),
      "partition spec 7, whose field f_3 is identity(long): its values reach 9007199254740992, past 2^53: K2 would not hold them exactly"
    )
    assert.match(unheldPartitionValues(spec("identity", 11), columns, "read")!, /identity\(string\): K2 reads partition values as numbers, not strings$/)
  })
})
