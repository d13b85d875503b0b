/**
 * The partition supervisor: a partition retired for a restart holds no buffer room while the restart
 * is pending, and the restart backoff starts afresh after a healthy run.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import { reconnectSchedule, supervisorBackoff } from "../../../src/layers/ingest/transientFaults.ts"
import * as KafkaMemory from "../../../src/layers/kafka/memory.ts"
import { Ingestor } from "../../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { refusingDlqSends } from "../../support/kafkaFaults.ts"
import { ASX_TOPICS, ingestorOver } from "../../support/memoryFeed.ts"
import { lakehouseRefusingLoads, warehouseOptions } from "../../support/warehouse.ts"
import { waitForProgress } from "../../support/ingestorProgress.ts"

const TOPIC = ASX_TOPICS[0]!
const wire = makeWireCodec()


describe("Ingestor supervision", () => {
  it.live("a partition whose restart keeps failing holds no buffer room: the other partitions go on", () =>
    Effect.gen(function*() {
      const kafka = KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker())
      const refusing = refusingDlqSends(kafka, 2)
      const options = warehouseOptions("sqlite")
      // While `refuse(true)` holds, every table load is refused (a catalog answering 403 for a while),
      // saying so with `refused`: partition 0's restart fails, and so does each retry.
      const { lakehouse, refuse, refused } = yield* lakehouseRefusingLoads(options)
      // Room for 60 rows, flushed only when the run drains: what partition 0 buffered before it
      // failed stays in its buffer.
      const ingestor = ingestorOver({
        kafka,
        lakehouse,
        settings: { topics: [TOPIC], commitIntervalMs: 3_600_000, flushRows: 1_000_000, maxBufferedRows: 60 },
        over: [refusing]
      })
      const send = (symbol: string, partition: number) =>
        Effect.gen(function*() {
          const rows = makeTrades({ count: 50, symbols: [symbol], days: 0.01, idPrefix: symbol })
          yield* (yield* KafkaSink).send(rows.map((t) => ({ topic: TOPIC, key: symbol, value: wire.encodeTrade(t), partition })))
        })
      const progress = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([TOPIC], 2)!)
        const fiber = yield* Effect.forkChild((yield* Ingestor).run)
        yield* send("AAA", 0)
        yield* waitForProgress((p) => p.consumed >= 50, "15 seconds")
        // Partition 0's actor fails on its DLQ; its restart cannot read the tables, for a while.
        refuse(true)
        yield* (yield* KafkaSink).send([{ topic: TOPIC, key: "AAA", value: new Uint8Array(20), partition: 0 }])
        yield* Deferred.await(refused)
        // Partition 1 has room: partition 0's 50 rows, never committed now, are let go.
        yield* send("BBB", 1)
        const after = yield* waitForProgress((p) => p.consumed >= 100, "5 seconds")
        refuse(false)
        yield* Fiber.interrupt(fiber)
        return after
      }).pipe(Effect.provide(ingestor))
      assert.strictEqual(progress.consumed, 100, "partition 1's records are taken while partition 0 waits for its restart")
    }), 60_000)

  // First delays 100 ms (a partition's restart) and 500 ms (the run's rejoin), caps 5 s and 10 s, ±20% jitter.
  it.effect.each([
    { name: "a partition's restart", schedule: supervisorBackoff, first: 100, cap: 5_000 },
    { name: "the run's rejoin", schedule: reconnectSchedule, first: 500, cap: 10_000 }
  ])("the backoff of $name starts afresh once it ran healthy for a while", ({ cap, first, schedule }) =>
    Effect.gen(function*() {
      // Fails at once ten times, then runs for ten minutes before failing again.
      const starts: Array<number> = []
      const attempt = Effect.gen(function*() {
        starts.push(yield* Effect.clockWith((clock) => clock.currentTimeMillis))
        if (starts.length === 11) yield* Effect.sleep("10 minutes")
        if (starts.length <= 11) return yield* Effect.fail("failed")
      })
      const fiber = yield* Effect.forkChild(Effect.retry(attempt, { schedule }))
      yield* TestClock.adjust("20 minutes")
      yield* Fiber.join(fiber)
      assert.strictEqual(starts.length, 12)
      // Backed off to its cap after ten quick failures...
      assert.isAtLeast(starts[10]! - starts[9]!, cap * 0.8)
      // ...but a failure after ten healthy minutes is retried after the first delay, not the cap.
      assert.isAtMost(starts[11]! - (starts[10]! + 600_000), first * 1.2)
    }))
})
