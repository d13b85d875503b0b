/**
 * platformatic's errors as K2's Kafka reasons. A failure is a tree (MultipleErrors, ResponseError,
 * cause chains) whose leaves say what happened: the broker's error ids, platformatic's own codes,
 * the sockets' errors.
 */
import {
  type KafkaError,
  kafkaError,
  KafkaRejected,
  KafkaUnavailable,
  RebalanceInProgress,
  UnknownTopic
} from "../../services/KafkaSource.ts"
import type { Target } from "./authorization.ts"
import { classifiedBy, sharedFailure } from "./classified.ts"
import { closedConnectionHint, type KafkaSecurity } from "./security.ts"

const REBALANCE_IDS = new Set(["REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "FENCED_INSTANCE_ID", "MEMBER_ID_REQUIRED"])
const UNKNOWN_TOPIC_IDS = new Set(["UNKNOWN_TOPIC_OR_PARTITION", "UNKNOWN_TOPIC_ID"])
/**
 * Socket errors a NetworkError carries as its cause when a connection fails: the broker's host down
 * or unreachable, its name not resolving for now (a restarting pod), the connect timing out, the
 * peer gone. platformatic retries them (canRetry) and kafkajs reports them as KafkaJSConnectionError.
 */
const SOCKET_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENETRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND"
])

interface PltError {
  readonly name?: string
  readonly message?: string
  readonly code?: string
  readonly apiId?: string
  readonly canRetry?: boolean
  readonly errors?: ReadonlyArray<unknown>
  readonly cause?: unknown
}

/** Every leaf error of a platformatic error tree (MultipleErrors / ResponseError / cause chains). */
const leaves = (e: unknown, out: Array<PltError> = [], depth = 0): Array<PltError> => {
  if (e === null || typeof e !== "object" || depth > 8) return out
  const err = e as PltError
  if (Array.isArray(err.errors) && err.errors.length > 0) {
    for (const x of err.errors) leaves(x, out, depth + 1)
  } else {
    out.push(err)
    if (err.cause !== undefined && typeof err.cause === "object") leaves(err.cause, out, depth + 1)
  }
  return out
}

/**
 * Classify a platformatic error into the K2 reasons: group membership errors are
 * RebalanceInProgress, unknown topics UnknownTopic, ACLs refusing the principal NotAuthorized, network errors / timeouts / retriable broker
 * errors (leader moving, coordinator loading...) KafkaUnavailable, the rest KafkaRejected.
 */
export const fromPlatformatic = (operation: string, cause: unknown, topic?: string, security?: KafkaSecurity, target?: Target): KafkaError => {
  const shared = sharedFailure(operation, cause, topic, security, target)
  if (shared !== undefined) return shared
  const top = cause as PltError | undefined
  const all = leaves(cause)
  const detailOf = (e: PltError | undefined) => `${e?.apiId ?? e?.code ?? e?.name ?? "Error"}: ${e?.message ?? String(e)}`
  const detail = (top === undefined || top === null
    ? String(cause)
    : `${detailOf(top)}${all.length > 0 && all[0] !== top ? ` (${[...new Set(all.map(detailOf))].join("; ")})` : ""}`) +
    closedConnectionHint(cause, security)
  if (all.some((e) => e.apiId !== undefined && REBALANCE_IDS.has(e.apiId))) {
    return kafkaError(new RebalanceInProgress({ operation, detail }))
  }
  if (all.some((e) => e.apiId !== undefined && UNKNOWN_TOPIC_IDS.has(e.apiId))) {
    return kafkaError(new UnknownTopic({ topic: topic ?? "?" }))
  }
  // Metadata requests turn UNKNOWN_TOPIC_OR_PARTITION into UserError("Unknown topic <name>.").
  for (const e of all) {
    const m = e.code === "PLT_KFK_USER" ? /^Unknown topic (.*)\.$/.exec(e.message ?? "") : null
    if (m !== null) return kafkaError(new UnknownTopic({ topic: m[1] !== "unknown" ? m[1]! : topic ?? "?" }))
  }
  // A broker error that will not go away (MESSAGE_TOO_LARGE, POLICY_VIOLATION, authorisation...).
  const fatalProtocol = all.some((e) => e.apiId !== undefined && e.canRetry === false)
  const transient = all.length > 0 && all.every((e) =>
    e.canRetry === true ||
    e.code === "PLT_KFK_NETWORK" || // NetworkError and TimeoutError
    e.code === "PLT_KFK_TIMEOUT" ||
    SOCKET_ERRORS.has(e.code ?? "") ||
    (e.code === "PLT_KFK_USER" && /closed while retrying/i.test(e.message ?? "")) ||
    // A fetch sent to a leader that has left the cluster (a rolling restart): new metadata names another.
    (e.code === "PLT_KFK_USER" && /^Cannot find broker with node id/.test(e.message ?? ""))
  )
  if (!fatalProtocol && transient) return kafkaError(new KafkaUnavailable({ operation, detail }))
  return kafkaError(new KafkaRejected({ operation, detail }))
}

/** platformatic's calls as Effects, their failures classified by `fromPlatformatic`. */
export const attemptPlatformatic = classifiedBy(fromPlatformatic)
