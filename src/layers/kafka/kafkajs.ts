/**
 * KafkaSource, KafkaSink and KafkaAdmin on kafkajs 2.2: the library loaded (and patched), its
 * clients made and closed with the layer.
 *
 * - Producer (kafkajsSink.ts): idempotent, acks=all, one in-flight request per broker (kafkajs' rule for
 *   idempotence). Batches go uncompressed: the topic's compression.type is applied by the broker.
 *   Records sent as kafkajsMessages.ts builds them.
 * - Decompression: kafkajs decodes gzip only; K2 registers snappy, lz4 and zstd decoders
 *   (compression.ts, ADR-72), so batches compressed upstream or by the topic's compression.type read
 *   as any other; one that cannot be decoded fails the consumer at once, naming codec and partition.
 * - CRCs: kafkajs ignores them; K2 checks each complete fetched batch's CRC-32C before kafkajs
 *   decodes it (kafkajsFetch.ts, ADR-90), as the platformatic layer does.
 * - Consumer (kafkajsConsumer.ts): classic group protocol (round robin by subscription, assignor.ts), autoCommit off.
 *   On GROUP_JOIN the gained partitions are paused synchronously (before kafkajs fetches), onAssign runs, then they are seeked and
 *   resumed; kept partitions are seeked back to where delivery stopped (kafkajs resets positions
 *   to the committed offsets on every rejoin). Committed offsets and watermarks read by kafkajsOffsets.ts.
 * - Admin (kafkajsAdmin.ts); errors classified by kafkajsErrors.ts; the clients' config, log and
 *   connect in kafkajsClients.ts.
 */
import { Context, Effect, Layer } from "effect"
import type { logLevel as LogLevel } from "kafkajs"
import { KafkaAdmin, KafkaSink } from "../../services/KafkaSink.ts"
import { KafkaSource } from "../../services/KafkaSource.ts"
import { registerKafkajsCodecs } from "./compression.ts"
import { kafkajsAdmin, messageLimitsOf } from "./kafkajsAdmin.ts"
import { clientConfig, connectScoped } from "./kafkajsClients.ts"
import { kafkajsSubscribe } from "./kafkajsConsumer.ts"
import { absentOrWith, attemptKafkajs } from "./kafkajsErrors.ts"
import { foldKafkajsHeadersLinearly } from "./kafkajsHeaders.ts"
import { tellKafkajsResets } from "./kafkajsResets.ts"
import { kafkajsSink } from "./kafkajsSink.ts"
import type { KafkaSecurity } from "./security.ts"

export interface KafkajsOptions {
  readonly brokers: ReadonlyArray<string>
  readonly clientId?: string
  /** kafkajs log level; default NOTHING (errors reach callers as KafkaError). */
  readonly logLevel?: LogLevel
  /**
   * Each error kafkajs logs, shown or not: what a request it retries by itself has met so far
   * (its connect() retries a refused connect for ~10 s before it fails, ADR-38).
   */
  readonly clientError?: (message: string) => void
  /** TLS and SASL (ADR-54); none: PLAINTEXT. */
  readonly security?: KafkaSecurity
}

/** The levels kafkajs' log takes from KAFKAJS_LOG_LEVEL (any case), as it and this layer read them; unset, the layer's `logLevel`. */
export const KAFKAJS_LOG_LEVELS = ["nothing", "error", "warn", "info", "debug"] as const

export const layerKafkajs = (options: KafkajsOptions) =>
  Layer.effectContext(Effect.gen(function*() {
    // Loaded with the layer, not the module, as @platformatic/kafka is. kafkajs is CommonJS:
    // Node's ESM loader only sees its default export.
    const kafkajs = (yield* Effect.promise(() => import("kafkajs"))).default
    // Before any fetch is decoded: kafkajs folds a record's headers in quadratic time (kafkajsHeaders.ts).
    if (!foldKafkajsHeadersLinearly()) yield* Effect.logWarning("kafkajs' header decoder is not the one K2 patches (kafkajs 2.2.4): a record of thousands of headers will hold the event loop")
    // Before any consumer fetches: kafkajs resets a position out of range without a word (kafkajsResets.ts).
    if (!tellKafkajsResets()) yield* Effect.logWarning("kafkajs' recovery from a fetch out of range is not the one K2 extends (kafkajs 2.2.4): a partition whose every record past the position was deleted will lag until a record comes, and its loss goes unreported until then")
    // Before any fetch is decoded: kafkajs itself reads gzip only, and checks no CRC (compression.ts, kafkajsFetch.ts).
    if (!registerKafkajsCodecs()) {
      yield* Effect.logWarning(
        "kafkajs' codec table or Fetch decoders are not the ones K2 extends (kafkajs 2.2.4): records compressed with snappy, lz4 or zstd " +
          "will fail the consumer, and fetched batches' CRCs may go unchecked"
      )
    }
    const { config, wantsTls } = clientConfig(kafkajs.logLevel, options)
    const kafka = new kafkajs.Kafka(config)
    const attempt = attemptKafkajs(options.security)

    const admin = kafka.admin()
    yield* connectScoped("admin", admin, attempt, wantsTls)
    const absentOr = absentOrWith(admin, options.security)
    const limits = messageLimitsOf(kafkajs, admin, attempt)
    // Connected after the admin, disconnected before it (finalizers run in reverse).
    const sink = yield* kafkajsSink(kafkajs, kafka, attempt, wantsTls, absentOr, limits)

    const source = KafkaSource.of({
      client: "kafkajs",
      subscribe: kafkajsSubscribe({ kafkajs, kafka, admin, security: options.security, absentOr })
    })

    return Context.make(KafkaSource, source).pipe(
      Context.add(KafkaSink, sink),
      Context.add(KafkaAdmin, kafkajsAdmin(kafkajs, admin, attempt, limits, absentOr))
    )
  }))
