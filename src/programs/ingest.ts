/**
 * `npm run ingest`: Kafka to Iceberg, exactly once.
 *
 * With no broker configured it runs the embedded default: the simulator publishes a trading
 * day into an in-process Kafka log and ingestion lands it in the local warehouse (SQLite
 * catalog), then prints a summary. With `--brokers` (or K2_KAFKA_BROKERS) it consumes the real
 * topics until SIGTERM/SIGINT, which drains: flush, commit, leave the group.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Cause, Config, Console, Duration, Effect, Exit, Fiber, Layer, Option, Schedule, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { checked, commonEnvironment, describedWith, givenFlags, inRange, integerFlag, integerRead, lakehouseEnvironment, modeSetting, nonBlank, optionalSetting, setting, sourcedSetting } from "./cli/flags.ts"
import { failsTheDrain, runCommand } from "./cli/run.ts"
import { makeWireCodec } from "../domain/avro/codec.ts"
import { instrumentsTopicName, parseInstrumentsTopicName, parseTopicName, partitionsByDefault, sourceTopicSpecs, topicName } from "../domain/wire.ts"
import * as Feeds from "../layers/feeds/simulator.ts"
import * as Ingest from "../layers/ingest/ingestor.ts"
import { claimTopics, describeOthers, othersTopics } from "../layers/ingest/otherGroups.ts"
import { makeFirstContact } from "../layers/kafka/firstContact.ts"
import * as KafkaMemory from "../layers/kafka/memory.ts"
import { JOIN_WAIT_MARGIN_MS } from "../layers/kafka/platformatic.ts"
import { DuckDb, type DuckDbOptions } from "../layers/duckdb/DuckDb.ts"
import * as Maintenance from "../layers/maintenance/maintenance.ts"
import { markerOf } from "../domain/ingest/marker.ts"
import { identifierOf, type TableName, tables } from "../domain/tables.ts"
import { countOf, publishFeed } from "../layers/produce/publisher.ts"
import * as Trackers from "../layers/sequence/tracker.ts"
import type { TrackerOptions } from "../domain/sequence/tracker.ts"
import * as MetricsServer from "../layers/telemetry/server.ts"
import * as ProcessMetrics from "../layers/telemetry/process.ts"
import * as Telemetry from "../layers/telemetry/telemetry.ts"
import { Catalog } from "../services/Catalog.ts"
import { type IngestProgress, Ingestor } from "../services/Ingestor.ts"
import { KafkaAdmin } from "../services/KafkaSink.ts"
import { UsageError, usage } from "./cli/common.ts"
import { BROKER_WAIT_ENV, BROKER_WAIT_SETTING, brokerList, checkKafkajsLogLevel, checkRegistryTopics, kafkaClientEnvironment, kafkaLayer, loadKafkaClient, modeClientFlag, modeSchemaRegistryFlag, partitionsFlagNoting, wireSchemas } from "./cli/kafka.ts"
import { describeSecurity, kafkaSecurityEnvironment, kafkaSecurityFrom } from "./cli/kafkaSecurity.ts"
import type { KafkaSecurity } from "../layers/kafka/security.ts"
import { defaultCatalogProblem, lakehouseFlags, lakehouseOf } from "./cli/lakehouse.ts"
import { progressLine, RecentRate } from "./cli/progress.ts"
import { givenSymbolFlags, simulatedSymbols, simulatedSymbolsFlags, symbolsSetting } from "./cli/symbols.ts"
import { holdWarehouse } from "./cli/warehouseLock.ts"

/** How --help marks the flags only a run against a broker reads. */
const LIVE = "live mode"

/**
 * --session-timeout-ms: from Kafka's default group.min.session.timeout.ms (kafkajs throws at or
 * under its 3 s heartbeat, after the warehouse was opened), to the longest a Node timer waits less
 * the margin platformatic adds for its requests (a longer timer fires at once: every request of the
 * group timed out).
 */
const SESSION_TIMEOUT_RANGE = inRange(6_000, 2 ** 31 - 1 - JOIN_WAIT_MARGIN_MS)

/**
 * The embedded default's most `--partitions`: it owns every partition of its three topics in one
 * process, each holding ~7.5 KB of heap for the whole run (its actor, state and gauges). 7000
 * (21,000 partitions) peaked at 181–200 MB of live heap under package.json's 256 MB, 8000 at
 * 208–221 MB and 10000 at 249 MB (docs/operations.md): the margin is for the day's buffered rows.
 * Unrefused, a count that did not fit ran out of heap (exit 134).
 */
const EMBEDDED_MAX_PARTITIONS = 7_000

/** The embedded default's flags when not given; live mode refuses them given. */
const embeddedDefaults = { events: 10_000, seed: 42 }

const flags = {
  ...lakehouseFlags,
  brokers: Flag.String("brokers").pipe(
    optionalSetting("Kafka bootstrap servers, comma separated; none = the embedded default (in-process Kafka)", { env: "K2_KAFKA_BROKERS", read: Config.String })
  ),
  client: modeClientFlag(LIVE),
  schemaRegistry: modeSchemaRegistryFlag(LIVE),
  group: Flag.String("group").pipe(
    setting("consumer group; its marker in each table says what it has ingested (a start on topics another group has ingested there is refused: see --adopt-marks-of, --separate-copy)", { env: "K2_GROUP", read: Config.String, fallback: Ingest.defaultIngestConfig.groupId,
      // Kafka clients refuse a blank group id, and the tables' markers would be keyed by nothing.
      // platformatic (the default client) one with whitespace: it threw, a stack trace, once the
      // warehouse's tables were made, and an embedded day's markers under it no live run could continue.
      check: (group) => nonBlank("a consumer group name")(group) ?? (/\s/.test(group) ? "a consumer group name without whitespace (the platformatic client refuses one)" : undefined) })
  ),
  // Flags alone, no variable: each is a decision about one warehouse, which a deployment's
  // environment would keep making on every later start (topics added later included; ADR-61).
  adoptMarksOf: Flag.String("adopt-marks-of").pipe(
    Flag.withDescription(
      "live mode: continue another consumer group's copy: the topics this --group has not ingested start where that group's markers in the tables stop (stop that group's ingest first)"
    ),
    // An unset shell variable's "" was refused only once the warehouse was open and the topics made.
    checked(nonBlank("a consumer group name")),
    Flag.optional
  ),
  separateCopy: Flag.Boolean("separate-copy").pipe(
    Flag.withDescription(
      "live mode: ingest topics another group has ingested into these tables as this group's own copy, every record written again (such a start is refused without this or --adopt-marks-of)"
    ),
    Flag.withDefault(false)
  ),
  // Sourced: a refusal names the flag or K2_TOPICS, whichever the user gave.
  topics: Flag.String("topics").pipe(
    sourcedSetting("source topics, comma separated: market.{asset_class}.{trades|quotes}.{exchange} and reference.instruments.{exchange}", { env: "K2_TOPICS", read: Config.String, fallback: "market.equities.trades.asx,market.equities.quotes.asx,reference.instruments.asx" })
  ),
  partitions: partitionsFlagNoting(`at most ${EMBEDDED_MAX_PARTITIONS} in the embedded default (its heap holds every partition of its three topics)`),
  commitInterval: integerFlag("commit-interval-ms").pipe(
    setting("flush and commit at least this often", { env: "K2_COMMIT_INTERVAL_MS", read: integerRead, fallback: Ingest.defaultIngestConfig.commitIntervalMs, check: inRange(1) })
  ),
  flushRows: integerFlag("flush-rows").pipe(
    setting("flush when this many rows are buffered", { env: "K2_FLUSH_ROWS", read: integerRead, fallback: Ingest.defaultIngestConfig.flushRows, check: inRange(1) })
  ),
  flushBytes: integerFlag("flush-bytes").pipe(
    optionalSetting("flush when the buffered rows hold about this many bytes of heap, estimated from their records' sizes (rows with large vendor_data or conditions reach it before --flush-rows); default 16 MiB, scaled up with --flush-rows", { env: "K2_FLUSH_BYTES", read: integerRead, check: inRange(65_536) })
  ),
  // Live mode's: the in-process log has no group session to time out.
  sessionTimeout: integerFlag("session-timeout-ms").pipe(
    sourcedSetting("live mode: consumer group session timeout: how soon a silent member's partitions move", { env: "K2_SESSION_TIMEOUT_MS", read: integerRead, fallback: Ingest.defaultIngestConfig.sessionTimeoutMs, check: SESSION_TIMEOUT_RANGE })
  ),
  maintainEvery: integerFlag("maintain-every").pipe(
    sourcedSetting("live mode: run table maintenance (compaction, snapshot expiry, orphan removal) every N seconds; 0 = never", { env: "K2_MAINTAIN_EVERY_SECONDS", read: integerRead, fallback: 0, check: inRange(0) })
  ),
  expireEvery: integerFlag("expire-every").pipe(
    sourcedSetting("live mode: expire snapshots every N seconds, as each table's history.expire.* properties say (K2's tables: older than 1 hour); every commit rewrites the metadata of the snapshots kept; 0 = never", { env: "K2_EXPIRE_EVERY_SECONDS", read: integerRead, fallback: 300, check: inRange(0) })
  ),
  brokerWait: integerFlag("broker-wait").pipe(
    sourcedSetting("live mode: seconds to wait at start for a first answer from --brokers; none by then fails the run (exit 1: a wrong address, or Kafka not running); once a broker has answered, outages are waited out; 0 = as long as an outage", { env: BROKER_WAIT_ENV, read: integerRead, fallback: 60, check: inRange(0) })
  ),
  metricsPort: integerFlag("metrics-port").pipe(
    sourcedSetting("live mode: serve Prometheus metrics at http://<host>:<port>/metrics; 0 = off", { env: "K2_METRICS_PORT", read: integerRead, fallback: 9464, check: inRange(0, 65_535) })
  ),
  metricsHost: Flag.String("metrics-host").pipe(
    sourcedSetting("live mode: address the metrics server listens on", { env: "K2_METRICS_HOST", read: Config.String, fallback: "0.0.0.0",
      // Node reads an empty host as every interface, and the log would say http://:port.
      check: nonBlank("an address") })
  ),
  events: integerFlag("events").pipe(
    modeSetting("embedded default only: simulated events per symbol (one trading day)", { fallback: embeddedDefaults.events, check: inRange(1) })
  ),
  seed: integerFlag("seed").pipe(modeSetting("embedded default only: simulator seed", { fallback: embeddedDefaults.seed })),
  ...simulatedSymbolsFlags("embedded default only")
}

type Options = Command.Command.Config.Infer<typeof flags>
/** The flags, with DuckDB's options as read at the start (`environmentSettings`): the lakehouse opens with them. */
type Started = Options & { readonly duckDb: DuckDbOptions }

/** The embedded default's simulator run as the flags shape it. */
const simulatorRun = (options: Options) => ({
  events: Option.getOrElse(options.events, () => embeddedDefaults.events),
  seed: Option.getOrElse(options.seed, () => embeddedDefaults.seed)
})

/**
 * The flags of the other mode given on the command line, named as `--help` names them: the mode
 * would ignore them. Their variables are not counted: a deployment sets them for every program.
 */
const otherModeFlags = (options: Options, live: boolean): ReadonlyArray<string> => {
  const given: ReadonlyArray<readonly [string, boolean]> = live
    ? [["events", Option.isSome(options.events)], ["seed", Option.isSome(options.seed)], ...givenSymbolFlags(options)]
    : [
      ["adopt-marks-of", Option.isSome(options.adoptMarksOf)],
      ["broker-wait", options.brokerWait.given],
      ["client", options.client.given],
      ["expire-every", options.expireEvery.given],
      ["maintain-every", options.maintainEvery.given],
      ["metrics-host", options.metricsHost.given],
      ["metrics-port", options.metricsPort.given],
      ["schema-registry", options.schemaRegistry.given],
      ["separate-copy", options.separateCopy],
      ["session-timeout-ms", options.sessionTimeout.given]
    ]
  return givenFlags(given)
}

/**
 * `registry`: where schema ids come from (none: the embedded ids, as the embedded publisher uses);
 * `embedded`: the in-process log, published again from offset 0 on every run.
 */
const ingestorLayer = (
  options: Options,
  trackerOptions: Partial<TrackerOptions>,
  topics: ReadonlyArray<string>,
  registry: Option.Option<string>,
  embedded: boolean
) =>
  Layer.unwrap(Effect.gen(function*() {
    const schemas = yield* wireSchemas(registry, topics)
    // One tracker a table, both as K2_SEQUENCE_* configure them.
    const trades = yield* Trackers.make(trackerOptions)
    const quotes = yield* Trackers.make(trackerOptions)
    // By default, in bytes, a flush of rows several times a plain trade's size, as many as --flush-rows asks.
    const defaults = Ingest.defaultIngestConfig
    const flushBytes = Option.getOrElse(options.flushBytes, () =>
      Math.max(defaults.flushBytes, Math.ceil(defaults.flushBytes / defaults.flushRows * options.flushRows)))
    return Ingest.layer({
      ...Ingest.defaultIngestConfig,
      groupId: options.group,
      topics,
      commitIntervalMs: options.commitInterval,
      flushRows: options.flushRows,
      // Three flushes' worth, as the defaults; a running flush's rows are not counted (ADR-11).
      maxBufferedRows: Math.max(Ingest.defaultIngestConfig.maxBufferedRows, 3 * options.flushRows),
      flushBytes,
      maxBufferedBytes: Math.max(defaults.maxBufferedBytes, 3 * flushBytes),
      sessionTimeoutMs: options.sessionTimeout.value,
      logRemadeEachRun: embedded
    }, { ...schemas, trackers: { trades, quotes } })
  }))

/**
 * `seconds`: ingestion's, which the rate is of. `startingSeconds`: live mode's start before it
 * (reaching Kafka, the topics, the warehouse), said apart: counted in, a run that waited 40 s for
 * its broker read as ingesting at a fraction of its rate.
 */
const summary = (p: IngestProgress, seconds: number, startingSeconds?: number) =>
  [
    `ingested in ${seconds.toFixed(1)} s (${Math.round(p.consumed / Math.max(seconds, 0.001))} messages/s)` +
    (startingSeconds === undefined ? "" : `, after ${startingSeconds.toFixed(1)} s starting (reaching Kafka, opening the warehouse)`),
    `  consumed            ${p.consumed}`,
    `  trades written      ${p.written.trades}`,
    `  quotes written      ${p.written.quotes}`,
    `  instruments written ${p.written.instruments}`,
    `  sequence events     ${p.written.sequence_events}`,
    `  duplicates dropped  ${p.duplicatesDropped}`,
    `  dead-lettered       ${p.deadLettered}`,
    `  already ingested    ${p.alreadyIngested}`,
    `  commits             ${p.commits}`,
    `  waited for room     ${(p.waitedForRoomMs / 1000).toFixed(1)} s (fetching waiting on flushes)`
  ].join("\n")

/** Under the summary of an embedded day stopped before its end: the summary alone read as a whole day. */
const stoppedEarly = "stopped before the end of the simulated day: run again with the same settings to ingest the rest (nothing is ingested twice)"

/** A live run stopped before ingestion began: it read nothing, so it has no summary to print. */
const stoppedWhileStarting = "stopped while starting, before anything was read: nothing to commit"

/** The topics' specs; the command has checked that each is a market data or instruments topic. */
const specsOf = (topics: ReadonlyArray<string>, partitions: number) => sourceTopicSpecs(topics, partitions) ?? []

/** What the embedded default's simulator publishes: an ASX day. */
const simulatedTopics = [
  topicName({ assetClass: "equities", dataType: "trades", exchange: "ASX" }),
  topicName({ assetClass: "equities", dataType: "quotes", exchange: "ASX" }),
  instrumentsTopicName("ASX")
]

/** A run that failed on its own or while draining (an error or a defect), not one only interrupted. */
const failedRun = <A, E>(exit: Exit.Exit<A, E>): exit is Exit.Failure<A, E> => Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)

/**
 * The embedded default's day: the simulator publishes into `broker` once the ingestor has every
 * partition, and the ingestor runs until every partition is read to its end and in its table;
 * then the summary. A signal stops it as it stops the live mode: what was read is committed, then
 * the summary. A run that fails (an error or a defect) fails it, with no summary. `started` is a
 * performance.now() reading (monotonic), as the elapsed times are measured against it.
 */
export const ingestSimulatedDay = (broker: KafkaMemory.MemoryBroker, topics: ReadonlyArray<string>, partitions: number, started: number) =>
  Effect.gen(function*() {
    yield* (yield* KafkaAdmin).ensureTopics(specsOf(topics, partitions))
    const ingestor = yield* Ingestor
    const running = yield* Effect.forkChild(failsTheDrain(ingestor.run))
    const allAssigned = (p: IngestProgress) => p.partitions === topics.length * partitions
    let total: number | undefined
    // Whether the day was read to its end: a run stopped by a signal says so under its summary.
    let complete = false
    const rates = new RecentRate()
    const report = Effect.flatMap(ingestor.progress, (p) => progressLine(p, performance.now() - started, rates, { total }))
    const whole = Effect.gen(function*() {
      // Publish once the group has its partitions: the backlog bound applies only from then on.
      yield* ingestor.progress.pipe(Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: allAssigned }))
      const publisher = yield* Effect.forkChild(publishFeed(makeWireCodec(), { batchSize: 2_000 }))
      // The simulator keeps pace with ingestion (the backlog bound): progress is reported throughout.
      const reporter = yield* Effect.forkChild(report.pipe(Effect.repeat(Schedule.spaced("250 millis"))))
      const published = yield* Fiber.join(publisher)
      total = countOf(published.totals)
      // Done when every partition is read to its end: stopping the ingestor then drains it, which
      // commits what is buffered and sequence_events too. Waiting for the rows to be in their
      // tables first waited out --commit-interval-ms (for ever, given a large one).
      const end = topics.reduce((n, t) => n + broker.topic(t).partitions.reduce((m, _, p) => m + broker.endOffset(t, p), 0), 0)
      yield* ingestor.progress.pipe(
        Effect.repeat({ schedule: Schedule.spaced("250 millis"), until: (p) => allAssigned(p) && p.position >= end })
      )
      yield* Fiber.interrupt(reporter)
      yield* report
      complete = true
    })
    // Done or stopped by a signal, the ingestor drains here, while the catalog and the log are
    // still open (the layers close when this returns). A failed drain fails the run: it is said
    // instead of a summary (on a signal, failsTheDrain keeps it for the exit code). A run that
    // fails on its own ends the wait too: else the publisher, held by the backlog bound, waits for ever.
    yield* Effect.raceFirst(whole, Effect.asVoid(Fiber.await(running))).pipe(Effect.ensuring(Effect.gen(function*() {
      yield* Fiber.interrupt(running)
      if (!failedRun(yield* Fiber.await(running))) {
        yield* Console.error("")
        yield* Console.log(summary(yield* ingestor.progress, (performance.now() - started) / 1000))
        if (!complete) yield* Console.log(stoppedEarly)
      }
    })))
    // A defect too: it would otherwise end the program as a success, with a partial summary.
    const exit = yield* Fiber.await(running)
    if (failedRun(exit)) {
      const failure = Exit.findErrorOption(exit)
      return yield* Option.isSome(failure) ? Effect.fail(failure.value) : Effect.failCause(exit.cause)
    }
  })

/**
 * Live mode's ingestion, once started (Kafka reached, the warehouse open, the clients connected):
 * a progress line a second, then the summary however it ends, `summarized` called once it is
 * printed. `started`: the run's start (performance.now()), before the broker wait. The summary's
 * time and rate, and the progress line's, are ingestion's, from here: measured from `started`, a
 * run that waited 40 s for its broker reported its rate diluted by the wait.
 */
export const ingestUntilStopped = (started: number, summarized: () => void) =>
  Effect.gen(function*() {
    const ingestor = yield* Ingestor
    const begun = performance.now()
    const rates = new RecentRate()
    const reporter = yield* Effect.forkChild(
      Effect.gen(function*() {
        yield* progressLine(yield* ingestor.progress, performance.now() - begun, rates)
      }).pipe(Effect.repeat(Schedule.spaced("1 second")))
    )
    yield* ingestor.run.pipe(
      failsTheDrain,
      Effect.ensuring(Effect.gen(function*() {
        yield* Fiber.interrupt(reporter)
        yield* Console.error("")
        yield* Console.log(summary(yield* ingestor.progress, (performance.now() - begun) / 1000, (begun - started) / 1000))
        summarized()
      }))
    )
  })

/**
 * What an embedded run publishes and where it goes. Its log's offsets start at 0 every run and the
 * tables' markers say which are in, so only a run with the same settings may follow it on a
 * warehouse: another would skip its records below the markers and write the rest, a mix of two days.
 */
const embeddedRunOf = (options: Options, topics: ReadonlyArray<string>, symbols: ReadonlyArray<string> | undefined): typeof EmbeddedRunJson.Type => {
  const { events, seed } = simulatorRun(options)
  const universe = symbolsSetting(symbols)
  return {
    seed,
    events,
    ...(universe === undefined ? {} : { symbols: universe }),
    day: Feeds.simulatorModel({ seed, eventsPerSymbolPerDay: events }).startDate,
    partitions: options.partitions.value,
    group: options.group,
    topics: [...topics].sort()
  }
}

const EmbeddedRunJson = Schema.fromJsonString(Schema.Struct({
  seed: Schema.Number,
  events: Schema.Number,
  /** The flag that gave the universe; absent for the default (and in the records of a K2 from before the flag). */
  symbols: Schema.optionalKey(Schema.String),
  day: Schema.String,
  partitions: Schema.Number,
  group: Schema.String,
  topics: Schema.Array(Schema.String)
}))

const EMBEDDED_RUN_FILE = "embedded-run.json"

// The topics are always the simulator's (the command checks): recorded, compared, not shown.
const describeRun = (r: typeof EmbeddedRunJson.Type) =>
  `--seed ${r.seed} --events ${r.events}${r.symbols === undefined ? "" : ` ${cutSymbols(r.symbols)}`} --partitions ${r.partitions} ` +
  `--group ${r.group} (simulated day ${r.day})`

/** A long --symbols list shown by its start and count: a refusal names two runs on a line or two. */
const cutSymbols = (setting: string) => {
  const n = setting.split(",").length
  return setting.length <= 120 ? setting : `${setting.slice(0, 100)}… (${n} symbols)`
}

const sameRun = (a: typeof EmbeddedRunJson.Type, b: typeof EmbeddedRunJson.Type) =>
  describeRun(a) === describeRun(b) && a.symbols === b.symbols && a.topics.join() === b.topics.join()

class EmbeddedRunFileFailed extends Schema.TaggedError<EmbeddedRunFileFailed>()("EmbeddedRunFileFailed", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `cannot read or write the embedded run's settings ${this.path}: ${this.detail.replace(/\s+/g, " ")}`
  }
}

const embeddedRunFile = (options: Options) => path.join(path.resolve(options.warehouse), EMBEDDED_RUN_FILE)

const embeddedRunIo = <A>(options: Options, f: () => A) =>
  Effect.try({ try: f, catch: (e) => new EmbeddedRunFileFailed({ path: embeddedRunFile(options), detail: (e as Error).message }) })

/** The embedded run the warehouse records, if any. */
const recordedEmbeddedRun = (options: Options) =>
  embeddedRunIo(options, () => {
    const file = embeddedRunFile(options)
    if (!fs.existsSync(file)) return undefined
    const text = fs.readFileSync(file, "utf8")
    try {
      return Schema.decodeUnknownSync(EmbeddedRunJson)(text)
    } catch (e) {
      // Edited, or another version's: removing it is safe, as tables holding markers without a record are refused.
      throw new Error(`${(e as Error).message}; not a record this K2 wrote: remove it (tables holding ingested data are then refused, never mixed)`)
    }
  })

/** A usage error, exit 2: the settings given do not fit this warehouse. */
const refuseWarehouse = (options: Options, detail: string) => Effect.fail(new UsageError({ message: `${path.resolve(options.warehouse)}: ${detail}` }))

/** The tables that hold a marker of `group`: what it has ingested there. */
const tablesWithMarkers = (group: string) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    return yield* Effect.filter(["trades", "quotes", "instruments", "sequence_events"] satisfies ReadonlyArray<TableName>, (table) =>
      Effect.gen(function*() {
        const id = identifierOf(table)
        return (yield* catalog.tableExists(id)) && (yield* markerOf((yield* catalog.loadTable(id)).metadata, group, table)) !== undefined
      }))
  })

/**
 * Before anything is written (the warehouse held): the run recorded in the warehouse must be this
 * one, unless it committed nothing (it failed or was stopped first: no marker of its group); the
 * tables must hold no marker of this run's group that no embedded run recorded (a live run's,
 * whose offsets would skip this run's records); then this run is recorded.
 */
const claimEmbeddedRun = (options: Options, topics: ReadonlyArray<string>, symbols: ReadonlyArray<string> | undefined) =>
  Effect.gen(function*() {
    const file = embeddedRunFile(options)
    const wanted = embeddedRunOf(options, topics, symbols)
    const refuse = (detail: string) => refuseWarehouse(options, detail)
    const recorded = yield* recordedEmbeddedRun(options)
    if (recorded !== undefined && sameRun(recorded, wanted)) return
    if (recorded !== undefined && (yield* tablesWithMarkers(recorded.group)).length > 0) {
      return yield* refuse(
        `holds the embedded run ${describeRun(recorded)}; this run, ${describeRun(wanted)}, would mix with it ` +
          `(its records below that run's markers would be skipped as already ingested). Run with that run's settings ` +
          `to resume it (nothing is ingested twice), or give another --warehouse.`
      )
    }
    // A live run's group on the simulated topics: this day would go into its tables beside that feed.
    const others = yield* othersTopics(options.group, topics)
    if (others.length > 0) {
      return yield* refuse(`other groups have ingested this run's topics here: ${describeOthers(others)}; the simulated day would be written beside them. Give another --warehouse.`)
    }
    const marked = yield* tablesWithMarkers(options.group)
    if (marked.length > 0) {
      return yield* refuse(
        `${marked[0]} holds markers of group ${options.group} but no embedded run recorded its settings here (a --brokers run wrote them, or a K2 from before the record): ` +
          `the embedded run, ${describeRun(wanted)}, would skip its records below them. Give another --warehouse.`
      )
    }
    // Whole or not at all: a file cut short would refuse every later run.
    yield* embeddedRunIo(options, () => {
      fs.writeFileSync(`${file}.${process.pid}`, `${JSON.stringify(wanted, null, 1)}\n`)
      fs.renameSync(`${file}.${process.pid}`, file)
    })
  })

/** The embedded default: simulator → in-process Kafka → local warehouse, then a summary. */
const embedded = (
  options: Started,
  trackerOptions: Partial<TrackerOptions>,
  topics: ReadonlyArray<string>,
  symbols: ReadonlyArray<string> | undefined
) =>
  Effect.gen(function*() {
    yield* holdWarehouse(options.warehouse)
    const broker = new KafkaMemory.MemoryBroker()
    // Like a broker with retention and a produce quota: what is committed is dropped and the
    // simulator waits while ingestion lags, so memory stays bounded whatever --events.
    const kafka = KafkaMemory.layerMemory(broker, { maxBatchRecords: 2_000, releaseCommitted: true, maxBacklog: 20_000 })
    const { events, seed } = simulatorRun(options)
    yield* Effect.gen(function*() {
      yield* claimEmbeddedRun(options, topics, symbols)
      yield* Console.error(`embedded default: simulated ASX day → in-process Kafka → ${options.warehouse}`)
      yield* ingestSimulatedDay(broker, topics, options.partitions.value, performance.now()).pipe(
        Effect.provide(ingestorLayer(options, trackerOptions, topics, Option.none(), true).pipe(
          Layer.provideMerge(Layer.mergeAll(
            kafka,
            Feeds.layerSimulator({ eventsPerSymbolPerDay: events, seed, symbols })
          ))
        ))
      )
    }).pipe(Effect.provide(lakehouseOf(options)))
  }).pipe(Effect.scoped)

/** Against a real broker until SIGTERM/SIGINT. */
const live = (
  options: Started,
  trackerOptions: Partial<TrackerOptions>,
  brokers: ReadonlyArray<string>,
  topics: ReadonlyArray<string>,
  security: KafkaSecurity | undefined
) =>
  Effect.gen(function*() {
    // The embedded day's markers, at offsets of its in-process log, would skip the broker's records
    // below them; a recorded day that committed nothing (it failed or was stopped first) has none.
    if ((yield* recordedEmbeddedRun(options))?.group === options.group) {
      yield* Effect.gen(function*() {
        // Held while it decides: an embedded run still before its first commit holds the warehouse
        // (WarehouseBusy), and its record must not go from under it.
        yield* holdWarehouse(options.warehouse)
        if ((yield* tablesWithMarkers(options.group).pipe(Effect.provide(lakehouseOf(options)))).length > 0) {
          return yield* refuseWarehouse(
            options,
            `holds the embedded default's simulated day, ingested as group ${options.group}: a live run as that group would ` +
              `skip the broker's records below its markers. Give another --warehouse (or another --group).`
          )
        }
        // The record of a day that wrote nothing goes: else an embedded run of its settings would
        // take this run's markers for its own and skip its records below them.
        yield* embeddedRunIo(options, () => fs.rmSync(embeddedRunFile(options), { force: true }))
      }).pipe(Effect.scoped)
    }
    // performance.now, not Date.now: a clock set back an hour put the progress line (and its rate) an hour behind.
    const started = performance.now()
    yield* Console.error(
      `ingesting ${topics.join(", ")} from ${brokers.join(",")} (${options.client.value}, ${describeSecurity(security)}) as group ${options.group}`
    )
    // Brokers never reached since the first attempt are a wrong address as often as a broker
    // starting up: waited for --broker-wait, then a clear failure. Once one answered, outages are
    // waited out. The client's library is loaded first: that is the program's time, not the brokers'.
    yield* loadKafkaClient(options.client.value)
    const contact = yield* makeFirstContact({ brokers, wait: Duration.seconds(options.brokerWait.value), setting: BROKER_WAIT_SETTING })
    // The broker may be starting or restarting: wait for it rather than give up.
    const topicsReady = Effect.gen(function*() {
      const admin = yield* KafkaAdmin
      yield* contact.retry(
        contact.topicsReady(admin, partitionsByDefault(specsOf(topics, options.partitions.value), options.partitions.byDefault)),
        "waiting for Kafka",
        "2 seconds",
        150
      )
    })
    // The warehouse is opened (its catalog created) only once a broker has answered: a run that never
    // reached one (a wrong address) left an empty catalog, where query, replay and compact then
    // answered "no such table" instead of refusing a warehouse that does not exist.
    const lakehouseOnceReached = Layer.unwrap(Effect.as(topicsReady, lakehouseOf(options)))
    // Whether the run's summary was printed: a stop before ingestion began (waiting for the broker,
    // opening the warehouse) has none to print, and says so rather than end without a word.
    let summarized = false
    const program = Effect.gen(function*() {
      yield* claimTopics({ group: options.group, adoptMarksOf: Option.getOrUndefined(options.adoptMarksOf), separateCopy: options.separateCopy }, topics).pipe(
        Effect.catchTag("OtherGroupsMarkers", (e) => refuseWarehouse(options, e.message))
      )
      // instruments only when read: the run creates it only then.
      const reference = topics.some((t) => parseInstrumentsTopicName(t) !== undefined) ? [tables.instruments] : []
      const maintained = [tables.trades, tables.quotes, tables.sequenceEvents, ...reference].map((t) => ({ namespace: t.namespace, name: t.name }))
      if (options.maintainEvery.value > 0) {
        yield* Effect.forkChild(Maintenance.runEvery(maintained, Duration.seconds(options.maintainEvery.value)))
      }
      // Expiry alone, from one interval in (the run creates the tables): without it every commit
      // rewrites all the snapshots so far, 150 ms a commit after an hour against 34 ms (ADR-33).
      if (options.expireEvery.value > 0) {
        yield* Effect.forkChild(Effect.andThen(
          Effect.sleep(Duration.seconds(options.expireEvery.value)),
          Maintenance.runEvery(maintained, Duration.seconds(options.expireEvery.value), { compact: false, orphans: false })
        ))
      }
      yield* ingestUntilStopped(started, () => {
        summarized = true
      })
    })
    // Metrics are served for the whole run, including while waiting for the broker.
    const metrics = options.metricsPort.value > 0
      ? Layer.merge(MetricsServer.layer({ port: options.metricsPort.value, host: options.metricsHost.value }), ProcessMetrics.layer)
      : Layer.empty
    // Connecting the clients fails while the broker is down: start over until it is back.
    yield* contact.retry(
      program.pipe(
        Effect.provide(Layer.merge(ingestorLayer(options, trackerOptions, topics, options.schemaRegistry.value, false), Maintenance.layer()).pipe(
          Layer.provideMerge(lakehouseOnceReached.pipe(
            Layer.provideMerge(kafkaLayer(options.client.value, brokers, `k2-ingest-${process.pid}`, { clientError: contact.clientError, security }))
          ))
        ))
      ),
      "cannot start yet",
      "3 seconds",
      100
    ).pipe(
      Effect.provide(metrics),
      Effect.onInterrupt(() => summarized ? Effect.void : Console.log(stoppedWhileStarting))
    )
  })

/**
 * The settings read from the environment alone, read and checked before anything is touched: the
 * sequence trackers' options, and DuckDB's, which the lakehouse is then opened with (read as it
 * opened, a bad one left the embedded default's empty catalog behind, and live mode refused it
 * only once a broker had answered and the topics were made).
 */
const environmentSettings = Effect.all({ tracker: Trackers.optionsFromConfig, duckDb: DuckDb.settings })

export const ingestCommand = Command.make("ingest", flags, (options) =>
  usage((): Effect.Effect<void, unknown> => {
    // Each once: a Kafka client refuses to create a topic listed twice.
    const topics = [...new Set(options.topics.value.split(",").map((t) => t.trim()).filter((t) => t.length > 0))]
    // The default is valid and the simulated day's: a refused value was given, by the flag or its variable.
    const topicsSetting = options.topics.given ? "--topics" : "K2_TOPICS"
    const invalid = topics.filter((t) => parseTopicName(t) === undefined && parseInstrumentsTopicName(t) === undefined)
    if (invalid.length > 0) {
      throw new UsageError({
        message: `${topicsSetting}: not source topics: ${invalid.join(", ")} (want market.{asset_class}.{trades|quotes}.{exchange} or reference.instruments.{exchange})`
      })
    }
    // Effect's config takes an empty variable for an unset one, and unset means the embedded
    // default: a deployment template's missing value would ingest a simulated day.
    const brokersVariable = process.env["K2_KAFKA_BROKERS"]
    if (brokersVariable !== undefined && brokersVariable.trim() === "" && Option.getOrElse(options.brokers, () => "").trim() === "") {
      throw new UsageError({ message: "K2_KAFKA_BROKERS is set but empty: give host:port for Kafka, or unset it for the embedded default" })
    }
    const catalogProblem = defaultCatalogProblem(options)
    if (catalogProblem !== undefined) throw new UsageError({ message: catalogProblem })
    // A flag the mode would ignore: the user meant the other mode, or meant it to act.
    const ignored = otherModeFlags(options, Option.isSome(options.brokers))
    if (ignored.length > 0) {
      throw new UsageError({
        message: Option.isSome(options.brokers)
          ? `${ignored.join(", ")}: for the embedded default only (no --brokers or K2_KAFKA_BROKERS); a run against Kafka ingests what the topics hold`
          : `${ignored.join(", ")}: for live mode only (--brokers or K2_KAFKA_BROKERS); the embedded default ignores ${ignored.length === 1 ? "it" : "them"}`
      })
    }
    if (Option.isNone(options.brokers)) {
      // The simulator publishes all three: a topic left out would fill the in-process log unread.
      if (topics.length !== simulatedTopics.length || !simulatedTopics.every((t) => topics.includes(t))) {
        throw new UsageError({ message: `${topicsSetting}: the embedded default publishes and ingests ${simulatedTopics.join(",")}; other topics need --brokers` })
      }
      if (options.partitions.value > EMBEDDED_MAX_PARTITIONS) {
        throw new UsageError({
          message: `--partitions ${options.partitions.value}: the embedded default holds at most ${EMBEDDED_MAX_PARTITIONS}: one process owns every ` +
            `partition of its ${simulatedTopics.length} topics (${simulatedTopics.length * options.partitions.value}), ~8 KB of heap each, ` +
            `and more do not fit its 256 MB heap (package.json); a live ingest spreads them over its group's processes`
        })
      }
      const symbols = simulatedSymbols(options)
      // Settings read from the environment alone are checked before the warehouse is touched.
      return Effect.flatMap(environmentSettings, ({ duckDb, tracker }) => embedded({ ...options, duckDb }, tracker, topics, symbols))
    }
    if (topics.length === 0) throw new UsageError({ message: `${topicsSetting}: no topic to ingest` })
    if (options.separateCopy && Option.isSome(options.adoptMarksOf)) {
      throw new UsageError({ message: "--adopt-marks-of continues another group's copy, --separate-copy makes one of this group's own: give one of them" })
    }
    if (Option.getOrUndefined(options.adoptMarksOf) === options.group) {
      throw new UsageError({ message: `--adopt-marks-of ${options.group}: that is this run's --group, whose marks it continues anyway` })
    }
    checkRegistryTopics(options.schemaRegistry.value, topics)
    const brokers = brokerList(options.brokers.value)
    const security = kafkaSecurityFrom()
    checkKafkajsLogLevel()
    return Effect.flatMap(environmentSettings, ({ duckDb, tracker }) => live({ ...options, duckDb }, tracker, brokers, topics, security))
  }).pipe(Effect.provide(Telemetry.layer("ingest")))).pipe(Command.withDescription(describedWith(
  "Ingest market data from Kafka into Iceberg, exactly once: from --brokers (or K2_KAFKA_BROKERS) until SIGTERM/SIGINT, " +
    "or without them the embedded default (a simulated day through an in-process Kafka). A flag marked \"live mode\" or " +
    "\"embedded default only\" is refused in the other mode (exit 2); its variable is not.",
  [
    "K2_SEQUENCE_CAPACITY, K2_SEQUENCE_IDLE_SECONDS, K2_SEQUENCE_DAY_CHANGE, K2_SEQUENCE_MAX_GAPS, K2_SEQUENCE_ZONES (docs/sequence-integrity.md)",
    kafkaSecurityEnvironment(LIVE),
    kafkaClientEnvironment(LIVE),
    ...lakehouseEnvironment,
    ...commonEnvironment
  ]
)))

if (import.meta.main) runCommand(ingestCommand, { afterSecondSignal: "what was not committed is read again on the next start" })
