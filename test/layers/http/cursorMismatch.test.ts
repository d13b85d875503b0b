/**
 * A cursor that does not page what the request asks: the cursor of another route (a client paging
 * trades and quotes side by side and passing the wrong one) is 400 `invalid_cursor` saying whose it
 * is, as docs/api.md says, not a 404 telling the client the snapshot expired; and a cursor of another
 * snapshot than the request's `snapshot_id` is refused, as the engine refuses it, not answered
 * from the cursor's snapshot under a 200; so is one of another snapshot than the request's `as_of`
 * resolves to (one it resolves to the cursor's is the next page). A cursor of another query of the same route (other
 * symbols, fields, filter, from or to) is refused too, naming what differs, not answered with a page
 * of the new query from the old one's position.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, get, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { DAY, T0 } from "../query/data.ts"
import { Fixture } from "../query/fixture.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const ROUTES = ["trades", "quotes", "trades/with-quotes"] as const

layer(served(testOptions(), undefined, { trades: 200, quotes: 200 }), { timeout: 120_000, excludeTestServices: true })("a cursor that does not page the request", (it) => {
  it.effect("of another route is 400 invalid_cursor on every paged route, a page or an export", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const range = `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}`
      const cursors: Record<string, string> = {}
      for (const route of ROUTES) {
        const res = yield* get(`${base}/v1/${route}?${range}&limit=2`, auth(KEYS.reader))
        const body = (yield* Effect.promise(() => res.json())) as { next_cursor: string | null }
        assert.isNotNull(body.next_cursor, route)
        cursors[route] = body.next_cursor!
      }
      for (const route of ROUTES) {
        for (const other of ROUTES) {
          if (other === route) continue
          // A JSON page, and (trades, quotes) a CSV export resumed from the cursor.
          for (const format of route === "trades/with-quotes" ? ["json"] : ["json", "csv"]) {
            const limit = format === "json" ? "&limit=2" : ""
            const res = yield* get(`${base}/v1/${route}?${range}${limit}&format=${format}&cursor=${cursors[other]}`, auth(KEYS.reader))
            const problem = (yield* Effect.promise(() => res.json())) as { code: string; detail: string }
            assert.strictEqual(res.status, 400, `${route} (${format}) with the cursor of ${other}: ${JSON.stringify(problem)}`)
            assert.strictEqual(problem.code, "invalid_cursor")
            assert.match(problem.detail, /it pages/)
          }
        }
      }
    }))

  it.effect("of another query (symbols, fields, filter, from, to) is 400 invalid_cursor naming what differs, a page or an export", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const query = { from: iso(T0), to: iso(T0 + 3 * DAY), symbols: "BHP", fields: "message_id,price", filter: "price:1" }
      const url = (q: Record<string, string>) => `${base}/v1/trades?${new URLSearchParams(q)}`
      const first = yield* get(url({ ...query, limit: "2" }), auth(KEYS.reader))
      const cursor = ((yield* Effect.promise(() => first.json())) as { next_cursor: string }).next_cursor
      assert.isString(cursor)
      for (const [names, change] of [
        ["symbols", { symbols: "BHP,CBA" }],
        ["fields", { fields: "message_id" }],
        ["filter", { filter: "price:2" }],
        ["from", { from: iso(T0 + 1_000) }],
        ["to", { to: iso(T0 + 2 * DAY) }]
      ] as const) {
        for (const format of ["json", "csv"]) {
          const limit = format === "json" ? { limit: "2" } : {}
          const res = yield* get(url({ ...query, ...change, ...limit, format, cursor }), auth(KEYS.reader))
          const problem = (yield* Effect.promise(() => res.json())) as { code: string; detail: string }
          assert.strictEqual(res.status, 400, `${names} (${format}): ${JSON.stringify(problem)}`)
          assert.strictEqual(problem.code, "invalid_cursor", names)
          assert.include(problem.detail, `${names} differ`, names)
        }
      }
      // The same query (the same instant with another offset, the page size aside) is the next page.
      const same = yield* get(url({ ...query, from: "2024-01-02T11:00:00+11:00", limit: "3", cursor }), auth(KEYS.reader))
      assert.strictEqual(same.status, 200, yield* Effect.promise(() => same.clone().text()))
    }))

  it.effect("of another snapshot than the request's snapshot_id is 400 invalid_cursor, a page or an export", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      const range = `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}`
      // The first page at the latest snapshot: its cursor pins that one.
      const first = yield* get(`${base}/v1/trades?${range}&limit=2`, auth(KEYS.reader))
      const body = (yield* Effect.promise(() => first.json())) as { next_cursor: string }
      assert.strictEqual(first.headers.get("k2-snapshot-ids"), `trades=${f.lastTradeSnapshot}`)
      for (const format of ["json", "csv"]) {
        const limit = format === "json" ? "&limit=2" : ""
        const res = yield* get(`${base}/v1/trades?${range}${limit}&format=${format}&snapshot_id=${f.firstTradeSnapshot}&cursor=${body.next_cursor}`, auth(KEYS.reader))
        const text = yield* Effect.promise(() => res.text())
        assert.strictEqual(res.status, 400, `${format}: ${res.headers.get("k2-snapshot-ids")} ${text.slice(0, 200)}`)
        assert.strictEqual((JSON.parse(text) as { code: string }).code, "invalid_cursor")
      }
      // The same snapshot as the cursor's is its next page, as the Link header sends it.
      const next = yield* get(`${base}/v1/trades?${range}&limit=2&snapshot_id=${f.lastTradeSnapshot}&cursor=${body.next_cursor}`, auth(KEYS.reader))
      assert.strictEqual(next.status, 200)
      assert.strictEqual(next.headers.get("k2-snapshot-ids"), `trades=${f.lastTradeSnapshot}`)
    }))

  it.effect("of another snapshot than the request's as_of is 400 invalid_cursor naming both, a page or an export", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const f = yield* Fixture
      const range = `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}`
      const first = yield* get(`${base}/v1/trades?${range}&limit=2`, auth(KEYS.reader))
      const body = (yield* Effect.promise(() => first.json())) as { next_cursor: string }
      assert.strictEqual(first.headers.get("k2-snapshot-ids"), `trades=${f.lastTradeSnapshot}`)
      // As of the first snapshot's commit: trades were then that snapshot, not the cursor's.
      const then = new Date(f.firstTradeSnapshotMs).toISOString()
      for (const format of ["json", "csv"]) {
        const limit = format === "json" ? "&limit=2" : ""
        const res = yield* get(`${base}/v1/trades?${range}${limit}&format=${format}&as_of=${then}&cursor=${body.next_cursor}`, auth(KEYS.reader))
        const text = yield* Effect.promise(() => res.text())
        assert.strictEqual(res.status, 400, `${format}: ${res.headers.get("k2-snapshot-ids")} ${text.slice(0, 200)}`)
        const problem = JSON.parse(text) as { code: string; detail: string }
        assert.strictEqual(problem.code, "invalid_cursor")
        assert.include(problem.detail, `it reads snapshot ${f.lastTradeSnapshot}`)
        assert.include(problem.detail, `${then} is snapshot ${f.firstTradeSnapshot}`)
      }
      // An instant at which trades were the cursor's snapshot: its next page.
      const now = new Date().toISOString()
      const next = yield* get(`${base}/v1/trades?${range}&limit=2&as_of=${now}&cursor=${body.next_cursor}`, auth(KEYS.reader))
      assert.strictEqual(next.status, 200, yield* Effect.promise(() => next.clone().text()))
      assert.strictEqual(next.headers.get("k2-snapshot-ids"), `trades=${f.lastTradeSnapshot}`)
    }))
})
