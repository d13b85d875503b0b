import type { DuckDBConnection } from "@duckdb/node-api"
import { Effect, Layer } from "effect"
import { DuckDb } from "../../src/layers/duckdb/DuckDb.ts"

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
