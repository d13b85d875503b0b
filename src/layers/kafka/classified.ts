/**
 * A client library's promise-returning calls as Effects, each failure classified into K2's Kafka
 * reasons by the layer's own classifier (kafkajs' and platformatic's errors differ; what a call
 * names, its topics and group, is what a refusal's message names).
 */
import { Effect } from "effect"
import type { KafkaError } from "../../services/KafkaSource.ts"
import type { Target } from "./authorization.ts"
import type { KafkaSecurity } from "./security.ts"

/** A layer's classifier of a failed call. */
export type Classify = (operation: string, cause: unknown, topic?: string, security?: KafkaSecurity, target?: Target) => KafkaError

/** Runs a client call, its failure classified (`security`: the connection's; `group`, `topics`: what it names). */
export const classifiedBy = (classify: Classify) => (security: KafkaSecurity | undefined, group?: string) =>
<A>(operation: string, f: () => Promise<A>, topics?: string | ReadonlyArray<string>): Effect.Effect<A, KafkaError> => {
  const named = topics === undefined ? [] : typeof topics === "string" ? [topics] : topics
  return Effect.tryPromise({
    try: f,
    catch: (e) => classify(operation, e, named[0], security, { topics: named, ...(group === undefined ? {} : { group }) })
  })
}
