/**
 * Catch-up to live on a partition the ingest group's marker does not name (never ingested: a new
 * partition, or a topic given with `topics` before the first commit) whose oldest records
 * retention has already deleted. The table holds nothing of it, so there is nothing to continue:
 * the live part starts at the log's start, as ingestion itself does, instead of failing with
 * CatchUpGap "cannot continue the table at offset 0".
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Stream } from "effect"
import { encodeOffsets, markerKey } from "../../../src/domain/ingest/marker.ts"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { type LiveStart, type ReplayEvent, ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { genTrades, T0 } from "../query/data.ts"
import { TRADES } from "../query/fixture.ts"
import { catchUpStack, sendTrades, topicAndTables } from "../../support/catchUp.ts"

const TOPIC = "market.equities.trades.test"
const GROUP = "k2-ingest-test"
const key = (e: { kafka_topic: string | null; kafka_partition: number | null; kafka_offset: bigint | null }) => `${e.kafka_topic}:${e.kafka_partition}:${e.kafka_offset}`

describe("catch-up to live, a partition the marker lacks", () => {
  it.live("starts at the log's start when retention deleted its first records, every remaining record once", () => {
    const { broker, layer: deps } = catchUpStack()
    return Effect.gen(function*() {
      yield* topicAndTables(TOPIC, 2)
      // Of the topic's exchange: a record of another one is misrouted (ingestion dead-letters it, the live part skips it).
      const rows = genTrades(200, { seed: 41, idPrefix: "u" }).map((r) => ({ ...r, exchange: "TEST" }))
      const produced = yield* sendTrades(TOPIC, rows)
      const on = (p: number) => produced.filter((r) => r.kafka_partition === p)
      assert.isAbove(on(1).length, 20)
      // Ingested: partition 0 below 10, under the group's marker, which names no other partition.
      const marker = new Map([[TOPIC, new Map([[0, 10n]])]])
      const table = on(0).filter((r) => r.kafka_offset < 10n)
      yield* (yield* IcebergSink).append(TRADES, tradeColumns(table), { properties: { [markerKey(GROUP)]: encodeOffsets(marker) } })
      // Retention deletes partition 1's first 7 records, never ingested.
      broker.deleteRecords(TOPIC, 1, 7)
      const expected = produced.filter((r) => r.kafka_partition === 0 || r.kafka_offset >= 7n)

      let start: LiveStart | undefined
      const events: Array<ReplayEvent> = []
      const fiber = yield* Stream.runForEach(
        (yield* ReplayEngine).follow({ group: GROUP, from: T0, onLive: (s) => Effect.sync(() => void (start = s)) }),
        (e) => Effect.sync(() => void events.push(e))
      ).pipe(Effect.forkChild)
      const deadline = Date.now() + 20_000
      while (events.length < expected.length && Date.now() < deadline && fiber.pollUnsafe() === undefined) yield* Effect.sleep("10 millis")
      yield* Effect.sleep("300 millis")
      const exit = fiber.pollUnsafe()
      assert.isUndefined(exit, `the follow ended: ${exit !== undefined && Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "done"}`)
      yield* Fiber.interrupt(fiber)

      assert.deepStrictEqual(events.map(key).sort(), expected.map(key).sort())
      assert.strictEqual(start?.tableEvents, table.length)
      assert.deepStrictEqual(start?.offsets, new Map([[TOPIC, new Map([[0, 10n], [1, 7n]])]]))
    }).pipe(Effect.provide(deps))
  }, 60_000)
})

describe("catch-up to live, its start", () => {
  it.effect("a follow from 2200 or later is refused naming `from` (it said the range to 2200 was inverted, a `to` never given)", () =>
    Effect.gen(function*() {
      const failure = yield* Stream.runDrain((yield* ReplayEngine).follow({ group: GROUP, from: Date.UTC(2200, 0, 1) * 1000 })).pipe(Effect.flip)
      assert.strictEqual(failure._tag, "InvalidQuery")
      assert.include(failure.message, "from")
      assert.include(failure.message, "before 2200-01-01")
      assert.notInclude(failure.message, "inverted")
    }).pipe(Effect.provide(catchUpStack().layer)))
})
