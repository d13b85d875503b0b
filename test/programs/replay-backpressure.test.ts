/**
 * `npm run replay | slow-reader`: NDJSON waits for stdout to drain, so a reader slower than the
 * replay bounds its memory; before, every event was buffered in the stream (gigabytes for a long range).
 */
import { Writable } from "node:stream"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { ndjsonTo } from "../../src/programs/replay.ts"
import type { ReplayEvent } from "../../src/services/ReplayEngine.ts"

const event = (i: number): ReplayEvent => ({
  _tag: "Trade", message_id: `m${i}`, symbol: "BHP", exchange: "ASX", asset_class: "equities", exchange_timestamp: i,
  currency: "AUD", conditions: [], source_sequence: BigInt(i), ingestion_timestamp: i, kafka_topic: "t", kafka_partition: 0,
  kafka_offset: BigInt(i), vendor_data: {}, trade_id: `t${i}`, price: "1.00000000", quantity: "2.00000000", side: "BUY"
})

describe("replay NDJSON output", () => {
  it.effect("stops pulling events while the reader does not drain stdout", () =>
    Effect.gen(function*() {
      const pending: Array<() => void> = []
      // A reader that takes nothing until released.
      const out = new Writable({ highWaterMark: 1024, write: (_chunk, _enc, done) => void pending.push(done) })
      let pulled = 0
      const events = Stream.range(0, 99_999).pipe(Stream.map(event), Stream.rechunk(100), Stream.tap(() => Effect.sync(() => pulled++)))
      const fiber = yield* Effect.forkChild(Stream.runForEachArray(events, ndjsonTo(out)))
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow
      assert.isBelow(pulled, 1_000, "events are pulled only as the reader drains")
      assert.isBelow(out.writableLength, 100_000)
      // Released, every event arrives.
      ;(out as unknown as { _write: Writable["_write"] })._write = (_chunk, _enc, done) => done()
      for (const done of pending.splice(0)) done()
      yield* Fiber.join(fiber)
      assert.strictEqual(pulled, 100_000)
    }))
})
