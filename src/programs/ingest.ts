/**
 * `npm run ingest`: Kafka to Iceberg, exactly once.
 *
 * With no broker configured it runs the embedded default: the simulator publishes a trading
 * day into an in-process Kafka log and ingestion lands it in the local warehouse (SQLite
 * catalog), then prints a summary. With `--brokers` (or K2_KAFKA_BROKERS) it consumes the real
 * topics until SIGTERM/SIGINT, which drains: flush, commit, leave the group.
 */
import { Config, Console, Duration, Effect, Layer, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { checked, commonEnvironment, describedWith, givenFlags, inRange, integerFlag, integerRead, lakehouseEnvironment, modeSetting, nonBlank, optionalSetting, setting, sourcedSetting } from "./cli/flags.ts"
import { runCommand } from "./cli/run.ts"
import { instrumentsTopicName, parseInstrumentsTopicName, parseTopicName, partitionsByDefault, topicName } from "../domain/wire.ts"
import * as Feeds from "../layers/feeds/simulator.ts"
import * as Ingest from "../layers/ingest/ingestor.ts"
import { claimTopics } from "../layers/ingest/otherGroups.ts"
import { makeFirstContact } from "../layers/kafka/firstContact.ts"
import * as KafkaMemory from "../layers/kafka/memory.ts"
import { JOIN_WAIT_MARGIN_MS } from "../layers/kafka/platformaticConsumer.ts"
import { DuckDb, type DuckDbOptions } from "../layers/duckdb/DuckDb.ts"
import * as Maintenance from "../layers/maintenance/maintenance.ts"
import { ingestedTables } from "../domain/tables.ts"
import * as Trackers from "../layers/sequence/tracker.ts"
import type { TrackerOptions } from "../domain/sequence/tracker.ts"
import * as MetricsServer from "../layers/telemetry/server.ts"
import * as ProcessMetrics from "../layers/telemetry/process.ts"
import * as Telemetry from "../layers/telemetry/telemetry.ts"
import { KafkaAdmin } from "../services/KafkaSink.ts"
import { UsageError, usage } from "./cli/common.ts"
import { claimEmbeddedRun, recordedEmbeddedRun, refuseWarehouse, removeEmbeddedRun, tablesWithMarkers } from "./cli/embeddedRun.ts"
import { ingestSimulatedDay, ingestUntilStopped, specsOf } from "./cli/ingestRuns.ts"
import { stoppedWhileStarting } from "./cli/ingestSummary.ts"
import { BROKER_WAIT_ENV, BROKER_WAIT_SETTING, brokerList, checkKafkajsLogLevel, checkRegistryTopics, kafkaClientEnvironment, kafkaLayer, loadKafkaClient, modeClientFlag, modeSchemaRegistryFlag, partitionsFlagNoting, wireSchemas } from "./cli/kafka.ts"
import { describeSecurity, kafkaSecurityEnvironment, kafkaSecurityFrom } from "./cli/kafkaSecurity.ts"
import type { KafkaSecurity } from "../layers/kafka/security.ts"
import { defaultCatalogProblem, lakehouseFlags, lakehouseOf } from "./cli/lakehouse.ts"
import { givenSymbolFlags, simulatedSymbols, simulatedSymbolsFlags } from "./cli/symbols.ts"
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
      // Refused for kafkajs too, which takes one: the group keys the tables' markers, which outlive
      // the client that wrote them, and a later run on the default client could not continue them.
      check: (group) =>
        nonBlank("a consumer group name")(group) ??
          (/\s/.test(group)
            ? "a consumer group name without whitespace (the default client, platformatic, refuses one, and the tables' markers stay under it whichever client ingests next)"
            : undefined) })
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

/** What the embedded default's simulator publishes: an ASX day. */
const simulatedTopics = [
  topicName({ assetClass: "equities", dataType: "trades", exchange: "ASX" }),
  topicName({ assetClass: "equities", dataType: "quotes", exchange: "ASX" }),
  instrumentsTopicName("ASX")
]

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
      yield* claimEmbeddedRun(options, { events, seed }, topics, symbols)
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
        yield* removeEmbeddedRun(options)
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
      const readsReference = topics.some((t) => parseInstrumentsTopicName(t) !== undefined)
      const maintained = ingestedTables(readsReference).map((t) => ({ namespace: t.namespace, name: t.name }))
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
 * --metrics-host (or K2_METRICS_HOST), when metrics are served: one that cannot be resolved or is
 * no address of this machine is the operator's mistake, refused before anything is touched. Only
 * a port taken by another process is a warning the run goes on after (docs/operations.md).
 */
const metricsHostChecked = (options: Options) =>
  options.metricsPort.value === 0 ? Effect.void : Effect.flatMap(MetricsServer.hostProblem(options.metricsHost.value), (problem) =>
    problem === undefined
      ? Effect.void
      : Effect.fail(new UsageError({ message: `${options.metricsHost.given ? "--metrics-host" : "K2_METRICS_HOST"} ${options.metricsHost.value}: ${problem}` })))

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
    // SQLite's in-memory database: the tables it made are gone when the run ends, their files left
    // in the warehouse. The run said "trades written" of rows nothing could read, and every later
    // ingest there failed (exit 1) on the files of "another table" at each table's location.
    if (Option.isSome(options.catalog) && options.catalog.value.trim() === ":memory:") {
      throw new UsageError({
        message: "--catalog (K2_CATALOG) :memory:: an in-memory catalog forgets the tables when ingest ends, and the files it leaves in " +
          "the warehouse stop every later ingest there; give a SQLite file, a postgresql:// or an http(s):// URL, or leave it out for <warehouse>/catalog.db"
      })
    }
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
    return metricsHostChecked(options).pipe(
      Effect.andThen(environmentSettings),
      Effect.flatMap(({ duckDb, tracker }) => live({ ...options, duckDb }, tracker, brokers, topics, security))
    )
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
