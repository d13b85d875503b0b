/**
 * `produce`'s run: the reports cleared, the schema registry, Kafka and the feed reached (a failure
 * or a signal there reported as nothing sent), then the publish, its reconciliation and last line.
 */
import { Console, Context, Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Schema, Scope } from "effect"
import { instrumentsTopicName, partitionsByDefault, topicName } from "../../domain/wire.ts"
import { makeFirstContact } from "../../layers/kafka/firstContact.ts"
import type { KafkaSecurity } from "../../layers/kafka/security.ts"
import { type PublishFailure, publishFeed } from "../../layers/produce/publisher.ts"
import { KafkaAdmin } from "../../services/KafkaSink.ts"
import { MarketFeed } from "../../services/MarketFeed.ts"
import { BROKER_WAIT_SETTING, kafkaLayer, loadKafkaClient, wireCodec } from "./kafka.ts"
import type { ChosenFeed } from "./produceFeed.ts"
import { deadLetterFile, type Options, simRun } from "./produceFlags.ts"
import { progressReporter } from "./produceProgress.ts"
import { clearReport, writeCompletedReport, writeFailedReport, writeUnsentReport } from "./produceReports.ts"
import { finalLine, resentWarning } from "./produceSummary.ts"
import { publishedTopicSpecs } from "./produceTopics.ts"
import { failsTheDrain, failsWhenStopped } from "./run.ts"

/** How long a signal's drain waits for Kafka to acknowledge the sends under way. */
const SIGNAL_DRAIN_WAIT = Duration.seconds(5)

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

/** The Kafka client's layer `produce` builds: `kafkaLayer`; a test's stand-in over the in-memory broker. */
export const ProduceKafkaLayer = Context.Reference<typeof kafkaLayer>("k2/produce/KafkaLayer", { defaultValue: () => kafkaLayer })

// A signal (SIGINT/SIGTERM interrupts the program) stops the feed as --duration does: the send in
// flight is acknowledged, then what was sent is reconciled and reported. Interrupting the publish
// instead would leave a send in flight and no reconciliation of what the topics now hold.
export const produce = (
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
      const report = yield* writeCompletedReport(options, result)
      if (report.resent > 0) yield* Effect.logWarning(resentWarning(report.resent, options.client))
      yield* Console.log(finalLine(result.summary, report.totals, {
        reconciliation: options.reconciliation,
        ...(options.source === "asx" ? { deadLetters: deadLetterFile(options) } : {})
      }))
    })
  ).pipe(Effect.scoped, failsTheDrain)
