/**
 * A log that drops what the group committed (the embedded default's in-process log, ADR-11) no
 * longer holds the records between sequence_events' checkpoint and the trades table's mark, which
 * a partition restarted from the tables reads to rebuild its sequence streams.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import { PrometheusMetrics } from "effect/observability"
import type { TradeRow } from "../../../src/domain/rows.ts"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { ASX_TOPICS, ingestorOver, tradeRecords } from "../../support/memoryFeed.ts"
import { sequenceEvents } from "../../support/tableCheck.ts"
import { lakehouseRefusingCommits, warehouseOptions } from "../../support/warehouse.ts"
import { parseExposition } from "../telemetry/opsMetrics.ts"

const TOPIC = ASX_TOPICS[0]!

const send = (trades: ReadonlyArray<TradeRow>) =>
  Effect.flatMap(KafkaSink, (sink) => sink.send(tradeRecords(trades)))

/** k2_sequence_checkpoint_ignored_total{reason="released"}: the registry is the process's, compared before and after. */
const releasedIgnored = Effect.map(PrometheusMetrics.format(), (text) =>
  Number(
    parseExposition(text).series.find((s) => s.name === "k2_sequence_checkpoint_ignored_total" && s.labels["reason"] === "released")?.value ?? 0
  ))

const until = (done: (p: Effect.Success<Ingestor["Service"]["progress"]>) => boolean) =>
  Effect.flatMap(Ingestor, (ingestor) =>
    ingestor.progress.pipe(
      Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: done }),
      Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.die(new Error("timed out")) })
    ))

describe("ingest on a log that drops what the group committed", () => {
  it.live("a partition restarted mid-run on a log that drops what the group committed reports no false gap", () =>
    Effect.gen(function*() {
      // As the embedded default runs: the in-process log drops the records its group committed.
      const broker = new KafkaMemory.MemoryBroker()
      const kafka = KafkaMemory.layerMemory(broker, { releaseCommitted: true })
      let refuse = false
      const options = { ...warehouseOptions("sqlite"), sink: { maxCommitAttempts: 1 } }
      const lakehouse = lakehouseRefusingCommits(options, (table) => {
        if (table !== "trades" || !refuse) return false
        refuse = false
        return true
      })
      // One stream, numbered 1..90 without a hole: no sequence anomaly at all.
      const trades = makeTrades({ count: 90, symbols: ["XYZ"], days: 0.01 })
      const ignoredBefore = yield* releasedIgnored
      const progress = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 1)!)
        const ingestor = yield* Ingestor
        const fiber = yield* Effect.forkChild(ingestor.run)
        // The first flush commits trades and sequence_events (checkpoint at 30)...
        yield* send(trades.slice(0, 30))
        yield* until((p) => p.written.trades >= 30 && p.uncommitted === 0)
        // ...the next commits trades only (the checkpoint is not due): the group commits 60.
        yield* send(trades.slice(30, 60))
        yield* until((p) => p.written.trades >= 60)
        // The group commits after the tables, and the log drops what it committed.
        yield* Effect.sync(() => broker.topic(TOPIC).base[0]).pipe(
          Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (base) => base === 60, times: 1000 })
        )
        assert.strictEqual(broker.topic(TOPIC).base[0], 60, "the log dropped what the group committed")
        // A trades commit fails: the partition restarts from the tables (sequence_events at 30).
        refuse = true
        yield* send(trades.slice(60, 90))
        const done = yield* until((p) => p.restarts > 0 && p.written.trades >= 90 && p.lag === 0)
        // Stopping drains: sequence_events is committed with what the run found.
        yield* Fiber.interrupt(fiber)
        return done
      }).pipe(Effect.provide(ingestorOver({ kafka, lakehouse, settings: { topics: [TOPIC], commitIntervalMs: 50, checkpointIntervalMs: 600_000 } })))
      assert.strictEqual(progress.restarts, 1)
      assert.strictEqual(progress.written.trades, 90)
      const events = yield* sequenceEvents(options)
      assert.deepStrictEqual(events, [], "a stream numbered without a hole has no sequence event")
      // Its streams started afresh: counted, so that the lost continuity can alert.
      assert.strictEqual((yield* releasedIgnored) - ignoredBefore, 1)
    }), 60_000)
})
