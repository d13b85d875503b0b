/**
 * A cursor pages the query that gave it, no other: sent with other symbols, fields, filters, range
 * or (trades with quotes) quote look-back, it is InvalidCursor naming what differs, not a page of
 * the new query from the old one's position under a success. What does not change the query's rows
 * or columns (the page size, the spelling of the same symbols, filters or instants) pages on.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { QueryEngine, type RowsRequest } from "../../../src/services/QueryEngine.ts"
import { DAY, HOUR, T0 } from "./data.ts"
import { queryWarehouse } from "./fixture.ts"

const first: RowsRequest = {
  from: T0,
  to: T0 + 2 * DAY,
  symbols: ["BHP", "CBA"],
  fields: ["message_id", "price"],
  filters: [{ column: "price", min: "1" }],
  limit: 5
}

layer(queryWarehouse(), { timeout: 120_000, excludeTestServices: true })("a cursor and its query", (it) => {
  it.effect("trades: another query's parameters are InvalidCursor naming each that differs", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      const page = yield* q.trades(first)
      const cursor = page.nextCursor!
      assert.isNotNull(page.nextCursor)
      const changed: ReadonlyArray<readonly [string, Partial<RowsRequest>]> = [
        ["symbols", { symbols: ["BHP"] }],
        ["symbols", { symbols: [] }],
        ["fields", { fields: ["message_id"] }],
        ["fields", { fields: [] }],
        ["filter", { filters: [] }],
        ["filter", { filters: [{ column: "price", min: "2" }] }],
        ["from", { from: T0 - HOUR }],
        ["to", { to: T0 + 3 * DAY }],
        ["symbols, filter", { symbols: ["IBM"], filters: [{ column: "price", max: "1000" }] }]
      ]
      for (const [names, change] of changed) {
        const refused = yield* Effect.flip(q.trades({ ...first, ...change, cursor }))
        assert.strictEqual(refused._tag === "InvalidQuery" && refused.reason._tag, "InvalidCursor", names)
        assert.include(refused.message, `${names} differ`, names)
      }
      // Quotes' cursor is another route's, as before.
      const quotes = yield* Effect.flip(q.quotes({ ...first, fields: [], filters: [], cursor }))
      assert.include(quotes.message, "it pages trades")
      // The same query, however spelled, pages on; the page size is not part of it.
      const next = yield* q.trades({ ...first, cursor })
      for (const same of [
        { limit: 7 },
        { symbols: ["CBA", "BHP", "CBA"] },
        { fields: ["price", "message_id", "price"] },
        { filters: [{ column: "price", min: "1.00000000" }] }
      ] satisfies ReadonlyArray<Partial<RowsRequest>>) {
        const again = yield* q.trades({ ...first, ...same, cursor })
        assert.deepStrictEqual(again.rows.slice(0, 5), next.rows, JSON.stringify(same))
      }
    }))

  it.effect("trades with quotes: another range, symbols or look-back is InvalidCursor", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      const request = { from: T0, to: T0 + 2 * DAY, symbols: ["BHP"], limit: 3, quoteLookbackMicros: HOUR }
      const cursor = (yield* q.tradesWithQuotes(request)).nextCursor!
      assert.isString(cursor)
      for (const [names, change] of [
        ["symbols", { symbols: ["CBA"] }],
        ["lookback_us", { quoteLookbackMicros: 2 * HOUR }],
        ["to", { to: T0 + DAY }]
      ] as const) {
        const refused = yield* Effect.flip(q.tradesWithQuotes({ ...request, ...change, cursor }))
        assert.strictEqual(refused._tag === "InvalidQuery" && refused.reason._tag, "InvalidCursor", names)
        assert.include(refused.message, `${names} differ`, names)
      }
      const next = yield* q.tradesWithQuotes({ ...request, limit: 10, cursor })
      assert.isAbove(next.rows.length, 0)
    }))
})
