import { Context, type Effect, Schema } from "effect"
import type { Observation, SequenceInput, SequenceStats, StreamFilter } from "../domain/sequence/tracker.ts"

/** A checkpoint that cannot be restored (malformed, or from another format version). */
export class SequenceCheckpointError extends Schema.TaggedError<SequenceCheckpointError>()("SequenceCheckpointError", {
  detail: Schema.String
}) {
  override get message() {
    return `cannot restore the sequence checkpoint: ${this.detail}`
  }
}

/**
 * Sequence integrity of every (exchange, symbol) stream (DESIGN.md "Sequence
 * integrity", docs/sequence-integrity.md). One instance per table per ingest process. A stream
 * belongs to the partition that last carried it (it moves when a topic gains partitions); the
 * ingestor keeps that ownership.
 */
export class SequenceTracker extends Context.Service<SequenceTracker, {
  /**
   * Judges a batch in order: the indices of duplicates (not to be written) and one
   * sequence_events row per verdict other than OK, stamped with the clock's time.
   */
  observe(rows: ReadonlyArray<SequenceInput>): Effect.Effect<Observation>
  /** Compact deterministic JSON of the streams (all, or those `filter` selects), for the commit. */
  checkpoint(filter?: StreamFilter): Effect.Effect<string>
  /**
   * The checkpoints of several owners (partitions) from one pass over the streams: for each of
   * `keys`, the checkpoint of the streams `owners` names it for.
   */
  checkpointsOf<K>(keys: Iterable<K>, owners: (exchange: string, symbol: string) => ReadonlyArray<K> | undefined): Effect.Effect<Map<K, string>>
  /** Adds the streams of a checkpoint (those `filter` selects), replacing those keys; returns how many. */
  restore(json: string, filter?: StreamFilter): Effect.Effect<number, SequenceCheckpointError>
  /** Drops streams (all without a filter), e.g. those of a revoked partition; returns how many. */
  forget(filter?: StreamFilter): Effect.Effect<number>
  /**
   * Whether a stream's state is held now (seen and not evicted nor forgotten since): the ingestor
   * lets go of its ownership of the streams the LRU dropped.
   */
  readonly tracking: Effect.Effect<StreamFilter>
  /** Counters for metrics: verdicts by kind, evictions, given-up gaps, streams tracked. */
  readonly stats: Effect.Effect<SequenceStats>
  /**
   * A tracker of its own, under the same rules, holding the streams of `checkpoint` that `filter`
   * selects (none when undefined or damaged): records a partition reads again of a stream that
   * moved on are judged against it, not against the live state that saw them (ADR-26).
   */
  apart(checkpoint: string | undefined, filter: StreamFilter): Effect.Effect<SequenceJudge>
}>()("k2/services/SequenceTracker") {}

/** Judges batches against streams of its own (`SequenceTracker.apart`). */
export interface SequenceJudge {
  observe(rows: ReadonlyArray<SequenceInput>): Effect.Effect<Observation>
}
