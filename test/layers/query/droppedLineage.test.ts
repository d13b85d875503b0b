/**
 * Trades and quotes whose kafka_topic another engine dropped (ADR-2: K2's columns another engine
 * dropped read as null in every file). The pages' cursors held the last row's lineage whatever it
 * was: a null topic made the next page a "damaged cursor" (400), so no page past the first could be
 * read. Without lineage, pages go by the order key alone, as a cursor made before lineage does.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import type { Schema } from "../../../src/domain/iceberg/spec.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { DAY, T0 } from "./data.ts"
import { evolvedBy, pagedToEnd } from "./evolvedFixture.ts"
import { TRADES } from "./fixture.ts"

const dropped = (schema: Schema): Schema => ({
  type: "struct",
  "schema-id": 1,
  fields: schema.fields.filter((f) => f.name !== "kafka_topic")
})

/** The other engine's rows: no topic. */
const withoutTopic = (batch: ColumnBatch): ColumnBatch => ({
  rowCount: batch.rowCount,
  columns: Object.fromEntries(Object.entries(batch.columns).filter(([name]) => name !== "kafka_topic"))
})

const { laterQuotes, laterTrades, quotes, trades, warehouse } = evolvedBy(dropped, withoutTopic)
const range = { from: T0, to: T0 + 3 * DAY }

layer(warehouse, { timeout: 60_000, excludeTestServices: true })("QueryEngine: kafka_topic dropped by another engine", (it) => {
  it.effect("trades and quotes are paged to their end, every row once", () =>
    Effect.gen(function*() {
      assert.isTrue((yield* (yield* TableScanner).plan(TRADES)).byFieldId)
      const q = yield* QueryEngine
      for (const [read, expected] of [[q.trades, [...trades, ...laterTrades]], [q.quotes, [...quotes, ...laterQuotes]]] as const) {
        const rows = yield* pagedToEnd((cursor) => read({ ...range, limit: 7, ...cursor }))
        for (const r of rows) assert.strictEqual(r["kafka_topic"], null)
        assert.deepStrictEqual(rows.map((r) => r["message_id"]).sort(), expected.map((r) => r.message_id).sort())
      }
    }))

  it.effect("trades with quotes are paged to their end", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      const rows = yield* pagedToEnd((cursor) => q.tradesWithQuotes({ ...range, limit: 7, ...cursor }))
      for (const r of rows) assert.strictEqual(r.kafkaTopic, null)
      assert.deepStrictEqual(rows.map((r) => r.messageId).sort(), [...trades, ...laterTrades].map((r) => r.message_id).sort())
    }))
})
