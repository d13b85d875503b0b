/**
 * Run by locale.test.ts in a process of its own, under the locale and zone it is given (DuckDB's ICU
 * reads them from the environment once, at start): prints, as one JSON line, the daily summary's
 * trading days of two ASX trades, and what user SQL says of one instant.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BigDecimal, Effect, Layer } from "effect"
import { tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { runInThisProcess } from "../../../src/layers/http/sandboxRun.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { HOUR, T0 } from "./data.ts"
import { TRADES } from "./fixture.ts"

const trade = (i: number, ts: number): TradeRow => ({
  message_id: `l${i}`, trade_id: `T${i}`, symbol: "BHP", exchange: "ASX", asset_class: "equities", exchange_timestamp: ts,
  price: BigDecimal.fromStringUnsafe("10"), quantity: BigDecimal.fromStringUnsafe("1"), currency: "AUD", side: "BUY", conditions: [],
  source_sequence: BigInt(i), vendor_data: {}, ingestion_timestamp: T0, kafka_topic: "t", kafka_partition: 0, kafka_offset: BigInt(i)
})

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-locale-"))
const app = QueryLayer.layer({ exchangeZones: { ASX: "Australia/Sydney" } }).pipe(
  Layer.provideMerge(Lakehouse.layer({ warehouse: dir, catalog: { _tag: "memory" } }))
)

const probe = Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  // 2024-01-02T01:00Z and 23:30Z: 2024-01-02 and 2024-01-03 in Sydney (+11).
  yield* sink.append(TRADES, tradeColumns([trade(1, T0 + HOUR), trade(2, T0 + 23 * HOUR + HOUR / 2)]))
  const summary = yield* (yield* QueryEngine).dailySummary({ fromDay: "2024-01-01", toDay: "2024-01-05" })
  const sql = yield* runInThisProcess({
    sql: "SELECT year(t) AS y, date_trunc('month', t)::VARCHAR AS m FROM (SELECT TIMESTAMPTZ '2024-01-02 03:04:05+00' AS t)",
    tables: [],
    maxRows: 10,
    timeoutMs: 30_000
  })
  return { days: summary.rows.map((r) => [r.tradingDay, r.tradeCount]), sql: sql.rows }
})

const result = await Effect.runPromise(probe.pipe(Effect.provide(app), Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))))
process.stdout.write(`${JSON.stringify(result)}\n`)
