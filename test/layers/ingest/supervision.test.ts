/**
 * The partition supervisor: a partition retired for a restart holds no buffer room while the restart
 * is pending, and the restart backoff starts afresh after a healthy run.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Random } from "effect"
import { TestClock } from "effect/testing"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { sourceTopicSpecs } from "../../../src/domain/wire.ts"
import { reconnectSchedule, supervise, supervisorBackoff } from "../../../src/layers/ingest/transientFaults.ts"
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

  /**
   * A partition's supervisor (supervise): fails at once `quick` times, runs healthy for two
   * minutes, fails at once `quick` times again, then meets a fault that ends the run. When each
   * attempt started, from the first.
   */
  const supervisorStarts = (retrying: (once: Effect.Effect<never, string>, ends: (e: string) => boolean) => Effect.Effect<never>) =>
    Effect.gen(function*() {
      const quick = 7
      const starts: Array<number> = []
      const once = Effect.gen(function*() {
        starts.push(yield* Effect.clockWith((clock) => clock.currentTimeMillis))
        if (starts.length === quick + 1) yield* Effect.sleep("2 minutes")
        return yield* Effect.fail(starts.length > 2 * quick ? "fatal" : "failed")
      })
      const fiber = yield* Effect.forkChild(retrying(once, (e) => e === "fatal").pipe(Random.withSeed("supervisor")))
      yield* TestClock.adjust("1 hour")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.hasInterrupts(exit), String(exit))
      // To the microsecond: the second run starts an hour later, where fewer fractional digits fit.
      return starts.map((start) => Math.round((start - starts[0]!) * 1000) / 1000)
    })

  it.effect("a partition's supervisor waits the delays Effect.retry waited, afresh after a healthy minute", () =>
    Effect.gen(function*() {
      const byHand = yield* supervisorStarts((once, ends) => supervise(once, supervisorBackoff, ends))
      const byRetry = yield* supervisorStarts((once, ends) =>
        once.pipe(Effect.retry({ schedule: supervisorBackoff, while: (e) => !ends(e) }), Effect.catch(() => Effect.interrupt))
      )
      assert.deepStrictEqual(byHand, byRetry)
      assert.strictEqual(byHand.length, 15)
      const delays = byHand.slice(1).map((start, i) => start - byHand[i]! - (i === 7 ? 120_000 : 0))
      // 100 ms doubling to the 5 s cap, ±20%; after the healthy two minutes, 100 ms again.
      assert.isAtMost(delays[0]!, 120)
      assert.isAtLeast(delays[6]!, 4_000)
      assert.isAtMost(delays[7]!, 120)
    }))

  it.effect("a partition's supervisor ends at once when interrupted in its backoff, and on a fault that ends the run", () =>
    Effect.gen(function*() {
      let attempts = 0
      const failing = Effect.suspend(() => Effect.fail(++attempts))
      const fiber = yield* Effect.forkChild(supervise(failing, supervisorBackoff, () => false))
      yield* TestClock.adjust("1 minute")
      const before = attempts
      assert.isAbove(before, 10)
      // A revoke: the fiber sleeping out its backoff ends with no clock moved.
      const exit = yield* Fiber.interrupt(fiber).pipe(Effect.andThen(Fiber.await(fiber)))
      assert.isTrue(Exit.hasInterrupts(exit))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(attempts, before)
      // A fault that ends the run is not retried.
      attempts = 0
      const fatal = yield* Effect.exit(supervise(failing, supervisorBackoff, () => true))
      assert.isTrue(Exit.hasInterrupts(fatal))
      assert.strictEqual(attempts, 1)
    }))

  it.effect("a partition's supervisor retrying 10,000 times holds a fiber stack as deep as at its first retry", () =>
    Effect.gen(function*() {
      const depths: Array<number> = []
      const once = Effect.suspend(() => {
        depths.push((Fiber.getCurrent() as unknown as { readonly _stack: ReadonlyArray<unknown> })._stack.length)
        return Effect.fail(depths.length >= 10_000 ? "fatal" : "failed")
      })
      const fiber = yield* Effect.forkChild(supervise(once, supervisorBackoff, (e) => e === "fatal"))
      // 10,000 delays of at most 6 s, with no healthy minute between: the backoff stays at its cap.
      yield* TestClock.adjust("1 day")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.hasInterrupts(exit), String(exit))
      assert.strictEqual(depths.length, 10_000)
      assert.strictEqual(Math.max(...depths), depths[1])
    }), 60_000)
})
