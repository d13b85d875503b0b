/**
 * `produce`'s reports on disk: an earlier run's cleared before anything is sent, and the run's
 * reconciliation (with --manifest, the anomaly manifest) written at its end, completed or failed.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Cause, Effect, Option, Schema } from "effect"
import { noCounts, type PublishFailure, type Reconciliation, tableCounts } from "../../layers/produce/publisher.ts"
import type { FeedSummary, InjectedAnomaly, MarketFeed } from "../../services/MarketFeed.ts"
import type { Options } from "./produceFlags.ts"

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

export const reportFile = (report: string, file: string, action: string, run: () => void) =>
  Effect.try({ try: run, catch: (e) => new ReportFileFailed({ report, path: file, action, detail: (e as Error).message }) })

/**
 * Before anything is published: an earlier run's report must not pass for this run's if this
 * one fails, and a path the report cannot be written to is refused while nothing is sent.
 */
export const clearReport = (report: string, file: string) =>
  reportFile(report, file, "replace", () => {
    fs.rmSync(file, { force: true })
    fs.accessSync(path.dirname(path.resolve(file)), fs.constants.W_OK)
  })

/**
 * A failed run's reconciliation: what Kafka acknowledged per symbol (in the topics), the records
 * of the sends under way (some perhaps written), `completed: false` and `failed` (the failure);
 * `feed` once the feed was built. No `tables`: the anomaly manifest lists duplicates the feed made
 * but Kafka never acknowledged, and the sends under way may be in the topics or not. `said`: the
 * log line naming the file. A report that cannot be written is said; the run still fails with its
 * own failure.
 */
export const writeFailedReport = (options: Options, failure: PublishFailure, feed: MarketFeed["Service"] | undefined, said: string) =>
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
export const writeUnsentReport = (options: Options, cause: Cause.Cause<unknown>, feed: MarketFeed["Service"] | undefined) => {
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

/** What a run that published read and Kafka acknowledged: the publish's reconciliation, the feed's summary and anomalies. */
export interface PublishedRun {
  readonly published: Reconciliation
  readonly summary: FeedSummary
  readonly anomalies: ReadonlyArray<InjectedAnomaly>
}

/** A run that published: its reconciliation written, then the anomaly manifest (--manifest); the report is returned. */
export const writeCompletedReport = (options: Options, result: PublishedRun) =>
  Effect.gen(function*() {
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
    return report
  })
