/** The topics `produce` writes, made sure of before it publishes. */
import { DLQ_SUFFIX, instrumentsTopicSpecs, type TopicSpec, topicSpecs } from "../../domain/wire.ts"

/**
 * The topics `produce` makes sure of before it publishes: an exchange's trades, quotes and
 * instruments topics, the ones it writes. Not their DLQs: produce never writes one, `ingest` makes
 * them at its start (and again when one is deleted), and a principal allowed only to WRITE the
 * source topics sees no DLQ (Kafka hides what it may not DESCRIBE), so ensuring them asked CREATE
 * and every start failed.
 */
export const publishedTopicSpecs = (exchange: string, partitions: number): ReadonlyArray<TopicSpec> => {
  const topics = (["trades", "quotes"] as const).map((dataType) => ({ assetClass: "equities" as const, dataType, exchange, partitions }))
  return [...topicSpecs(topics), ...instrumentsTopicSpecs(exchange, partitions)].filter((s) => !s.name.endsWith(DLQ_SUFFIX))
}
