/**
 * Producing through K2's own path: a MarketFeed (simulator, or an ASX load directory) →
 * `publishFeed` (Avro, Confluent framing) → the KafkaSink layer of each client → the local
 * broker (scripts/kafka.sh start), idempotent with acks=all. Prints events/s, and the main
 * thread's CPU time per event: on a shared machine the rate swings with other jobs, the CPU cost
 * much less, and 1e6 / (µs per event) is the rate the producer's thread can sustain.
 *
 *   npx node bench/produce.ts          (K2_BENCH_PRODUCE_EVENTS=1000000 by default)
 *
 * Each run gets an exchange of its own (fresh topics, 12 partitions), deleted afterwards. The ASX
 * feed always says exchange ASX, so its events are relabelled on the way (a copy per event, a few
 * per cent of the cost) to keep the shared ASX topics out of the bench.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Layer, Stream } from "effect"
import { makeWireCodec } from "../src/domain/avro/codec.ts"
import { instrumentsTopicSpecs, topicSpecs } from "../src/domain/wire.ts"
import { layerAsx } from "../src/layers/feeds/asx.ts"
import { layerSimulator } from "../src/layers/feeds/simulator.ts"
import { publishFeed } from "../src/layers/produce/publisher.ts"
import { kafkaLayer, type KafkaClient } from "../src/programs/cli/kafka.ts"
import { KafkaAdmin } from "../src/services/KafkaSink.ts"
import { type FeedEvent, MarketFeed } from "../src/services/MarketFeed.ts"
import { writeAsxDir } from "./feeds.ts"
import { benchCount, benchText } from "./settings.ts"

const BROKER = benchText("K2_BENCH_KAFKA_BROKER") || "127.0.0.1:9092"
const PARTITIONS = 12

const progress = (stage: string) => console.error(`[bench produce] ${new Date().toISOString()} ${stage}`)

const relabel = (exchange: string) => (e: FeedEvent): FeedEvent => {
  switch (e._tag) {
    case "Trade":
      return { _tag: "Trade", trade: { ...e.trade, exchange } }
    case "Quote":
      return { _tag: "Quote", quote: { ...e.quote, exchange } }
    case "Instrument":
      return { _tag: "Instrument", instrument: { ...e.instrument, exchange } }
    case "Poison":
      return { ...e, exchange }
  }
}

/** The same feed under another exchange code. */
const relabelled = (exchange: string) =>
  Layer.effect(MarketFeed)(Effect.gen(function*() {
    const feed = yield* MarketFeed
    const f = relabel(exchange)
    return MarketFeed.of({ ...feed, events: () => feed.events().pipe(Stream.mapArray((chunk) => chunk.map(f) as never)) })
  }))

const publishOnce = (client: KafkaClient, feed: Layer.Layer<MarketFeed, unknown>, exchange: string) =>
  Effect.gen(function*() {
    const admin = yield* KafkaAdmin
    const specs = [
      ...topicSpecs((["trades", "quotes"] as const).map((dataType) => ({ assetClass: "equities" as const, dataType, exchange, partitions: PARTITIONS }))),
      ...instrumentsTopicSpecs(exchange, PARTITIONS)
    ]
    yield* admin.ensureTopics(specs)
    const started = performance.now()
    const cpu = process.threadCpuUsage()
    const r = yield* publishFeed(makeWireCodec())
    const seconds = (performance.now() - started) / 1000
    const used = process.threadCpuUsage(cpu)
    yield* admin.deleteTopics(specs.map((s) => s.name)).pipe(Effect.ignore)
    const events = r.totals.trades + r.totals.quotes + r.totals.poison
    return { events, eventsPerSecond: Math.round(events / seconds), cpuMicrosPerEvent: Math.round((used.user + used.system) / events * 100) / 100 }
  }).pipe(Effect.provide(Layer.merge(feed, kafkaLayer(client, [BROKER], "k2-bench-produce"))))

let runs = 0
const exchangeOf = () => `B${Date.now().toString(36).toUpperCase()}${runs++}`

export const benchProduceEffect = () =>
  Effect.gen(function*() {
    const target = benchCount("K2_BENCH_PRODUCE_EVENTS")
    if (benchText("K2_BENCH_KAFKA_BROKER") === "") {
      execFileSync("bash", [path.resolve(import.meta.dirname, "../scripts/kafka.sh"), "start"], { stdio: "inherit" })
    }
    const out: Record<string, number | string> = { partitions: PARTITIONS }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-bench-produce-"))
    try {
      writeAsxDir(dir, 20, target)
      for (const client of ["platformatic", "kafkajs"] as const) {
        progress(`${client}: warm-up`)
        const warmUp = exchangeOf()
        yield* publishOnce(client, layerSimulator({ eventsPerSymbolPerDay: 5_000, seed: 1, exchange: warmUp }), warmUp)
        progress(`${client}: simulator`)
        const exchange = exchangeOf()
        const sim = yield* publishOnce(
          client,
          layerSimulator({ eventsPerSymbolPerDay: Math.ceil(target / 20), exchange }),
          exchange
        )
        out[`${client} simulator events`] = sim.events
        out[`${client} simulator events/s`] = sim.eventsPerSecond
        out[`${client} simulator main-thread CPU µs/event`] = sim.cpuMicrosPerEvent
        progress(`${client}: ASX files`)
        const asxExchange = exchangeOf()
        const asx = yield* publishOnce(
          client,
          relabelled(asxExchange).pipe(Layer.provide(layerAsx({ dir, deadLetterFile: path.join(dir, "dead-letters.jsonl") }))),
          asxExchange
        )
        out[`${client} ASX files events`] = asx.events
        out[`${client} ASX files events/s`] = asx.eventsPerSecond
        out[`${client} ASX files main-thread CPU µs/event`] = asx.cpuMicrosPerEvent
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
    return out
  })

if (import.meta.main) {
  const results = await Effect.runPromise(benchProduceEffect())
  for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(40)} ${v}`)
  process.exit(0)
}
