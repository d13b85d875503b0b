/**
 * The per-file column statistics K2 writes (spec "Manifests": value, null counts and lower/upper
 * bounds, Appendix D serialization), for edge values of every column type: every value of the
 * file must lie within [lower_bound, upper_bound], or an engine pruning by them skips a file
 * holding matching rows.
 */
import { afterAll, assert, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type BoundValue, compareBounds, decode, encode } from "../../../src/domain/iceberg/bounds.ts"
import type { DataFile, PrimitiveType, Schema } from "../../../src/domain/iceberg/spec.ts"
import { DuckDb } from "../../../src/layers/duckdb/DuckDb.ts"
import { writeDataFiles } from "../../../src/layers/iceberg/parquet.ts"
import { leaves, toDataFile } from "../../../src/layers/iceberg/parquetStats.ts"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "k2-column-stats-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

const MICROS_PER_DAY = 86_400_000_000n
/** Days since 1970-01-01 of a proleptic Gregorian date, for any year (Date.UTC reads 0..99 as 19xx). */
const epochDay = (y: number, m: number, d: number) => {
  const date = new Date(0)
  date.setUTCFullYear(y, m - 1, d)
  date.setUTCHours(0, 0, 0, 0)
  return date.getTime() / 86_400_000
}

const schema: Schema = {
  type: "struct",
  "schema-id": 0,
  fields: [
    { id: 1, name: "id", required: true, type: "int" },
    { id: 2, name: "s", required: false, type: "string" },
    { id: 3, name: "d", required: false, type: "decimal(18, 8)" },
    { id: 4, name: "ts", required: false, type: "timestamptz" },
    { id: 5, name: "dt", required: false, type: "date" },
    { id: 6, name: "l", required: false, type: "long" },
    { id: 7, name: "b", required: false, type: "boolean" },
    { id: 8, name: "li", required: false, type: { type: "list", "element-id": 20, element: "string", "element-required": true } },
    {
      id: 9,
      name: "m",
      required: false,
      type: { type: "map", "key-id": 21, key: "string", "value-id": 22, value: "string", "value-required": true }
    },
    { id: 10, name: "nothing", required: false, type: "string" },
    { id: 11, name: "lts", required: false, type: "timestamp" }
  ]
}

const strings = ["AAPL", "", "é€𝄞zz", "z".repeat(40), "\u{10FFFF}".repeat(20), "\uFFFF".repeat(17) + "a", "a\u0000b", null]

const write = (columns: Record<string, ReadonlyArray<unknown>>, name: string) =>
  writeDataFiles(
    { rowCount: columns["id"]!.length, columns },
    {
      schema,
      spec: { "spec-id": 0, fields: [] },
      sortOrder: null,
      directory: path.join(root, name),
      targetFileSizeBytes: 1 << 30,
      fileNamePrefix: "00000-0"
    }
  )

const assertBounded = (file: DataFile, id: number, type: PrimitiveType, values: ReadonlyArray<BoundValue | null>) => {
  const present = values.filter((v): v is BoundValue => v !== null)
  const lower = file.lowerBounds.get(id)
  const upper = file.upperBounds.get(id)
  for (const v of present) {
    const bytes = encode(type, v)
    if (lower !== undefined) {
      assert.isAtMost(compareBounds(type, lower, bytes), 0, `field ${id}: lower bound ${String(decode(type, lower))} above value ${String(v)}`)
    }
    if (upper !== undefined) {
      assert.isAtLeast(compareBounds(type, upper, bytes), 0, `field ${id}: upper bound ${String(decode(type, upper))} below value ${String(v)}`)
    }
  }
  assert.strictEqual(file.valueCounts.get(id), values.length, `field ${id}: value count (nulls included)`)
  assert.strictEqual(file.nullValueCounts.get(id), values.length - present.length, `field ${id}: null count`)
}

layer(DuckDb.layerWith({}))("column statistics of written files", (it) => {
  it.effect("bound every value of every primitive column, with counts; nested and all-null columns get no bounds", () =>
    Effect.gen(function*() {
      const n = strings.length
      const dates = [epochDay(1, 1, 1), epochDay(99, 12, 31), epochDay(50, 6, 15), -1, 0, 19_782, epochDay(9999, 12, 31), null]
      const timestamps = [
        BigInt(epochDay(1, 1, 1)) * MICROS_PER_DAY,
        BigInt(epochDay(50, 6, 15)) * MICROS_PER_DAY + 1n,
        -1n,
        0n,
        1_709_164_800_000_001n,
        BigInt(epochDay(99, 12, 31)) * MICROS_PER_DAY + MICROS_PER_DAY - 1n,
        BigInt(epochDay(9999, 12, 31)) * MICROS_PER_DAY,
        null
      ]
      const decimals = [-1_234_567_891n, -1n, 0n, 999_999_999_999_999_999n, -999_999_999_999_999_999n, 1n, 100_000_000n, null]
      const longs = [-9_007_199_254_740_993n, 9_223_372_036_854_775_807n, -9_223_372_036_854_775_808n, 0n, 9_007_199_254_740_993n, -1n, 1n, null]
      const booleans = [true, true, true, true, true, true, true, null]
      const files = yield* write({
        id: Array.from({ length: n }, (_, i) => i),
        s: strings,
        d: decimals,
        ts: timestamps,
        dt: dates,
        l: longs,
        b: booleans,
        li: Array.from({ length: n }, (_, i) => (i % 2 === 0 ? ["zz", "aa"] : null)),
        m: Array.from({ length: n }, (_, i) => (i % 2 === 0 ? [["k", "v"]] : null)),
        nothing: Array.from({ length: n }, () => null),
        lts: timestamps
      }, "edges")
      assert.strictEqual(files.length, 1)
      const f = files[0]!
      assert.strictEqual(f.recordCount, n)
      assert.strictEqual(f.fileSizeInBytes, fs.statSync(new URL(f.filePath)).size)
      assertBounded(f, 2, "string", strings)
      assertBounded(f, 3, "decimal(18, 8)", decimals)
      assertBounded(f, 4, "timestamptz", timestamps)
      assertBounded(f, 5, "date", dates)
      assertBounded(f, 6, "long", longs)
      assertBounded(f, 7, "boolean", booleans)
      assertBounded(f, 11, "timestamp", timestamps)
      // a file of only true: false is outside its bounds
      assert.deepStrictEqual([decode("boolean", f.lowerBounds.get(7)!), decode("boolean", f.upperBounds.get(7)!)], [true, true])
      // Java stores no bounds for list elements and map keys/values, nor for a column of only nulls
      for (const id of [8, 9, 20, 21, 22, 10]) {
        assert.isFalse(f.lowerBounds.has(id) || f.upperBounds.has(id), `field ${id} has no bounds`)
      }
      assert.strictEqual(f.nullValueCounts.get(10), n)
      assert.strictEqual(f.valueCounts.get(10), n)
    }))

  it.effect("dates and timestamps of years 1-99 get their own bounds, not 1901-1999's", () =>
    Effect.gen(function*() {
      const dates = [epochDay(1, 1, 1), epochDay(50, 6, 15)]
      const timestamps = dates.map((d) => BigInt(d) * MICROS_PER_DAY + 1n)
      const files = yield* write({ id: [0, 1], dt: dates, ts: timestamps, lts: timestamps }, "early-years")
      const f = files[0]!
      assert.deepStrictEqual([decode("date", f.lowerBounds.get(5)!), decode("date", f.upperBounds.get(5)!)], dates)
      assert.deepStrictEqual([decode("timestamptz", f.lowerBounds.get(4)!), decode("timestamptz", f.upperBounds.get(4)!)], timestamps)
      assert.deepStrictEqual([decode("timestamp", f.lowerBounds.get(11)!), decode("timestamp", f.upperBounds.get(11)!)], timestamps)
    }))

  it.effect("an instant past year 275760 (beyond a JS Date, within DuckDB's range) is written, bounded or unbounded", () =>
    Effect.gen(function*() {
      const far = 9_000_000_000_000_000_000n // 287168-08-24
      const files = yield* write({ id: [0, 1], ts: [0n, far], dt: [0, 2_000_000] }, "far-future")
      const f = files[0]!
      assertBounded(f, 4, "timestamptz", [0n, far])
      assertBounded(f, 5, "date", [0, 2_000_000])
    }))
})

// DuckDB's text of statistics, parsed without DuckDB: what RETURN_STATS gives for years before 1000
// and after 9999.
const statsRow = (column: string, min: string, max: string) => ({
  filename: "/tmp/x.parquet",
  count: "2",
  file_size_bytes: "100",
  column_statistics: [{
    key: `"${column}"`,
    value: [
      { key: "min", value: min },
      { key: "max", value: max },
      { key: "null_count", value: "0" },
      { key: "num_values", value: "2" },
      { key: "column_size_bytes", value: "10" }
    ]
  }]
})

it("parses DuckDB's rendering of early and far dates and timestamps exactly", () => {
  const file = (column: string, min: string, max: string) => toDataFile(statsRow(column, min, max), leaves(schema), {}, null)
  const dt = file("dt", "0001-01-01", "0099-12-31")
  assert.deepStrictEqual([decode("date", dt.lowerBounds.get(5)!), decode("date", dt.upperBounds.get(5)!)], [-719_162, -683_004])
  const ts = file("ts", "0050-06-15 00:00:00.000001+00", "287168-08-24 16:00:00+00")
  assert.deepStrictEqual(
    [decode("timestamptz", ts.lowerBounds.get(4)!), decode("timestamptz", ts.upperBounds.get(4)!)],
    [BigInt(epochDay(50, 6, 15)) * MICROS_PER_DAY + 1n, 9_000_000_000_000_000_000n]
  )
})

// Spec "Manifests", note 2 of the data_file fields: -0.0 precedes +0.0 in bounds (Java compares
// with Double.compare). DuckDB counts them equal and reports whichever zero it met first.
const floats: Schema = {
  type: "struct",
  "schema-id": 0,
  fields: [
    { id: 1, name: "f", required: false, type: "float" },
    { id: 2, name: "d", required: false, type: "double" }
  ]
}

layer(DuckDb.layerWith({}))("bounds of float and double zeros", (it) => {
  it.effect("a file holding both zeros is bounded below by -0.0 and above by +0.0, whichever comes first", () =>
    Effect.gen(function*() {
      for (const [name, zeros] of [["neg-first", [-0, 0]], ["pos-first", [0, -0]]] as const) {
        const files = yield* writeDataFiles({ rowCount: 2, columns: { f: zeros, d: zeros } }, {
          schema: floats,
          spec: { "spec-id": 0, fields: [] },
          sortOrder: null,
          directory: path.join(root, `zeros-${name}`),
          targetFileSizeBytes: 1 << 30,
          fileNamePrefix: "00000-0"
        })
        const f = files[0]!
        for (const [id, type] of [[1, "float"], [2, "double"]] as const) {
          const [lower, upper] = [decode(type, f.lowerBounds.get(id)!), decode(type, f.upperBounds.get(id)!)]
          assert.isTrue(Object.is(lower, -0), `${name}: ${type} lower bound is -0.0, not ${Object.is(lower, 0) ? "+0.0" : lower}`)
          assert.isTrue(Object.is(upper, 0), `${name}: ${type} upper bound is +0.0, not ${Object.is(upper, -0) ? "-0.0" : upper}`)
        }
      }
    }))
})

layer(DuckDb.layerWith({}))("metrics modes (write.metadata.metrics.*, Java's MetricsConfig)", (it) => {
  it.effect("a file's entry carries the statistics the table's properties ask for: none, counts, truncate(n) or full", () =>
    Effect.gen(function*() {
      // A user's `none` keeps a column's values out of the metadata (bounds are values); a sort column
      // keeps truncate(16) bounds under a counts or none default, as Java's.
      const [file] = yield* writeDataFiles({
        rowCount: 2,
        columns: { id: [1, 2], s: ["abcdef", "zyxwvu"], l: [5n, 7n], nothing: ["secret-1", "secret-2"], li: [["x"], []], lts: [1n, 2n] }
      }, {
        schema,
        spec: { "spec-id": 0, fields: [] },
        sortOrder: { "order-id": 1, fields: [{ transform: "identity", "source-id": 6, direction: "asc", "null-order": "nulls-first" }] },
        directory: path.join(root, "metrics-modes"),
        targetFileSizeBytes: 1 << 30,
        fileNamePrefix: "00000-0",
        properties: {
          "write.metadata.metrics.default": "Counts",
          "write.metadata.metrics.column.s": "truncate(3)",
          "write.metadata.metrics.column.nothing": "none",
          "write.metadata.metrics.column.li.element": "none",
          "write.metadata.metrics.column.lts": "full",
          "write.metadata.metrics.column.id": "truncate(zero)"
        }
      })
      const f = file!
      assert.strictEqual(decode("string", f.lowerBounds.get(2)!), "abc")
      assert.strictEqual(decode("string", f.upperBounds.get(2)!), "zyy")
      for (const id of [10, 20]) {
        for (const m of [f.lowerBounds, f.upperBounds, f.valueCounts, f.nullValueCounts, f.columnSizes]) assert.isFalse(m.has(id), `field ${id} has no statistics`)
      }
      // counts (the default, and for id's mode that does not parse): counts, no bounds.
      assert.strictEqual(f.valueCounts.get(1), 2)
      assert.isFalse(f.lowerBounds.has(1))
      assert.isFalse(f.upperBounds.has(3))
      // The sort column (l) under a counts default: truncate(16), so bounds.
      assert.strictEqual(decode("long", f.lowerBounds.get(6)!), 5n)
      assert.strictEqual(decode("timestamp", f.upperBounds.get(11)!), 2n)

      const twenty = "abcdefghijklmnopqrst"
      const [full] = yield* writeDataFiles({ rowCount: 1, columns: { id: [1], s: [twenty] } }, {
        schema,
        spec: { "spec-id": 0, fields: [] },
        sortOrder: null,
        directory: path.join(root, "metrics-full"),
        targetFileSizeBytes: 1 << 30,
        fileNamePrefix: "00000-0",
        properties: { "write.metadata.metrics.column.s": "full" }
      })
      assert.deepStrictEqual([decode("string", full!.lowerBounds.get(2)!), decode("string", full!.upperBounds.get(2)!)], [twenty, twenty])
    }))
})
