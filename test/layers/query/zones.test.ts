/**
 * The layer's trading-day zones: a configuration that names no exchange reads every trading day in
 * the default zone; `layerConfig` adds K2_SEQUENCE_ZONES' exchanges, as ingest's trackers do.
 */
import { assert, layer } from "@effect/vitest"
import { BigDecimal, ConfigProvider, Effect, Layer } from "effect"
import { tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { ExchangeCalendars } from "../../../src/domain/sequence/calendar.ts"
import { dayText } from "../../../src/domain/time.ts"
import { HOUR, T0 } from "./data.ts"
import { TRADES, warehouseDir } from "./fixture.ts"

const trade = (i: number, exchange: string, ts: number): TradeRow => ({
  message_id: `z${i}`, trade_id: `T${i}`, symbol: "BHP", exchange, asset_class: "equities", exchange_timestamp: ts,
  price: BigDecimal.fromStringUnsafe("10"), quantity: BigDecimal.fromStringUnsafe("1"), currency: "AUD", side: "BUY", conditions: [],
  source_sequence: BigInt(i), vendor_data: {}, ingestion_timestamp: T0, kafka_topic: "t", kafka_partition: 0, kafka_offset: BigInt(i)
})

const app = (exchangeZones: Readonly<Record<string, string>>, defaultZone?: string) =>
  QueryLayer.layer({ exchangeZones, ...(defaultZone === undefined ? {} : { defaultZone }) }).pipe(
    Layer.provideMerge(Lakehouse.layer({ warehouse: warehouseDir(), catalog: { _tag: "memory" } }))
  )

// 2024-01-02T23:30Z is 2024-01-03 in Sydney (AEDT, +11) and 2024-01-02 in UTC.
const rows = [trade(1, "ASX", T0 + 23 * HOUR + HOUR / 2), trade(2, "ASX", T0 + HOUR)]
// Tokyo (+9): 2024-01-02T23:30Z is 2024-01-03 there. XTKS is in no default table.
const tokyo = [trade(3, "XTKS", T0 + 23 * HOUR + HOUR / 2), trade(4, "XTKS", T0 + HOUR)]

const load = Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.append(TRADES, tradeColumns([...rows, ...tokyo]))
})

const tradingDays = (exchange: string) =>
  Effect.gen(function*() {
    const summary = yield* (yield* QueryEngine).dailySummary({ fromDay: "2024-01-01", toDay: "2024-01-05" })
    return summary.rows.filter((s) => s.exchange === exchange).map((s) => [s.tradingDay, s.tradeCount])
  })

layer(app({}), { timeout: 60_000, excludeTestServices: true })("QueryEngine with no exchange zones", (it) => {
  it.effect("reads every trading day in the default zone (UTC)", () =>
    Effect.gen(function*() {
      yield* load
      const q = yield* QueryEngine
      const summary = yield* q.dailySummary({ fromDay: "2024-01-01", toDay: "2024-01-05" })
      assert.deepStrictEqual(summary.rows.filter((s) => s.exchange === "ASX").map((s) => [s.tradingDay, s.tradeCount]), [["2024-01-02", 2]])
    }))
})

layer(app({}, "Australia/Sydney"), { timeout: 60_000, excludeTestServices: true })("QueryEngine with no exchange zones and a default zone", (it) => {
  it.effect("reads every trading day in that zone", () =>
    Effect.gen(function*() {
      yield* load
      const q = yield* QueryEngine
      const summary = yield* q.dailySummary({ fromDay: "2024-01-01", toDay: "2024-01-05" })
      assert.deepStrictEqual(summary.rows.filter((s) => s.exchange === "ASX").map((s) => [s.tradingDay, s.tradeCount]), [["2024-01-02", 1], ["2024-01-03", 1]])
    }))
})

const configured = QueryLayer.layerConfig.pipe(
  Layer.provideMerge(Lakehouse.layer({ warehouse: warehouseDir(), catalog: { _tag: "memory" } })),
  Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ K2_SEQUENCE_ZONES: "XTKS=Asia/Tokyo" })))
)

layer(configured, { timeout: 60_000, excludeTestServices: true })("QueryEngine.layerConfig", (it) => {
  it.effect("reads the trading days of K2_SEQUENCE_ZONES' exchanges in their zones, and the default table's as before", () =>
    Effect.gen(function*() {
      yield* load
      assert.deepStrictEqual(yield* tradingDays("XTKS"), [["2024-01-02", 1], ["2024-01-03", 1]])
      assert.deepStrictEqual(yield* tradingDays("ASX"), [["2024-01-02", 1], ["2024-01-03", 1]])
    }))
})

// Intl (so K2_SEQUENCE_ZONES' check and ingest's trackers) takes fixed offsets as zones; DuckDB's ICU
// knows no such name ("Unknown TimeZone"), so every summary failed.
const offsets = QueryLayer.layerConfig.pipe(
  Layer.provideMerge(Lakehouse.layer({ warehouse: warehouseDir(), catalog: { _tag: "memory" } })),
  Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ K2_SEQUENCE_ZONES: "XTKS=+09:00" })))
)

layer(offsets, { timeout: 60_000, excludeTestServices: true })("QueryEngine with a fixed-offset zone", (it) => {
  it.effect("reads trading days at that offset, as ingest's calendar does", () =>
    Effect.gen(function*() {
      yield* load
      const calendar = new ExchangeCalendars({ XTKS: "+09:00" }).forExchange("XTKS")
      assert.deepStrictEqual(tokyo.map((t) => dayText(calendar.localDay(t.exchange_timestamp))).sort(), ["2024-01-02", "2024-01-03"])
      assert.deepStrictEqual(yield* tradingDays("XTKS"), [["2024-01-02", 1], ["2024-01-03", 1]])
      assert.deepStrictEqual(yield* tradingDays("ASX"), [["2024-01-02", 1], ["2024-01-03", 1]])
    }))
  it.effect("also as the default zone, and with half-hour and hour-only offsets", () =>
    Effect.gen(function*() {
      for (const [zone, want] of [["-05", "2024-01-02"], ["+05:30", "2024-01-03"], ["+0030", "2024-01-03"], ["-00:31", "2024-01-02"]] as const) {
        const engine = yield* QueryEngine.pipe(Effect.provide(QueryLayer.layer({ exchangeZones: {}, defaultZone: zone })))
        const rows = (yield* engine.dailySummary({ fromDay: "2024-01-01", toDay: "2024-01-05", symbols: ["BHP"] })).rows
        // 2024-01-02T23:30Z: the next day from +00:30 on, this one at -00:31 and west.
        assert.strictEqual(rows.find((s) => s.lastTrade === T0 + 23 * HOUR + HOUR / 2 && s.exchange === "XTKS")?.tradingDay, want, zone)
      }
    }))
})
