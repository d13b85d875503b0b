/**
 * Catch-up to live when retention deletes records after the start was checked: the live consumer
 * joins before the table part plays and fetches ahead only a few batches, so records further on
 * can be deleted before it reads them (a long or paced table part, a slow reader). The client then
 * goes on from the log's start; the follow must say so (CatchUpGap), not skip them in silence.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Stream } from "effect"
import { encodeOffsets, markerKey } from "../../../src/domain/ingest/marker.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { type ReplayEvent, ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { genTrades, T0 } from "../query/data.ts"
import { TRADES } from "../query/fixture.ts"
import { catchUpStack, sendTrades, topicAndTables } from "../../support/catchUp.ts"

const TOPIC = "market.equities.trades.test"
const GROUP = "k2-ingest-test"

describe("catch-up to live, records deleted before the live part read them", () => {
  it.live("fails with CatchUpGap naming where it was, instead of skipping them", () => {
    const { broker, layer: deps } = catchUpStack()
    return Effect.gen(function*() {
      yield* topicAndTables(TOPIC, 1)
      const rows = genTrades(3_000, { seed: 43, idPrefix: "r" }).map((r) => ({ ...r, exchange: "TEST" }))
      const produced = yield* sendTrades(TOPIC, rows)
      yield* (yield* IcebergSink).append(TRADES, tradeColumns(produced.filter((r) => r.kafka_offset < 100n)), {
        properties: { [markerKey(GROUP)]: encodeOffsets(new Map([[TOPIC, new Map([[0, 100n]])]])) }
      })

      // The reader holds the first event (a slow reader, or a paced table part) while retention runs.
      const gate = yield* Deferred.make<void>()
      const events: Array<ReplayEvent> = []
      const fiber = yield* Stream.runForEach((yield* ReplayEngine).follow({ group: GROUP, from: T0 }), (e) =>
        Effect.andThen(events.length === 0 ? Deferred.await(gate) : Effect.void, Effect.sync(() => void events.push(e)))).pipe(
          Effect.flip,
          Effect.forkChild
        )
      yield* Effect.sleep("500 millis") // the live consumer has fetched what its buffer holds
      broker.deleteRecords(TOPIC, 0, 2_500)
      yield* Deferred.succeed(gate, undefined)

      const deadline = Date.now() + 10_000
      while (Date.now() < deadline && fiber.pollUnsafe() === undefined) yield* Effect.sleep("20 millis")
      if (fiber.pollUnsafe() === undefined) {
        yield* Fiber.interrupt(fiber)
        const offsets = events.slice(100).map((e) => e.kafka_offset)
        const hole = offsets.findIndex((o, i) => o !== 100n + BigInt(i))
        assert.fail(`the follow went on: ${offsets.length} live events, ${hole < 0 ? "contiguous" : `offset ${offsets[hole - 1]} followed by ${offsets[hole]}`}`)
      }
      const failure = yield* Fiber.join(fiber)
      assert.strictEqual(failure._tag, "CatchUpGap")
      const gap = failure as Extract<typeof failure, { _tag: "CatchUpGap" }>
      assert.strictEqual(gap.low, 2_500n)
      assert.include(gap.message, `${TOPIC}:0`)
      // Every event delivered before it is contiguous from the marker: nothing skipped.
      const live = events.slice(100).map((e) => e.kafka_offset)
      assert.deepStrictEqual(live, live.map((_, i) => 100n + BigInt(i)))
      assert.strictEqual(gap.marker, 100n + BigInt(live.length))
    }).pipe(Effect.provide(deps))
  }, 60_000)
})
