/** The write order of a batch, without I/O: day partitions in order, each sorted by symbol then time. */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import { partitioning } from "../../../src/domain/iceberg/partitioning.ts"
import { sortKeys, writeLayout } from "../../../src/domain/iceberg/rowOrder.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { makeTrades } from "../../support/fixtures.ts"

const DAY = 86_400_000_000

const tradesLayout = (batch: ColumnBatch) => {
  const { schema, sortOrder, spec } = tables.trades
  return writeLayout(Result.getOrThrow(partitioning(schema, spec)), Result.getOrThrow(sortKeys(schema, sortOrder)), batch)
}

describe("writeLayout", () => {
  it("groups rows by day, oldest first, each day sorted by (symbol, exchange_timestamp), every row once", () => {
    // Three days of trades arriving newest day first, symbols interleaved.
    const rows = makeTrades({ count: 3_000, days: 3 }).reverse()
    const partitions = tradesLayout(tradeColumns(rows))
    assert.deepStrictEqual(partitions.map((p) => p.path.replace(/^.*=/, "")), ["2024-01-02", "2024-01-03", "2024-01-04"])
    const seen = new Set<number>()
    for (const p of partitions) {
      const day = Object.values(p.values)[0] as number
      for (let i = 0; i < p.rows.length; i++) {
        const r = rows[p.rows[i]!]!
        seen.add(p.rows[i]!)
        assert.strictEqual(Math.floor(r.exchange_timestamp / DAY), day)
        if (i === 0) continue
        const q = rows[p.rows[i - 1]!]!
        assert.isTrue(q.symbol < r.symbol || (q.symbol === r.symbol && q.exchange_timestamp <= r.exchange_timestamp))
      }
    }
    assert.strictEqual(seen.size, rows.length)
  })

  it("orders strings by code point (UTF-8 byte order), not UTF-16 units", () => {
    // U+FF21 (Ａ) sorts before U+1F600 (😀) in code points; UTF-16 would put the surrogate pair first.
    const rows = makeTrades({ count: 2, symbols: ["\u{1F600}", "\uFF21"] })
    const partitions = tradesLayout(tradeColumns(rows))
    assert.deepStrictEqual(Array.from(partitions[0]!.rows).map((i) => rows[i]!.symbol), ["\uFF21", "\u{1F600}"])
  })
})
