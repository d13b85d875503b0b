/**
 * A principal the cluster's ACLs refuse (docs/kafka.md "ACLs"). Waiting will not grant it a
 * permission: both Kafka layers classify such a failure first, as NotAuthorized naming the
 * operation, the resource, the ACL it needs and the principal, so a program fails at once instead
 * of retrying it (a partition restarted for ever on a dead-letter topic it may not write).
 */
import { Effect } from "effect"
import { type KafkaError, kafkaError, NotAuthorized } from "../../services/KafkaSource.ts"
import { errorNodes } from "../untrustedCertificate.ts"
import type { KafkaSecurity } from "./security.ts"

type Resource = "topic" | "group" | "cluster" | "transactional id" | "delegation token"

/** The broker's authorization errors (by name: platformatic's `apiId`, kafkajs' `type`), by the resource they refuse. */
const REFUSED: Readonly<Record<string, Resource>> = {
  TOPIC_AUTHORIZATION_FAILED: "topic",
  GROUP_AUTHORIZATION_FAILED: "group",
  CLUSTER_AUTHORIZATION_FAILED: "cluster",
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "transactional id",
  DELEGATION_TOKEN_AUTHORIZATION_FAILED: "delegation token"
}

/** What K2's operations (the layers' operation names) need on a topic. */
const ON_TOPIC: Readonly<Record<string, string>> = {
  send: "WRITE",
  connect: "WRITE",
  subscribe: "READ",
  consume: "READ",
  fetch: "READ",
  rebalance: "READ",
  commit: "READ",
  committed: "DESCRIBE",
  watermarks: "DESCRIBE",
  listTopics: "DESCRIBE",
  createTopics: "CREATE (on the topic or the cluster; a topic the principal may not DESCRIBE reads as missing)",
  createPartitions: "ALTER",
  describeTopics: "DESCRIBE and DESCRIBE_CONFIGS",
  alterConfigs: "ALTER_CONFIGS",
  deleteTopics: "DELETE"
}

/** What an operation needs on the resource a broker refused. */
const needed = (operation: string, resource: Resource): string => {
  switch (resource) {
    case "topic":
      return ON_TOPIC[operation] ?? "the operation's ACL"
    case "group":
      // READ covers every group request a consumer makes (join, sync, heartbeat, commit, fetch offsets).
      return "READ"
    case "cluster":
      // An idempotent producer's InitProducerId: Kafka 3.0+ takes WRITE on any topic instead (KIP-679).
      return operation === "send" || operation === "connect"
        ? "IDEMPOTENT_WRITE (or WRITE on any topic, which Kafka 3.0+ takes instead)"
        : operation === "createTopics"
        ? "CREATE"
        : "the operation's ACL"
    default:
      return "the operation's ACL"
  }
}

/** Who the broker took the client for. */
const principalOf = (security: KafkaSecurity | undefined): string =>
  security?.sasl !== undefined
    ? `User:${security.sasl.username}`
    : security?.tls?.cert !== undefined
    ? "the principal of the client certificate (K2_KAFKA_TLS_CERT_FILE)"
    : "the anonymous principal (no K2_KAFKA_SASL_USERNAME: User:ANONYMOUS)"

/** The resources of an operation, as far as the caller knows them. */
export interface Target {
  /** The topics the operation named (the first when a broker does not say which refused). */
  readonly topics?: ReadonlyArray<string>
  readonly group?: string
}

const describeResource = (resource: Resource, target: Target): string => {
  switch (resource) {
    case "topic": {
      const topics = target.topics ?? []
      return topics.length === 0 ? "a topic it named" : topics.length === 1 ? `topic ${topics[0]}` : `topics ${topics.join(", ")} (one or more)`
    }
    case "group":
      return target.group === undefined ? "its consumer group (--group)" : `group ${target.group}`
    case "cluster":
      return "the cluster"
    default:
      return `a ${resource}`
  }
}

/** NotAuthorized when `cause` is a broker's authorization error; undefined for every other failure. */
export const authorizationFailure = (
  operation: string,
  cause: unknown,
  security: KafkaSecurity | undefined,
  target: Target = {}
): KafkaError | undefined => {
  for (const node of errorNodes(cause)) {
    const code = node.apiId ?? node.type
    const resource = code === undefined ? undefined : REFUSED[code]
    if (code !== undefined && resource !== undefined) {
      return kafkaError(
        new NotAuthorized({
          operation,
          code,
          resource: describeResource(resource, target),
          needs: needed(operation, resource),
          principal: principalOf(security)
        })
      )
    }
  }
  return undefined
}

/**
 * A topic description's configs, or undefined where the principal may not read them (no
 * DESCRIBE_CONFIGS): its partitions are what most callers want, and the configs are K2's check only.
 */
export const configsUnlessRefused = <A>(configs: Effect.Effect<A, KafkaError>): Effect.Effect<A | undefined, KafkaError> =>
  configs.pipe(Effect.catchIf((e) => e.reason._tag === "NotAuthorized", () => Effect.succeed(undefined)))
