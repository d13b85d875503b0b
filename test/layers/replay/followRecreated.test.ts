/**
 * Catch-up to live on a topic deleted and made again since ingestion committed its marker, and
 * refilled past it (ADR-29): the marker's offsets are positions in the old log. Continuing the
 * table at the marker in the new log skipped the new log's records below it without a word.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Stream } from "effect"
import { encodeOffsets, markerKey, topicIdsKey } from "../../../src/domain/ingest/marker.ts"
import { tradeColumns, type TradeRow } from "../../../src/domain/rows.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { KafkaAdmin } from "../../../src/services/KafkaSink.ts"
import { type ReplayEvent, ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { genTrades, T0 } from "../query/data.ts"
import { TRADES } from "../query/fixture.ts"
import { catchUpStack, sendTrades, topicAndTables } from "../../support/catchUp.ts"

const TOPIC = "market.equities.trades.test"
const GROUP = "k2-ingest-test"

describe("catch-up to live, a topic made again since the marker", () => {
  it.live("refilled past the marker: fails (naming the topic) instead of skipping the new log's records below the marker", () => {
    const { broker, layer: deps } = catchUpStack()
    return Effect.gen(function*() {
      yield* topicAndTables(TOPIC, 1)
      // Of the topic's exchange: a record of another one is misrouted, skipped by the live part.
      const send = (rows: ReadonlyArray<TradeRow>) => sendTrades(TOPIC, rows.map((r) => ({ ...r, exchange: "TEST" })))
      // Ingested: the old log's first 40 records, with its topic id beside the marker, as ingestion records it.
      const old = yield* send(genTrades(50, { seed: 51, idPrefix: "old" }))
      const oldId = broker.topics.get(TOPIC)!.id
      yield* (yield* IcebergSink).append(TRADES, tradeColumns(old.slice(0, 40)), {
        properties: {
          [markerKey(GROUP)]: encodeOffsets(new Map([[TOPIC, new Map([[0, 40n]])]])),
          [topicIdsKey(GROUP)]: JSON.stringify({ [TOPIC]: oldId })
        }
      })
      // The topic is deleted, made again and refilled past the marker.
      const admin = yield* KafkaAdmin
      yield* admin.deleteTopics([TOPIC])
      yield* admin.ensureTopics([{ name: TOPIC, partitions: 1 }])
      assert.notStrictEqual(broker.topics.get(TOPIC)!.id, oldId)
      const fresh = yield* send(genTrades(100, { seed: 52, idPrefix: "new" }))

      const events: Array<ReplayEvent> = []
      const fiber = yield* Stream.runForEach((yield* ReplayEngine).follow({ group: GROUP, from: T0 }), (e) => Effect.sync(() => void events.push(e)))
        .pipe(Effect.forkChild)
      // A follow never ends by itself: one that does not fail within the wait went on in the new log.
      const exit = yield* Fiber.await(fiber).pipe(Effect.timeoutOption("20 seconds"))
      yield* Fiber.interrupt(fiber)
      const skipped = fresh.filter((r) => r.kafka_offset < 40n).filter((r) => !events.some((e) => e.message_id === r.message_id))
      assert.isTrue(Option.isSome(exit), `the follow went on in another log: ${events.length} events, ${skipped.length} of the new log's records skipped`)
      const cause = Option.getOrThrow(exit)
      assert.isTrue(Exit.isFailure(cause))
      assert.include(String(Exit.isFailure(cause) ? cause.cause : ""), TOPIC)
    }).pipe(Effect.provide(deps))
  }, 60_000)
})
