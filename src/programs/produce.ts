/**
 * `npm run produce`: publish ASX tick files or the simulator into Kafka (Avro, Confluent
 * framing, key = symbol, idempotent producer), instruments first to the exchange's reference
 * topic, with progress and a final reconciliation per symbol and type, also written as JSON so
 * the ingested tables can be checked against it.
 */
import { Effect, Option } from "effect"
import { Command } from "effect/cli"
import { commonEnvironment, describedWith } from "./cli/flags.ts"
import { brokerList, checkKafkajsLogLevel, kafkaClientEnvironment } from "./cli/kafka.ts"
import { kafkaSecurityEnvironment, kafkaSecurityFrom } from "./cli/kafkaSecurity.ts"
import { UsageError, usage } from "./cli/common.ts"
import { chooseFeed } from "./cli/produceFeed.ts"
import { flags, parseDuration, refuseBadReportFiles } from "./cli/produceFlags.ts"
import { produce } from "./cli/produceRun.ts"
import { runCommand } from "./cli/run.ts"
import * as Telemetry from "../layers/telemetry/telemetry.ts"

export { progressBar, type ProgressExpected, progressReporter } from "./cli/produceProgress.ts"
export { ProduceKafkaLayer, StoppedBeforeSending } from "./cli/produceRun.ts"
export { finalLine, resentWarning } from "./cli/produceSummary.ts"
export { publishedTopicSpecs } from "./cli/produceTopics.ts"

export const produceCommand = Command.make("produce", flags, (options) =>
  usage(() => {
    if (Option.isNone(options.brokers)) {
      throw new UsageError({ message: "no Kafka broker configured: pass --brokers host:port or set K2_KAFKA_BROKERS (scripts/kafka.sh start runs one)" })
    }
    // Every option is checked before anything is published.
    const feed = chooseFeed(options)
    refuseBadReportFiles(options)
    const durationMs = Option.map(options.duration, parseDuration)
    checkKafkajsLogLevel()
    return produce(options, brokerList(options.brokers.value), feed, durationMs, kafkaSecurityFrom())
  }).pipe(Effect.provide(Telemetry.layer("produce")))).pipe(Command.withDescription(describedWith("Publish ASX tick files or the simulator into Kafka", [kafkaSecurityEnvironment(), kafkaClientEnvironment(), ...commonEnvironment])))

if (import.meta.main) runCommand(produceCommand)
