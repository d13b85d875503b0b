/**
 * What ingest tests read back from a warehouse: the exactly-once counts of a market-data table
 * (rows, distinct Kafka coordinates, distinct message ids), and the sequence events.
 */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import { selectPlanned } from "../../src/layers/duckdb/readPlan.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { TableScanner } from "../../src/services/TableScanner.ts"

interface TableCheck {
  readonly rows: number
  readonly distinctCoordinates: number
  readonly distinctMessageIds: number
}

/** Counts `market_data.<name>` at its current snapshot (all zero when it has none). */
export const checkTable = (name: string) =>
  Effect.gen(function*() {
    const plan = yield* (yield* TableScanner).plan({ namespace: "market_data", name })
    const [row] = yield* selectPlanned(
      plan,
      `count(*)::BIGINT AS rows,
       count(DISTINCT (kafka_topic, kafka_partition, kafka_offset))::BIGINT AS coords,
       count(DISTINCT message_id)::BIGINT AS ids`
    )
    return {
      rows: Number(row?.rows ?? 0),
      distinctCoordinates: Number(row?.coords ?? 0),
      distinctMessageIds: Number(row?.ids ?? 0)
    } satisfies TableCheck
  })

/** The trades and quotes tables of `options` hold `expected` rows in all, each (topic, partition, offset) once. */
export const assertTablesHoldOnce = (options: Lakehouse.LakehouseOptions, expected: number) =>
  Effect.gen(function*() {
    const [trades, quotes] = yield* Effect.all([checkTable("trades"), checkTable("quotes")]).pipe(Effect.provide(Lakehouse.layer(options)))
    assert.strictEqual(trades.rows + quotes.rows, expected)
    assert.strictEqual(trades.rows, trades.distinctCoordinates)
    assert.strictEqual(quotes.rows, quotes.distinctCoordinates)
  })

/** The sequence_events rows of `options`' warehouse, with `columns`. */
export const sequenceEvents = (
  options: Lakehouse.LakehouseOptions,
  columns = "kind, expected::VARCHAR AS expected, received::VARCHAR AS received"
) =>
  Effect.gen(function*() {
    const plan = yield* (yield* TableScanner).plan({ namespace: "market_data", name: "sequence_events" })
    return yield* selectPlanned(plan, columns)
  }).pipe(Effect.provide(Lakehouse.layer(options)))
