/** A warehouse with generated trades and quotes in two snapshots, shared by the query and replay tests. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Context, Effect, Layer } from "effect"
import { quoteColumns, type QuoteRow, tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { genQuotes, genTrades } from "./data.ts"

export const TRADES = { namespace: "market_data", name: "trades" }
export const QUOTES = { namespace: "market_data", name: "quotes" }

export class Fixture extends Context.Service<Fixture, {
  /** Rows of the first snapshot, then of both. */
  readonly trades1: ReadonlyArray<TradeRow>
  readonly trades: ReadonlyArray<TradeRow>
  readonly quotes: ReadonlyArray<QuoteRow>
  readonly firstTradeSnapshot: bigint
  readonly firstTradeSnapshotMs: number
  readonly lastTradeSnapshot: bigint
}>()("test/Fixture") {}

export const warehouseDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "k2-query-"))

export const lakehouse = (dir = warehouseDir()) =>
  Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } })

/** An empty warehouse on the memory catalog with the query engine, for hand-built cases. */
export const memoryQueryWarehouse = () =>
  QueryLayer.layer().pipe(Layer.provideMerge(Lakehouse.layer({ warehouse: warehouseDir(), catalog: { _tag: "memory" } })))

export const fill = (counts: { trades: number; quotes: number } = { trades: 4_000, quotes: 6_000 }) =>
  Layer.effect(Fixture)(Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    yield* sink.ensureTable(tables.quotes)
    const trades1 = genTrades(counts.trades / 2, { seed: 11, idPrefix: "a" })
    const trades2 = genTrades(counts.trades / 2, { seed: 12, idPrefix: "b" })
    const quotes = genQuotes(counts.quotes, { seed: 13 })
    const first = yield* sink.append(TRADES, tradeColumns(trades1))
    yield* Effect.sleep("20 millis")
    const last = yield* sink.append(TRADES, tradeColumns(trades2))
    yield* sink.append(QUOTES, quoteColumns(quotes))
    return Fixture.of({
      trades1,
      trades: [...trades1, ...trades2],
      quotes,
      firstTradeSnapshot: first.snapshot["snapshot-id"],
      firstTradeSnapshotMs: first.snapshot["timestamp-ms"],
      lastTradeSnapshot: last.snapshot["snapshot-id"]
    })
  }))

export const queryWarehouse = (counts?: { trades: number; quotes: number }) =>
  Layer.mergeAll(fill(counts), QueryLayer.layer()).pipe(Layer.provideMerge(lakehouse()))
