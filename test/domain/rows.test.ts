/**
 * Row buffers hand their int64 columns over unboxed (BigInt64Array) when they hold no null, and
 * concatBatches keeps them so; either way every value reads back as the same bigint.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ColumnBatch, concatBatches } from "../../src/domain/columnBatch.ts"
import { quoteRows, tradeColumns, tradeRows } from "../../src/domain/rows.ts"
import { makeTrades } from "../support/fixtures.ts"

const read = (column: ColumnBatch["columns"][string] | undefined) => Array.from(column ?? [], (v) => v)

describe("row buffers and column batches", () => {
  it("an empty buffer holds no column storage: one is made for every partition at every flush", () => {
    const before = process.memoryUsage().arrayBuffers
    const buffers = Array.from({ length: 1_000 }, (_, i) => (i % 2 === 0 ? tradeRows() : quoteRows()))
    const held = process.memoryUsage().arrayBuffers - before
    // Before: 1,024 int64s a column up front, 32-48 KB a buffer, ~40 MB for these.
    assert.isBelow(held, 4 * 1024 * 1024, `${buffers.length} empty buffers hold ${held} bytes`)
    // They still take values, nulls among them, past any first allocation.
    const rows = makeTrades({ count: 3_000 }).map((r, i) => (i === 5 ? { ...r, source_sequence: null } : r))
    const buffer = buffers[0] as ReturnType<typeof tradeRows>
    for (const r of rows) buffer.push(r)
    assert.deepStrictEqual(read(buffer.columns().columns["source_sequence"]), rows.map((r) => r.source_sequence))
  })

  it("hands null-free int64 columns over as BigInt64Arrays, nullable ones as bigints and nulls", () => {
    const rows = makeTrades({ count: 5 })
    const unboxed = tradeColumns(rows)
    for (const name of ["exchange_timestamp", "ingestion_timestamp", "kafka_offset", "source_sequence", "price", "quantity"]) {
      assert.instanceOf(unboxed.columns[name], BigInt64Array, name)
    }
    assert.deepStrictEqual(read(unboxed.columns["kafka_offset"]), rows.map((r) => r.kafka_offset))
    assert.deepStrictEqual(read(unboxed.columns["exchange_timestamp"]), rows.map((r) => BigInt(r.exchange_timestamp)))
    assert.deepStrictEqual(read(unboxed.columns["price"]), rows.map((r) => r.price.value))

    const withNull = tradeColumns(rows.map((r, i) => (i === 2 ? { ...r, source_sequence: null } : r)))
    assert.isTrue(Array.isArray(withNull.columns["source_sequence"]))
    assert.deepStrictEqual(read(withNull.columns["source_sequence"]), rows.map((r, i) => (i === 2 ? null : r.source_sequence)))
  })

  it("concatenates unboxed columns unboxed, and mixed ones as plain arrays with the same values", () => {
    const big = 2n ** 62n + 7n
    const a: ColumnBatch = { rowCount: 2, columns: { x: BigInt64Array.of(-1n, big), s: ["p", "q"] } }
    const b: ColumnBatch = { rowCount: 1, columns: { x: BigInt64Array.of(3n), s: ["r"] } }
    const c: ColumnBatch = { rowCount: 2, columns: { x: [null, -big], s: ["t", "u"] } }

    const typed = concatBatches([a, b])
    assert.instanceOf(typed.columns["x"], BigInt64Array)
    assert.deepStrictEqual(read(typed.columns["x"]), [-1n, big, 3n])
    assert.deepStrictEqual(read(typed.columns["s"]), ["p", "q", "r"])

    const mixed = concatBatches([a, b, c])
    assert.strictEqual(mixed.rowCount, 5)
    assert.isTrue(Array.isArray(mixed.columns["x"]))
    assert.deepStrictEqual(read(mixed.columns["x"]), [-1n, big, 3n, null, -big])
  })

  it("reads each batch's rows only, not the spare room of a longer column, and concatenates no batch to none", () => {
    const a: ColumnBatch = { rowCount: 1, columns: { x: BigInt64Array.of(1n, 99n), s: ["p", "spare"] } }
    const b: ColumnBatch = { rowCount: 2, columns: { x: BigInt64Array.of(2n, 3n, 99n), s: ["q", "r", "spare"] } }
    const both = concatBatches([a, b])
    assert.strictEqual(both.rowCount, 3)
    assert.deepStrictEqual(read(both.columns["x"]), [1n, 2n, 3n])
    assert.deepStrictEqual(read(both.columns["s"]), ["p", "q", "r"])
    assert.deepStrictEqual(concatBatches([]), { rowCount: 0, columns: {} })
  })
})
