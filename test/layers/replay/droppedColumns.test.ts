/**
 * Replay of trades and quotes whose columns another engine dropped (ADR-2: K2's column another
 * engine dropped reads as null, in every file, as pages show it): quantity, bid_size, trade_id, quote_id,
 * ingestion_timestamp and kafka_offset. Replay read every such value from the vectors without
 * looking at their validity: a dropped quantity came out as -92233720368.54775808, a dropped
 * offset as whatever the vector's memory held, a dropped id as "". They replay as null.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Stream } from "effect"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import type { Schema } from "../../../src/domain/iceberg/spec.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import * as Ref from "../../domain/query/reference.ts"
import { DAY, T0 } from "../query/data.ts"
import { evolvedBy } from "../query/evolvedFixture.ts"

const DROPPED = ["quantity", "bid_size", "trade_id", "quote_id", "ingestion_timestamp", "kafka_offset"]

const dropped = (schema: Schema): Schema => ({ type: "struct", "schema-id": 1, fields: schema.fields.filter((f) => !DROPPED.includes(f.name)) })

/** The other engine's rows: none of the dropped columns. */
const without = (batch: ColumnBatch): ColumnBatch => ({
  rowCount: batch.rowCount,
  columns: Object.fromEntries(Object.entries(batch.columns).filter(([name]) => !DROPPED.includes(name)))
})

const { laterQuotes, laterTrades, quotes, trades, warehouse } = evolvedBy(dropped, without)

layer(warehouse, { timeout: 60_000, excludeTestServices: true })("ReplayEngine: columns another engine dropped", (it) => {
  it.effect("replay as null; the other columns as written", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const range = { from: T0, to: T0 + 3 * DAY }
      const all = [...trades, ...laterTrades, ...quotes, ...laterQuotes]
      for (const wholeWindows of [false, true]) {
        const events = [...yield* Stream.runCollect(replay.stream({ ...range, wholeWindows }))]
        assert.deepStrictEqual(events.map((e) => e.message_id).sort(), Ref.selectRows(all, range).map((r) => r.message_id).sort())
        const trade = new Map([...trades, ...laterTrades].map((t) => [t.message_id, t]))
        const quote = new Map([...quotes, ...laterQuotes].map((q) => [q.message_id, q]))
        for (const e of events) {
          const fields = e._tag === "Trade"
            ? [e.price, e.quantity, e.trade_id, e.ingestion_timestamp, e.kafka_offset]
            : [e.bid_price, e.ask_price, e.ask_size, e.bid_size, e.quote_id, e.ingestion_timestamp, e.kafka_offset]
          const want = e._tag === "Trade"
            ? [Ref.text8(trade.get(e.message_id)!.price), null, null, null, null]
            : [Ref.text8(quote.get(e.message_id)!.bid_price), Ref.text8(quote.get(e.message_id)!.ask_price), Ref.text8(quote.get(e.message_id)!.ask_size), null, null, null, null]
          assert.deepStrictEqual(fields, want, e.message_id)
        }
      }
    }))
})
