/**
 * A read of trades and quotes together over real HTTP (in process) answers from exactly the
 * snapshots its `K2-Snapshot-Ids` names, even when ingestion commits between the pin and the plan.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as Server from "../../../src/layers/http/server.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { auth, baseUrl, get, KEYS, testOptions } from "../../integration/http-support.ts"
import { DAY, genTrades, T0 } from "../query/data.ts"
import { lakehouse, TRADES, warehouseDir } from "../query/fixture.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const early = genTrades(200, { seed: 41, idPrefix: "early" })
/** Each read commits its own late batch: `late1-...` during the first, `late2-...` during the second. */
let reads = 0
const lateBatch = () => genTrades(50, { seed: 42 + reads, idPrefix: `late${++reads}-` })

/** Trades written once; quotes created, never written. */
const tradesOnly = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.ensureTable(tables.quotes)
  yield* sink.append(TRADES, tradeColumns(early))
}))

/** The engine, with ingestion committing more trades after the pin, before each read plans. */
const racing = Layer.effect(QueryEngine)(Effect.gen(function*() {
  const real = yield* QueryEngine
  const sink = yield* IcebergSink
  const commitLate = Effect.suspend(() => Effect.orDie(sink.append(TRADES, tradeColumns(lateBatch()))))
  return QueryEngine.of({
    ...real,
    symbols: (request) => Effect.andThen(commitLate, real.symbols(request)),
    tradesWithQuotes: (request) => Effect.andThen(commitLate, real.tradesWithQuotes(request)),
    snapshots: (table, options) => Effect.andThen(commitLate, real.snapshots(table, options))
  })
})).pipe(Layer.provide(QueryLayer.layer()))

const dir = warehouseDir()
const app = Server.layer({ ...testOptions(), warehouse: dir }).pipe(
  Layer.provideMerge(Layer.mergeAll(racing, ReplayLayer.layer, tradesOnly)),
  Layer.provideMerge(lakehouse(dir)),
  Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1" }))
)

layer(app, { timeout: 120_000, excludeTestServices: true })("reads of trades and quotes together", (it) => {
  it.effect("answer from the snapshots K2-Snapshot-Ids names, not what was committed after the pin", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const symbols = yield* get(`${base}/v1/symbols`, auth(KEYS.full))
      const body = yield* Effect.promise(() => symbols.json() as Promise<{ data: Array<{ trades: { count: number } | null }> }>)
      assert.match(symbols.headers.get("k2-snapshot-ids") ?? "", /^trades=\d+, quotes=none$/)
      assert.strictEqual(body.data.reduce((n, s) => n + (s.trades?.count ?? 0), 0), early.length)

      const joined = yield* get(`${base}/v1/trades/with-quotes?from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&limit=10000`, auth(KEYS.full))
      const rows = yield* Effect.promise(() => joined.json() as Promise<{ data: Array<{ messageId: string }> }>)
      assert.strictEqual(joined.status, 200, JSON.stringify(rows))
      // The first read's late batch had landed before this pin; this read's own had not.
      assert.isFalse(rows.data.some((r) => r.messageId.startsWith("late2-")), "rows committed after the pin")
      assert.strictEqual(rows.data.length, early.length + 50)
    }))

  it.effect("a table's snapshots are listed as they stood at the pin, the one K2-Snapshot-Ids names current", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const res = yield* get(`${base}/v1/snapshots/trades`, auth(KEYS.full))
      const body = yield* Effect.promise(() => res.json() as Promise<{ data: Array<{ snapshotId: string; current: boolean }> }>)
      const pinned = /^trades=(\d+)$/.exec(res.headers.get("k2-snapshot-ids") ?? "")?.[1]
      assert.isDefined(pinned, res.headers.get("k2-snapshot-ids") ?? "no K2-Snapshot-Ids")
      const last = body.data.at(-1)!
      assert.strictEqual(last.snapshotId, pinned, "the last snapshot listed is the one pinned, not one committed after")
      assert.isTrue(last.current)
      assert.strictEqual(body.data.filter((s) => s.current).length, 1)
    }))

  it.effect("a page after a cursor names the cursor's snapshot in K2-Snapshot-Ids, not one committed since", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const sink = yield* IcebergSink
      const url = `${base}/v1/trades?from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}&limit=10`
      const first = yield* get(url, auth(KEYS.full))
      const page = yield* Effect.promise(() => first.json() as Promise<{ next_cursor: string | null }>)
      const pinned = first.headers.get("k2-snapshot-ids")
      assert.isNotNull(page.next_cursor)
      yield* Effect.orDie(sink.append(TRADES, tradeColumns(genTrades(5, { seed: 90, idPrefix: "since-" }))))
      const next = yield* get(`${url}&cursor=${encodeURIComponent(page.next_cursor!)}`, auth(KEYS.full))
      assert.strictEqual(next.status, 200)
      assert.strictEqual(next.headers.get("k2-snapshot-ids"), pinned)
    }))
})
