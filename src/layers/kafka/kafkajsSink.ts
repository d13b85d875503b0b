/**
 * KafkaSink on kafkajs' producer: idempotent, acks=all, one in-flight request per broker (kafkajs'
 * rule for idempotence). Batches go uncompressed: the topic's compression.type is applied by the
 * broker. Keyed records are placed by K2's murmur2 (partitioner.ts), the partition Java's gives.
 */
import { Effect } from "effect"
import type { ICustomPartitioner, Kafka } from "kafkajs"
import { KafkaSink, type ProducerRecord } from "../../services/KafkaSink.ts"
import { inBatches } from "./batchBytes.ts"
import type { Attempt } from "./classified.ts"
import { connectScoped, type Kafkajs, METADATA_MAX_AGE_MS } from "./kafkajsClients.ts"
import type { AbsentOr } from "./kafkajsErrors.ts"
import { toTopicMessages } from "./kafkajsMessages.ts"
import type { MessageLimits } from "./messageLimits.ts"
import { partitionForKey } from "./partitioner.ts"
import { tracedSend } from "./tracing.ts"

/**
 * kafkajs' default (Java-compatible) partitioner, except that a record naming a partition the
 * topic lacks fails the send: kafkajs would drop it without a word. The first time, the metadata
 * may be stale (partitions just added): kafkajs refreshes it and tries again; the second time the
 * send is rejected. Nothing of the send is written either way. A keyed record is placed by K2's
 * murmur2 (the same partition): kafkajs' computes on BigInts that grow with the key, quadratic, on
 * the event loop (a 64 KB key: 1.5 s; a dead letter keyed by a 1 MB key: minutes, its partition stalled).
 */
export const checkedPartitioner = (kafkajs: Kafkajs): ICustomPartitioner => () => {
  // Its type declares no constructor argument, but it needs its message.
  const KafkaJSMetadataNotLoaded = kafkajs.KafkaJSMetadataNotLoaded as unknown as new(message: string) => Error
  const partitioner = kafkajs.Partitioners.DefaultPartitioner()
  const retried = new WeakSet<object>()
  return (args) => {
    const p = args.message.partition
    if (p !== undefined && p !== null && !(Number.isInteger(p) && p >= 0 && p < args.partitionMetadata.length)) {
      const detail = `${args.topic} has no partition ${p}`
      if (retried.has(args.message)) throw new kafkajs.KafkaJSNonRetriableError(detail)
      retried.add(args.message)
      throw new KafkaJSMetadataNotLoaded(detail)
    }
    const key = args.message.key
    if ((p === undefined || p === null) && key !== null && key !== undefined) return partitionForKey(key, args.partitionMetadata.length)
    return partitioner(args)
  }
}

/**
 * The sink's producer, connected until the scope closes (`wantsTls`: connectScoped's); its sends cut
 * under `limits` (batchBytes.ts).
 */
export const kafkajsSink = Effect.fnUntraced(function*(
  kafkajs: Kafkajs,
  kafka: Kafka,
  attempt: Attempt,
  wantsTls: Promise<never> | undefined,
  absentOr: AbsentOr,
  limits: MessageLimits
) {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: checkedPartitioner(kafkajs),
    // As the consumer's: at kafkajs' default (5 minutes) a grown topic's new partitions got no records that long.
    metadataMaxAge: METADATA_MAX_AGE_MS
  })
  yield* connectScoped("producer", producer, attempt, wantsTls)

  return KafkaSink.of({
    client: "kafkajs",
    // kafkajs sends a partition's records of a sendBatch as one batch: requests under the limit (batchBytes.ts).
    send: tracedSend(inBatches(Effect.fnUntraced(function*(records: ReadonlyArray<ProducerRecord>) {
      if (records.length === 0) return []
      // A topic deleted since (a DLQ an operator removed) fails after kafkajs' retries as an
      // outage, to be retried for minutes: told apart, it is UnknownTopic, naming the topic.
      const res = yield* attempt("send", () =>
        producer.sendBatch({ topicMessages: toTopicMessages(records), acks: -1 })
          .catch((e: unknown) => absentOr("send", [...new Set(records.map((r) => r.topic))], e)), records[0]!.topic)
      return res.map((r) => ({ topic: r.topicName, partition: r.partition, baseOffset: r.baseOffset !== undefined ? BigInt(r.baseOffset) : null }))
    }), limits)),
    // sendBatch resolves only once acknowledged: nothing is buffered.
    flush: () => Effect.void
  })
})
