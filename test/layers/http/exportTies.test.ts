/**
 * Rows the order key (time, sequence, message_id) cannot tell apart (one record its source re-sent,
 * ingested twice) come in one order in every format: the pages' order, the key then the Kafka
 * lineage. A Parquet export ordered them by the key alone, so it listed them in whatever order
 * DuckDB met them, and one cut by its `limit` inside such a run held other rows than the CSV export
 * with the same limit.
 */
import { assert, layer } from "@effect/vitest"
import { BigDecimal, Effect, Layer } from "effect"
import { tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { auth, baseUrl, KEYS, servedWith, testOptions } from "../../integration/http-support.ts"
import { readParquet } from "../../support/parquet.ts"
import { DAY, T0 } from "../query/data.ts"
import { TRADES, warehouseDir } from "../query/fixture.ts"

const trade = (price: string, offset: bigint): TradeRow => ({
  message_id: "resent", trade_id: "resent", symbol: "DUP", exchange: "NYSE", asset_class: "equities", exchange_timestamp: T0 + 10,
  price: BigDecimal.fromStringUnsafe(price), quantity: BigDecimal.fromStringUnsafe("1"), currency: "USD", side: "BUY", conditions: [],
  source_sequence: 7n, vendor_data: {}, ingestion_timestamp: T0, kafka_topic: "market.equities.trades.nyse", kafka_partition: 0,
  kafka_offset: offset
})

// Each copy in a file of its own, written in the lineage's order: the plan lists the newest file first, against it.
const written = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  for (const [price, offset] of [["11", 10n], ["12", 20n], ["13", 30n]] as const) yield* sink.append(TRADES, tradeColumns([trade(price, offset)]))
}))

const iso = (us: number) => new Date(us / 1000).toISOString()
const range = `from=${iso(T0)}&to=${iso(T0 + DAY)}&symbols=DUP&fields=price,kafka_offset`

const fetched = (path: string) =>
  Effect.gen(function*() {
    const base = yield* baseUrl
    const res = yield* Effect.promise(() => fetch(`${base}${path}`, { headers: auth(KEYS.full) }))
    assert.strictEqual(res.status, 200, path)
    return res
  })

const text = (path: string) => Effect.flatMap(fetched(path), (res) => Effect.promise(() => res.text()))
const csvOffsets = (path: string) => Effect.map(text(path), (body) => body.trimEnd().split("\n").slice(1).map((line) => line.split(",")[1]))
const parquetOffsets = (res: Response) =>
  Effect.gen(function*() {
    const { rows } = yield* readParquet(new Uint8Array(yield* Effect.promise(() => res.arrayBuffer())))
    return rows.map((r) => String(r["kafka_offset"]))
  })

layer(servedWith(testOptions(), warehouseDir(), written), { timeout: 120_000, excludeTestServices: true })("exports of rows tied on the order key", (it) => {
  it.effect("list them in the lineage's order in JSON, CSV and Parquet, and a limit keeps the same ones", () =>
    Effect.gen(function*() {
      const json = JSON.parse(yield* text(`/v1/trades?${range}`)) as {
        data: Array<{ kafka_offset: string }>
      }
      const want = ["10", "20", "30"]
      assert.deepStrictEqual(json.data.map((r) => r.kafka_offset), want)
      assert.deepStrictEqual(yield* csvOffsets(`/v1/trades?${range}&format=csv`), want)
      assert.deepStrictEqual(yield* parquetOffsets(yield* fetched(`/v1/trades?${range}&format=parquet`)), want)
      // Cut by a limit inside the run: the same first rows in every format.
      assert.deepStrictEqual(yield* csvOffsets(`/v1/trades?${range}&format=csv&limit=2`), ["10", "20"])
      assert.deepStrictEqual(yield* parquetOffsets(yield* fetched(`/v1/trades?${range}&format=parquet&limit=2`)), ["10", "20"])
    }))
})
