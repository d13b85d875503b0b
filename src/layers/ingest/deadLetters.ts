/**
 * Poison records (undecodable, schema-invalid, on the wrong topic) go to `<topic>.dlq` with why
 * and where from in headers; they never stop their partition. They are sent before the marks
 * pass them, so at least once (ADR-6).
 */
import { Effect, Metric } from "effect"
import { dlqTopicName, Header, sourceTopicSpecs } from "../../domain/wire.ts"
import type { KafkaError, KafkaRecord, PartitionBatch } from "../../services/KafkaSource.ts"
import type { KafkaAdmin, KafkaSink, ProducerRecord } from "../../services/KafkaSink.ts"
import { utf8Bytes } from "../kafka/textBytes.ts"
import * as Metrics from "../telemetry/metrics.ts"
import { countBy } from "./ingestMetrics.ts"
import { retrySchedule } from "./transientFaults.ts"

/** A record for the DLQ, with why. */
export interface Poison {
  /** The record as it came: its key, value and headers go to the DLQ byte for byte. */
  readonly record: KafkaRecord
  readonly reason: string
  readonly detail: string
}

type Source = Pick<PartitionBatch, "topic" | "partition">

const OURS: ReadonlySet<string> = new Set([
  Header.dlqReason,
  Header.dlqDetail,
  Header.dlqSourceTopic,
  Header.dlqSourcePartition,
  Header.dlqSourceOffset,
  Header.dlqStripped
])

/** A source header named as one of ours is dropped: ours are set below, and a whole letter has no stripped mark. */
const withoutOurs = <V>(headers: Readonly<Record<string, V>>): Record<string, V> =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => !OURS.has(name)))

/**
 * The longest key a stripped letter keeps, in bytes (K2's keys are symbols, at most 32). A key may
 * fill its topic's max.message.bytes by itself: kept, the stripped letter was refused too, and the
 * partition failed on it at every restart.
 */
const STRIPPED_KEY_MAX_BYTES = 1024

/**
 * `text` cut to `max` UTF-16 units, not inside a character: a pair's first half kept alone is no
 * UTF-8, and went as U+FFFD.
 */
const clip = (text: string, max = 1000): string => {
  if (text.length <= max) return text
  const code = text.charCodeAt(max - 1)
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max)
}

const keyLength = (record: KafkaRecord): number =>
  record.keyBytes?.length ?? (record.key === null ? 0 : Buffer.byteLength(record.key))

/**
 * A batch's poison as dead letters: whole, or `stripped` of its value and source headers, and of
 * its key when longer than STRIPPED_KEY_MAX_BYTES (and why), so that it fits any DLQ.
 */
export const deadLetters = (batch: Source, poison: ReadonlyArray<Poison>, stripped?: string) =>
  poison.map(({ detail, reason, record }): ProducerRecord => {
    const headerBytes = stripped === undefined ? record.headerBytes : undefined
    const keySize = stripped === undefined ? 0 : keyLength(record)
    const keyLeftOut = stripped !== undefined && keySize > STRIPPED_KEY_MAX_BYTES
    const why = stripped === undefined ? undefined : keyLeftOut ? `${clip(stripped)}; its key of ${keySize} bytes left out too` : clip(stripped)
    const ours = {
      [Header.dlqReason]: reason,
      [Header.dlqDetail]: clip(detail),
      [Header.dlqSourceTopic]: batch.topic,
      [Header.dlqSourcePartition]: String(batch.partition),
      [Header.dlqSourceOffset]: String(record.offset)
    }
    // A record whose names repeat: every header of it in order, then ours (ADR-105).
    const headerList = stripped === undefined ? record.headerList : undefined
    return {
      topic: dlqTopicName(batch.topic),
      key: keyLeftOut ? null : record.key,
      ...(record.keyBytes === undefined || keyLeftOut ? {} : { keyBytes: record.keyBytes }),
      value: stripped === undefined ? record.value : null,
      headers: { ...(why === undefined ? withoutOurs(record.headers) : { [Header.dlqStripped]: why }), ...ours },
      ...(headerBytes === undefined ? {} : { headerBytes: withoutOurs(headerBytes) }),
      ...(headerList === undefined ? {} : {
        headerList: [
          ...headerList.filter(([name]) => !OURS.has(name)),
          ...Object.entries(ours).map(([name, value]) => [name, utf8Bytes(value)] as const)
        ]
      })
    }
  })

/**
 * Sends a batch's poison to the DLQ, counted by reason in the metric (sends). The progress counts
 * them when their table commit passes them (`PartitionState.poison`): a batch dropped after its
 * send is read and sent again.
 */
export const makeDeadLetter = (producer: KafkaSink["Service"], admin?: KafkaAdmin["Service"]) => {
  const retried = (records: ReadonlyArray<ProducerRecord>) =>
    producer.send(records).pipe(Effect.retry({ schedule: retrySchedule, while: (e) => e.retryable }))

  /**
   * A DLQ deleted while ingest runs (brokers made to create no topic by themselves) is made again
   * with the spec `ingest` gave it at start: else its partition's every restart failed on the same
   * letter (`unknown topic`), the partition stalled until ingest was restarted.
   */
  const send = (source: string, records: ReadonlyArray<ProducerRecord>) =>
    retried(records).pipe(
      Effect.catchIf((e) => admin !== undefined && e.reason._tag === "UnknownTopic", (e) => {
        const spec = sourceTopicSpecs([source], 1)?.find((t) => t.name === dlqTopicName(source))
        if (admin === undefined || spec === undefined) return Effect.fail(e)
        return Effect.logWarning(`dead-letter topic ${spec.name} is missing (deleted?): making it again`).pipe(
          Effect.andThen(admin.ensureTopics([spec])),
          Effect.andThen(retried(records))
        )
      })
    )

  /**
   * A DLQ that refuses the records themselves (too large for it) still gets why and where from: a
   * poison record never stops its partition. A broker takes one partition's records of a send as
   * one batch, which its max.message.bytes bounds: refused, the letters go in halves, and only a
   * letter refused alone goes stripped (else every letter of the batch lost its value, and letters
   * too many to fit one batch even stripped failed the partition for good).
   */
  const sendLetters = (batch: Source, poison: ReadonlyArray<Poison>): Effect.Effect<void, KafkaError> =>
    send(batch.topic, deadLetters(batch, poison)).pipe(
      Effect.asVoid,
      // A refusal of the principal (no WRITE on the DLQ) is no letter too large: it goes up as it is.
      Effect.catchIf((e) => !e.retryable && e.reason._tag !== "NotAuthorized", (e) => {
        // The sink's requests before the refused one were written (the DLQ has one partition): those
        // letters are not sent again (they were, once per halving: a letter up to log2(n) + 1 times).
        const rest = poison.slice(e.sentBefore ?? 0)
        if (rest.length <= 1) return Effect.asVoid(send(batch.topic, deadLetters(batch, rest, e.message)))
        const half = Math.ceil(rest.length / 2)
        return Effect.andThen(sendLetters(batch, rest.slice(0, half)), sendLetters(batch, rest.slice(half)))
      })
    )

  return (batch: Source, poison: ReadonlyArray<Poison>) =>
    poison.length === 0
      ? Effect.void
      : sendLetters(batch, poison).pipe(
        Effect.tap(() =>
          Effect.forEach(countBy(poison, (p) => p.reason), ([reason, n]) =>
            Metric.update(Metric.withAttributes(Metrics.deadLetters, { reason }), n), { discard: true })
        )
      )
}
