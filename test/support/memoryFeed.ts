/**
 * A simulated feed published to memory Kafka, and the Ingestor that reads it, as unit and
 * maintenance tests set them up.
 */
import { Effect, Fiber, Layer } from "effect"
import { makeWireCodec } from "../../src/domain/avro/codec.ts"
import type { TradeRow } from "../../src/domain/rows.ts"
import type { TrackerOptions } from "../../src/domain/sequence/tracker.ts"
import { instrumentsTopicName, sourceTopicSpecs } from "../../src/domain/wire.ts"
import * as Feeds from "../../src/layers/feeds/simulator.ts"
import * as Ingest from "../../src/layers/ingest/ingestor.ts"
import type { ResolveSchema } from "../../src/layers/ingest/writerSchemas.ts"
import type * as KafkaMemory from "../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { publishFeed } from "../../src/layers/produce/publisher.ts"
import * as Trackers from "../../src/layers/sequence/tracker.ts"
import type { Catalog } from "../../src/services/Catalog.ts"
import type { FileIO } from "../../src/services/FileIO.ts"
import type { IcebergSink } from "../../src/services/IcebergSink.ts"
import { Ingestor } from "../../src/services/Ingestor.ts"
import { KafkaAdmin, KafkaSink, type ProducerRecord } from "../../src/services/KafkaSink.ts"
import { makeTrades } from "./fixtures.ts"

/** The ASX trades and quotes topics the memory tests ingest. */
export const ASX_TOPICS = ["market.equities.trades.asx", "market.equities.quotes.asx"]

const wire = makeWireCodec()

/** `trades` as records of one partition of the ASX trades topic, keyed by symbol. */
export const tradeRecords = (trades: ReadonlyArray<TradeRow>, partition = 0): Array<ProducerRecord> =>
  trades.map((t) => ({ topic: ASX_TOPICS[0]!, key: t.symbol, value: wire.encodeTrade(t), partition }))

/** `count` trades of one symbol, XYZ, sent in slices (`from` to `to`) to chosen partitions of the ASX trades topic. */
export const movingStream = (count: number) => {
  const trades = makeTrades({ count, symbols: ["XYZ"], days: 0.01 })
  return (from: number, to: number, partition: number) =>
    Effect.gen(function*() {
      yield* (yield* KafkaSink).send(tradeRecords(trades.slice(from, to), partition))
    })
}

/** Creates ASX_TOPICS and the instruments topic with `partitions` each, then publishes the simulated feed. */
export const publishToMemory = (
  kafka: ReturnType<typeof KafkaMemory.layerMemory>,
  partitions: number,
  feed: Parameters<typeof Feeds.layerSimulator>[0]
) =>
  Effect.gen(function*() {
    // The publisher sends the simulator's instruments too.
    yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([...ASX_TOPICS, instrumentsTopicName("ASX")], partitions)!)
    return yield* publishFeed(makeWireCodec())
  }).pipe(Effect.provide(Layer.merge(kafka, Feeds.layerSimulator(feed))))

/** What a test varies in the Ingestor it builds. */
export interface IngestorOptions {
  /** Over Ingest.defaultIngestConfig, with ASX_TOPICS unless `topics` is given. */
  readonly settings?: Partial<Ingest.IngestConfig>
  /** The rules of the trades and quotes trackers (each build makes both afresh, as a process does). */
  readonly trackers?: Partial<TrackerOptions>
  /** A schema registry's lookup (writer schemas); none by default. */
  readonly resolveSchema?: ResolveSchema | undefined
}

/** The Ingestor alone: Kafka and the lakehouse come from the environment (one a test built once and shares). */
export const ingestorLayer = (options: IngestorOptions = {}) =>
  Layer.unwrap(Effect.gen(function*() {
    const trades = yield* Trackers.make(options.trackers)
    const quotes = yield* Trackers.make(options.trackers)
    return Ingest.layer(
      { ...Ingest.defaultIngestConfig, topics: ASX_TOPICS, ...options.settings },
      {
        codec: makeWireCodec(),
        trackers: { trades, quotes },
        ...(options.resolveSchema === undefined ? {} : { resolveSchema: options.resolveSchema })
      }
    )
  }))

/** A lakehouse layer the Ingestor can write through. */
type LakehouseLayer = Layer.Layer<IcebergSink | Catalog | FileIO, unknown>

export interface IngestorStack<L extends LakehouseLayer> extends IngestorOptions {
  readonly kafka: ReturnType<typeof KafkaMemory.layerMemory>
  /** A warehouse's options (its plain lakehouse), or a lakehouse layer: a wrapped catalog or storage. */
  readonly lakehouse: Lakehouse.LakehouseOptions | L
  /**
   * Layers built with the others whose services take the place of theirs (a wrapped KafkaSource or
   * KafkaSink, an IcebergSink) or come with them (a Logger): a later one's over an earlier one's.
   */
  readonly over?: ReadonlyArray<Layer.Layer<never, unknown>>
}

/** The Ingestor over memory Kafka and a lakehouse, whose services the test sees too. */
export const ingestorOver = <L extends LakehouseLayer = ReturnType<typeof Lakehouse.layer>>(stack: IngestorStack<L>) =>
  ingestorLayer(stack).pipe(Layer.provideMerge(Layer.mergeAll(
    stack.kafka,
    Layer.isLayer(stack.lakehouse) ? stack.lakehouse as L : Lakehouse.layer(stack.lakehouse as Lakehouse.LakehouseOptions),
    ...stack.over ?? []
  )))

/** Runs the ingestor until `done` holds of its progress, then interrupts it (a drain). */
export const ingestUntil = (done: (p: Effect.Success<Ingestor["Service"]["progress"]>) => boolean) =>
  Effect.gen(function*() {
    const ingestor = yield* Ingestor
    const fiber = yield* Effect.forkChild(ingestor.run)
    let held = false
    for (let i = 0; i < 3000; i++) {
      held = done(yield* ingestor.progress)
      if (held) break
      const exited = fiber.pollUnsafe()
      if (exited !== undefined) return yield* Effect.die(new Error(`ingestor stopped: ${String(exited)}`))
      yield* Effect.sleep("20 millis")
    }
    yield* Fiber.interrupt(fiber)
    // A wait that ran out must not pass for one that ended: the caller's checks would judge a partial run.
    if (!held) return yield* Effect.die(new Error("the ingestor's progress never reached the awaited state (60 s)"))
    return yield* ingestor.progress
  })
