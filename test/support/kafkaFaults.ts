/** Kafka layers that fail on purpose, for the ingest supervisor's tests. */
import { Effect, Layer } from "effect"
import { KafkaSink } from "../../src/services/KafkaSink.ts"
import { kafkaError, KafkaRejected } from "../../src/services/KafkaSource.ts"

/** KafkaSink over `kafka` whose first `refusals` sends to a DLQ topic fail: past its budget, the partition's actor fails. */
export const refusingDlqSends = (kafka: Layer.Layer<KafkaSink>, refusals: number) => {
  let refusalsLeft = refusals
  return Layer.effect(KafkaSink)(Effect.gen(function*() {
    const inner = yield* KafkaSink
    return KafkaSink.of({
      ...inner,
      send: (records) =>
        records.some((r) => r.topic.endsWith(".dlq")) && refusalsLeft-- > 0
          ? Effect.fail(kafkaError(new KafkaRejected({ operation: "send", detail: "injected" })))
          : inner.send(records)
    })
  })).pipe(Layer.provide(kafka))
}
