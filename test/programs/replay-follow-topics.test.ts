/**
 * `npm run replay -- --follow` reads K2_TOPICS, the variable ingest reads its source topics from,
 * which holds the instruments topic too (ingest's default does): replay plays trades and quotes,
 * so that topic is not one to follow, and it refused the whole setting (exit 2).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnProgram } from "../support/programs.ts"
import { warehouseOptions } from "../support/warehouse.ts"

describe("npm run replay --follow, K2_TOPICS", () => {
  it.effect("ingest's topics, instruments included, are followed (trades and quotes): not refused", () =>
    Effect.gen(function*() {
      const { warehouse } = warehouseOptions("sqlite")
      const ingest = spawnProgram("ingest", ["--warehouse", warehouse, "--events", "500", "--partitions", "1"])
      assert.strictEqual(yield* Effect.promise(() => ingest.exited), 0, ingest.output())
      // Nothing listens on port 1: past its options, the follow fails joining the live topics.
      const replay = spawnProgram("replay", ["--from", "2024-01-01", "--follow", "--brokers", "127.0.0.1:1"], {
        K2_WAREHOUSE: warehouse,
        K2_TOPICS: "market.equities.trades.asx,market.equities.quotes.asx,reference.instruments.asx"
      })
      const code = yield* Effect.promise(() => replay.exited)
      assert.notInclude(replay.output(), "reference.instruments.asx")
      assert.include(replay.output(), "kafka unavailable")
      assert.strictEqual(code, 1, replay.output())
    }), { timeout: 120_000 })
})
