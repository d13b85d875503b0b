/**
 * What a client layer supplies to the consumer core (consumerCore.ts): seek, pause and resume on
 * its client, the group's offsets and the partitions' watermarks.
 */
import type { OffsetCommit, PartitionWatermarks, TopicPartition, TpKey } from "../../services/KafkaSource.ts"

export interface ConsumerDriver {
  /** Make the client fetch `tp` from `offset` next. */
  seek(tp: TopicPartition, offset: bigint): void
  pause(tps: ReadonlyArray<TopicPartition>): void
  resume(tps: ReadonlyArray<TopicPartition>): void
  committed(tps: ReadonlyArray<TopicPartition>): Promise<ReadonlyMap<TpKey, bigint | null>>
  watermarks(topic: string): Promise<ReadonlyArray<PartitionWatermarks>>
  commit(offsets: ReadonlyArray<OffsetCommit>): Promise<void>
}
