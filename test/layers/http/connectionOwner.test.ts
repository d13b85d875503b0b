/**
 * Serve's reads wait for a pooled DuckDB connection as their caller (ADR-100): the key's name, in
 * the request and in a body streamed after the handler returned (an export's later pages, a
 * replay's windows), so that the pool takes callers in turn (fairQueue.ts).
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { CurrentConnectionOwner, DuckDb } from "../../../src/layers/duckdb/DuckDb.ts"
import * as Server from "../../../src/layers/http/server.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { auth, baseUrl, KEYS, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"
import { fill, lakehouse, warehouseDir } from "../query/fixture.ts"

/** The owner every `withConnection` was asked as, in order. */
class Owners extends Context.Service<Owners, Array<string>>()("test/ConnectionOwners") {}

const recordingPool = Layer.unwrap(Effect.sync(() => {
  const owners: Array<string> = []
  const duckDb = Layer.effect(DuckDb)(Effect.gen(function*() {
    const real = yield* DuckDb
    return DuckDb.of({
      size: real.size,
      withConnection: (use) =>
        Effect.flatMap(CurrentConnectionOwner, (owner) => {
          owners.push(owner)
          return real.withConnection(use)
        })
    })
  }))
  return Layer.merge(duckDb, Layer.succeed(Owners, owners))
}))

const serving = Layer.unwrap(Effect.sync(() => {
  const dir = warehouseDir()
  return Server.layer({ ...testOptions(), warehouse: dir }).pipe(
    Layer.provideMerge(
      // More trades than an export's first page (10,000): its later pages are read as the body streams.
      Layer.mergeAll(fill({ trades: 12_000, quotes: 200 }), QueryLayer.layer(), ReplayLayer.layer).pipe(
        Layer.provideMerge(recordingPool),
        Layer.provideMerge(lakehouse(dir))
      )
    ),
    Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1" }))
  )
}))

const range = `from=${new Date(T0 / 1000).toISOString()}&to=${new Date((T0 + 3 * DAY) / 1000).toISOString()}`

/** The owners of the connections `path` asked for, read to its end as `key`. */
const ownersOf = (path: string, key: string) =>
  Effect.gen(function*() {
    const owners = yield* Owners
    const base = yield* baseUrl
    owners.length = 0
    const { status, body } = yield* Effect.promise(() =>
      fetch(`${base}${path}`, { headers: auth(key) }).then(async (r) => ({ status: r.status, body: await r.text() }))
    )
    assert.strictEqual(status, 200, body.slice(0, 300))
    return { owners: [...owners], body }
  })

layer(serving, { timeout: 120_000, excludeTestServices: true })("a read's DuckDB connections", (it) => {
  it.effect("are asked for as its key: a bars read", () =>
    Effect.gen(function*() {
      const { owners } = yield* ownersOf(`/v1/bars?${range}&interval=1h`, KEYS.reader)
      assert.isAbove(owners.length, 0)
      assert.deepStrictEqual(new Set(owners), new Set(["key:reader"]))
    }))

  it.effect("are asked for as its key in a CSV export's pages read after the 200", () =>
    Effect.gen(function*() {
      const { body, owners } = yield* ownersOf(`/v1/trades?${range}&format=csv&limit=11000`, KEYS.full)
      assert.strictEqual(body.trimEnd().split("\n").length, 11_001)
      assert.isAbove(owners.length, 1)
      assert.deepStrictEqual(new Set(owners), new Set(["key:full"]))
    }))

  it.effect("are asked for as its key in a replay's stream", () =>
    Effect.gen(function*() {
      const { owners } = yield* ownersOf(`/v1/replay?${range}`, KEYS.full)
      assert.isAbove(owners.length, 0)
      assert.deepStrictEqual(new Set(owners), new Set(["key:full"]))
    }))
})
