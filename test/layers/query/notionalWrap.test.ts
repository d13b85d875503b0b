/**
 * A notional past DuckDB's int128 (about 1.7e22) is refused, never answered. DuckDB checks each
 * row's addition to a sum, but merging its threads' partial sums wraps silently: a day read by
 * several threads, each part below the limit, was answered with a negative VWAP.
 */
import { assert, layer } from "@effect/vitest"
import { BigDecimal, ConfigProvider, Effect, Layer } from "effect"
import { tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { type Answer, QueryEngine, type QueryError } from "../../../src/services/QueryEngine.ts"
import { HOUR, T0 } from "./data.ts"
import { TRADES, warehouseDir } from "./fixture.ts"

const HUGE = BigDecimal.make(999_999_999_999_999_999n, 8) // 9,999,999,999.99999999
const TINY = BigDecimal.make(1n, 8)
const ROWS = 8_000

/** A file of ROWS trades, the first 20 of 1e20 notional each, the others of next to nothing. */
const trade = (file: number, i: number): TradeRow => ({
  message_id: `w${file}-${i}`, trade_id: `T${i}`, symbol: "HUGE", exchange: "ASX", asset_class: "equities",
  exchange_timestamp: T0 + HOUR + file * ROWS + i,
  price: i < 20 ? HUGE : TINY, quantity: i < 20 ? HUGE : TINY,
  currency: "AUD", side: "BUY", conditions: [], source_sequence: BigInt(i), vendor_data: {},
  ingestion_timestamp: T0, kafka_topic: "t", kafka_partition: 0, kafka_offset: BigInt(file * ROWS + i)
})

// Several DuckDB threads, whatever the machine: each reads some of the files.
const app = QueryLayer.layer().pipe(
  Layer.provideMerge(Lakehouse.layer({ warehouse: warehouseDir(), catalog: { _tag: "memory" } })),
  Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ K2_DUCKDB_THREADS: "4" })))
)

layer(app, { timeout: 60_000, excludeTestServices: true })("a notional past int128", (it) => {
  it.effect("is refused (ValueOverflow) by bars and daily summaries however DuckDB splits the rows", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      // Each file's notional (2e21) fits, and so does that of any few; the sixteen together (3.2e22) do not.
      for (let file = 0; file < 16; file++) yield* sink.append(TRADES, tradeColumns(Array.from({ length: ROWS }, (_, i) => trade(file, i))))
      const q = yield* QueryEngine
      // Which rows each thread sums varies by run: a wrapped merge shows in some runs, not all.
      for (let run = 0; run < 10; run++) {
        const reads: ReadonlyArray<Effect.Effect<Answer<unknown>, QueryError>> = [
          q.bars({ from: T0, to: T0 + 24 * HOUR, interval: "1d" }),
          q.dailySummary({ fromDay: "2024-01-02", toDay: "2024-01-03" })
        ]
        for (const read of reads) {
          const answer = yield* Effect.result(read)
          const reason = answer._tag === "Failure" && answer.failure._tag === "InvalidQuery" ? answer.failure.reason._tag : undefined
          assert.strictEqual(reason, "ValueOverflow", `run ${run}: ${answer._tag === "Success" ? JSON.stringify(answer.success.rows) : String(answer.failure)}`)
        }
      }
    }))
})
