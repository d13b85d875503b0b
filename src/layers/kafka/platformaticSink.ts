/**
 * KafkaSink on platformatic's producer: idempotent, acks=all. Keyed records use Java's partitioner
 * (`murmur2 & 0x7fffffff`, our partitioner.ts): platformatic's default (`murmur2 >>> 0`) would put
 * symbols elsewhere than kafkajs / Java producers. Records without key go round-robin. Explicit
 * partitions are checked against the topic's partition count (platformatic would silently take
 * them modulo).
 */
import type { Partitioner } from "@platformatic/kafka"
import { Effect } from "effect"
import { KafkaSink, type ProducerRecord, type RecordMetadata } from "../../services/KafkaSink.ts"
import { kafkaError, KafkaRejected } from "../../services/KafkaSource.ts"
import { inBatches } from "./batchBytes.ts"
import type { Attempt } from "./classified.ts"
import { closeWithin } from "./closing.ts"
import type { MessageLimits } from "./messageLimits.ts"
import { murmur2 } from "./partitioner.ts"
import type { ClientBase, Platformatic } from "./platformaticClients.ts"
import { toMessage } from "./platformaticMessages.ts"
import { tracedSend } from "./tracing.ts"

/**
 * The producer's own retries of a request: 12, capped (5 s), jittered exponential backoff from
 * 250 ms, about 40 s in all. A send the producer retries keeps its producer id and sequence
 * numbers, so the broker, its producer state restored from the log after a restart, drops a batch
 * it already wrote; a send that fails ends the producer session, and a caller's resend goes under
 * a new id the broker cannot deduplicate. The default 8 retries 250 ms apart failed a send 2-5 s
 * into a broker restart (10-25 s); these ride it out inside the send (ADR-89).
 */
const RESTART_RETRIES = {
  retries: 12,
  retryDelay: (_client: unknown, _operation: string, attempt: number): number =>
    Math.min(250 * 2 ** (attempt - 1), 5_000) * (0.8 + Math.random() * 0.4)
}

/** The sink's producer, closed with the scope; its sends cut under `limits` (batchBytes.ts). */
export const platformaticSink = Effect.fnUntraced(function*(
  lib: Pick<Platformatic, "Producer" | "ProduceAcks">,
  base: ClientBase,
  ridesOutRestart: boolean,
  attempt: Attempt,
  limits: MessageLimits
) {
  // Java's partitioner for keyed records (the producer takes the result modulo the partition count).
  let roundRobin = 0
  const partitioner: Partitioner<Buffer, Buffer, Buffer, Buffer> = (_message, key) =>
    key !== undefined && key !== null ? murmur2(key) & 0x7fffffff : (roundRobin++ & 0x7fffffff)
  const producer = new lib.Producer({
    ...base,
    ...(ridesOutRestart ? RESTART_RETRIES : {}),
    idempotent: true,
    acks: lib.ProduceAcks.ALL,
    partitioner,
    timeout: 30_000
  })
  yield* Effect.addFinalizer(() => closeWithin("producer", () => producer.close(true)))

  const checkPartitions = async (records: ReadonlyArray<ProducerRecord>) => {
    const explicit = records.filter((r) => r.partition !== undefined)
    if (explicit.length === 0) return
    const topics = [...new Set(explicit.map((r) => r.topic))]
    const missing = (metadata: Awaited<ReturnType<typeof producer.metadata>>) =>
      explicit.find((r) => {
        const n = metadata.topics.get(r.topic)?.partitionsCount ?? 0
        return !Number.isInteger(r.partition) || r.partition! < 0 || r.partition! >= n
      })
    // The producer's metadata may predate partitions just added: ask the broker before refusing
    // (the producer's send reads the same, now fresh, metadata).
    const r = missing(await producer.metadata({ topics })) !== undefined
      ? missing(await producer.metadata({ topics, forceUpdate: true }))
      : undefined
    if (r !== undefined) {
      throw kafkaError(new KafkaRejected({ operation: "send", detail: `${r.topic} has no partition ${r.partition}` }))
    }
  }

  return KafkaSink.of({
    client: "platformatic",
    // platformatic sends a partition's records of a send as one batch: requests under the limit (batchBytes.ts).
    send: tracedSend(inBatches(Effect.fnUntraced(function*(records: ReadonlyArray<ProducerRecord>) {
      if (records.length === 0) return []
      const res = yield* attempt("send", async () => {
        await checkPartitions(records)
        return producer.send({ messages: records.map(toMessage) })
      }, [...new Set(records.map((r) => r.topic))])
      return (res.offsets ?? []).map((o): RecordMetadata => ({ topic: o.topic, partition: o.partition, baseOffset: o.offset >= 0n ? o.offset : null }))
    }), limits)),
    // send resolves only once acknowledged: nothing is buffered.
    flush: () => Effect.void
  })
})
