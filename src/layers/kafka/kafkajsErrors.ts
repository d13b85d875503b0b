/**
 * kafkajs' errors as K2's Kafka reasons. kafkajs keeps the broker's error of a request it retried
 * in `cause`; its own names say the rest (a connection lost, a request timed out, no broker).
 */
import type { Admin } from "kafkajs"
import { type KafkaError, kafkaError, KafkaRejected, KafkaUnavailable, RebalanceInProgress, UnknownTopic } from "../../services/KafkaSource.ts"
import { authorizationFailure, type Target } from "./authorization.ts"
import { classifiedBy, sharedFailure } from "./classified.ts"
import { closedConnectionHint, type KafkaSecurity } from "./security.ts"

const REBALANCE_TYPES = new Set(["REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "FENCED_INSTANCE_ID"])
const UNAVAILABLE_NAMES = new Set([
  "KafkaJSConnectionError",
  "KafkaJSRequestTimeoutError",
  "KafkaJSNumberOfRetriesExceeded",
  "KafkaJSBrokerNotFound",
  "KafkaJSNoBrokerAvailableError",
  "KafkaJSConnectionClosedError",
  "KafkaJSLockTimeout",
  "KafkaJSMetadataNotLoaded",
  "KafkaJSTopicMetadataNotLoaded"
])

/**
 * The topics a KafkaJSAggregateError (CreateTopics' answer) holds refusals of, and why: its own
 * message is only "Topic creation errors". Empty for any other error.
 */
const eachRefusal = (e: { name?: string; errors?: unknown } | undefined): string => {
  if (e?.name !== "KafkaJSAggregateError" || !Array.isArray(e.errors)) return ""
  const each = (e.errors as ReadonlyArray<{ topic?: string; type?: string; name?: string; message?: string }>)
    .map((x) => `${x.topic ?? "?"}: ${x.type ?? x.name ?? "Error"} (${x.message})`)
  return ` (${each.join("; ")})`
}

/**
 * Classify a kafkajs error into the K2 reasons; `security`: the connection's, named by its failures;
 * `target`: the resources the operation named, named by an authorization failure (`topic` its first).
 */
export const fromKafkajs = (operation: string, cause: unknown, topic?: string, security?: KafkaSecurity, target?: Target): KafkaError => {
  const shared = sharedFailure(operation, cause, topic, security, target)
  if (shared !== undefined) return shared
  type KError = { name?: string; type?: string; retriable?: boolean; message?: string; cause?: unknown }
  const e = cause as KError | undefined
  // kafkajs 2.2 keeps the broker's error of a retried request (NumberOfRetriesExceeded,
  // NonRetriableError) in `cause`: that error says what went wrong.
  let inner = e
  for (let depth = 0; depth < 8 && inner?.type === undefined && typeof inner?.cause === "object" && inner.cause !== null; depth++) {
    inner = inner.cause as KError
  }
  const type = inner?.type
  const detail = `${e?.name ?? "Error"}: ${e?.message ?? String(cause)}${inner !== e ? ` (${inner?.message})` : ""}${eachRefusal(e)}${closedConnectionHint(cause, security)}`
  if (type !== undefined && REBALANCE_TYPES.has(type)) return kafkaError(new RebalanceInProgress({ operation, detail }))
  if (e?.name === "KafkaJSGroupCoordinatorNotFound") {
    // kafkajs drops the broker's refusal of FindCoordinator and says only this; it says the same when
    // every broker's FindCoordinator failed otherwise (timed out, coordinator not available past its retries).
    return kafkaError(new KafkaRejected({
      operation,
      detail: `${detail} (kafkajs does not say why: most often the principal may not READ the group, check its ACLs; ` +
        "else no broker could name the group's coordinator in time)"
    }))
  }
  // Retried to the end, it may be a broker still loading its partitions after a restart (the
  // error is retriable): an outage, unless the topic is known to be absent (`absentOr`).
  if ((type === "UNKNOWN_TOPIC_OR_PARTITION" || type === "UNKNOWN_TOPIC_ID") && e?.name !== "KafkaJSNumberOfRetriesExceeded") {
    return kafkaError(new UnknownTopic({ topic: topic ?? "?" }))
  }
  if (e?.retriable === true || inner?.retriable === true || UNAVAILABLE_NAMES.has(e?.name ?? "") || UNAVAILABLE_NAMES.has(inner?.name ?? "")) {
    return kafkaError(new KafkaUnavailable({ operation, detail }))
  }
  return kafkaError(new KafkaRejected({ operation, detail }))
}

/** kafkajs' calls as Effects, their failures classified by `fromKafkajs`. */
export const attemptKafkajs = classifiedBy(fromKafkajs)

/**
 * A failure naming topics: UnknownTopic when one of them is absent from the cluster, else as
 * classified. A refusal goes first: Kafka hides what the principal may not DESCRIBE, so the
 * listing lacks the topic it refused (a DLQ then read as deleted, to be made again).
 */
export const absentOrWith = (admin: Pick<Admin, "listTopics">, security: KafkaSecurity | undefined) =>
async (operation: string, topics: ReadonlyArray<string>, e: unknown): Promise<never> => {
  const refused = authorizationFailure(operation, e, security, { topics })
  if (refused !== undefined) throw refused
  const existing = await admin.listTopics().catch(() => undefined)
  const missing = existing === undefined ? undefined : topics.find((t) => !existing.includes(t))
  throw missing === undefined ? fromKafkajs(operation, e, topics[0], security, { topics }) : kafkaError(new UnknownTopic({ topic: missing }))
}

/** `absentOrWith(admin, security)`: rethrows a failed call's error as UnknownTopic or as classified. */
export type AbsentOr = ReturnType<typeof absentOrWith>
