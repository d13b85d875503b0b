/**
 * Rows the replay order key (time, sequence, message_id, table) cannot tell apart: one record
 * ingested twice (a source re-sent it; the sequence tracker keeps an old or NULL sequence). The
 * replay must still be one deterministic order, the one pages give them: by Kafka lineage.
 */
import { assert, layer } from "@effect/vitest"
import { BigDecimal, Effect, Layer, Stream } from "effect"
import { tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { DAY, T0 } from "../query/data.ts"
import { TRADES, warehouseDir } from "../query/fixture.ts"

const warehouse = Layer.mergeAll(QueryLayer.layer(), ReplayLayer.layer).pipe(
  Layer.provideMerge(Lakehouse.layer({ warehouse: warehouseDir(), catalog: { _tag: "memory" } }))
)

const trade = (id: string, ts: number, seq: bigint | null, partition: number, offset: bigint): TradeRow => ({
  message_id: id, trade_id: id, symbol: "DUP", exchange: "NYSE", asset_class: "equities", exchange_timestamp: ts,
  price: BigDecimal.fromStringUnsafe("10"), quantity: BigDecimal.fromStringUnsafe("1"), currency: "USD", side: "BUY", conditions: [],
  source_sequence: seq, vendor_data: {}, ingestion_timestamp: T0, kafka_topic: "market.equities.trades.a", kafka_partition: partition,
  kafka_offset: offset
})

const lineage = (r: Readonly<Record<string, unknown>>) => `${r["message_id"]}@${r["kafka_partition"]}:${r["kafka_offset"]}`

layer(warehouse, { timeout: 60_000, excludeTestServices: true })("replay over rows the order key ties", (it) => {
  it.effect("plays them in the order pages give them (by Kafka lineage), whatever file holds them", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      // Later offsets committed first: the files' order is not the lineage order.
      for (let f = 0; f < 4; f++) {
        yield* sink.append(TRADES, tradeColumns([
          trade("same", T0 + 10, 2n, 0, BigInt(40 - f)),
          trade("nullseq", T0 + 10, null, 1, BigInt(90 - f))
        ]))
      }
      const range = { from: T0, to: T0 + DAY }
      const pages = (yield* (yield* QueryEngine).trades({ ...range, limit: 100 })).rows.map(lineage)
      const replay = yield* ReplayEngine
      for (let run = 0; run < 5; run++) {
        const events = yield* Stream.runCollect(replay.stream({ ...range, tables: ["trades"] }))
        assert.deepStrictEqual(events.map((e) => lineage({ ...e })), pages)
      }
    }))
})
