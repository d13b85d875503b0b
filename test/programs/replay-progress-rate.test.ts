/**
 * `npm run replay -- --topic T` (a range or a `--follow`): the progress line's events a second are
 * of the last 5 s, as ingest's and produce's are. Before, it was the average since the start: a
 * follow that caught up on a burst from the tables and then republished the live feed read the
 * burst's rate, fading for hours, and a follow whose feed slowed down showed it only much later.
 */
import { afterEach, assert, describe, it, vi } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { makeWireCodec } from "../../src/domain/avro/codec.ts"
import { layerMemory, MemoryBroker } from "../../src/layers/kafka/memory.ts"
import { republishReported } from "../../src/programs/replay.ts"
import { KafkaAdmin } from "../../src/services/KafkaSink.ts"
import { replayTrade } from "../support/replayEvents.ts"


describe("npm run replay --topic, the progress line", () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it.effect("reads the events a second of the last seconds, not the average since the start", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      vi.spyOn(process.stdout, "write").mockImplementation(() => true)
      vi.spyOn(process.stderr, "write").mockImplementation((chunk) => (lines.push(String(chunk)), true))
      // As on a terminal, where every progress line is written (in place).
      const tty = process.stderr.isTTY
      process.stderr.isTTY = true
      // A burst of 2,000 events at once (the catch-up from the tables), then 10 events a second.
      const burst = Stream.fromArray(Array.from({ length: 2_000 }, (_, i) => replayTrade(i)))
      const live = Stream.fromArray(Array.from({ length: 10 }, (_, s) => s)).pipe(
        Stream.mapEffect((s) => Effect.as(Effect.sleep("1 second"), s)),
        Stream.flatMap((s) => Stream.fromArray(Array.from({ length: 10 }, (_, i) => replayTrade(2_000 + s * 10 + i))))
      )
      const broker = new MemoryBroker()
      const run = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics([{ name: "backtest", partitions: 1 }])
        yield* republishReported(Stream.concat(burst, live), "backtest", makeWireCodec())
      }).pipe(Effect.provide(layerMemory(broker)), Effect.forkChild)
      yield* TestClock.adjust("11 seconds")
      yield* Fiber.join(run).pipe(Effect.ensuring(Effect.sync(() => {
        vi.restoreAllMocks()
        process.stderr.isTTY = tty
      })))
      const progress = lines.filter((l) => l.includes("events (")).map((l) => l.trim())
      const last = progress.at(-1)!
      assert.include(last, "2100 events (2100 trades, 0 quotes)", progress.join("\n"))
      // 10/s over the last 5 s; the average since the start read 210/s.
      assert.include(last, ", 10/s |", progress.join("\n"))
    }))
})
