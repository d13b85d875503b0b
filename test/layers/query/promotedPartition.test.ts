/**
 * Trades and quotes whose kafka_partition another engine promoted from int to long (a promotion
 * Iceberg v2 allows, ADR-2): read by field id, the column arrives as a BIGINT. The pages' cursors
 * hold the last row's partition; a bigint there could not be written into a cursor, and every page
 * with a next one failed (a 500) instead of answering; replay's events carried it as a bigint.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import type { Schema } from "../../../src/domain/iceberg/spec.ts"
import { quoteColumns, tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import * as QueryLayer from "../../../src/layers/query/engine.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { evolvingLakehouse } from "../../support/warehouse.ts"
import { DAY, genQuotes, genTrades, T0 } from "./data.ts"
import { theirAppend } from "./evolvedFixture.ts"
import { QUOTES, TRADES, warehouseDir } from "./fixture.ts"

const promoted = (schema: Schema): Schema => ({
  type: "struct",
  "schema-id": 1,
  fields: schema.fields.map((f) => (f.name === "kafka_partition" ? { ...f, type: "long" } : f))
})

const schemas: Partial<Record<string, Schema>> = {}
const trades = genTrades(50, { seed: 71, idPrefix: "p" })
const quotes = genQuotes(50, { seed: 72 })
const laterTrades = genTrades(30, { seed: 73, idPrefix: "l" })
const laterQuotes = genQuotes(30, { seed: 74 }).map((q) => ({ ...q, message_id: `l-${q.message_id}` }))

/** Partitions as the other engine's longs. */
const asLong = (batch: ColumnBatch): ColumnBatch => ({
  rowCount: batch.rowCount,
  columns: { ...batch.columns, kafka_partition: Array.from(batch.columns["kafka_partition"]!, (p) => BigInt(p as number)) }
})

const filled = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.trades)
  yield* sink.ensureTable(tables.quotes)
  yield* sink.append(TRADES, tradeColumns(trades))
  yield* sink.append(QUOTES, quoteColumns(quotes))
  schemas[TRADES.name] = promoted(tables.trades.schema)
  schemas[QUOTES.name] = promoted(tables.quotes.schema)
  // The other engine's files, written under the promoted schema: the snapshot read names it.
  yield* theirAppend(TRADES, schemas[TRADES.name]!, asLong(tradeColumns(laterTrades)))
  yield* theirAppend(QUOTES, schemas[QUOTES.name]!, asLong(quoteColumns(laterQuotes)))
}))

const warehouse = Layer.mergeAll(filled, QueryLayer.layer(), ReplayLayer.layer).pipe(
  Layer.provideMerge(evolvingLakehouse(warehouseDir(), (name) => schemas[name]))
)

layer(warehouse, { timeout: 60_000, excludeTestServices: true })("QueryEngine: kafka_partition promoted to long", (it) => {
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
          // A number, as K2's own int column reads: not a bigint because the column was promoted.
          for (const r of page.rows) assert.strictEqual(typeof r["kafka_partition"], "number")
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
        for (const r of page.rows) assert.strictEqual(typeof r.kafkaPartition, "number")
        if (page.nextCursor === null) break
        cursor = page.nextCursor
      }
      assert.deepStrictEqual([...ids].sort(), [...trades, ...laterTrades].map((r) => r.message_id).sort())
    }))

  it.effect("replay's events carry the partition as a number, every row once", () =>
    Effect.gen(function*() {
      assert.isTrue((yield* (yield* TableScanner).plan(TRADES)).byFieldId)
      const replay = yield* ReplayEngine
      const range = { from: T0, to: T0 + 3 * DAY }
      const partitions = new Map([...trades, ...laterTrades, ...quotes, ...laterQuotes].map((r) => [r.message_id, r.kafka_partition]))
      const rows: Record<"trades" | "quotes", ReadonlyArray<{ readonly message_id: string }>> = {
        trades: [...trades, ...laterTrades],
        quotes: [...quotes, ...laterQuotes]
      }
      for (const which of [["trades"], ["quotes"], ["trades", "quotes"]] as Array<Array<"trades" | "quotes">>) {
        const events = [...yield* Stream.runCollect(replay.stream({ ...range, tables: which }))]
        const expected = which.flatMap((t) => [...rows[t]])
        assert.deepStrictEqual(events.map((e) => e.message_id).sort(), expected.map((r) => r.message_id).sort())
        for (const e of events) {
          assert.strictEqual(typeof e.kafka_partition, "number", e.message_id)
          assert.strictEqual(e.kafka_partition, partitions.get(e.message_id), e.message_id)
        }
      }
    }))
})
