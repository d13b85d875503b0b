/**
 * Counts the watermarks requests (admin `fetchTopicOffsets`) of every kafkajs admin made after it is
 * installed: what K2's kafkajs consumer asks the broker beside its fetches (ADR-75).
 */
import kafkajs from "kafkajs"

let asked = 0
const admin = kafkajs.Kafka.prototype.admin
kafkajs.Kafka.prototype.admin = function(this: kafkajs.Kafka, ...args: Parameters<typeof admin>) {
  const a = admin.apply(this, args)
  const fetchTopicOffsets = a.fetchTopicOffsets.bind(a)
  a.fetchTopicOffsets = (topic: string) => {
    asked++
    return fetchTopicOffsets(topic)
  }
  return a
}

/** Watermarks requests so far. */
export const offsetsAsked = (): number => asked
