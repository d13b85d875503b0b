/**
 * Record batch sizes (format v2, uncompressed as K2's clients send them) and sends split under
 * their topics' max.message.bytes (ADR-73, ADR-78).
 *
 * Neither kafkajs nor @platformatic/kafka splits a send: all of its records for one partition go
 * as one batch, which the broker refuses whole (MESSAGE_TOO_LARGE) when it is larger than the
 * topic's max.message.bytes (ADR-69). `inBatches` makes each send of a K2 sink (all three layers)
 * requests of at most its topics' limit (never above DEFAULT_MAX_MESSAGE_BYTES), as Java's
 * producer does with its batch.size.
 */
import { Effect } from "effect"
import type { ProducerRecord, RecordMetadata } from "../../services/KafkaSink.ts"
import { KafkaError } from "../../services/KafkaSource.ts"
import { sentHeaderBytes } from "./textBytes.ts"

/** Kafka's default max.message.bytes (a topic without the config takes the broker's message.max.bytes, 1048588). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588

/** A zigzag varint's length, as record fields' lengths are written. */
const varintBytes = (n: number): number => {
  let z = n >= 0 ? n * 2 : -n * 2 - 1
  let bytes = 1
  while (z >= 128) {
    z = Math.floor(z / 128)
    bytes++
  }
  return bytes
}
const fieldBytes = (length: number | null): number => length === null ? 1 : varintBytes(length) + length

/** The batch header of format v2 (base offset to record count), before its records. */
export const BATCH_HEADER_BYTES = 61

/**
 * A record's bytes inside a record batch (format v2: its varint length, attributes, timestamp and
 * offset deltas, key, value and headers).
 */
export const recordBytes = (r: ProducerRecord, offsetDelta: number, timestampDelta: number): number => {
  const key = r.keyBytes?.length ?? (r.key === null ? null : Buffer.byteLength(r.key))
  let body = 1 + varintBytes(timestampDelta) + varintBytes(offsetDelta) + fieldBytes(key) + fieldBytes(r.value?.length ?? null)
  let headers = 0
  if (r.headerList !== undefined) {
    for (const [name, value] of r.headerList) {
      headers++
      body += fieldBytes(Buffer.byteLength(name)) + fieldBytes(value.length)
    }
  } else if (r.headers !== undefined) {
    for (const name in r.headers) {
      headers++
      body += fieldBytes(Buffer.byteLength(name)) + fieldBytes(sentHeaderBytes(r.headerBytes, name)?.length ?? Buffer.byteLength(r.headers[name]!))
    }
  }
  body += varintBytes(headers)
  return varintBytes(body) + body
}

/**
 * The size of a record batch holding `r` alone, which the broker holds to the topic's
 * max.message.bytes. No client puts a record in a smaller batch.
 */
export const recordBatchBytes = (r: ProducerRecord): number => BATCH_HEADER_BYTES + recordBytes(r, 0, 0)

/**
 * A timestamp delta bounding any in a send (2^41 ms, 70 years; its varint is 7 bytes): whether
 * the caller stamps records or the client does (now), and whichever record of a partition's
 * batch is its first, no record's delta takes more bytes.
 */
const ANY_DELTA = 2 ** 41

/** Bytes a record's fields cost beyond their lengths, at most: its length, attributes, deltas and field lengths. */
const RECORD_OVERHEAD = 5 + 1 + 7 + 5 + 5 + 5 + 5
/** Per header: its name's and value's lengths. */
const HEADER_OVERHEAD = 10

/**
 * Whether the send is surely no larger than `limit` as one batch, by a bound that reads no
 * text's UTF-8 (at most 3 bytes per UTF-16 unit): `produce`'s sends of ~200 KB pass here at a few
 * nanoseconds a record, the exact sizes left to the sends near the limit.
 */
const fitsSurely = (records: ReadonlyArray<ProducerRecord>, limit: number): boolean => {
  let bound = BATCH_HEADER_BYTES
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    bound += RECORD_OVERHEAD + (r.keyBytes?.length ?? (r.key === null ? 0 : r.key.length * 3)) + (r.value?.length ?? 0)
    const headers = r.headers
    if (r.headerList !== undefined) {
      for (const [name, value] of r.headerList) bound += HEADER_OVERHEAD + name.length * 3 + value.length
    } else if (headers !== undefined) {
      for (const name in headers) {
        bound += HEADER_OVERHEAD + name.length * 3 + (sentHeaderBytes(r.headerBytes, name)?.length ?? headers[name]!.length * 3)
      }
    }
    if (bound > limit) return false
  }
  return true
}

/**
 * A send's records cut, in order, into runs whose batch (all of a run's records in one batch, as if
 * to one partition) is at most `limit` bytes: each partition's batch of a run is no larger. A
 * record too large alone is a run by itself (the broker refuses it, unless its topic allows more).
 * Returns undefined when the send fits whole (the common case: nothing allocated).
 */
export const splitUnder = (
  records: ReadonlyArray<ProducerRecord>,
  limit: number = DEFAULT_MAX_MESSAGE_BYTES
): Array<ReadonlyArray<ProducerRecord>> | undefined => {
  if (fitsSurely(records, limit)) return undefined
  let runs: Array<ReadonlyArray<ProducerRecord>> | undefined
  let start = 0
  let bytes = BATCH_HEADER_BYTES
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    const size = recordBytes(r, i - start, ANY_DELTA)
    if (bytes + size > limit && i > start) {
      ;(runs ??= []).push(records.slice(start, i))
      start = i
      bytes = BATCH_HEADER_BYTES + recordBytes(r, 0, ANY_DELTA)
    } else bytes += size
  }
  if (runs === undefined) return undefined
  runs.push(records.slice(start))
  return runs
}

/** The size each send is cut under: its topics' max.message.bytes (messageLimits.ts, ADR-78). */
export interface SendLimits {
  /** The send's limit when its topics' are known (the common case: nothing read); else undefined. */
  readonly known: (records: ReadonlyArray<ProducerRecord>) => number | undefined
  /** Reads what `known` lacks first. */
  readonly read: (records: ReadonlyArray<ProducerRecord>) => Effect.Effect<number>
}

/**
 * A sink's send made a request per run of `splitUnder` its topics' limit, one after another (each
 * partition's order kept); the metadata of all of them. A run refused fails the send, the runs
 * before it written (a KafkaError tells how many records: `sentBefore`).
 */
export const inBatches = <E, R>(
  send: (records: ReadonlyArray<ProducerRecord>) => Effect.Effect<ReadonlyArray<RecordMetadata>, E, R>,
  limits: SendLimits
) => {
  const under = (records: ReadonlyArray<ProducerRecord>, limit: number) => {
    const runs = splitUnder(records, limit)
    if (runs === undefined) return send(records)
    // A run's failure tells how many records the runs before it wrote (KafkaError.sentBefore): a
    // caller that sends the rest again (dead letters around one too large) sends them once.
    return Effect.suspend(() => {
      let sent = 0
      return Effect.map(
        Effect.forEach(runs, (run) =>
          send(run).pipe(
            Effect.mapError((e) => sent > 0 && e instanceof KafkaError ? new KafkaError({ reason: e.reason, sentBefore: sent }) as E : e),
            Effect.tap(() => Effect.sync(() => void (sent += run.length)))
          )),
        (metadata) => metadata.flat()
      )
    })
  }
  return (records: ReadonlyArray<ProducerRecord>): Effect.Effect<ReadonlyArray<RecordMetadata>, E, R> => {
    const limit = limits.known(records)
    return limit !== undefined ? under(records, limit) : Effect.flatMap(limits.read(records), (limit) => under(records, limit))
  }
}
