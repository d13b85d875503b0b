/**
 * "Were there gaps in the feed?": the sequence anomalies ingestion writes to
 * market_data.sequence_events are readable through POST /v1/sql (they were refused as not a view:
 * no route answered them at all, only their count in /v1/stats/sequence_events).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { sequenceEventColumns } from "../../../src/domain/sequence/events.ts"
import { tables } from "../../../src/domain/tables.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { auth, baseUrl, KEYS, servedWith, testOptions } from "../../integration/http-support.ts"
import { fill, warehouseDir } from "../query/fixture.ts"

const T = Date.UTC(2024, 0, 1, 23, 0, 0) * 1000

/** The query fixture's trades and quotes, and one GAP of two on BHP's trades. */
const withGap = Layer.effectDiscard(Effect.gen(function*() {
  const sink = yield* IcebergSink
  yield* sink.ensureTable(tables.sequenceEvents)
  yield* sink.append({ namespace: "market_data", name: "sequence_events" }, sequenceEventColumns([{
    detected_at: T + 5_000,
    symbol: "BHP",
    exchange: "ASX",
    kind: "GAP",
    expected: 41n,
    received: 44n,
    gap_size: 2n,
    exchange_timestamp: T,
    message_id: "sim:42:BHP:97",
    kafka_topic: "market.equities.trades.asx",
    kafka_partition: 10,
    kafka_offset: 812n
  }]))
})).pipe(Layer.provideMerge(fill({ trades: 10, quotes: 10 })))

const post = (base: string, body: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${base}/v1/sql`, { method: "POST", headers: { ...auth(KEYS.full), "content-type": "application/json" }, body: JSON.stringify(body) })
    return { status: res.status, headers: res.headers, body: await res.json() as Record<string, any> }
  })

layer(servedWith(testOptions(), warehouseDir(), withGap), { timeout: 120_000, excludeTestServices: true })("POST /v1/sql: sequence_events", (it) => {
  it.effect("the gaps ingestion recorded are rows of a view sequence_events, pinned like the others", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const a = yield* post(base, {
        sql: "SELECT kind, symbol, exchange, expected, received, gap_size, exchange_timestamp, message_id, kafka_topic, kafka_partition, kafka_offset FROM sequence_events"
      })
      assert.strictEqual(a.status, 200, JSON.stringify(a.body))
      assert.deepStrictEqual(a.body["data"], [{
        kind: "GAP",
        symbol: "BHP",
        exchange: "ASX",
        expected: "41",
        received: "44",
        gap_size: "2",
        exchange_timestamp: "2024-01-01T23:00:00.000000Z",
        message_id: "sim:42:BHP:97",
        kafka_topic: "market.equities.trades.asx",
        kafka_partition: 10,
        kafka_offset: "812"
      }])
      assert.match(a.headers.get("k2-snapshot-ids") ?? "", /sequence_events=\d+/)
    }))
})
