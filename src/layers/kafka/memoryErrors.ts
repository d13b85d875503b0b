/** The memory layer's failures as KafkaError: a broker's own as thrown, anything else a rejection of the operation. */
import { Effect } from "effect"
import { type KafkaError, kafkaError, KafkaRejected } from "../../services/KafkaSource.ts"
import { isKafkaError } from "./consumerCore.ts"

export const toKafkaError = (operation: string, cause: unknown): KafkaError =>
  isKafkaError(cause)
    ? cause
    : kafkaError(new KafkaRejected({ operation, detail: cause instanceof Error ? cause.message : String(cause) }))

export const guard = <A>(operation: string, f: () => A): Effect.Effect<A, KafkaError> =>
  Effect.try({ try: f, catch: (e) => toKafkaError(operation, e) })
