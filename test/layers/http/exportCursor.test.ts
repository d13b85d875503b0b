/**
 * A CSV export that continues a paged read (`cursor`, no `limit`) reads the snapshot the cursor
 * pinned: its K2-Snapshot-Ids and ETag must name that snapshot, not the one current when it is asked.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { auth, baseUrl, get, KEYS, servedWith, testOptions } from "../../integration/http-support.ts"
import { DAY, genTrades, T0 } from "../query/data.ts"
import { TRADES, warehouseDir } from "../query/fixture.ts"

const iso = (us: number) => new Date(us / 1000).toISOString()
const early = genTrades(30, { seed: 51, idPrefix: "early" })

const written = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.append(TRADES, tradeColumns(early))
}))

const dir = warehouseDir()
const app = servedWith(testOptions(), dir, written)

layer(app, { timeout: 120_000, excludeTestServices: true })("a CSV export after a cursor", (it) => {
  it.effect("names the snapshot the cursor pinned, and answers the rows after it at that snapshot", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const range = `from=${iso(T0)}&to=${iso(T0 + 3 * DAY)}`
      const first = yield* get(`${base}/v1/trades?${range}&limit=10`, auth(KEYS.full))
      const page = yield* Effect.promise(() => first.json() as Promise<{ data: Array<{ message_id: string }>; next_cursor: string | null }>)
      assert.strictEqual(first.status, 200, JSON.stringify(page))
      const pinnedIds = first.headers.get("k2-snapshot-ids")
      assert.isNotNull(page.next_cursor)
      // Ingestion commits after the first page.
      const sink = yield* IcebergSink
      yield* Effect.orDie(sink.append(TRADES, tradeColumns(genTrades(20, { seed: 52, idPrefix: "late" }))))
      const latest = (yield* get(`${base}/v1/trades?${range}&limit=1`, auth(KEYS.full))).headers.get("k2-snapshot-ids")
      assert.notStrictEqual(latest, pinnedIds)

      const rest = yield* get(`${base}/v1/trades?${range}&format=csv&cursor=${encodeURIComponent(page.next_cursor!)}`, auth(KEYS.full))
      const csv = yield* Effect.promise(() => rest.text())
      assert.strictEqual(rest.status, 200, csv)
      const lines = csv.trimEnd().split("\n")
      // The rows after the first page at its snapshot: none of the late batch.
      assert.strictEqual(lines.length - 1, early.length - page.data.length)
      assert.isFalse(csv.includes("late"), "rows committed after the cursor's snapshot")
      assert.strictEqual(rest.headers.get("k2-snapshot-ids"), pinnedIds)
      assert.strictEqual(rest.headers.get("cache-control"), "private, max-age=31536000, immutable")
    }))
})
