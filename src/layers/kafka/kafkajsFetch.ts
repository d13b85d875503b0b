/**
 * kafkajs' Fetch responses (v4-v11), walked by K2 before kafkajs decodes them (compression.ts wraps
 * its decoders): where each partition's records are, and each complete record batch's CRC-32C
 * checked as the platformatic layer checks it (recordBatchCheck.ts `checkBatch`, ADR-88, ADR-90).
 * kafkajs reads the CRC and ignores it: a damaged batch gave wrong records, or, on a damaged count,
 * a silent end of the partition's records for that fetch.
 *
 * As kafkajs reads a partition's bytes: in the format of the first batch's magic. A legacy message
 * set (magic 0 or 1, CRC-32 of each message) kafkajs reads without a check, and so does K2; a
 * truncated last batch (Fetch's byte limits) is left for the next fetch, unchecked, as kafkajs
 * leaves it.
 */
import { checkBatch } from "./recordBatchCheck.ts"
import { MAGIC, MAGIC_AT } from "./recordBatchLayout.ts"

export interface FetchedPartition {
  readonly topic: string
  readonly partition: number
  /** Where its records are in the response, [start, end). */
  readonly start: number
  readonly end: number
}

/**
 * The partitions of a fetch response (`version` 4-11, without the size and correlation id kafkajs
 * reads before), in order; undefined when the bytes are not that layout (kafkajs' decode says why).
 */
export const fetchedPartitions = (response: Uint8Array, version: number): Array<FetchedPartition> | undefined => {
  const view = new DataView(response.buffer, response.byteOffset, response.byteLength)
  const out: Array<FetchedPartition> = []
  // throttle_time_ms, then from v7 error_code and session_id.
  let p = version >= 7 ? 10 : 4
  try {
    const topics = view.getInt32(p)
    p += 4
    for (let t = 0; t < topics; t++) {
      const nameLength = view.getInt16(p)
      if (p + 2 + nameLength > response.length) return undefined
      const topic = Buffer.from(response.subarray(p + 2, p + 2 + nameLength)).toString("utf8")
      p += 2 + nameLength
      const partitions = view.getInt32(p)
      p += 4
      for (let i = 0; i < partitions; i++) {
        const partition = view.getInt32(p)
        // partition, error_code, high_watermark, last_stable_offset, from v5 log_start_offset.
        p += 4 + 2 + 8 + 8 + (version >= 5 ? 8 : 0)
        const aborted = view.getInt32(p)
        p += 4 + Math.max(aborted, 0) * 16
        // From v11, preferred_read_replica.
        if (version >= 11) p += 4
        const size = Math.max(view.getInt32(p), 0)
        p += 4
        if (p + size > response.length) return undefined
        out.push({ topic, partition, start: p, end: p + size })
        p += size
      }
    }
  } catch {
    // Past the end: not a layout this walk knows.
    return undefined
  }
  return out
}

/** What kafkajs reads a later batch of another magic as, when the first is magic 2. */
const READ_AS_V2 = "kafkajs reads a fetched partition's batches in the format of its first (magic 2 here), and would read this one as that"

/**
 * Checks each complete batch of a fetch response's partitions (`version` 4-11) whose first batch is
 * of magic 2, as kafkajs would read them: throws `KafkaBatchCorrupt` (length, CRC) or
 * `KafkaRecordFormatUnsupported` (a later batch of magic 0 or 1) naming the partition and offset.
 */
export const checkFetchResponse = (response: Buffer, version: number): void => {
  const partitions = fetchedPartitions(response, version)
  if (partitions === undefined) return
  for (const { end, partition, start, topic } of partitions) {
    // kafkajs reads a message set (magic 0 or 1) when the first batch is one.
    if (end - start <= MAGIC_AT || response.readInt8(start + MAGIC_AT) !== MAGIC) continue
    let pos = start
    while (end - pos >= 12 && end - pos - 12 >= response.readInt32BE(pos + 8)) {
      checkBatch(response, pos, `${topic} partition ${partition}`, READ_AS_V2)
      pos += 12 + response.readInt32BE(pos + 8)
    }
  }
}
