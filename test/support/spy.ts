import type { DuckDBConnection } from "@duckdb/node-api"
import { Effect, Layer } from "effect"
import { tradeColumns, type TradeRow } from "../../src/domain/rows.ts"
import { tables } from "../../src/domain/tables.ts"
import { DuckDb } from "../../src/layers/duckdb/DuckDb.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import * as ReplayLayer from "../../src/layers/replay/engine.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { warehouseOptions } from "./warehouse.ts"

/** `target` with `overrides`; its own methods stay bound to it (DuckDB's objects keep private state). */
export const spy = <T extends object>(target: T, overrides: Record<string, unknown>): T =>
  new Proxy(target, {
    get: (t, p) => {
      if (typeof p === "string" && p in overrides) return overrides[p]
      const value = Reflect.get(t, p)
      return typeof value === "function" ? value.bind(t) : value
    }
  })

/** The DuckDb layer below it, with every connection it lends passed through `wrap` (a spy). */
export const spiedDuckDb = (wrap: (c: DuckDBConnection) => DuckDBConnection) =>
  Layer.effect(DuckDb)(Effect.gen(function*() {
    const real = yield* DuckDb
    return DuckDb.of({ size: real.size, withConnection: (use) => real.withConnection((c) => use(wrap(c))) })
  }))

/** The replay engine reading through `duckDb` (a spiedDuckDb), over a fresh warehouse whose trades table holds `rows`. */
export const spiedReplayOverTrades = (duckDb: ReturnType<typeof spiedDuckDb>, rows: ReadonlyArray<TradeRow>) => {
  const data = Layer.effectDiscard(Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    yield* sink.append(tables.trades, tradeColumns(rows))
  }))
  return Layer.mergeAll(ReplayLayer.layer.pipe(Layer.provide(duckDb)), data).pipe(Layer.provideMerge(Lakehouse.layer(warehouseOptions("sqlite"))))
}
