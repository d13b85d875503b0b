/**
 * What a broker refuses in CreateTopics and AlterConfigs (INVALID_TOPIC_EXCEPTION, INVALID_CONFIG),
 * for the in-memory broker to refuse alike: else a spec the real layers fail on passed every memory test.
 * The configs K2's specs set; others are taken as given.
 */
import { COMPRESSIONS, isValidKafkaTopicName, type TopicSpec, topicConfigEntries } from "../../domain/wire.ts"

/** A Java long / int in decimal, from `min` to `max`. */
const integerAtLeast = (min: bigint, max: bigint) => (v: string) => /^-?\d+$/.test(v) && BigInt(v) >= min && BigInt(v) <= max

const LONG_MAX = 2n ** 63n - 1n
const INT_MAX = 2n ** 31n - 1n
const COMPRESSION_TYPES: ReadonlySet<string> = new Set(COMPRESSIONS)

const VALID: Readonly<Record<string, (value: string) => boolean>> = {
  "retention.ms": integerAtLeast(-1n, LONG_MAX),
  "max.message.bytes": integerAtLeast(0n, INT_MAX),
  "compression.type": (v) => COMPRESSION_TYPES.has(v),
  "cleanup.policy": (v) => v.split(",").every((p) => p.trim() === "compact" || p.trim() === "delete")
}

/**
 * Why a broker would refuse to create a topic of this name beside `existing`, or undefined: not a
 * Kafka name, or one that collides with an existing topic's (Kafka takes '.' and '_' as one).
 */
export const refusedTopicName = (name: string, existing: Iterable<string>): string | undefined => {
  if (!isValidKafkaTopicName(name)) return `${name}: not a valid topic name (INVALID_TOPIC_EXCEPTION)`
  const form = name.replaceAll(".", "_")
  for (const other of existing) {
    if (other !== name && other.replaceAll(".", "_") === form) return `${name}: collides with existing topic ${other} (INVALID_TOPIC_EXCEPTION)`
  }
  return undefined
}

/** Why a broker would refuse the spec's configs (the broker's wording), or undefined. */
export const refusedTopicConfig = (spec: TopicSpec): string | undefined => {
  for (const [name, value] of topicConfigEntries(spec)) {
    if (Object.hasOwn(VALID, name) && !VALID[name]!(value)) return `${spec.name}: invalid value ${value} for configuration ${name} (INVALID_CONFIG)`
  }
  return undefined
}
