/**
 * Trades and quotes whose kafka_partition another engine promoted from int to long (a promotion
 * Iceberg v2 allows, ADR-2): read by field id, the column arrives as a BIGINT. The pages' cursors
 * hold the last row's partition; a bigint there could not be written into a cursor, and every page
 * with a next one failed (a 500) instead of answering; replay's events carried it as a bigint.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Stream } from "effect"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import type { Schema } from "../../../src/domain/iceberg/spec.ts"
import { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { DAY, T0 } from "./data.ts"
import { evolvedBy, pagedToEnd } from "./evolvedFixture.ts"
import { TRADES } from "./fixture.ts"

const promoted = (schema: Schema): Schema => ({
  type: "struct",
  "schema-id": 1,
  fields: schema.fields.map((f) => (f.name === "kafka_partition" ? { ...f, type: "long" } : f))
})

/** Partitions as the other engine's longs. */
const asLong = (batch: ColumnBatch): ColumnBatch => ({
  rowCount: batch.rowCount,
  columns: { ...batch.columns, kafka_partition: Array.from(batch.columns["kafka_partition"]!, (p) => BigInt(p as number)) }
})

const { laterQuotes, laterTrades, quotes, trades, warehouse } = evolvedBy(promoted, asLong)
const range = { from: T0, to: T0 + 3 * DAY }

layer(warehouse, { timeout: 60_000, excludeTestServices: true })("QueryEngine: kafka_partition promoted to long", (it) => {
  it.effect("trades and quotes are paged to their end, every row once", () =>
    Effect.gen(function*() {
      assert.isTrue((yield* (yield* TableScanner).plan(TRADES)).byFieldId)
      const q = yield* QueryEngine
      for (const [read, expected] of [[q.trades, [...trades, ...laterTrades]], [q.quotes, [...quotes, ...laterQuotes]]] as const) {
        const rows = yield* pagedToEnd((cursor) => read({ ...range, limit: 7, ...cursor }))
        // A number, as K2's own int column reads: not a bigint because the column was promoted.
        for (const r of rows) assert.strictEqual(typeof r["kafka_partition"], "number")
        assert.deepStrictEqual(rows.map((r) => r["message_id"]).sort(), expected.map((r) => r.message_id).sort())
      }
    }))

  it.effect("trades with quotes are paged to their end", () =>
    Effect.gen(function*() {
      const q = yield* QueryEngine
      const rows = yield* pagedToEnd((cursor) => q.tradesWithQuotes({ ...range, limit: 7, ...cursor }))
      for (const r of rows) assert.strictEqual(typeof r.kafkaPartition, "number")
      assert.deepStrictEqual(rows.map((r) => r.messageId).sort(), [...trades, ...laterTrades].map((r) => r.message_id).sort())
    }))

  it.effect("replay's events carry the partition as a number, every row once", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
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
