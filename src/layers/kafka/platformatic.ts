/**
 * KafkaSource, KafkaSink and KafkaAdmin on @platformatic/kafka 2.12: the library loaded, its
 * clients made and closed with the layer.
 *
 * - Producer (platformaticSink.ts): idempotent, acks=all, Java's partitioner; records sent as
 *   platformaticMessages.ts builds them.
 * - Consumer (platformaticConsumer.ts): a group member of our own over `joinGroup()` and a fetch
 *   loop (platformaticFetchRound.ts) of exactly the positions the consumer core wants; offsets
 *   committed and read by platformaticOffsets.ts.
 * - Read committed. Control batches (transaction markers) and aborted records are never
 *   delivered; a fetch that held nothing else is delivered as an empty batch whose nextOffset is
 *   past them (the position moves on, as the Java consumer's does).
 * - Fetch responses (v12-v17) keep each partition's record batches as bytes, which K2 reads itself
 *   (platformaticFetch.ts, recordBatches.ts), their CRCs checked: platformatic's parse was most of
 *   ingest's garbage. An older Fetch (a broker before Kafka 2.7) fails the consumer (ADR-88).
 * - Admin (platformaticAdmin.ts); errors classified by platformaticErrors.ts.
 */
import { Context, Effect, Layer } from "effect"
import { KafkaAdmin, KafkaSink } from "../../services/KafkaSink.ts"
import { KafkaSource } from "../../services/KafkaSource.ts"
import { guardPlatformaticCodecs } from "./compression.ts"
import { messageLimitsOf, platformaticAdmin } from "./platformaticAdmin.ts"
import { clientBase } from "./platformaticClients.ts"
import { platformaticSubscribe } from "./platformaticConsumer.ts"
import { attemptPlatformatic } from "./platformaticErrors.ts"
import { decompressingIn, makeFetchParser } from "./platformaticFetch.ts"
import { platformaticSink } from "./platformaticSink.ts"
import type { KafkaSecurity } from "./security.ts"

export interface PlatformaticOptions {
  readonly brokers: ReadonlyArray<string>
  readonly clientId?: string
  /** Max bytes per partition per fetch. Default 256 KiB: what a partition actor holds at once. */
  readonly maxBytesPerPartition?: number
  /** TLS and SASL (ADR-54); none: PLAINTEXT. */
  readonly security?: KafkaSecurity
  /**
   * The producer's own retries ride out a broker restart (~40 s, RESTART_RETRIES) rather than
   * platformatic's ~2 s: `produce`, which waits its sends out (ADR-89). Not for the others: a send
   * under way is not interrupted (replay's republish, ingest's dead letters), and a stop would wait
   * for those retries.
   */
  readonly producerRidesOutRestart?: boolean
}

export const layerPlatformatic = (options: PlatformaticOptions) =>
  Layer.effectContext(Effect.gen(function*() {
    // Loaded with the layer, not the module: programs that refuse their options, print --help
    // or run the embedded default never pay for it (about 0.7 s of CPU).
    const lib = yield* Effect.promise(() => import("@platformatic/kafka"))
    // A batch its decoders fail on fails the consumer at once, naming the codec (compression.ts).
    guardPlatformaticCodecs(lib.compressionsAlgorithms, lib.UnsupportedCompressionError)
    // Fetch responses with their record batches as bytes, read by K2 (platformaticFetch.ts).
    const fetchParser = makeFetchParser(
      lib.readKnownTaggedFields as unknown as Parameters<typeof makeFetchParser>[0],
      lib.ResponseError as unknown as Parameters<typeof makeFetchParser>[1]
    )
    const decompressIn = decompressingIn(lib.compressionsAlgorithmsByBitmask as never, lib.UnsupportedCompressionError)
    const base = clientBase(options.brokers, options.clientId ?? "k2", options.security)
    const attempt = attemptPlatformatic(options.security)

    const admin = new lib.Admin({ ...base })
    // Not waited for: the admin has nothing to flush, and its connect under way (the first contact,
    // cut short when the wait runs out, ADR-38) would hold the scope until its connect timeout.
    yield* Effect.addFinalizer(() => Effect.sync(() => void admin.close().catch(() => undefined)))
    const limits = messageLimitsOf(lib, admin, attempt)
    // Closed before the admin (finalizers run in reverse).
    const sink = yield* platformaticSink(lib, base, options.producerRidesOutRestart === true, attempt, limits)

    const source = KafkaSource.of({
      client: "platformatic",
      subscribe: platformaticSubscribe({
        lib,
        base,
        security: options.security,
        maxBytesPerPartition: options.maxBytesPerPartition ?? 256 * 1024,
        fetchParser,
        decompressIn
      })
    })

    return Context.make(KafkaSource, source).pipe(
      Context.add(KafkaSink, sink),
      Context.add(KafkaAdmin, platformaticAdmin(lib, admin, attempt, limits))
    )
  }))
