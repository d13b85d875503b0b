/**
 * kafkajs 2.2.4 answers a fetch out of range (its position below a log start that retention or
 * DeleteRecords moved) by resetting the partition's position by itself
 * (`consumerGroup.recoverFromOffsetOutOfRange`) and tells nobody: when every record from the
 * position on was deleted, its fetches at the log start hold nothing and no batch ever says so.
 * Here each such reset is told to the listeners of the consumer's group (ADR-75), which check
 * that one partition's watermarks once: no polling, nothing asked while no log is deleted.
 */
import { createRequire } from "node:module"
import type { TopicPartition } from "../../services/KafkaSource.ts"

const require = createRequire(import.meta.url)

type Listener = (tp: TopicPartition) => void
const listeners = new Map<string, Set<Listener>>()

/** Calls `listener` with each partition the consumers of `groupId` find out of range; returns its removal. */
export const onKafkajsReset = (groupId: string, listener: Listener): () => void => {
  let set = listeners.get(groupId)
  if (set === undefined) listeners.set(groupId, (set = new Set()))
  set.add(listener)
  return () => {
    set.delete(listener)
    if (set.size === 0 && listeners.get(groupId) === set) listeners.delete(groupId)
  }
}

/**
 * Makes kafkajs' consumer groups tell their out-of-range resets (once; the kafkajs layer calls it
 * when it loads kafkajs). Whether the recovery was found as expected and now tells.
 */
export const tellKafkajsResets = (): boolean => {
  type Recover = (this: { groupId?: unknown }, e: { topic?: unknown; partition?: unknown }) => Promise<void>
  const ConsumerGroup = require("kafkajs/src/consumer/consumerGroup.js") as { prototype?: { recoverFromOffsetOutOfRange?: Recover } }
  const original = ConsumerGroup.prototype?.recoverFromOffsetOutOfRange
  if (typeof original !== "function") return false
  if ((original as { k2Told?: boolean }).k2Told === true) return true
  const patched: Recover = async function(e) {
    try {
      return await original.call(this, e)
    } finally {
      // Told after kafkajs' reset, failed or not: a listener's check stands either way, and a
      // reset that failed is met again on the next fetch.
      const { topic, partition } = e
      if (typeof this.groupId === "string" && typeof topic === "string" && typeof partition === "number") {
        for (const listener of listeners.get(this.groupId) ?? []) listener({ topic, partition })
      }
    }
  }
  Object.assign(patched, { k2Told: true })
  ConsumerGroup.prototype!.recoverFromOffsetOutOfRange = patched
  return true
}
