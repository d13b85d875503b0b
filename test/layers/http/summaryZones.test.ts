/**
 * A daily summary counts trading days by the exchanges' zones (K2_SEQUENCE_ZONES over the default
 * table), which an operator may change and restart with: the same snapshot then answers other days.
 * Its ETag names the zones, and it is never `immutable`, so no cache keeps the old days (ADR-98).
 */
import { assert, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Server from "../../../src/layers/http/server.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { defaultExchangeZones } from "../../../src/domain/sequence/calendar.ts"
import { auth, baseUrl, get, KEYS, testOptions } from "../../integration/http-support.ts"
import { fill, lakehouse, warehouseDir } from "../query/fixture.ts"

/** The server over `dir` with NYSE's trading days counted in `nyse`; `data` writes into it first. */
const serverOver = <A, E, R>(dir: string, nyse: string, data: Layer.Layer<A, E, R>) =>
  Server.layer({ ...testOptions(), warehouse: dir }).pipe(
    Layer.provideMerge(Layer.mergeAll(
      QueryLayer.layer({ exchangeZones: { ...defaultExchangeZones, NYSE: nyse } }),
      ReplayLayer.layer,
      data
    ).pipe(Layer.provideMerge(lakehouse(dir)))),
    Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1" }))
  )

const call = (path: string, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const res = yield* get(`${yield* baseUrl}${path}`, { ...auth(KEYS.reader), ...headers })
    return { status: res.status, headers: res.headers, body: yield* Effect.promise(() => res.text()) }
  })

it.live("a summary pinned by snapshot read again after the zones changed has another ETag, and none is immutable", () =>
  Effect.gen(function*() {
    const dir = warehouseDir()
    const days = "/v1/summary?symbols=IBM,MSFT&from_day=2024-01-01&to_day=2024-01-08&format=csv"
    const before = yield* Effect.gen(function*() {
      const latest = yield* call(days)
      const id = /trades=(\d+)/.exec(latest.headers.get("k2-snapshot-ids") ?? "")![1]!
      const pinned = yield* call(`${days}&snapshot_id=${id}`)
      // A bars answer at that snapshot depends on nothing else: immutable as before.
      const bars = yield* call(`/v1/bars?symbols=IBM&from=2024-01-02&to=2024-01-03&snapshot_id=${id}`)
      return { id, pinned, bars }
    }).pipe(Effect.provide(serverOver(dir, "America/New_York", fill({ trades: 400, quotes: 20 }))))
    assert.strictEqual(before.pinned.status, 200, before.pinned.body)
    assert.strictEqual(before.bars.headers.get("cache-control"), "private, max-age=31536000, immutable")
    assert.strictEqual(before.pinned.headers.get("cache-control"), "private, no-cache")
    const etag = before.pinned.headers.get("etag")!

    // The operator moves NYSE's days to another zone and restarts: the same snapshot, other days.
    const after = yield* Effect.gen(function*() {
      const revalidated = yield* call(`${days}&snapshot_id=${before.id}`, { "if-none-match": etag })
      const again = yield* call(`${days}&snapshot_id=${before.id}`)
      return { revalidated, again }
    }).pipe(Effect.provide(serverOver(dir, "Asia/Tokyo", Layer.empty)))
    assert.notStrictEqual(after.again.body, before.pinned.body, "the zones change the days of this fixture")
    assert.notStrictEqual(after.again.headers.get("etag"), etag)
    assert.strictEqual(after.revalidated.status, 200, "the old ETag names the old days: not 304")
    assert.strictEqual(after.revalidated.body, after.again.body)
  }), { timeout: 120_000 })
