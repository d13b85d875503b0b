/**
 * What the consumer core keeps of each assigned partition (its positions and epoch: consumerCore.ts
 * says what they mean), and a buffered batch tagged with the epoch it was fetched in.
 */
import type { PartitionBatch, TopicPartition, TpKey } from "../../services/KafkaSource.ts"

export interface PartState {
  readonly tp: TopicPartition
  epoch: number
  fetchPos: bigint
  deliveredPos: bigint
  /** Paused by the user (backpressure). */
  paused: boolean
  /** Waiting for onAssign / the committed offset: nothing is accepted. */
  starting: boolean
  /**
   * Right after a seek (or resume, or assignment) the next batch must come from exactly fetchPos;
   * afterwards a client may skip ahead by itself (offsets hidden by compaction or control records).
   */
  strict: boolean
  /** Sought while starting: that seek, made after onAssign was asked, says where it starts. */
  sought: boolean
  /**
   * Handed to onAssign (asked, or about to be). Until then the partition is nobody's to seek,
   * pause or resume: clients hand it back (the next generation) without waiting for the previous
   * assignment's onRevoke, and its worker, not yet stopped, would pause or seek the new assignment
   * (paused for good: the new one's worker does not know it paused).
   */
  announced: boolean
}

export interface Tagged {
  readonly key: TpKey
  readonly epoch: number
  readonly batch: PartitionBatch
}
