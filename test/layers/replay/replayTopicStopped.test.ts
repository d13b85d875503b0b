/**
 * `npm run replay --topic T` of a range in-process (memory Kafka). Stopped by a signal before anything
 * is sent (while the Kafka client connects, the schema registry is asked for the ids, or the topic is
 * made) it ended exit 0 without a word (the stop was only wrapped around the sends), so a script took
 * the empty topic for the whole range; it must exit 1 saying how far it got, as NDJSON does. Stopped
 * while sending, or failing a send, it says the last event acknowledged, to resume from. And
 * `--partitions` without `--topic` is refused as --topic's (as --help marks it), not "--topic and --follow".
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { afterEach, assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Option, Stream } from "effect"
import { Command } from "effect/cli"
import { vi } from "vitest"
import { makeWireCodec } from "../../../src/domain/avro/codec.ts"
import { formatIsoMicros } from "../../../src/domain/time.ts"
import { layerMemory, MemoryBroker } from "../../../src/layers/kafka/memory.ts"
import { DrainRecord, drainRecord, failedDrainOf, programExitCode } from "../../../src/programs/cli/run.ts"
import { replayCommandWith, type ReplayConnections, republishReported, republishTopic } from "../../../src/programs/replay.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { KafkaRejected, kafkaError } from "../../../src/services/KafkaSource.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { ReplayEngine, type ReplayEvent } from "../../../src/services/ReplayEngine.ts"
import { SchemaRegistry } from "../../../src/services/SchemaRegistry.ts"
import * as Ref from "../../domain/query/reference.ts"
import { genTrades } from "../query/data.ts"

/** A catalog in which every table exists (its metadata is not read here). */
const tablesExist = Layer.succeed(Catalog)({ loadTable: () => Effect.succeed({ metadata: {} }) } as unknown as Catalog["Service"])

/** An engine whose replay is empty: the stops tested come before it is read. */
const reads = () =>
  Layer.succeed(ReplayEngine)({ stream: () => Stream.empty, follow: () => Stream.empty } as unknown as ReplayEngine["Service"]).pipe(
    Layer.merge(tablesExist)
  )

const hangs = (reached: Deferred.Deferred<void>) => Effect.andThen(Deferred.succeed(reached, undefined), Effect.never)

/** Runs the command, interrupts it once `reached`, and returns its exit code and the failure it reported. */
const stoppedAt = (
  args: ReadonlyArray<string>,
  connections: Partial<ReplayConnections>,
  reached: Deferred.Deferred<void>,
  engine: typeof reads = reads
) =>
  Effect.gen(function*() {
    vi.spyOn(process.stdout, "write").mockImplementation(() => true)
    vi.spyOn(process.stderr, "write").mockImplementation(() => true)
    const record = drainRecord()
    const run = Command.runWith(replayCommandWith(engine, connections), { version: "0" })(
      ["--from", "2024-01-02", "--to", "2024-01-03", "--topic", "backtest", "--brokers", "localhost:1", ...args]
    ) as Effect.Effect<void, unknown, Layer.Success<typeof NodeServices.layer>>
    const fiber = yield* run.pipe(Effect.provide(NodeServices.layer), Effect.provideService(DrainRecord, record), Effect.forkChild)
    yield* Deferred.await(reached)
    yield* Fiber.interrupt(fiber)
    const exit = yield* Fiber.await(fiber)
    vi.restoreAllMocks()
    const failed = failedDrainOf(exit, record)
    return {
      code: programExitCode(exit, record),
      message: String(Option.isSome(failed) ? (failed.value as { message?: string }).message : undefined)
    }
  })

describe("replay --topic of a range stopped before anything is sent", () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it.effect("while the Kafka client connects: exit 1, 0 events written", () =>
    Effect.gen(function*() {
      const reached = yield* Deferred.make<void>()
      const { code, message } = yield* stoppedAt([], { kafka: () => Layer.effectContext(hangs(reached)) as never }, reached)
      assert.strictEqual(code, 1, message)
      assert.include(message, "replay stopped before its end: 0 events written")
    }))

  it.effect("while the schema registry is asked: exit 1, 0 events written", () =>
    Effect.gen(function*() {
      const reached = yield* Deferred.make<void>()
      const registry = () =>
        Layer.succeed(SchemaRegistry)(SchemaRegistry.of({
          kind: "http",
          register: () => hangs(reached),
          lookup: () => hangs(reached),
          schemaById: () => hangs(reached),
          latest: () => hangs(reached)
        }))
      const { code, message } = yield* stoppedAt(["--schema-registry", "http://localhost:1"], { kafka: () => layerMemory(), registry }, reached)
      assert.strictEqual(code, 1, message)
      assert.include(message, "replay stopped before its end: 0 events written")
    }))

  it.effect("while the topic is made: exit 1, 0 events written", () =>
    Effect.gen(function*() {
      const reached = yield* Deferred.make<void>()
      const kafka = () =>
        Layer.effect(KafkaAdmin)(Effect.gen(function*() {
          const admin = yield* KafkaAdmin
          return KafkaAdmin.of({ ...admin, listTopics: () => hangs(reached) })
        })).pipe(Layer.provideMerge(layerMemory(new MemoryBroker())))
      const { code, message } = yield* stoppedAt([], { kafka }, reached)
      assert.strictEqual(code, 1, message)
      assert.include(message, "replay stopped before its end: 0 events written")
    }))
})

describe("replay --topic of a range stopped while it sends", () => {
  it.effect("exit 1 saying how far it got: the events the broker acknowledged and the last of them, to resume from", () =>
    Effect.gen(function*() {
      const events = genTrades(20).map((t): ReplayEvent => ({ _tag: "Trade", ...t, price: Ref.text8(t.price), quantity: Ref.text8(t.quantity) }))
      const reached = yield* Deferred.make<void>()
      // Sent in chunks of 4; the replay then stalls at the 13th event (a paced gap, a slow read) and the signal comes.
      const stream = Stream.fromArray(events).pipe(
        Stream.rechunk(4),
        Stream.mapEffect((e) => e === events[12] ? hangs(reached) : Effect.succeed(e)),
        Stream.rechunk(4)
      )
      const engine = () =>
        Layer.succeed(ReplayEngine)({ stream: () => stream, follow: () => Stream.empty } as unknown as ReplayEngine["Service"]).pipe(Layer.merge(tablesExist))
      const broker = new MemoryBroker()
      const { code, message } = yield* stoppedAt([], { kafka: () => layerMemory(broker) }, reached, engine)
      assert.strictEqual(code, 1, message)
      assert.strictEqual(broker.endOffset("backtest", 0), 12)
      const last = events[11]!
      assert.include(message, "replay stopped before its end: 12 events written to backtest", message)
      assert.include(message, `the last at ${formatIsoMicros(last.exchange_timestamp)} (trade ${last.message_id})`, message)
    }))
})

describe("replay --topic, a send that fails part-way", () => {
  it.effect("says how far it got: the events acknowledged and the last of them, to resume from", () =>
    Effect.gen(function*() {
      const events = genTrades(10).map((t): ReplayEvent => ({ _tag: "Trade", ...t, price: Ref.text8(t.price), quantity: Ref.text8(t.quantity) }))
      const written: Array<string> = []
      const capture = (chunk: unknown) => {
        written.push(String(chunk))
        return true
      }
      vi.spyOn(process.stdout, "write").mockImplementation(capture)
      vi.spyOn(process.stderr, "write").mockImplementation(capture)
      // The memory broker, its third send refused.
      const failingThirdSend = Layer.effect(KafkaSink)(Effect.gen(function*() {
        const sink = yield* KafkaSink
        let sends = 0
        return KafkaSink.of({
          ...sink,
          send: (records) =>
            ++sends === 3 ? Effect.fail(kafkaError(new KafkaRejected({ operation: "send", detail: "record too large" }))) : sink.send(records)
        })
      })).pipe(Layer.provideMerge(layerMemory(new MemoryBroker())))
      const exit = yield* Effect.gen(function*() {
        yield* republishTopic("backtest", 1)
        yield* republishReported(Stream.fromArray(events).pipe(Stream.rechunk(2)), "backtest", makeWireCodec())
      }).pipe(Effect.provide(failingThirdSend), Effect.exit)
      vi.restoreAllMocks()
      assert.isTrue(Exit.isFailure(exit))
      const text = written.join("")
      const last = events[3]!
      assert.include(text, "failed after 4 events (4 trades, 0 quotes) acknowledged", text)
      assert.include(text, `the last at ${formatIsoMicros(last.exchange_timestamp)} (trade ${last.message_id})`, text)
    }))
})

/** The usage error a command line is refused with (before anything is opened). */
const refusal = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    vi.spyOn(process.stdout, "write").mockImplementation(() => true)
    vi.spyOn(process.stderr, "write").mockImplementation(() => true)
    const run = Command.runWith(replayCommandWith(reads), { version: "0" })(["--from", "2024-01-02", "--to", "2024-01-03", ...args]) as Effect.Effect<
      void,
      { message?: string },
      Layer.Success<typeof NodeServices.layer>
    >
    const error = yield* run.pipe(Effect.provide(NodeServices.layer), Effect.flip)
    vi.restoreAllMocks()
    return String(error.message)
  })

describe("replay refusing --partitions without --topic", () => {
  it.effect("says it is for --topic only (as --help marks it), not for --topic and --follow", () =>
    Effect.gen(function*() {
      const alone = yield* refusal(["--partitions", "3"])
      assert.include(alone, "--partitions: for --topic only", alone)
      assert.notInclude(alone, "--follow only", alone)
      const withBrokers = yield* refusal(["--partitions", "3", "--brokers", "localhost:1"])
      assert.include(withBrokers, "--brokers: for --topic and --follow only", withBrokers)
      assert.include(withBrokers, "--partitions: for --topic only", withBrokers)
    }))
})
