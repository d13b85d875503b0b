/**
 * A client library's promise-returning calls as Effects, each failure classified into K2's Kafka
 * reasons by the layer's own classifier (kafkajs' and platformatic's errors differ; what a call
 * names, its topics and group, is what a refusal's message names).
 */
import { Effect } from "effect"
import type { KafkaError } from "../../services/KafkaSource.ts"
import { authorizationFailure, type Target } from "./authorization.ts"
import { isKafkaError } from "./consumerCore.ts"
import { type KafkaSecurity, securityFailure } from "./security.ts"

/** A layer's classifier of a failed call. */
export type Classify = (operation: string, cause: unknown, topic?: string, security?: KafkaSecurity, target?: Target) => KafkaError

/**
 * What either client's failure is checked for before its own words: one of K2's already, the
 * connection's security refused (first: a refused SASL authentication comes wrapped in a network
 * error), an ACL refusing the principal (naming `target`, else `topic`).
 */
export const sharedFailure = (operation: string, cause: unknown, topic?: string, security?: KafkaSecurity, target?: Target): KafkaError | undefined => {
  if (isKafkaError(cause)) return cause
  const secured = securityFailure(operation, cause, security)
  if (secured !== undefined) return secured
  return authorizationFailure(operation, cause, security, target ?? (topic === undefined ? {} : { topics: [topic] }))
}

/** Runs a client call, its failure classified (`security`: the connection's; `group`, `topics`: what it names). */
export const classifiedBy = (classify: Classify) => (security: KafkaSecurity | undefined, group?: string) =>
<A>(operation: string, f: () => Promise<A>, topics?: string | ReadonlyArray<string>): Effect.Effect<A, KafkaError> => {
  const named = topics === undefined ? [] : typeof topics === "string" ? [topics] : topics
  return Effect.tryPromise({
    try: f,
    catch: (e) => classify(operation, e, named[0], security, { topics: named, ...(group === undefined ? {} : { group }) })
  })
}

/** A layer's client calls as Effects (`classifiedBy(classify)(security, group)`). */
export type Attempt = ReturnType<ReturnType<typeof classifiedBy>>
