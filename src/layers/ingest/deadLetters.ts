/**
 * Poison records (undecodable, schema-invalid, on the wrong topic) go to `<topic>.dlq` with why
 * and where from in headers; they never stop their partition. They are sent before the marks
 * pass them, so at least once (ADR-6).
 */
import { Effect, Metric } from "effect"
import { dlqTopicName, Header } from "../../domain/wire.ts"
import type { PartitionBatch } from "../../services/KafkaSource.ts"
import type { KafkaSink, ProducerRecord } from "../../services/KafkaSink.ts"
import * as Metrics from "../telemetry/metrics.ts"
import { countBy } from "./ingestMetrics.ts"
import { retrySchedule } from "./transientFaults.ts"

/** A record for the DLQ, with why. */
export interface Poison {
  readonly offset: bigint
  readonly reason: string
  readonly detail: string
  readonly key: string | null
  readonly value: Uint8Array | null
  readonly headers: Record<string, string>
}

type Source = Pick<PartitionBatch, "topic" | "partition">

/** A batch's poison as dead letters: whole, or `stripped` of its value and source headers (and why). */
export const deadLetters = (batch: Source, poison: ReadonlyArray<Poison>, stripped?: string) =>
  poison.map((p): ProducerRecord => ({
    topic: dlqTopicName(batch.topic),
    key: p.key,
    value: stripped === undefined ? p.value : null,
    headers: {
      ...(stripped === undefined ? p.headers : { [Header.dlqStripped]: stripped.slice(0, 1000) }),
      [Header.dlqReason]: p.reason,
      [Header.dlqDetail]: p.detail.slice(0, 1000),
      [Header.dlqSourceTopic]: batch.topic,
      [Header.dlqSourcePartition]: String(batch.partition),
      [Header.dlqSourceOffset]: String(p.offset)
    }
  }))

/**
 * Sends a batch's poison to the DLQ, counted by reason in the metric (sends). The progress counts
 * them when their table commit passes them (`PartitionState.poison`): a batch dropped after its
 * send is read and sent again.
 */
export const makeDeadLetter = (producer: KafkaSink["Service"]) => {
  const send = (records: ReadonlyArray<ProducerRecord>) =>
    producer.send(records).pipe(Effect.retry({ schedule: retrySchedule, while: (e) => e.retryable }))

  return (batch: Source, poison: ReadonlyArray<Poison>) =>
    poison.length === 0
      ? Effect.void
      : send(deadLetters(batch, poison)).pipe(
        // A DLQ that refuses the records themselves (too large for it) still gets why and where
        // from: a poison record never stops its partition.
        Effect.catchIf((e) => !e.retryable, (e) => send(deadLetters(batch, poison, e.message))),
        Effect.tap(() =>
          Effect.forEach(countBy(poison, (p) => p.reason), ([reason, n]) =>
            Metric.update(Metric.withAttributes(Metrics.deadLetters, { reason }), n), { discard: true })
        )
      )
}
