/**
 * `npm run replay -- --topic T`: a send that fails part-way says how many events the broker had
 * acknowledged before it (the topic holds them); before, only the error was printed, and off a
 * terminal the last progress line could be seconds old, so what the topic held was unknown.
 */
import { afterEach, assert, describe, it, vi } from "@effect/vitest"
import { Effect, Exit, Layer, Stream } from "effect"
import { makeWireCodec } from "../../src/domain/avro/codec.ts"
import { layerMemory, MemoryBroker } from "../../src/layers/kafka/memory.ts"
import { republishReported } from "../../src/programs/replay.ts"
import { KafkaRejected, kafkaError } from "../../src/services/KafkaSource.ts"
import { KafkaAdmin, KafkaSink } from "../../src/services/KafkaSink.ts"
import { replayTrade } from "../support/replayEvents.ts"


/** The memory broker, its third send refused. */
const failingThirdSend = (broker: MemoryBroker) =>
  Layer.effect(KafkaSink)(Effect.gen(function*() {
    const sink = yield* KafkaSink
    let sends = 0
    return KafkaSink.of({
      ...sink,
      send: (records) =>
        ++sends === 3 ? Effect.fail(kafkaError(new KafkaRejected({ operation: "send", detail: "record too large" }))) : sink.send(records)
    })
  })).pipe(Layer.provideMerge(layerMemory(broker)))

describe("npm run replay --topic, a failed send", () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it.effect("says how many events (trades, quotes) the broker acknowledged before the failure", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const capture = (chunk: unknown) => {
        written.push(String(chunk))
        return true
      }
      vi.spyOn(process.stdout, "write").mockImplementation(capture)
      vi.spyOn(process.stderr, "write").mockImplementation(capture)
      const broker = new MemoryBroker()
      const events = Stream.fromArray(Array.from({ length: 10 }, (_, i) => replayTrade(i))).pipe(Stream.rechunk(2))
      const exit = yield* Effect.gen(function*() {
        yield* (yield* KafkaAdmin).ensureTopics([{ name: "backtest", partitions: 1 }])
        yield* republishReported(events, "backtest", makeWireCodec())
      }).pipe(Effect.provide(failingThirdSend(broker)), Effect.exit)
      vi.restoreAllMocks()
      assert.isTrue(Exit.isFailure(exit))
      const text = written.join("")
      assert.include(text, "4 events (4 trades, 0 quotes)", text)
      assert.include(text, "backtest", text)
    }))
})
