/**
 * A trades table whose price another engine widened from decimal(18, 8) to decimal(20, 8) (a
 * precision promotion Iceberg v2 allows, ADR-2) and then wrote a price only the wider type holds.
 * Bars and daily summaries read their prices as DECIMAL(18, 8), the type K2 writes: such a price
 * failed them (DuckDB's cast error, a 500) where pages, which render text, read it exactly; replay
 * cast it back too (the same error).
 */
import { assert, layer } from "@effect/vitest"
import { BigDecimal, Effect, Layer, Stream } from "effect"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import type { Schema } from "../../../src/domain/iceberg/spec.ts"
import { quoteColumns, tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { evolvingLakehouse } from "../../support/warehouse.ts"
import * as Ref from "../../domain/query/reference.ts"
import { DAY, genQuotes, genTrades, HOUR, T0 } from "./data.ts"
import { theirAppend } from "./evolvedFixture.ts"
import { QUOTES, TRADES, warehouseDir } from "./fixture.ts"

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
  yield* sink.ensureTable(tables.quotes)
  yield* sink.append(TRADES, tradeColumns(ours))
  yield* sink.append(QUOTES, quoteColumns(genQuotes(30, { seed: 84 })))
  schemas[TRADES.name] = widened
  // The other engine's file, under the widened schema: K2's rows hold decimal(18, 8), so the big
  // price goes into the batch as its unscaled value.
  const batch: ColumnBatch = tradeColumns([...theirs.slice(0, -1), { ...big, price: BigDecimal.fromBigInt(0n) }])
  const price = Array.from(batch.columns["price"]!)
  price[price.length - 1] = BigDecimal.scale(big.price, 8).value
  yield* theirAppend(TRADES, widened, { rowCount: batch.rowCount, columns: { ...batch.columns, price } })
}))

const warehouse = Layer.mergeAll(filled, QueryLayer.layer(), ReplayLayer.layer).pipe(
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

  it.effect("replay gives it as its exact text, every other price as before", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const all = new Map([...ours, ...theirs].map((t) => [t.message_id, t]))
      const range = { from: T0, to: T0 + 6 * DAY }
      for (const whole of [false, true]) {
        const events = [...yield* Stream.runCollect(replay.stream({ ...range, tables: ["trades"], wholeWindows: whole }))]
        assert.strictEqual(events.length, Ref.selectRows([...all.values()], range).length)
        for (const e of events) {
          assert.strictEqual(e._tag, "Trade")
          if (e._tag !== "Trade") continue
          const t = all.get(e.message_id)!
          assert.deepStrictEqual([e.price, e.quantity], [Ref.text8(t.price), Ref.text8(t.quantity)], e.message_id)
        }
        assert.deepStrictEqual(events.filter((e) => e.message_id === big.message_id).map((e) => e._tag === "Trade" ? e.price : null), [BIG_PRICE])
      }
    }))

  it.effect("replay with quotes in the same statement too", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const events = [...yield* Stream.runCollect(replay.stream({ from: T0 + 5 * DAY, to: T0 + 6 * DAY, tables: ["trades", "quotes"] }))]
      assert.deepStrictEqual(events.filter((e) => e.message_id === big.message_id).map((e) => e._tag === "Trade" ? e.price : null), [BIG_PRICE])
    }))
})
