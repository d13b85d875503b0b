/** The consumer core's own refusals, and the test for a KafkaError among other failures. */
import { type KafkaError, kafkaError, KafkaRejected, type TpKey } from "../../services/KafkaSource.ts"

/**
 * Offsets are never negative: kafkajs would take -1 and -2 for "latest" and "earliest", a broker
 * answers OFFSET_OUT_OF_RANGE and the memory log read from its start, so each layer would differ.
 */
export const negativeOffset = (operation: string, key: TpKey, offset: bigint) =>
  kafkaError(new KafkaRejected({ operation, detail: `${key}: offset ${offset} (offsets are at least 0)` }))

export const isKafkaError = (e: unknown): e is KafkaError =>
  typeof e === "object" && e !== null && (e as { _tag?: unknown })._tag === "KafkaError"
