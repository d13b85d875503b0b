/**
 * Reads that hold a snapshot across time (a page's cursor, an SSE event id) after table
 * maintenance expired that snapshot (ADR-33: K2's tables keep an hour of them): the answer is
 * the same whether or not the server still holds a page of it in its cache, and says what to do.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { quoteColumns, tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { auth, baseUrl, get, KEYS } from "../../integration/http-support.ts"
import { afterNextPlan, compactNow } from "../../support/maintenanceRace.ts"
import { racingServer } from "./racingServer.ts"
import { genQuotes, genTrades, T0 } from "../query/data.ts"
import { QUOTES, TRADES, warehouseDir } from "../query/fixture.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const range = `from=${iso(T0)}&to=${iso(T0 + 86_400_000_000)}`

const dir = warehouseDir()
const app = racingServer(dir)

const problemOf = (r: Response) => Effect.promise(() => r.text())

/** Expiry of every snapshot of `table` but its current one. */
const expireAllButCurrent = (table: typeof TRADES) =>
  Effect.gen(function*() {
    yield* (yield* Maintenance).expireSnapshots(table, { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: Date.now() + 1_000 })
  })

layer(app, { timeout: 120_000, excludeTestServices: true })("reads holding a snapshot that has since expired", (it) => {
  it.effect("a cursor's page is 404 snapshot_not_found once its snapshot expired, even when the page is cached or the client revalidates", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.ensureTable(tables.quotes)
      yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed: 1, days: 1, idPrefix: "a-" })))
      yield* sink.append(QUOTES, quoteColumns(genQuotes(100, { seed: 1, days: 1 })))
      const base = yield* baseUrl
      const first = yield* get(`${base}/v1/trades?${range}&limit=10`, auth(KEYS.full))
      const cursor = encodeURIComponent(((yield* Effect.promise(() => first.json())) as { next_cursor: string }).next_cursor)
      const second = `${base}/v1/trades?${range}&limit=10&cursor=${cursor}`
      const page = yield* get(second, auth(KEYS.full))
      assert.strictEqual(page.status, 200)
      const etag = page.headers.get("etag")!
      const wqFirst = yield* get(`${base}/v1/trades/with-quotes?${range}&limit=10`, auth(KEYS.full))
      const wqCursor = encodeURIComponent(((yield* Effect.promise(() => wqFirst.json())) as { next_cursor: string }).next_cursor)
      const wqSecond = `${base}/v1/trades/with-quotes?${range}&limit=10&cursor=${wqCursor}`
      assert.strictEqual((yield* get(wqSecond, auth(KEYS.full))).status, 200)

      yield* sink.append(TRADES, tradeColumns(genTrades(100, { seed: 2, days: 1, idPrefix: "b-" })))
      yield* expireAllButCurrent(TRADES)

      // Uncached (another limit), cached, and revalidated: one answer, as for a snapshot_id.
      for (const [what, url, headers] of [
        ["uncached", `${base}/v1/trades?${range}&limit=11&cursor=${cursor}`, {}],
        ["cached", second, {}],
        ["revalidated", second, { "if-none-match": etag }],
        ["CSV export", `${base}/v1/trades?${range}&format=csv&cursor=${cursor}`, {}],
        ["with quotes, cached", wqSecond, {}]
      ] as const) {
        const res = yield* get(url, { ...auth(KEYS.full), ...headers })
        const text = yield* problemOf(res)
        assert.strictEqual(res.status, 404, `${what}: ${text}`)
        assert.include(text, "snapshot_not_found", what)
        assert.include(text, "read again without the cursor", what)
      }
    }))

  it.effect("an SSE client resuming at an expired snapshot is told to start a new replay", () =>
    Effect.gen(function*() {
      const sink = yield* IcebergSink
      const base = yield* baseUrl
      const sse = yield* get(`${base}/v1/replay?${range}&format=sse&tables=trades`, auth(KEYS.full))
      const ids = [...(yield* Effect.promise(() => sse.text())).matchAll(/^id: (.*)$/gm)].map((m) => m[1]!)
      yield* sink.append(TRADES, tradeColumns(genTrades(10, { seed: 3, days: 1, idPrefix: "c-" })))
      yield* expireAllButCurrent(TRADES)
      const res = yield* get(`${base}/v1/replay?${range}&format=sse&tables=trades`, { ...auth(KEYS.full), "last-event-id": ids[1]! })
      const text = yield* problemOf(res)
      assert.strictEqual(res.status, 404, text)
      assert.include(text, "snapshot_not_found")
      assert.include(text, "Last-Event-ID")
    }))

  it.effect("a replay whose snapshot maintenance expires mid-stream ends saying so (snapshot_not_found), not a bare replay_failed", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      yield* afterNextPlan(Effect.provideService(compactNow(TRADES), Maintenance, yield* Maintenance))
      const nd = yield* get(`${base}/v1/replay?${range}&tables=trades`, auth(KEYS.full))
      assert.strictEqual(nd.status, 200)
      const last = (yield* Effect.promise(() => nd.text())).trimEnd().split("\n").at(-1)!
      assert.deepInclude(JSON.parse(last), { error: "snapshot_not_found" })

      // Another commit, for the next compaction to replace the files of.
      yield* (yield* IcebergSink).append(TRADES, tradeColumns(genTrades(10, { seed: 4, days: 1, idPrefix: "d-" })))
      yield* afterNextPlan(Effect.provideService(compactNow(TRADES), Maintenance, yield* Maintenance))
      const sse = yield* get(`${base}/v1/replay?${range}&tables=trades&format=sse`, auth(KEYS.full))
      const text = yield* Effect.promise(() => sse.text())
      assert.match(text, /event: error\ndata: \{"code":"snapshot_not_found"/)
    }))
})
