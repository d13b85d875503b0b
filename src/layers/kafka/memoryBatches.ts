/**
 * A send's records as the in-memory broker checks them: each partition's records one record batch,
 * sized to the byte as a broker measures it (batchBytes.ts), and refused when larger than its
 * topic's max.message.bytes (MemoryLog.produce).
 */
import type { ProducerRecord } from "../../services/KafkaSink.ts"
import { type KafkaError, kafkaError, KafkaRejected } from "../../services/KafkaSource.ts"
import { BATCH_HEADER_BYTES, recordBytes } from "./batchBytes.ts"

/** One partition's records of a send, as a client batches them. */
export interface Batch {
  readonly topic: string
  readonly partition: number
  bytes: number
  records: number
  readonly firstTimestamp: number | undefined
  refused: boolean
}

/** The send's batches, and each record's (`records[i]` goes to `partitions[i]`). */
export const batchesOf = (records: ReadonlyArray<ProducerRecord>, partitions: ReadonlyArray<number>) => {
  const batches = new Map<string, Batch>()
  const batchOf = new Array<Batch>(records.length)
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    const id = `${r.topic}\u0000${partitions[i]}`
    let b = batches.get(id)
    if (b === undefined) {
      b = { topic: r.topic, partition: partitions[i]!, bytes: BATCH_HEADER_BYTES, records: 0, firstTimestamp: r.timestamp, refused: false }
      batches.set(id, b)
    }
    const timestampDelta = r.timestamp === undefined || b.firstTimestamp === undefined ? 0 : r.timestamp - b.firstTimestamp
    b.bytes += recordBytes(r, b.records++, timestampDelta)
    batchOf[i] = b
  }
  return { batches, batchOf }
}

/** Marks each batch larger than its topic's limit refused; the send's refusal (the first such batch's), if any. */
export const refuseOversized = (batches: Iterable<Batch>, maxMessageBytes: (topic: string) => number): KafkaError | undefined => {
  let refusal: KafkaError | undefined
  for (const b of batches) {
    const limit = maxMessageBytes(b.topic)
    if (b.bytes > limit) {
      b.refused = true
      refusal ??= kafkaError(new KafkaRejected({
        operation: "send",
        // The broker's text, as both clients give it, then the sizes.
        detail: `MESSAGE_TOO_LARGE: The request included a message larger than the max message size the server will accept ` +
          `(a record batch of ${b.bytes} bytes, ${b.records} record${b.records === 1 ? "" : "s"} to ${b.topic}-${b.partition}; ` +
          `its max.message.bytes is ${limit})`
      }))
    }
  }
  return refusal
}
