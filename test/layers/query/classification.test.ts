/**
 * A trade's side against its prevailing quote is decided on the exact mid, (bid + ask) / 2, not on
 * the mid the answer shows (rounded half-even to 8 places): when bid + ask ends in an odd last
 * place, a price equal to the shown mid is above or below the true one (docs/query.md).
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { quoteColumns, tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { DAY, quoteRow as quote, T0, tradeRow as trade } from "./data.ts"
import { memoryQueryWarehouse, QUOTES, TRADES } from "./fixture.ts"

const warehouse = memoryQueryWarehouse()

layer(warehouse, { timeout: 60_000, excludeTestServices: true })("trade classification at a mid of half a tick", (it) => {
  it.effect("goes by the exact mid: a price equal to the rounded mid shown is SELL or BUY, MID only at the exact one", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.ensureTable(tables.quotes)
      yield* sink.append(QUOTES, quoteColumns([
        quote("q1", T0 + 10, "10", "10.00000001"), // mid 10.000000005, shown 10.00000000 (to even)
        quote("q2", T0 + 30, "10.00000001", "10.00000002"), // mid 10.000000015, shown 10.00000002 (to even)
        quote("q3", T0 + 50, "10.00000001", "10.00000003") // mid 10.00000002 exactly
      ]))
      yield* sink.append(TRADES, tradeColumns([
        trade("t1", T0 + 20, "10"),
        trade("t2", T0 + 40, "10.00000002"),
        trade("t3", T0 + 60, "10.00000002")
      ]))
      const engine = yield* QueryEngine
      const page = yield* engine.tradesWithQuotes({ from: T0, to: T0 + DAY })
      assert.deepStrictEqual(page.rows.map((r) => [r.messageId, r.price, r.mid, r.effectiveSpread, r.classification]), [
        ["t1", "10.00000000", "10.00000000", "0.00000001", "SELL"],
        ["t2", "10.00000002", "10.00000002", "0.00000001", "BUY"],
        ["t3", "10.00000002", "10.00000002", "0.00000000", "MID"]
      ])
    }))
})
