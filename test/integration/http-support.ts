/** A served K2 API over a warehouse built by the test, on a free loopback port. */
import { Effect, Layer } from "effect"
import { HttpServer } from "effect/http"
import { sha256Hex, defaults, type ServerOptions } from "../../src/layers/http/config.ts"
import * as Server from "../../src/layers/http/server.ts"
import * as QueryLayer from "../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../src/layers/replay/engine.ts"
import { fill, lakehouse, warehouseDir } from "../layers/query/fixture.ts"

export const KEYS = { reader: "reader-secret-key-1", full: "full-secret-key-2", metricsOnly: "metrics-secret-key-3" }

export const testOptions = (overrides: Partial<ServerOptions> = {}): ServerOptions => ({
  ...defaults,
  keys: [
    { name: "reader", sha256: sha256Hex(KEYS.reader), scopes: new Set(["read"]) },
    { name: "full", sha256: sha256Hex(KEYS.full), scopes: new Set(["read", "replay", "sql", "metrics"]) },
    { name: "metrics", sha256: sha256Hex(KEYS.metricsOnly), scopes: new Set(["metrics"]) }
  ],
  rateLimit: 1_000_000,
  ...overrides
})

/** The lakehouse in `dir`, the data `data` writes into it (the query fixture's by default), and the engines. */
export const engines = <A, E, R>(dir: string, data: Layer.Layer<A, E, R>) =>
  Layer.mergeAll(data, QueryLayer.layer(), ReplayLayer.layer).pipe(Layer.provideMerge(lakehouse(dir)))

/** The API served over the warehouse in `dir` holding what `data` writes. */
export const servedWith = <A, E, R>(options: ServerOptions, dir: string, data: Layer.Layer<A, E, R>) =>
  Server.layer({ ...options, warehouse: dir }).pipe(
    Layer.provideMerge(engines(dir, data)),
    Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1", maxSymbols: options.maxSymbols }))
  )

export const served = (options: ServerOptions, dir = warehouseDir(), counts?: { trades: number; quotes: number }) =>
  servedWith(options, dir, fill(counts))

/** `served` in a fresh warehouse, with `over` between the routes and the engines (a stand-in wrapping one of them). */
export const servedOver = <A, E, R>(options: ServerOptions, over: Layer.Layer<A, E, R>, counts?: { trades: number; quotes: number }) =>
  Layer.unwrap(Effect.sync(() => {
    const dir = warehouseDir()
    return Server.layer({ ...options, warehouse: dir }).pipe(
      Layer.provideMerge(over),
      Layer.provideMerge(engines(dir, fill(counts))),
      Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1", maxSymbols: options.maxSymbols }))
    )
  }))

export const baseUrl = Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  return HttpServer.formatAddress(server.address).replace(/\/$/, "")
})

export const get = (url: string, headers: Record<string, string> = {}) =>
  Effect.promise(() => fetch(url, { headers }))

export const auth = (key: string) => ({ "x-api-key": key })
