/**
 * Trades and quotes whose kafka_topic another engine dropped (ADR-2: K2's columns another engine
 * dropped read as null in every file). The pages' cursors held the last row's lineage whatever it
 * was: a null topic made the next page a "damaged cursor" (400), so no page past the first could be
 * read. Without lineage, pages go by the order key alone, as a cursor made before lineage does.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import type { Schema } from "../../../src/domain/iceberg/spec.ts"
import { quoteColumns, tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { evolvingLakehouse } from "../../support/warehouse.ts"
import { DAY, genQuotes, genTrades, T0 } from "./data.ts"
import { theirAppend } from "./evolvedFixture.ts"
import { QUOTES, TRADES, warehouseDir } from "./fixture.ts"

const dropped = (schema: Schema): Schema => ({
  type: "struct",
  "schema-id": 1,
  fields: schema.fields.filter((f) => f.name !== "kafka_topic")
})

const schemas: Partial<Record<string, Schema>> = {}
const trades = genTrades(50, { seed: 71, idPrefix: "p" })
const quotes = genQuotes(50, { seed: 72 })
const laterTrades = genTrades(30, { seed: 73, idPrefix: "l" })
const laterQuotes = genQuotes(30, { seed: 74 }).map((q) => ({ ...q, message_id: `l-${q.message_id}` }))

/** The other engine's rows: no topic. */
const withoutTopic = (batch: ColumnBatch): ColumnBatch => ({
  rowCount: batch.rowCount,
  columns: Object.fromEntries(Object.entries(batch.columns).filter(([name]) => name !== "kafka_topic"))
})

const filled = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.ensureTable(tables.quotes)
  yield* sink.append(TRADES, tradeColumns(trades))
  yield* sink.append(QUOTES, quoteColumns(quotes))
  schemas[TRADES.name] = dropped(tables.trades.schema)
  schemas[QUOTES.name] = dropped(tables.quotes.schema)
  // The other engine's files, written under its schema: the snapshot read names it.
  yield* theirAppend(TRADES, schemas[TRADES.name]!, withoutTopic(tradeColumns(laterTrades)))
  yield* theirAppend(QUOTES, schemas[QUOTES.name]!, withoutTopic(quoteColumns(laterQuotes)))
}))

const warehouse = Layer.mergeAll(filled, QueryLayer.layer()).pipe(
  Layer.provideMerge(evolvingLakehouse(warehouseDir(), (name) => schemas[name]))
)

layer(warehouse, { timeout: 60_000, excludeTestServices: true })("QueryEngine: kafka_topic dropped by another engine", (it) => {
  it.effect("trades and quotes are paged to their end, every row once", () =>
    Effect.gen(function*() {
      const plan = yield* (yield* TableScanner).plan(TRADES)
      assert.isTrue(plan.byFieldId)
      const q = yield* QueryEngine
      const range = { from: T0, to: T0 + 3 * DAY }
      for (const [read, expected] of [[q.trades, [...trades, ...laterTrades]], [q.quotes, [...quotes, ...laterQuotes]]] as const) {
        const ids: Array<unknown> = []
        let cursor: string | undefined
        for (let pages = 0; pages < 100; pages++) {
          const page = yield* read({ ...range, limit: 7, ...(cursor === undefined ? {} : { cursor }) })
          ids.push(...page.rows.map((r) => r["message_id"]))
          for (const r of page.rows) assert.strictEqual(r["kafka_topic"], null)
          if (page.nextCursor === null) break
          cursor = page.nextCursor
        }
        assert.deepStrictEqual([...ids].sort(), expected.map((r) => r.message_id).sort())
      }
    }))

  it.effect("trades with quotes are paged to their end", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      const ids: Array<string> = []
      let cursor: string | undefined
      for (let pages = 0; pages < 100; pages++) {
        const page = yield* q.tradesWithQuotes({ from: T0, to: T0 + 3 * DAY, limit: 7, ...(cursor === undefined ? {} : { cursor }) })
        ids.push(...page.rows.map((r) => r.messageId))
        for (const r of page.rows) assert.strictEqual(r.kafkaTopic, null)
        if (page.nextCursor === null) break
        cursor = page.nextCursor
      }
      assert.deepStrictEqual([...ids].sort(), [...trades, ...laterTrades].map((r) => r.message_id).sort())
    }))
})
