/**
 * A cursor pages the query that gave it, no other: sent with other symbols, fields, filters, range
 * or (trades with quotes) quote look-back, it is InvalidCursor naming what differs, not a page of
 * the new query from the old one's position under a success. What does not change the query's rows
 * or columns (the page size, the spelling of the same symbols, filters or instants) pages on.
 */
import { assert, describe, it as plain, layer } from "@effect/vitest"
import { Effect, Result } from "effect"
import { decodeCursor, encodeCursor, queryDiffers, queryDigest } from "../../../src/domain/query/cursor.ts"
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

  it.effect("filters given in another order are the same query: the cursor pages on", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      const two: RowsRequest = { ...first, filters: [{ column: "price", min: "1" }, { column: "quantity", min: "0" }] }
      const page = yield* q.trades(two)
      assert.isString(page.nextCursor)
      const next = yield* q.trades({ ...two, filters: [...two.filters!].reverse(), cursor: page.nextCursor! })
      assert.deepStrictEqual(next.rows, (yield* q.trades({ ...two, cursor: page.nextCursor! })).rows)
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

describe("a cursor's query digest", () => {
  const parts = [["from", "1"], ["to", "2"], ["symbols", "BHP"], ["fields", ""], ["filter", ""]] as const
  const base = { table: "trades", snapshotId: 1n, exchangeTimestamp: 5, sequence: 7n, messageId: "m" }

  plain("a digest of another count of parts differs in every part, longer or shorter", () => {
    const five = queryDigest(parts)
    assert.deepStrictEqual(queryDiffers(five, parts), [])
    assert.deepStrictEqual(queryDiffers(five, parts.slice(0, 4)), ["from", "to", "symbols", "fields"])
    assert.deepStrictEqual(queryDiffers(queryDigest(parts.slice(0, 4)), parts), ["from", "to", "symbols", "fields", "filter"])
  })

  plain("a cursor with a digest and neither a join nor lineage decodes to itself", () => {
    const cursor = { ...base, query: queryDigest(parts) }
    const decoded = decodeCursor(encodeCursor(cursor))
    assert.isTrue(Result.isSuccess(decoded))
    assert.deepStrictEqual(Result.getOrThrow(decoded), cursor)
  })

  plain("a cursor whose digest is not whole part hashes is damaged", () => {
    for (const query of ["", "abc", "ab!de", "abcdef"]) {
      const decoded = decodeCursor(encodeCursor({ ...base, query }))
      assert.isTrue(Result.isFailure(decoded), query)
    }
  })
})
