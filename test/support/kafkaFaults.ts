/** Kafka layers that fail on purpose, for the ingest supervisor's tests. */
import { Deferred, Effect, Layer } from "effect"
import { KafkaSink } from "../../src/services/KafkaSink.ts"
import { type Consumer, kafkaError, KafkaRejected, KafkaSource } from "../../src/services/KafkaSource.ts"

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

/**
 * KafkaSink over `kafka` whose first send to a DLQ topic completes `waiting`, then waits for
 * `released` before it goes on; the others go at once.
 */
export const holdingFirstDlqSend = (kafka: Layer.Layer<KafkaSink>, waiting: Deferred.Deferred<void>, released: Deferred.Deferred<void>) => {
  let held = false
  return Layer.effect(KafkaSink)(Effect.gen(function*() {
    const inner = yield* KafkaSink
    return KafkaSink.of({
      ...inner,
      send: (records) =>
        Effect.suspend(() => {
          if (held || !records.some((r) => r.topic.endsWith(".dlq"))) return inner.send(records)
          held = true
          return Deferred.succeed(waiting, undefined).pipe(Effect.andThen(Deferred.await(released)), Effect.andThen(inner.send(records)))
        })
    })
  })).pipe(Layer.provide(kafka))
}

/** KafkaSource over the one beneath whose consumers are `wrap` of theirs. */
export const wrappingConsumers = (wrap: (consumer: Consumer) => Consumer) =>
  Layer.effect(KafkaSource)(Effect.gen(function*() {
    const inner = yield* KafkaSource
    return KafkaSource.of({ ...inner, subscribe: (options) => Effect.map(inner.subscribe(options), wrap) })
  }))

/**
 * KafkaSource over `kafka` whose consumers commit group offsets through `commit`, given the
 * consumer's own; `subscribed` is told of each subscription (a rejoin is a second one).
 */
export const wrappingCommits = (
  kafka: Layer.Layer<KafkaSource>,
  commit: (offsets: Parameters<Consumer["commit"]>[0], own: Consumer["commit"]) => ReturnType<Consumer["commit"]>,
  subscribed: () => void = () => {}
) =>
  wrappingConsumers((consumer) => {
    subscribed()
    return { ...consumer, commit: (offsets) => commit(offsets, consumer.commit) }
  }).pipe(Layer.provide(kafka))
