/**
 * Catch-up to live, records ingestion dead-letters as `WrongTopic`: a trade naming another
 * exchange or asset class than its topic (misrouted by a producer). The table never holds them,
 * so the live part must not deliver them either: a follow would otherwise hold events a replay
 * of the same range later does not.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import type { TradeRow } from "../../../src/domain/rows.ts"
import { type ReplayEvent, ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { genTrades, T0 } from "../query/data.ts"
import { catchUpStack, sendTrades, topicAndTables } from "../../support/catchUp.ts"

const TOPIC = "market.equities.trades.test"

describe("catch-up to live, misrouted records", () => {
  it.live("a trade of another exchange or asset class than its topic's is skipped, as ingestion dead-letters it", () => {
    const { layer: deps } = catchUpStack()
    return Effect.gen(function*() {
      yield* topicAndTables(TOPIC, 1)
      const rows: Array<TradeRow> = genTrades(40, { seed: 61, idPrefix: "m" }).map((r, i) =>
        i % 10 === 3 ? { ...r, exchange: "OTHER" } : i % 10 === 7 ? { ...r, exchange: "TEST", asset_class: "crypto" } : { ...r, exchange: "TEST" }
      )
      yield* sendTrades(TOPIC, rows)
      const expected = rows.filter((r) => r.exchange === "TEST" && r.asset_class === "equities").map((r) => r.message_id)
      assert.strictEqual(expected.length, 32)

      const events: Array<ReplayEvent> = []
      const fiber = yield* Stream.runForEach(
        (yield* ReplayEngine).follow({ group: "nobody", from: T0, topics: [TOPIC] }),
        (e) => Effect.sync(() => void events.push(e))
      ).pipe(Effect.forkChild)
      const deadline = Date.now() + 20_000
      while (events.length < expected.length && Date.now() < deadline && fiber.pollUnsafe() === undefined) yield* Effect.sleep("10 millis")
      yield* Effect.sleep("300 millis")
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(events.map((e) => e.message_id).sort(), [...expected].sort())
    }).pipe(Effect.provide(deps))
  }, 60_000)
})
