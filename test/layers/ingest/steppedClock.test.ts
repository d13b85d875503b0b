/**
 * Ingestion under a wall clock that steps (NTP correcting it, a VM resumed, an operator fixing the
 * date): the commit interval and the checkpoint interval are measured on the monotonic clock, so a
 * clock set back an hour does not hold every flush due by time (a quiet feed's rows) for that hour.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Schedule } from "effect"
import { identifierOf } from "../../../src/domain/tables.ts"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { ASX_TOPICS, ingestorOver, tradeRecords } from "../../support/memoryFeed.ts"
import { makeSteppedClock } from "../../support/steppedClock.ts"
import { warehouseOptions } from "../../support/warehouse.ts"

const TOPIC = ASX_TOPICS[0]!

/** Polls `probe` until it holds; the bound (~10 s, against flushes due every 50 ms) only stops a broken run, and fails the test. */
const eventually = (what: string, probe: Effect.Effect<boolean>) =>
  probe.pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (ok) => ok, times: 500 }),
    Effect.flatMap((ok) => ok ? Effect.void : Effect.die(new Error(`never: ${what}`)))
  )

describe("ingestion under a wall clock that steps", () => {
  it.live("rows below the flush size are committed within the commit interval after the clock is set back an hour", () =>
    Effect.gen(function*() {
      const stepped = yield* makeSteppedClock
      const kafka = KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker())
      const trades = makeTrades({ count: 60, symbols: ["XYZ"], days: 0.01 })
      yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 1)!)
        yield* (yield* KafkaSink).send(tradeRecords(trades.slice(0, 30)))
        const ingestor = yield* Ingestor
        const fiber = yield* Effect.forkChild(ingestor.run)
        const committed = (n: number) => Effect.map(ingestor.progress, (p) => p.written.trades >= n && p.uncommitted === 0)
        yield* eventually("the first 30 committed", committed(30))
        const sequenceSnapshots = Effect.map((yield* Catalog).loadTable(identifierOf("sequence_events")), (t) => t.metadata.snapshots.length)
        const checkpointsBefore = yield* sequenceSnapshots
        yield* stepped.step(-3_600_000)
        yield* (yield* KafkaSink).send(tradeRecords(trades.slice(30)))
        // By the wall clock, the last flush was an hour ahead: none was due by time until it came round again.
        yield* eventually("the next 30 committed after the step back", committed(60))
        // A checkpoint every flush (interval 0) goes on too: by the wall clock, the last was an hour ahead.
        assert.isAbove(yield* sequenceSnapshots, checkpointsBefore)
        yield* Fiber.interrupt(fiber)
      }).pipe(
        Effect.provide(ingestorOver({
          kafka,
          lakehouse: warehouseOptions("sqlite"),
          settings: { topics: [TOPIC], commitIntervalMs: 50, checkpointIntervalMs: 0, flushRows: 1_000_000 }
        })),
        Effect.provideService(Clock.Clock, stepped.clock)
      )
    }), 60_000)
})
