/**
 * `npm run replay -- --from ... --to ... [--symbols A,B] [--speed 10]`: replays trades and
 * quotes in exchange-time order as NDJSON on stdout (decimals as exact strings, instants as
 * ISO-8601 with microseconds), or with `--topic T` republishes them to a Kafka topic (the
 * producer's encoding, key = symbol; with --schema-registry, the registry's ids) with a progress
 * line and a summary. `--follow` replays the ingest group's catch-up point and continues on the
 * live source topics until SIGINT.
 */
import type { Writable } from "node:stream"
import { Cause, Clock, Config, Console, Effect, Exit, Layer, Option, Schema, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import { checked, commonEnvironment, describedWith, givenFlags, inRange, integerFlag, lakehouseEnvironment, modeSetting, nonBlank, optionalSourcedSetting, setting, sourcedSetting } from "./cli/flags.ts"
import { makeWireCodec, type WireCodec } from "../domain/avro/codec.ts"
import { DEFAULT_INGEST_GROUP } from "../domain/ingest/marker.ts"
import { jsonLine } from "../domain/ndjson.ts"
import { formatIsoMicros } from "../domain/time.ts"
import { isValidKafkaTopicName, kafkaTwinOf, parseInstrumentsTopicName, parseTopicName } from "../domain/wire.ts"
import { loadInvolved, notCreated, notCreatedNote, pinSnapshots } from "../layers/query/pinning.ts"
import * as ReplayLayer from "../layers/replay/engine.ts"
import { Catalog } from "../services/Catalog.ts"
import * as Telemetry from "../layers/telemetry/telemetry.ts"
import { layerHttp } from "../layers/kafka/schemaRegistry.ts"
import { republish, republishCodec, type RepublishProgress } from "../layers/replay/republish.ts"
import { KafkaAdmin, type KafkaSink } from "../services/KafkaSink.ts"
import type { KafkaSource } from "../services/KafkaSource.ts"
import type { SchemaRegistry } from "../services/SchemaRegistry.ts"
import { type LiveStart, type ReplayEvent, ReplayEngine } from "../services/ReplayEngine.ts"
import { parseTables, splitList } from "../domain/api/params.ts"
import {
  asOfFlag,
  drained,
  fromFlag,
  jsonReplacer,
  orUsage,
  parseInstant,
  snapshotIdFlag,
  snapshotOf,
  symbolsFlag,
  symbolsOf,
  toFlag,
  UsageError,
  usage
} from "./cli/common.ts"
import { brokerList, checkKafkajsLogLevel, checkRegistryTopics, type KafkaClient, kafkaClientEnvironment, kafkaLayer, modeClientFlag, modeSchemaRegistryFlag, wireSchemas } from "./cli/kafka.ts"
import { kafkaSecurityEnvironment, kafkaSecurityFrom } from "./cli/kafkaSecurity.ts"
import type { KafkaSecurity } from "../layers/kafka/security.ts"
import { existingLakehouse, lakehouseFlags, type LakehouseSettings } from "./cli/lakehouse.ts"
import { failsWhenStopped, openedUnlessStopped, runCommand } from "./cli/run.ts"
import { RecentRate, writeProgress } from "./cli/progress.ts"

const line = (e: ReplayEvent) =>
  jsonLine(
    {
      ...e,
      exchange_timestamp: formatIsoMicros(e.exchange_timestamp),
      // Null where another engine dropped it (ReplayEngine.ts): formatted, it was no instant.
      ingestion_timestamp: e.ingestion_timestamp === null ? null : formatIsoMicros(e.ingestion_timestamp)
    },
    jsonReplacer
  )

/**
 * Makes the republish topic with `partitions` (an existing one keeps its own), warning when it
 * has more than asked: events then keep their order within each symbol only, not across symbols.
 */
export const republishTopic = Effect.fnUntraced(function*(topic: string, partitions: number) {
  const admin = yield* KafkaAdmin
  // Only when missing: ensureTopics would grow an existing topic with fewer, moving its keys
  // between partitions for good (a topic cannot shrink).
  if (!(yield* admin.listTopics()).includes(topic)) yield* admin.ensureTopics([{ name: topic, partitions }])
  const [described] = yield* admin.describeTopics([topic])
  if (described !== undefined && described.partitions > partitions) {
    yield* Effect.logWarning(
      `${topic} already has ${described.partitions} partitions (--partitions ${partitions} applies to a new topic): ` +
        "events keep their order within each symbol, not across symbols"
    )
  }
})

/**
 * Writes events as NDJSON to `out`, waiting for it to drain when it is full: a reader slower than
 * the replay (a pipe to gzip, ssh) otherwise had every event buffered in memory, unbounded.
 */
export const ndjsonTo = (out: Writable, onWritten?: (events: ReadonlyArray<ReplayEvent>) => void) => (events: ReadonlyArray<ReplayEvent>) =>
  Effect.suspend(() => {
    let text = ""
    for (const e of events) text += `${line(e)}\n`
    const room = out.write(text)
    onWritten?.(events)
    return room ? Effect.void : drained(out)
  })

/** A replay of a bounded range stopped by a signal before its end: what it wrote is cut short. */
class ReplayStopped extends Schema.TaggedError<ReplayStopped>()("ReplayStopped", { message: Schema.String }) {}

/**
 * Fails `effect` beside the interruption when a signal stops it, saying `describe()`, exit 1
 * (run.ts `failsWhenStopped`). A range's replay ends at its `--to`; cut short by Ctrl-C or a job
 * runner's SIGTERM it ended as a whole one did, exit 0 without a word. A follow, which runs until
 * a signal, is not wrapped.
 */
const replayStopped = (describe: () => string) => failsWhenStopped(() => new ReplayStopped({ message: describe() }))

/** The catalog and DuckDB opened for a replay of a range: a stop while they open is told too (0 events written). */
const openingForRange = openedUnlessStopped(() =>
  new ReplayStopped({ message: "replay stopped before its end: 0 events written (the catalog and DuckDB were still opening)" })
)

/** Where a cut replay got to, after its count: the last event written, to resume from (docs/query.md). */
const lastWritten = (last: ReplayEvent | undefined) =>
  last === undefined ? "" : `, the last at ${formatIsoMicros(last.exchange_timestamp)} (${last._tag.toLowerCase()} ${last.message_id})`

/** NDJSON of a bounded replay to `out`; stopped before its end, it says how far it got (to resume from, docs/query.md). */
export const ndjsonReplay = <E, R>(events: Stream.Stream<ReplayEvent, E, R>, out: Writable) =>
  Effect.suspend(() => {
    let written = 0
    let last: ReplayEvent | undefined
    return Stream.runForEachArray(events, ndjsonTo(out, (es) => {
      written += es.length
      last = es.at(-1) ?? last
    })).pipe(replayStopped(() => `replay stopped before its end: ${written} events written${lastWritten(last)}`))
  })

const rate = (p: RepublishProgress) => Math.round(p.events / Math.max(p.elapsedMs / 1000, 0.001))

/**
 * Events a second over the last 5 s (`RecentRate`, as ingest's and produce's lines): the average
 * since the start read a follow's catch-up burst for hours after it went live, and a slowdown only
 * long after. The summary keeps the average.
 */
const progressLine = (p: RepublishProgress, rates: RecentRate) =>
  Effect.sync(() =>
    writeProgress(
      `${p.events} events (${p.trades} trades, ${p.quotes} quotes), ${rates.at(p.events, p.elapsedMs)}/s | ${(p.elapsedMs / 1000).toFixed(0)} s`,
      p.elapsedMs,
      80
    )
  )

const liveLine = (start: LiveStart) =>
  Effect.sync(() => {
    const offsets = [...start.offsets].map(([topic, ps]) => `${topic} ${[...ps].map(([p, o]) => `${p}:${o}`).join(",")}`)
    process.stderr.write(`${process.stderr.isTTY ? "\n" : ""}caught up: ${start.tableEvents} events from the tables; following live from ${offsets.join("; ")}\n`)
  })

/**
 * Republishes `events` to `topic` with a progress line, and the summary when it completes or is
 * stopped. A failed send is reported with what the broker acknowledged before it (the topic holds
 * those): the error alone left it unknown, and off a terminal the last progress line may be seconds old.
 */
export const republishReported = <E, R>(
  events: Stream.Stream<ReplayEvent, E, R>,
  topic: string,
  codec: WireCodec,
  onAcknowledged?: (progress: RepublishProgress) => void
) =>
  Effect.suspend(() => {
    let latest: RepublishProgress = { events: 0, trades: 0, quotes: 0, elapsedMs: 0 }
    const started = performance.now()
    const rates = new RecentRate()
    // A line at most every 200 ms, as produce's: a send's acknowledgement comes far more often (one
    // rate sample and one terminal write each, the samples of 5 s kept).
    let lastLine = Number.NEGATIVE_INFINITY
    const counts = (p: RepublishProgress) => `${p.events} events (${p.trades} trades, ${p.quotes} quotes)`
    return republish(events, {
      topic,
      codec,
      onProgress: (p) => {
        latest = p
        onAcknowledged?.(p)
        if (p.elapsedMs - lastLine < 200) return Effect.void
        lastLine = p.elapsedMs
        return progressLine(p, rates)
      }
    }).pipe(
      // A follow runs until SIGINT: the summary is printed when it drains, as when a range completes.
      Effect.onExit((exit) =>
        Effect.sync(() => {
          // Timed here: a follow is summarised when it is stopped, long after its last event perhaps.
          const done = { ...latest, elapsedMs: performance.now() - started }
          if (process.stderr.isTTY) process.stderr.write("\n")
          if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) {
            process.stdout.write(
              `republished ${counts(done)} to ${topic} in ${(done.elapsedMs / 1000).toFixed(1)} s, ${rate(done)} events/s\n`
            )
          } else {
            process.stderr.write(
              `republishing to ${topic} failed after ${counts(done)} acknowledged in ${(done.elapsedMs / 1000).toFixed(1)} s${lastWritten(done.last)}\n`
            )
          }
        })
      )
    )
  })

/** --partitions when not given. */
const DEFAULT_PARTITIONS = 1

const replayFlags = {
  symbols: symbolsFlag,
  from: fromFlag,
  to: toFlag.pipe(Flag.withDescription("End instant, exclusive; required unless --follow"), Flag.optional),
  tables: Flag.String("tables").pipe(setting("trades, quotes or trades,quotes (comma-separated)", { fallback: "trades,quotes" })),
  speed: Flag.Finite("speed").pipe(
    Flag.withDescription("Multiple of real time (1 = real time), above 0, at most 1000000; absent: as fast as possible"),
    Flag.filter((n: number) => n > 0 && n <= 1_000_000, () => "a multiple above 0, at most 1000000"),
    Flag.optional
  ),
  windowRows: integerFlag("window-rows").pipe(
    Flag.withDescription("Rows DuckDB sorts at once (memory bound), 1000 to 10000000; default 1000000 unpaced, 50000 paced"),
    checked(inRange(1_000, 10_000_000)),
    Flag.optional
  ),
  snapshotId: snapshotIdFlag,
  asOf: asOfFlag,
  topic: Flag.String("topic").pipe(
    Flag.withDescription("Republish to this Kafka topic (Avro, Confluent framing, key = symbol) instead of NDJSON on stdout"),
    Flag.optional
  ),
  partitions: integerFlag("partitions").pipe(
    modeSetting("--topic: partitions of the topic when it is created (1 keeps the replay's total order; more, each symbol's)", {
      fallback: DEFAULT_PARTITIONS,
      check: inRange(1, 10_000)
    })
  ),
  follow: Flag.Boolean("follow").pipe(
    Flag.withDescription("Catch up to live: replay the tables up to the ingest group's marker, then continue on the live topics (no --to)"),
    Flag.withDefault(false)
  ),
  group: Flag.String("group").pipe(
    sourcedSetting("--follow: the ingest consumer group whose marker the tables carry", {
      env: "K2_GROUP",
      read: Config.String,
      fallback: DEFAULT_INGEST_GROUP,
      check: nonBlank("a consumer group name")
    })
  ),
  topics: Flag.String("topics").pipe(
    sourcedSetting("--follow: source topics to follow besides those named in the markers (comma-separated; reference.instruments.* ones, as ingest's K2_TOPICS holds, are skipped)", { env: "K2_TOPICS", read: Config.String, fallback: "" })
  ),
  brokers: Flag.String("brokers").pipe(
    optionalSourcedSetting("--topic and --follow: Kafka bootstrap servers, comma separated", { env: "K2_KAFKA_BROKERS", read: Config.String })
  ),
  client: modeClientFlag("--topic and --follow"),
  schemaRegistry: modeSchemaRegistryFlag("--topic and --follow"),
  ...lakehouseFlags
}

type Options = Command.Command.Config.Infer<typeof replayFlags>

/**
 * The flags given on the command line that the mode ignores, by name: Kafka's in a replay to
 * stdout, --topic's without --topic, --follow's without --follow. Their variables are not counted:
 * a deployment sets them for every program (K2_GROUP, K2_TOPICS and K2_KAFKA_* are ingest's too).
 */
const ignoredFlags = (a: Options): ReadonlyArray<string> => {
  const topic = Option.isSome(a.topic)
  const kafka = topic || a.follow
  const given: ReadonlyArray<readonly [string, boolean]> = [
    ["brokers", !kafka && a.brokers.given],
    ["client", !kafka && a.client.given],
    ["group", !a.follow && a.group.given],
    ["partitions", !topic && Option.isSome(a.partitions)],
    ["schema-registry", !kafka && a.schemaRegistry.given],
    ["topics", !a.follow && a.topics.given]
  ]
  return givenFlags(given)
}

/** Why the mode ignores `flags`. */
const ignoredBecause = (a: Options, flags: ReadonlyArray<string>) => {
  const follows: ReadonlyArray<string> = flags.filter((f) => f === "--group" || f === "--topics")
  // --partitions is --topic's alone (as --help marks it): not among the flags "for --topic and --follow".
  const kafka = flags.filter((f) => f !== "--partitions" && !follows.includes(f))
  const toStdout = Option.isNone(a.topic) && !a.follow
  return [
    ...(kafka.length === 0 ? [] : [
      `${kafka.join(", ")}: for --topic and --follow only; a replay to stdout talks to no broker and ignores ${kafka.length === 1 ? "it" : "them"}`
    ]),
    ...(follows.length === 0 ? [] : [
      `${follows.join(", ")}: for --follow only; ${toStdout ? "a replay to stdout" : "a replay to --topic without it"} reads no live topic`
    ]),
    ...(flags.includes("--partitions")
      ? [`--partitions: for --topic only; ${a.follow ? "--follow without it writes NDJSON to stdout" : "a replay to stdout makes no topic"}`]
      : [])
  ].join("; ")
}

/** The replay engine over the warehouse the flags name. */
export const engineOver = (settings: LakehouseSettings) => ReplayLayer.layer.pipe(Layer.provideMerge(existingLakehouse(settings)))

/** The Kafka client and the schema registry a replay to --topic or a --follow talks to (tests give in-process ones). */
export interface ReplayConnections {
  readonly kafka: (client: KafkaClient, brokers: ReadonlyArray<string>, security?: KafkaSecurity) => Layer.Layer<KafkaSource | KafkaSink | KafkaAdmin, unknown>
  readonly registry: (url: string) => Layer.Layer<SchemaRegistry>
}

const networkConnections: ReplayConnections = {
  kafka: (client, brokers, security) => kafkaLayer(client, brokers, "k2-replay", { security }),
  registry: (url) => layerHttp({ url })
}

/** `npm run replay` over the engine `reads` opens (given to the handler, so that `--help` opens none). */
export const replayCommandWith = <E>(
  reads: (settings: LakehouseSettings) => Layer.Layer<ReplayEngine | Catalog, E>,
  connections: Partial<ReplayConnections> = {}
) =>
  Command.make("replay", replayFlags, (a) =>
  usage(() => {
    const ignored = ignoredFlags(a)
    // Before the warehouse is opened: a mistaken command line leaves nothing behind.
    if (ignored.length > 0) throw new UsageError({ message: ignoredBecause(a, ignored) })
    const tables = [...orUsage("tables", parseTables(a.tables))]
    const symbols = symbolsOf(a.symbols)
    // K2_TOPICS is ingest's list too, instruments topic included: replay plays trades and quotes only.
    const followTopics = splitList(a.topics.value).filter((t) => parseInstrumentsTopicName(t) === undefined)
    const from = parseInstant("from", a.from)
    const pace = a.speed._tag === "Some" ? { pace: { _tag: "Paced" as const, speed: a.speed.value } } : {}
    const windowRows = a.windowRows._tag === "Some" ? { windowRows: a.windowRows.value } : {}
    const snapshot = snapshotOf(a.snapshotId, a.asOf)
    if (a.follow && (Option.isSome(a.to) || snapshot !== undefined)) {
      throw new UsageError({ message: "--follow replays the catch-up snapshot and never ends: no --to, --snapshot-id or --as-of" })
    }
    if (!a.follow && Option.isNone(a.to)) throw new UsageError({ message: "--to is required (or --follow)" })
    const to = Option.isSome(a.to) ? parseInstant("to", a.to.value, "up", "end") : undefined
    if (Option.isSome(a.topic)) {
      const topic = a.topic.value
      if (!isValidKafkaTopicName(topic)) throw new UsageError({ message: `--topic: ${JSON.stringify(topic)} is not a Kafka topic name` })
      const source = topic.replace(/\.dlq$/, "")
      if (parseTopicName(source) !== undefined || parseInstrumentsTopicName(source) !== undefined) {
        throw new UsageError({ message: `--topic: ${topic} is a source topic; republishing there would feed ingestion its history again` })
      }
      const twin = kafkaTwinOf(topic)
      if (twin !== undefined) {
        throw new UsageError({
          message: `--topic: ${topic} collides with ${twin} (Kafka takes '.' and '_' as one in topic names): the broker keeps only one of them`
        })
      }
    }
    // A registry's subjects are named by --topics: the markers' topics are known only once the tables are read.
    const registry = a.schemaRegistry.value
    if (a.follow) checkRegistryTopics(registry, followTopics)
    const needsKafka = a.follow || Option.isSome(a.topic)
    if (needsKafka && Option.isNone(a.brokers.value)) {
      throw new UsageError({ message: "--topic and --follow need a broker: pass --brokers host:port or set K2_KAFKA_BROKERS" })
    }

    const events = Effect.gen(function*() {
      const engine = yield* ReplayEngine
      // Live records carry the producers' schema ids: a registry's, when they use one.
      const schemas = a.follow && Option.isSome(registry) ? { schemas: yield* wireSchemas(registry, followTopics) } : {}
      if (a.follow) {
        return engine.follow({ group: a.group.value, from, symbols, tables, topics: followTopics, ...pace, ...windowRows, onLive: liveLine, ...schemas })
      }
      // As GET /v1/replay (and `query symbols`): a table not created yet reads as empty, named on stderr.
      const loaded = yield* loadInvolved(yield* Catalog, tables)
      const missing = notCreated(loaded)
      if (missing.length > 0) yield* Console.error(notCreatedNote(missing))
      const read = tables.filter((t) => !missing.includes(t))
      if (read.length === 0) {
        // A snapshot asked for in no table is not found, as the API's 404: only the latest state reads as empty.
        if (snapshot !== undefined && snapshot._tag !== "Current") yield* Effect.fromResult(pinSnapshots(loaded, snapshot, yield* Clock.currentTimeMillis))
        return Stream.empty
      }
      return engine.stream({
        symbols,
        from,
        to: to!,
        tables: read,
        ...(snapshot === undefined ? {} : { snapshot }),
        ...pace,
        ...windowRows
      })
    })
    // Read only where used: K2_KAFKA_BROKERS is set for every program, a replay to stdout included.
    const brokers = needsKafka ? Option.map(a.brokers.value, brokerList) : Option.none()
    // As the brokers: a replay to stdout reads no TLS or SASL setting, nor refuses one.
    const security = needsKafka ? kafkaSecurityFrom() : undefined
    if (needsKafka) checkKafkajsLogLevel()
    const connect = { ...networkConnections, ...connections }
    const kafka = () => connect.kafka(a.client.value, Option.getOrThrow(brokers), security)
    // Opened once the options are read: a refused command line touches no warehouse.
    const lakehouse = a.follow ? reads(a) : openingForRange(reads(a))

    if (Option.isNone(a.topic)) {
      const run = Effect.flatMap(events, (stream) =>
        a.follow ? Stream.runForEachArray(stream, ndjsonTo(process.stdout)) : ndjsonReplay(stream, process.stdout))
      return (needsKafka ? run.pipe(Effect.provide(kafka())) : run).pipe(Effect.provide(lakehouse))
    }
    const topic = a.topic.value
    // What a range's run was doing before its first send, should a signal stop it then; none once sending.
    let before: string | undefined = "the Kafka client was connecting"
    let acknowledged: RepublishProgress | undefined
    // Before the topic is made: a registry that refuses the schemas leaves nothing behind.
    const codec = Option.isSome(registry)
      ? Effect.suspend(() => {
        before = "the schema registry was being asked for the ids"
        return republishCodec(topic).pipe(Effect.provide(connect.registry(registry.value)))
      })
      : Effect.succeed(makeWireCodec())
    const run = Effect.gen(function*() {
      const wire = yield* codec
      before = `${topic} was being made`
      yield* republishTopic(topic, Option.getOrElse(a.partitions, () => DEFAULT_PARTITIONS))
      before = "the replay was being planned"
      const sent = republishReported(yield* events, topic, wire, (p) => {
        acknowledged = p
      })
      before = undefined
      yield* sent
    }).pipe(Effect.provide(kafka()))
    // The client, the registry and the topic come under the stop too: stopped there, a range's run
    // ended exit 0 without a word, and a script took the empty topic for the whole range.
    const told = a.follow ? run : run.pipe(replayStopped(() =>
      before === undefined
        ? `replay stopped before its end: ${acknowledged?.events ?? 0} events written to ${topic} (those the summary counts)` +
          lastWritten(acknowledged?.last)
        : `replay stopped before its end: 0 events written (${before})`
    ))
    return told.pipe(Effect.provide(lakehouse))
  })).pipe(Command.withDescription(describedWith(
    "Replay trades and quotes in (exchange_timestamp, source_sequence) order as NDJSON, or to a Kafka topic; " +
      "--follow continues on the live topics. A flag marked \"--topic\", \"--follow\" or \"--topic and --follow\" is " +
      "refused in a mode that ignores it (exit 2); its variable is not.",
    [kafkaSecurityEnvironment("--topic and --follow"), kafkaClientEnvironment("--topic and --follow"), ...lakehouseEnvironment, ...commonEnvironment]
  )),
  // The program's logger beneath all: Effect's default one writes to stdout, into the NDJSON.
  Command.provide(Telemetry.layer("replay")))

export const replayCommand = replayCommandWith(engineOver)

if (import.meta.main) runCommand(replayCommand)
