/**
 * Replay over tables another engine evolved (evolvedFixture.ts): its decimals widened to
 * decimal(20, 8) replay exactly as the decimal(18, 8) events carry them, in replay order, from the
 * files of both schemas; a value past decimal(18, 8), which only the wider type holds, replays as its
 * exact text (it failed the replay, cast back to decimal(18, 8)). Read by name, the other engine's
 * files hold no price: these fail.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { ReplayEngine, type ReplayEvent } from "../../../src/services/ReplayEngine.ts"
import * as Ref from "../../domain/query/reference.ts"
import { DAY, T0 } from "../query/data.ts"
import { BIG_DAY, BIG_QUANTITY, Evolved, evolvedWarehouse } from "../query/evolvedFixture.ts"

layer(evolvedWarehouse(), { timeout: 120_000, excludeTestServices: true })("replay of tables another engine evolved", (it) => {
  it.effect("widened and renamed decimals replay exactly, every row of both schemas' files in order", () =>
    Effect.gen(function*() {
      const f = yield* Evolved
      const range = { from: T0, to: T0 + 3 * DAY }
      const events = [...yield* Stream.runCollect((yield* ReplayEngine).stream({ ...range, tables: ["trades", "quotes"] }))]
      const rows = [...Ref.selectRows(f.trades, range), ...Ref.selectRows(f.quotes, range)]
      assert.strictEqual(events.length, rows.length)
      assert.strictEqual(new Set(events.map((e) => e.message_id)).size, rows.length)
      const trades = new Map(f.trades.map((t) => [t.message_id, t]))
      const quotes = new Map(f.quotes.map((q) => [q.message_id, q]))
      let last: ReplayEvent | undefined
      for (const e of events) {
        if (e._tag === "Trade") {
          const t = trades.get(e.message_id)!
          assert.deepStrictEqual([e.exchange_timestamp, e.price, e.quantity], [t.exchange_timestamp, Ref.text8(t.price), Ref.text8(t.quantity)], e.message_id)
        } else {
          const q = quotes.get(e.message_id)!
          assert.deepStrictEqual(
            [e.exchange_timestamp, e.bid_price, e.bid_size, e.ask_price, e.ask_size],
            [q.exchange_timestamp, Ref.text8(q.bid_price), Ref.text8(q.bid_size), Ref.text8(q.ask_price), Ref.text8(q.ask_size)],
            e.message_id
          )
        }
        assert.strictEqual(Object.keys(e.vendor_data ?? {}).length, 0, `${e.message_id}: vendor_data was dropped`)
        if (last !== undefined) assert.isAtMost(last.exchange_timestamp, e.exchange_timestamp)
        last = e
      }
    }))

  it.effect("a widened quantity past decimal(18, 8) replays as its exact text", () =>
    Effect.gen(function*() {
      const replay = yield* ReplayEngine
      const events = [...yield* Stream.runCollect(replay.stream({ from: BIG_DAY, to: BIG_DAY + DAY, tables: ["trades"] }))]
      assert.deepStrictEqual(events.map((e) => e._tag === "Trade" ? e.quantity : null), [BIG_QUANTITY])
    }))
})
