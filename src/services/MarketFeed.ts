/**
 * A source of market events: ASX historical tick files or the simulator (src/layers/feeds).
 * The producer publishes what `events()` emits to Kafka; poison payloads as-is.
 */
import { Context, type Effect, type Stream } from "effect"
import type { FeedError, FeedEvent, FeedSummary, InjectedAnomaly } from "../domain/feeds/events.ts"

export type { FeedEvent, FeedSummary, InjectedAnomaly } from "../domain/feeds/events.ts"
export { FeedError } from "../domain/feeds/events.ts"

export class MarketFeed extends Context.Service<MarketFeed, {
  /** "asx" or "simulator". */
  readonly name: string
  /**
   * The feed from its start: instruments first, then trades and quotes (and poison, from the
   * simulator) in arrays of up to a few thousand events per stream chunk; consume with
   * `Stream.runForEachArray` for throughput. Finite for ASX files and for a simulator with a
   * bounded calendar. Every run re-reads / regenerates from the start and yields the same
   * events with the same message_ids and source_sequences (deterministic).
   */
  events(): Stream.Stream<FeedEvent, FeedError>
  /** Counts of the current (or last) run of `events()`; `complete` once it ended. */
  readonly summary: Effect.Effect<FeedSummary>
  /**
   * The anomalies injected so far by the current (or last) run, in emission order. Always empty
   * for ASX files. The simulator also writes them as JSON when a run completes, if configured.
   */
  readonly manifest: Effect.Effect<ReadonlyArray<InjectedAnomaly>>
}>()("k2/services/MarketFeed") {}
