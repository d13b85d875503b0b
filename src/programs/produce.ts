/**
 * `npm run produce`: publish ASX tick files or the simulator into Kafka (Avro, Confluent
 * framing, key = symbol, idempotent producer), instruments first to the exchange's reference
 * topic, with progress and a final reconciliation per symbol and type, also written as JSON so
 * the ingested tables can be checked against it.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Cause, Config, Console, Context, Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Schema, Scope } from "effect"
import { Command, Flag } from "effect/cli"
import { checked, commonEnvironment, describedWith, givenFlags, inRange, integerFlag, integerRead, modeSetting, nonBlank, optionalSetting, positive, setting } from "./cli/flags.ts"
import { BROKER_WAIT_ENV, BROKER_WAIT_SETTING, brokerList, checkKafkajsLogLevel, clientFlag, kafkaClientEnvironment, kafkaLayer, loadKafkaClient, partitionsFlag, schemaRegistryFlag, wireCodec } from "./cli/kafka.ts"
import { kafkaSecurityEnvironment, kafkaSecurityFrom } from "./cli/kafkaSecurity.ts"
import type { KafkaSecurity } from "../layers/kafka/security.ts"
import { UsageError, usage } from "./cli/common.ts"
import { RecentRate, writeProgress } from "./cli/progress.ts"
import { givenSymbolFlags, simulatedSymbols, simulatedSymbolsFlags } from "./cli/symbols.ts"
import { failsTheDrain, failsWhenStopped, runCommand } from "./cli/run.ts"
import { COMPANY_INFO_FILE } from "../domain/feeds/asx.ts"
import { modelProblem } from "../domain/feeds/modelProblem.ts"
import { DLQ_SUFFIX, EXCHANGE_CODE_RULE, instrumentsTopicName, instrumentsTopicSpecs, isExchangeCode, partitionsByDefault, topicName, type TopicSpec, topicSpecs } from "../domain/wire.ts"
import * as Asx from "../layers/feeds/asx.ts"
import * as Simulator from "../layers/feeds/simulator.ts"
import { noCounts, type PublishedCounts, type PublishFailure, publishFeed, type PublishProgress, tableCounts } from "../layers/produce/publisher.ts"
import { makeFirstContact } from "../layers/kafka/firstContact.ts"
import * as Telemetry from "../layers/telemetry/telemetry.ts"
import { KafkaAdmin } from "../services/KafkaSink.ts"
import { type FeedSummary, MarketFeed } from "../services/MarketFeed.ts"

/** The simulator's flags when not given; the ASX files refuse them given. */
const simDefaults = { exchange: "ASX", seed: 42, events: 10_000, days: 1 }
const DEAD_LETTERS = "asx-dead-letters.jsonl"
/** How long a signal's drain waits for Kafka to acknowledge the sends under way. */
const SIGNAL_DRAIN_WAIT = Duration.seconds(5)

/** The simulator's run as the flags shape it. */
const simRun = (options: Options) => ({
  exchange: Option.getOrElse(options.exchange, () => simDefaults.exchange),
  seed: Option.getOrElse(options.seed, () => simDefaults.seed),
  events: Option.getOrElse(options.events, () => simDefaults.events),
  days: Option.getOrElse(options.days, () => simDefaults.days)
})

const flags = {
  source: Flag.Literals("source", ["sim", "asx"]).pipe(
    setting<"sim" | "asx">("sim: the simulator; asx: ASX historical tick files (--dir)", { fallback: "sim" })
  ),
  // Paths: an empty one (an unset variable) would be found unusable only after publishing.
  dir: Flag.String("dir").pipe(
    Flag.withDescription("asx: the load directory (trades/, quotes/, reference-data/)"),
    checked(nonBlank("a directory")),
    Flag.optional
  ),
  deadLetters: Flag.String("dead-letters").pipe(
    modeSetting("asx: where rejected rows go (JSON lines)", { fallback: DEAD_LETTERS, check: nonBlank("a file") })
  ),
  brokers: Flag.String("brokers").pipe(
    optionalSetting("Kafka bootstrap servers, comma separated", { env: "K2_KAFKA_BROKERS", read: Config.String })
  ),
  client: clientFlag,
  // ingest's setting: there it bounds the first contact, here that too and every outage under the publish.
  brokerWait: integerFlag("broker-wait").pipe(
    setting("seconds Kafka is waited for before the run fails (exit 1): a broker down or not up yet at the start (tried again, and said, every few seconds; a refusal, e.g. a bad password, fails at once), then each send Kafka has not taken (a broker restarting), sent again with backoff after each failure; 0 = as long as the fault lasts", { env: BROKER_WAIT_ENV, read: integerRead, fallback: 60, check: inRange(0) })
  ),
  schemaRegistry: schemaRegistryFlag,
  partitions: partitionsFlag,
  rate: integerFlag("rate").pipe(Flag.withDescription("sim: events per second (default: as fast as possible)"), checked(inRange(1)), Flag.optional),
  speed: Flag.Finite("speed").pipe(Flag.withDescription("sim: a multiple of real time"), checked(positive), Flag.optional),
  duration: Flag.String("duration").pipe(
    Flag.withDescription("stop after this long, e.g. 30s or 5m; what was read by then is sent and reconciled"),
    Flag.optional
  ),
  exchange: Flag.String("exchange").pipe(
    modeSetting("sim: exchange code of the simulated venue (topics follow it; every run numbers its streams from 1 on the same day, so ingest drops as duplicates the sequences a second run into the same topics repeats: give each run its own)", { fallback: simDefaults.exchange })
  ),
  seed: integerFlag("seed").pipe(modeSetting("sim: seed (same seed, same events)", { fallback: simDefaults.seed })),
  events: integerFlag("events").pipe(modeSetting("sim: events per symbol per day", { fallback: simDefaults.events, check: inRange(1) })),
  days: integerFlag("days").pipe(modeSetting("sim: trading days", { fallback: simDefaults.days, check: inRange(1) })),
  ...simulatedSymbolsFlags("sim"),
  inject: Flag.String("inject").pipe(
    Flag.withDescription("sim: fault rates, e.g. gap=0.001,duplicate=0.001,outOfOrder=0.001,poison=0.01 (reset=0.0001 too, with --days 2 or more)"),
    Flag.optional
  ),
  manifest: Flag.String("manifest").pipe(
    Flag.withDescription("sim: where to write the injected anomalies (JSON)"),
    checked(nonBlank("a file")),
    Flag.optional
  ),
  reconciliation: Flag.String("reconciliation").pipe(
    setting("where to write the reconciliation (JSON)", { fallback: "produce-reconciliation.json", check: nonBlank("a file") })
  )
}

type Options = Command.Command.Config.Infer<typeof flags>

/** Where an ASX load's rejected rows go. */
const deadLetterFile = (options: Options) => Option.getOrElse(options.deadLetters, () => DEAD_LETTERS)

const FAULTS = new Set(["gap", "duplicate", "outOfOrder", "reset", "poison"])

const parseFaults = (text: string) => {
  const out: Record<string, number> = {}
  for (const part of text.split(",").filter((p) => p.length > 0)) {
    const [name, value, ...rest] = part.split("=")
    const rate = value !== undefined && /^(\d+(\.\d*)?|\.\d+)$/.test(value) ? Number(value) : Number.NaN
    if (name === undefined || !FAULTS.has(name) || rest.length > 0 || !(rate >= 0 && rate <= 1)) {
      throw new UsageError({ message: `--inject: "${part}" is not <${[...FAULTS].join("|")}>=<rate 0..1>` })
    }
    if (name in out) throw new UsageError({ message: `--inject: ${name} is given twice` })
    out[name] = rate
  }
  if (Object.keys(out).length === 0) {
    throw new UsageError({ message: `--inject: no fault given; give <${[...FAULTS].join("|")}>=<rate 0..1>, comma-separated` })
  }
  return out
}

const parseDuration = (text: string): number => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim())
  const ms = m === null ? 0 : Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"]
  // 0 would make the topics and publish nothing.
  if (!(ms > 0)) throw new UsageError({ message: `--duration: "${text}" is not like 500ms, 30s, 5m or 1h (above 0)` })
  return ms
}

/** False for a path that is missing, not a directory, or cannot be looked at (ENOTDIR, EACCES). */
const isDirectory = (dir: string) => {
  try {
    return fs.statSync(dir).isDirectory()
  } catch {
    return false
  }
}

/** False for a path that is missing, not a file, or cannot be looked at. */
const isFile = (file: string) => {
  try {
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** The feed the options choose, and for the simulator the events it publishes in all (the progress line's ETA). */
interface ChosenFeed {
  readonly layer: Layer.Layer<MarketFeed, unknown>
  readonly total?: number
}

const chooseFeed = (options: Options): ChosenFeed => {
  if (options.source === "asx") {
    if (Option.isNone(options.dir)) throw new UsageError({ message: "--source asx needs --dir <load directory>" })
    const simOnly = givenFlags([
      ["rate", Option.isSome(options.rate)], ["speed", Option.isSome(options.speed)], ["inject", Option.isSome(options.inject)],
      ["manifest", Option.isSome(options.manifest)], ["exchange", Option.isSome(options.exchange)], ["seed", Option.isSome(options.seed)],
      ["events", Option.isSome(options.events)], ["days", Option.isSome(options.days)], ...givenSymbolFlags(options)
    ])
    if (simOnly.length > 0) throw new UsageError({ message: `${simOnly.join(", ")}: for --source sim only` })
    // Else it is found only once the feed is read: after connecting, and making the topics.
    if (!isDirectory(options.dir.value)) {
      throw new UsageError({ message: `--dir: ${options.dir.value} is not a directory (want the load directory: trades/, quotes/, reference-data/)` })
    }
    // A directory one level off (its trades/, or the folder above it), found the same way.
    if (!isFile(path.join(options.dir.value, COMPANY_INFO_FILE))) {
      throw new UsageError({
        message: `--dir: ${options.dir.value} has no ${COMPANY_INFO_FILE} (want the load directory: trades/, quotes/, reference-data/)`
      })
    }
    return { layer: Asx.layerAsx({ dir: options.dir.value, deadLetterFile: deadLetterFile(options) }) }
  }
  // Else the simulator's day goes to the topics the files were meant for (--source defaults to sim).
  const asxOnly = givenFlags([["dir", Option.isSome(options.dir)], ["dead-letters", Option.isSome(options.deadLetters)]])
  if (asxOnly.length > 0) throw new UsageError({ message: `${asxOnly.join(", ")}: for --source asx only (the default source is the simulator)` })
  if (Option.isSome(options.rate) && Option.isSome(options.speed)) throw new UsageError({ message: "give --rate or --speed, not both" })
  const sim = simRun(options)
  // A bad code is the user's input (exit 2), refused before Kafka, not a feed failure later.
  if (!isExchangeCode(sim.exchange)) throw new UsageError({ message: `--exchange: "${sim.exchange}" ${EXCHANGE_CODE_RULE}` })
  const pacing: Simulator.Pacing = Option.isSome(options.rate)
    ? { _tag: "Rate", eventsPerSecond: options.rate.value }
    : Option.isSome(options.speed)
    ? { _tag: "Speed", multiple: options.speed.value }
    : Simulator.Unpaced
  // No manifestFile: the simulator writes it only at the feed's end; `produce` writes --manifest
  // with the reconciliation, also when --duration or a signal stops the feed first.
  const config: Simulator.SimulatorConfig = {
    seed: sim.seed,
    exchange: sim.exchange,
    symbols: simulatedSymbols(options),
    eventsPerSymbolPerDay: sim.events,
    tradingDays: sim.days,
    pacing,
    faults: Option.isSome(options.inject) ? parseFaults(options.inject.value) : {}
  }
  // A reset is a new day's numbering: a one-day run has no day change to put one at.
  if ((config.faults?.reset ?? 0) > 0 && sim.days < 2) {
    throw new UsageError({ message: `--inject reset: a reset restarts a symbol's numbering on a new trading day; give --days 2 or more (--days ${sim.days})` })
  }
  // The flags let through one model the simulator refuses: more --days than there are until 2200.
  // Refused here (exit 2), not as a feed failure once the last run's reports are gone.
  const model = Simulator.simulatorModel(config)
  const problem = modelProblem(model)
  if (problem !== undefined) throw new UsageError({ message: `--days ${sim.days}: ${problem}` })
  return { layer: Simulator.layerSimulator(config), total: sim.events * sim.days * model.symbols.length }
}

/** What the publish should come to: the events in all (the simulator's), and --duration. */
export interface ProgressExpected {
  readonly total?: number | undefined
  readonly durationMs?: number | undefined
}

/**
 * How far the publish is: events, their rate over the last seconds (an average since the start
 * lagged a change of pace for minutes), and an ETA when the total or --duration bounds the run,
 * whichever ends first.
 */
export const progressBar = (events: number, elapsedMs: number, rates: RecentRate, expected: ProgressExpected) =>
  Effect.sync(() => {
    const rate = rates.at(events, elapsedMs)
    const left: Array<number> = []
    if (expected.total !== undefined && rate > 0) left.push(Math.max(0, expected.total - events) / rate)
    if (expected.durationMs !== undefined) left.push(Math.max(0, expected.durationMs - elapsedMs) / 1000)
    const eta = left.length === 0 ? "" : ` ETA ${Math.min(...left).toFixed(0)} s`
    writeProgress(`${events} events, ${rate}/s${eta}`, elapsedMs, 60)
  })

/**
 * The publisher's `onProgress` for `produce`: a line at most every 200 ms, counting the events
 * but not the instruments sent before them (about 20: `--rate 1` read 3/s after 10 s).
 */
export const progressReporter = (expected: ProgressExpected) => {
  const rates = new RecentRate()
  let lastReport = 0
  return (p: PublishProgress): Effect.Effect<void> => {
    if (p.elapsedMs - lastReport < 200) return Effect.void
    lastReport = p.elapsedMs
    return progressBar(p.events - p.instruments, p.elapsedMs, rates, expected)
  }
}

const counted = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`

/**
 * The run's last line: what was read, published and dead-lettered, and where the reports are. Dead
 * letters (ASX) are named by kind, so that read = trades + quotes + the rows among them, and by file.
 */
export const finalLine = (
  summary: FeedSummary,
  totals: PublishedCounts,
  files: { readonly reconciliation: string; readonly deadLetters?: string }
): string => {
  const d = summary.deadLetters
  const kinds = [
    d.rows > 0 ? counted(d.rows, "row") : "",
    d.companyInfo > 0 ? counted(d.companyInfo, "company_info row") : "",
    d.files > 0 ? counted(d.files, "file") : ""
  ].filter((k) => k !== "")
  const where = summary.deadLettered > 0 && files.deadLetters !== undefined ? ` (${kinds.join(", ")}) in ${files.deadLetters}` : ""
  return `read ${summary.rowsRead}, published instruments ${totals.instruments}, trades ${totals.trades}, quotes ${totals.quotes}, ` +
    `poison ${totals.poison}, dead-lettered ${summary.deadLettered}${where}; reconciliation in ${files.reconciliation}`
}

/**
 * Records sent again after failed sends, and whether the topics may hold them twice: kafkajs resends
 * a failed request under the same producer id and sequence numbers (the broker drops a batch it
 * already wrote), but a request of the send already acknowledged under new ones; platformatic,
 * after a failed send, all of it under a new id (its own retries inside a send keep them).
 */
export const resentWarning = (resent: number, client: string) =>
  `${counted(resent, "record")} sent again after failed sends (Kafka unreachable for longer than the client's own retries): ` +
  (client === "kafkajs"
    ? "kafkajs resends a failed request under the same producer id and sequence numbers (the broker keeps one copy), " +
      "but the records of a request of the send Kafka had acknowledged (partitions led by another broker, a send cut under max.message.bytes) are in the topics twice"
    : "platformatic resends under a new producer id, so any a failed attempt had written are in the topics twice") +
  " (ingest drops them as DUPLICATEs; `published` counts each once)"

/** A report of the run (the reconciliation, the anomaly manifest) that could not be replaced or written. */
class ReportFileFailed extends Schema.TaggedError<ReportFileFailed>()("ReportFileFailed", {
  report: Schema.String,
  path: Schema.String,
  action: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `cannot ${this.action} the ${this.report} ${this.path}: ${this.detail}`
  }
}

const reportFile = (report: string, file: string, action: string, run: () => void) =>
  Effect.try({ try: run, catch: (e) => new ReportFileFailed({ report, path: file, action, detail: (e as Error).message }) })

/**
 * Before anything is published: an earlier run's report must not pass for this run's if this
 * one fails, and a path the report cannot be written to is refused while nothing is sent.
 */
const clearReport = (report: string, file: string) =>
  reportFile(report, file, "replace", () => {
    fs.rmSync(file, { force: true })
    fs.accessSync(path.dirname(path.resolve(file)), fs.constants.W_OK)
  })

/**
 * A signal that stopped `produce` before the publish began (reaching the schema registry,
 * connecting to Kafka, making the topics): nothing was sent, so the run fails (exit 1) as one whose
 * drain was cut short does, its reconciliation saying so (ADR-94). It exited 0 without a word.
 */
export class StoppedBeforeSending extends Schema.TaggedError<StoppedBeforeSending>()("StoppedBeforeSending", {
  step: Schema.String
}) {
  override get message() {
    return `stopped by a signal while ${this.step}, before anything was sent`
  }
}

/**
 * `effect`, a step before the publish run interruptibly (`restore`), failing with StoppedBeforeSending
 * when a signal stops it. The handler is outside `restore`: a signal landing in the uninterruptible
 * gap before the step is pending when `restore` begins, and interrupts the step before a handler
 * inside it was installed (the run exited 0 without a word).
 */
const beforeSending = <A, E, R>(
  restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
  step: string | (() => string),
  effect: Effect.Effect<A, E, R>
) => restore(effect).pipe(failsWhenStopped(() => new StoppedBeforeSending({ step: typeof step === "string" ? step : step() })))

/**
 * A failed run's reconciliation: what Kafka acknowledged per symbol (in the topics), the records
 * of the sends under way (some perhaps written), `completed: false` and `failed` (the failure);
 * `feed` once the feed was built. No `tables`: the anomaly manifest lists duplicates the feed made
 * but Kafka never acknowledged, and the sends under way may be in the topics or not. `said`: the
 * log line naming the file. A report that cannot be written is said; the run still fails with its
 * own failure.
 */
const writeFailedReport = (options: Options, failure: PublishFailure, feed: MarketFeed["Service"] | undefined, said: string) =>
  Effect.gen(function*() {
    const report = {
      source: options.source,
      completed: false,
      failed: failure.message,
      ...(feed === undefined ? {} : { feed: yield* feed.summary }),
      published: failure.published,
      totals: failure.totals,
      resent: failure.resent,
      underWay: failure.underWay
    }
    yield* reportFile("reconciliation", options.reconciliation, "write", () => fs.writeFileSync(options.reconciliation, JSON.stringify(report, null, 2)))
    yield* Effect.logError(said)
  }).pipe(Effect.catch((e) => Effect.logError(e.message)))

/**
 * The reconciliation of a run that failed before its publish began (Kafka not reached within
 * --broker-wait, the topics refused, the schema registry, a signal): a failed run's (ADR-92) with
 * nothing published, so a script reading the report finds this run's, not a missing file (the last
 * run's was removed at the start).
 */
const writeUnsentReport = (options: Options, cause: Cause.Cause<unknown>, feed: MarketFeed["Service"] | undefined) => {
  const error = Option.getOrElse(Cause.findErrorOption(cause), () => Cause.squash(cause))
  const nothingSent: PublishFailure = {
    message: error instanceof Error ? error.message : String(error),
    published: {},
    totals: noCounts(),
    resent: 0,
    underWay: {}
  }
  return writeFailedReport(options, nothingSent, feed, `nothing was sent: reconciliation (marked failed) in ${options.reconciliation}`)
}

/** The Kafka client's layer `produce` builds: `kafkaLayer`; a test's stand-in over the in-memory broker. */
export const ProduceKafkaLayer = Context.Reference<typeof kafkaLayer>("k2/produce/KafkaLayer", { defaultValue: () => kafkaLayer })

// A signal (SIGINT/SIGTERM interrupts the program) stops the feed as --duration does: the send in
// flight is acknowledged, then what was sent is reconciled and reported. Interrupting the publish
// instead would leave a send in flight and no reconciliation of what the topics now hold.
const produce = (
  options: Options,
  brokers: ReadonlyArray<string>,
  feed: ChosenFeed,
  durationMs: Option.Option<number>,
  security: KafkaSecurity | undefined
) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      yield* clearReport("reconciliation", options.reconciliation)
      const sim = simRun(options)
      const exchange = options.source === "sim" ? sim.exchange : "ASX"
      // The feed, once built: a run failing before its publish reports its (empty) summary.
      let builtFeed: MarketFeed["Service"] | undefined
      // Everything before the publish: a failure here (a signal included) writes a report of nothing sent.
      const beforePublish = Effect.gen(function*() {
        // After the reconciliation's: a manifest or dead-letter file that cannot be replaced fails a run whose
        // reconciliation is gone, so it is written (of nothing sent), not left missing.
        if (Option.isSome(options.manifest)) yield* clearReport("anomaly manifest", options.manifest.value)
        // The ASX feed opens it only once read, after connecting and making the topics; it is replaced each run anyway.
        if (options.source === "asx") yield* clearReport("dead-letter file", deadLetterFile(options))
        // Without a registry, a step of no I/O: a signal met there landed while the reports were cleared.
        const codec = yield* beforeSending(restore, Option.isSome(options.schemaRegistry) ? "reaching the schema registry" : "starting", wireCodec(options.schemaRegistry, [
          topicName({ assetClass: "equities", dataType: "trades", exchange }),
          topicName({ assetClass: "equities", dataType: "quotes", exchange }),
          instrumentsTopicName(exchange)
        ]))
        // The client's library loaded first (seconds on a loaded machine): the program's time, not the brokers'.
        yield* beforeSending(restore, "starting", loadKafkaClient(options.client))
        // A broker down or not up yet at the start is waited for within --broker-wait, as ingest waits
        // for its first contact (ADR-94): the client built and the topics made again until one answers.
        const contact = yield* makeFirstContact({ brokers, wait: Duration.seconds(options.brokerWait), setting: BROKER_WAIT_SETTING })
        const kafka = (yield* ProduceKafkaLayer)(options.client, brokers, "k2-produce", { security, producerRidesOutRestart: true, clientError: contact.clientError })
        const starting = `starting the Kafka client (${brokers.join(",")}) and the feed`
        const connecting = `connecting to Kafka (${brokers.join(",")}) and making the topics`
        let step = starting
        // Each attempt's client in a scope of its own, closed when the attempt fails, else with the run's (after the report).
        const runScope = yield* Effect.scope
        const attempt = Effect.gen(function*() {
          const scope = yield* Scope.fork(runScope)
          return yield* Effect.gen(function*() {
            step = starting
            const services = yield* Layer.buildWithScope(kafka, scope)
            step = connecting
            const admin = Context.get(services, KafkaAdmin)
            yield* contact.topicsReady(admin, partitionsByDefault(publishedTopicSpecs(exchange, options.partitions.value), options.partitions.byDefault))
            return services
          }).pipe(Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit)))
        })
        // Built interruptibly (a signal while connecting or waiting stops the run, exit 1), closed after the report.
        const services = yield* beforeSending(restore, () => step, Effect.gen(function*() {
          const feedServices = yield* Layer.build(feed.layer)
          builtFeed = Context.get(feedServices, MarketFeed)
          // No limit on the attempts: --broker-wait bounds them (0: as long as the broker is down).
          const kafkaServices = yield* contact.retry(attempt, "waiting for Kafka", "2 seconds", Number.MAX_SAFE_INTEGER)
          return Context.merge(feedServices, kafkaServices)
        }))
        return { codec, services }
      }).pipe(Effect.onError((cause) => writeUnsentReport(options, cause, builtFeed)))
      const { codec, services } = yield* beforePublish
      const signalled = yield* Deferred.make<void>()
      let failure: PublishFailure | undefined
      const publish = publishFeed(codec, {
        onFailure: (f) => Effect.sync(() => void (failure = f)),
        stop: Deferred.await(signalled),
        // A signal's drain waits for the sends under way, failing (exit 1) after this long without an acknowledgment, saying what
        // was acknowledged: a frozen broker held it for minutes, past a supervisor's grace period.
        drainTimeout: SIGNAL_DRAIN_WAIT,
        // A broker restarting is waited out; its sends' records are counted as `resent`.
        resendFor: options.brokerWait === 0 ? Duration.infinity : Duration.seconds(options.brokerWait),
        onProgress: progressReporter({ total: feed.total, durationMs: Option.getOrUndefined(durationMs) }),
        ...(Option.isSome(durationMs) ? { stopAfter: Duration.millis(durationMs.value) } : {})
      })
      const result = yield* Effect.gen(function*() {
        const publishing = yield* Effect.forkChild(restore(publish))
        const waited = yield* Effect.exit(restore(Fiber.await(publishing)))
        if (Exit.isFailure(waited)) yield* Deferred.succeed(signalled, undefined)
        const feed = yield* MarketFeed
        const published = yield* Fiber.join(publishing).pipe(
          Effect.tapError(() => failure === undefined ? Effect.void : writeFailedReport(options, failure, feed, `what Kafka acknowledged of the failed run, per symbol: reconciliation in ${options.reconciliation}`))
        )
        return { published, summary: yield* feed.summary, anomalies: yield* feed.manifest }
      }).pipe(Effect.provide(services))
      if (process.stderr.isTTY) process.stderr.write("\n")
      const report = {
        source: options.source,
        // False when --duration or a signal stopped the feed first: `published` is what was sent by
        // then, `feed` what was read (up to a block more).
        completed: !result.published.stopped,
        feed: result.summary,
        published: result.published.published,
        totals: result.published.totals,
        // Records sent again after a failed send (a broker restarting): some may be in the topics twice,
        // kafkajs' only when a request of the send had been acknowledged (docs/kafka.md).
        resent: result.published.resent,
        // What the ingested tables should hold: `published` less the injected duplicate copies.
        tables: tableCounts(result.published.published, result.anomalies)
      }
      yield* reportFile("reconciliation", options.reconciliation, "write", () => fs.writeFileSync(options.reconciliation, JSON.stringify(report, null, 2)))
      if (Option.isSome(options.manifest)) {
        const file = options.manifest.value
        yield* reportFile("anomaly manifest", file, "write", () => fs.writeFileSync(file, `${JSON.stringify(result.anomalies, null, 1)}\n`))
      }
      if (report.resent > 0) yield* Effect.logWarning(resentWarning(report.resent, options.client))
      yield* Console.log(finalLine(result.summary, report.totals, {
        reconciliation: options.reconciliation,
        ...(options.source === "asx" ? { deadLetters: deadLetterFile(options) } : {})
      }))
    })
  ).pipe(Effect.scoped, failsTheDrain)

/**
 * The topics `produce` makes sure of before it publishes: an exchange's trades, quotes and
 * instruments topics, the ones it writes. Not their DLQs: produce never writes one, `ingest` makes
 * them at its start (and again when one is deleted), and a principal allowed only to WRITE the
 * source topics sees no DLQ (Kafka hides what it may not DESCRIBE), so ensuring them asked CREATE
 * and every start failed.
 */
export const publishedTopicSpecs = (exchange: string, partitions: number): ReadonlyArray<TopicSpec> => {
  const topics = (["trades", "quotes"] as const).map((dataType) => ({ assetClass: "equities" as const, dataType, exchange, partitions }))
  return [...topicSpecs(topics), ...instrumentsTopicSpecs(exchange, partitions)].filter((s) => !s.name.endsWith(DLQ_SUFFIX))
}

export const produceCommand = Command.make("produce", flags, (options) =>
  usage(() => {
    if (Option.isNone(options.brokers)) {
      throw new UsageError({ message: "no Kafka broker configured: pass --brokers host:port or set K2_KAFKA_BROKERS (scripts/kafka.sh start runs one)" })
    }
    // Every option is checked before anything is published.
    const feed = chooseFeed(options)
    // Two reports in one file: the one written last would replace the other.
    const reports: ReadonlyArray<readonly [string, string]> = [
      ...(options.source === "asx" ? [["dead-letters", deadLetterFile(options)] as const] : []),
      ["reconciliation", options.reconciliation],
      ...(Option.isSome(options.manifest) ? [["manifest", options.manifest.value] as const] : [])
    ]
    reports.forEach(([flag, file], i) => {
      const other = reports.slice(i + 1).find(([, f]) => path.resolve(f) === path.resolve(file))
      if (other !== undefined) throw new UsageError({ message: `--${flag} and --${other[0]} name one file (${file}): give each report its own` })
    })
    const durationMs = Option.map(options.duration, parseDuration)
    checkKafkajsLogLevel()
    return produce(options, brokerList(options.brokers.value), feed, durationMs, kafkaSecurityFrom())
  }).pipe(Effect.provide(Telemetry.layer("produce")))).pipe(Command.withDescription(describedWith("Publish ASX tick files or the simulator into Kafka", [kafkaSecurityEnvironment(), kafkaClientEnvironment(), ...commonEnvironment])))

if (import.meta.main) runCommand(produceCommand)
