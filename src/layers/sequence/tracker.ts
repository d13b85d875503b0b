/** The SequenceTracker: an in-process bounded LRU of stream states (src/domain/sequence). */
import { Clock, Config, Effect, Layer, Result } from "effect"
import { defaultTrackerOptions, SequenceTrackerState, type TrackerOptions } from "../../domain/sequence/tracker.ts"
import { SequenceCheckpointError, type SequenceJudge, SequenceTracker } from "../../services/SequenceTracker.ts"
import { exchangeZonesFromConfig } from "../exchangeZones.ts"
import { atLeastOne } from "../settings.ts"

const judge = (state: SequenceTrackerState): SequenceJudge => ({
  observe: Effect.fn("SequenceTracker.observe")(function*(rows) {
    const now = yield* Clock.currentTimeMillis
    return state.observe(rows, now * 1000)
  })
})

export const make = (options: Partial<TrackerOptions> = {}) =>
  Effect.sync(() => {
    const state = new SequenceTrackerState(options)
    return SequenceTracker.of({
      ...judge(state),
      checkpoint: Effect.fn("SequenceTracker.checkpoint")(function*(filter) {
        return state.checkpoint(filter)
      }),
      checkpointsOf: (keys, owners) => Effect.sync(() => state.checkpointsOf(keys, owners)),
      restore: Effect.fn("SequenceTracker.restore")(function*(json, filter) {
        const restored = state.restore(json, filter)
        if (Result.isFailure(restored)) return yield* new SequenceCheckpointError({ detail: restored.failure })
        return restored.success
      }),
      forget: Effect.fn("SequenceTracker.forget")(function*(filter) {
        return state.forget(filter)
      }),
      tracking: Effect.sync(() => (exchange: string, symbol: string) => state.peek(exchange, symbol) !== undefined),
      stats: Effect.sync(() => state.stats()),
      apart: (checkpoint, filter) =>
        Effect.sync(() => {
          const apart = new SequenceTrackerState(state.options)
          // A damaged checkpoint (the restart warned of it): its streams start afresh.
          if (checkpoint !== undefined) apart.restore(checkpoint, filter)
          return judge(apart)
        })
    })
  })

const layerWith = (options: Partial<TrackerOptions>): Layer.Layer<SequenceTracker> =>
  Layer.effect(SequenceTracker, make(options))

/**
 * Tracker options from K2_SEQUENCE_CAPACITY (streams, default 10000), K2_SEQUENCE_IDLE_SECONDS
 * (session boundary after this much exchange time without a message, default 1800),
 * K2_SEQUENCE_DAY_CHANGE (default true), K2_SEQUENCE_MAX_GAPS (open gaps per stream,
 * default 64) and K2_SEQUENCE_ZONES (extra exchange=IANA zone pairs, comma separated,
 * e.g. "ASX=Australia/Sydney,XNYS=America/New_York").
 */
// Checked here (atLeastOne) so that a bad setting is a ConfigError naming it, not a defect of the tracker's constructor.
export const optionsFromConfig: Effect.Effect<Partial<TrackerOptions>, Config.ConfigError> = Effect.gen(function*() {
  const capacity = yield* atLeastOne("K2_SEQUENCE_CAPACITY").pipe(Config.withDefault(defaultTrackerOptions.capacity))
  const idleSeconds = yield* atLeastOne("K2_SEQUENCE_IDLE_SECONDS").pipe(
    Config.withDefault(defaultTrackerOptions.idleMicros / 1_000_000)
  )
  const dayChange = yield* Config.Boolean("K2_SEQUENCE_DAY_CHANGE").pipe(Config.withDefault(true))
  const maxGaps = yield* atLeastOne("K2_SEQUENCE_MAX_GAPS").pipe(Config.withDefault(defaultTrackerOptions.maxGaps))
  const zones = yield* exchangeZonesFromConfig
  return { capacity, idleMicros: idleSeconds * 1_000_000, dayChange, maxGaps, zones }
})

export const layerConfig: Layer.Layer<SequenceTracker, Config.ConfigError> = Layer.effect(
  SequenceTracker,
  Effect.flatMap(optionsFromConfig, make)
)

/** Defaults (10,000 streams, 30 minutes idle, day change, 64 gaps), no configuration read. */
export const layerMemory: Layer.Layer<SequenceTracker> = layerWith({})
