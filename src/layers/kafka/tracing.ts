/**
 * Messaging spans (OpenTelemetry semantic conventions for Kafka) and W3C trace context in
 * record headers, shared by the KafkaSink layers and the ingest pipeline.
 *
 * Producer: each `send` is one span of kind producer, `send <topic>`; when a tracing backend
 * is installed every record carries that span's `traceparent` header, so whoever consumes
 * it can link back. Consumer: `producerLinks` turns those headers into span links, at most
 * `MAX_LINKS` per batch. With no backend (Effect's native tracer) headers are neither written
 * nor parsed, so the per-record path costs nothing extra.
 */
import { Effect, Tracer } from "effect"
import { formatTraceparent, parseTraceparent } from "../../domain/traceContext.ts"
import { Header } from "../../domain/wire.ts"
import type { ProducerRecord, RecordMetadata } from "../../services/KafkaSink.ts"
import type { KafkaRecord, PartitionBatch } from "../../services/KafkaSource.ts"
import { utf8Bytes } from "./textBytes.ts"

/** Links per consumer span: a batch of records from one producer send needs one. */
export const MAX_LINKS = 16

/** Version 00 is 55 characters; later versions may append fields, within reason. */
const MAX_TRACEPARENT_LENGTH = 512

/** True when spans go somewhere (an exporter is installed), i.e. context is worth carrying. */
export const tracingOn: Effect.Effect<boolean> = Effect.map(Effect.tracer, (tracer) => tracer !== Tracer.nativeTracer)

const singleTopic = (records: ReadonlyArray<ProducerRecord>): string | undefined => {
  const topic = records[0]?.topic
  for (const r of records) if (r.topic !== topic) return undefined
  return topic
}

const withTraceparent = (records: ReadonlyArray<ProducerRecord>, traceparent: string): Array<ProducerRecord> =>
  records.map((r) => {
    const headers: Record<string, string> = { ...r.headers, [Header.traceparent]: traceparent }
    // A tracestate belongs to the traceparent it came with (a dead letter copies the source's).
    delete headers[Header.tracestate]
    // A letter with every header (its source's names repeat) sends them instead: this send's context last.
    const list = r.headerList === undefined ? {} : {
      headerList: [
        ...r.headerList.filter(([name]) => name !== Header.traceparent && name !== Header.tracestate),
        [Header.traceparent, utf8Bytes(traceparent)] as const
      ]
    }
    if (r.headerBytes === undefined) return { ...r, headers, ...list }
    // The source's bytes of either (not UTF-8) would be sent in place of this send's context.
    const headerBytes: Record<string, Uint8Array> = { ...r.headerBytes }
    delete headerBytes[Header.traceparent]
    delete headerBytes[Header.tracestate]
    return { ...r, headers, headerBytes, ...list }
  })

/** A KafkaSink `send` in its producer span, stamping records with the span's context when traced. */
export const tracedSend = <E>(
  send: (records: ReadonlyArray<ProducerRecord>) => Effect.Effect<ReadonlyArray<RecordMetadata>, E>
) =>
(records: ReadonlyArray<ProducerRecord>): Effect.Effect<ReadonlyArray<RecordMetadata>, E> => {
  const topic = singleTopic(records)
  return Effect.useSpan(topic === undefined ? "send" : `send ${topic}`, {
    kind: "producer",
    attributes: {
      "messaging.system": "kafka",
      "messaging.operation.type": "send",
      "messaging.operation.name": "send",
      "messaging.batch.message_count": records.length,
      ...(topic === undefined ? {} : { "messaging.destination.name": topic })
    }
  }, (span) =>
    Effect.flatMap(tracingOn, (on) =>
      send(on && records.length > 0 ? withTraceparent(records, formatTraceparent(span)) : records)
    ).pipe(Effect.withParentSpan(span)))
}

/**
 * Links to the producer spans of a batch's records (distinct, first `max`), each with the
 * offset of the first record it produced in this batch. Call only when tracing is on.
 */
export const producerLinks = (records: ReadonlyArray<KafkaRecord>, max = MAX_LINKS): Array<Tracer.SpanLink> => {
  const links: Array<Tracer.SpanLink> = []
  const seen = new Set<string>()
  let last: string | undefined
  for (const record of records) {
    const value = record.headers[Header.traceparent]
    // Records of one send are adjacent and share a value: compare before parsing. An oversized
    // value is no traceparent, and never enters `seen`: V8 hashes long strings by length alone,
    // so a batch of distinct ones would make every lookup scan them all (quadratic).
    if (value === undefined || value === last || value.length > MAX_TRACEPARENT_LENGTH) continue
    last = value
    if (seen.has(value)) continue
    seen.add(value)
    const context = parseTraceparent(value)
    if (context === undefined) continue
    links.push({ span: Tracer.externalSpan(context), attributes: { "messaging.kafka.offset": record.offset } })
    if (links.length >= max) break
  }
  return links
}

/** Attributes of a consumer span processing one partition batch. */
export const consumeAttributes = (batch: PartitionBatch, group: string): Record<string, unknown> => ({
  "messaging.system": "kafka",
  "messaging.operation.type": "process",
  "messaging.operation.name": "process",
  "messaging.destination.name": batch.topic,
  "messaging.destination.partition.id": String(batch.partition),
  "messaging.consumer.group.name": group,
  "messaging.batch.message_count": batch.records.length,
  // The batch's first offset; the links carry the offsets of the records they came with.
  "messaging.kafka.offset": batch.firstOffset
})
