/**
 * A trades table whose price another engine widened from decimal(18, 8) to decimal(20, 8) (a
 * precision promotion Iceberg v2 allows, ADR-2) and then wrote a price only the wider type holds.
 * Bars and daily summaries read their prices as DECIMAL(18, 8), the type K2 writes: such a price
 * failed them (DuckDB's cast error, a 500) where pages, which render text, read it exactly.
 */
import { assert, layer } from "@effect/vitest"
import { BigDecimal, Effect, Layer } from "effect"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import type { Schema } from "../../../src/domain/iceberg/spec.ts"
import { tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { evolvingLakehouse } from "../../support/warehouse.ts"
import * as Ref from "../../domain/query/reference.ts"
import { DAY, genTrades, HOUR, T0 } from "./data.ts"
import { theirAppend } from "./evolvedFixture.ts"
import { TRADES, warehouseDir } from "./fixture.ts"

const widened: Schema = {
  type: "struct",
  "schema-id": 1,
  fields: tables.trades.schema.fields.map((f) => (f.name === "price" ? { ...f, type: "decimal(20, 8)" } : f))
}

/** 123,456,789,012.5: past decimal(18, 8)'s 10^10, within decimal(20, 8). */
const BIG_PRICE = "123456789012.50000000"

const schemas: Partial<Record<string, Schema>> = {}
const ours = genTrades(40, { seed: 81, idPrefix: "k2" })
const big: TradeRow = { ...genTrades(1, { seed: 82, idPrefix: "big", start: T0 + 5 * DAY, days: 1 })[0]!, price: BigDecimal.fromStringUnsafe(BIG_PRICE) }
const theirs = [...genTrades(20, { seed: 83, idPrefix: "other" }), big]

const filled = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.append(TRADES, tradeColumns(ours))
  schemas[TRADES.name] = widened
  // The other engine's file, under the widened schema: K2's rows hold decimal(18, 8), so the big
  // price goes into the batch as its unscaled value.
  const batch: ColumnBatch = tradeColumns([...theirs.slice(0, -1), { ...big, price: BigDecimal.fromBigInt(0n) }])
  const price = Array.from(batch.columns["price"]!)
  price[price.length - 1] = BigDecimal.scale(big.price, 8).value
  yield* theirAppend(TRADES, widened, { rowCount: batch.rowCount, columns: { ...batch.columns, price } })
}))

const warehouse = Layer.mergeAll(filled, QueryLayer.layer()).pipe(
  Layer.provideMerge(evolvingLakehouse(warehouseDir(), (name) => schemas[name]))
)

layer(warehouse, { timeout: 60_000, excludeTestServices: true })("QueryEngine: a price only a widened decimal holds", (it) => {
  it.effect("pages, bars and daily summaries read it exactly", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      const all = [...ours, ...theirs]
      const page = yield* q.trades({ from: T0 + 5 * DAY, to: T0 + 6 * DAY, limit: 10 })
      assert.deepStrictEqual(page.rows.map((r) => r["price"]), [BIG_PRICE])
      const range = { from: T0, to: T0 + 6 * DAY }
      assert.deepStrictEqual((yield* q.bars({ ...range, interval: "1h" })).rows, Ref.bars(all, { ...range, size: HOUR }))
      const days = { fromDay: "2024-01-01", toDay: "2024-01-08" }
      const summaries = (yield* q.dailySummary(days)).rows
      assert.deepStrictEqual(summaries, Ref.dailySummary(all, days))
      assert.deepStrictEqual(summaries.filter((s) => s.firstTrade >= T0 + 5 * DAY).map((s) => [s.open, s.high, s.close, s.vwap]), [[BIG_PRICE, BIG_PRICE, BIG_PRICE, BIG_PRICE]])
    }))
})
