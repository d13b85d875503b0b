/**
 * The MarketFeed chosen by configuration (environment variables):
 *
 *   K2_FEED                     simulator (default) | asx
 *   K2_ASX_DIR                  ASX load directory (required for asx)
 *   K2_ASX_DEAD_LETTER_FILE     default asx-dead-letters.jsonl
 *   K2_SIM_SEED                 default 42
 *   K2_SIM_SYMBOLS              comma-separated universe (default: 20 ASX large caps)
 *   K2_SIM_START_DATE           yyyy-mm-dd, default 2024-01-02
 *   K2_SIM_DAYS                 trading days, default 1
 *   K2_SIM_EVENTS_PER_SYMBOL_PER_DAY  default 10000
 *   K2_SIM_MAX_EVENTS           stop after this many market events (optional)
 *   K2_SIM_RATE | K2_SIM_SPEED  pacing: events/s, or a multiple of real time, not both (default: unpaced)
 *   K2_SIM_FAULT_GAP, _DUPLICATE, _OUT_OF_ORDER, _RESET, _POISON   fault rates (default 0)
 *   K2_SIM_MANIFEST_FILE        where the injected anomalies are written (optional)
 */
import { Config, Effect, Layer, Option } from "effect"
import { FeedError, FeedMisconfigured } from "../../domain/feeds/events.ts"
import type { MarketFeed } from "../../services/MarketFeed.ts"
import { layerAsx } from "./asx.ts"
import { layerSimulator, type Pacing, type SimulatorConfig } from "./simulator.ts"

const optionalNumber = (name: string) => Config.option(Config.Number(name)).pipe(Config.map(Option.getOrUndefined))

const simulatorSettings = Config.all({
  seed: Config.Int("K2_SIM_SEED").pipe(Config.withDefault(42)),
  symbols: Config.option(Config.String("K2_SIM_SYMBOLS")).pipe(
    Config.map(Option.map((s) => s.split(",").map((x) => x.trim()).filter((x) => x !== ""))),
    Config.map(Option.getOrUndefined)
  ),
  startDate: Config.option(Config.String("K2_SIM_START_DATE")).pipe(Config.map(Option.getOrUndefined)),
  tradingDays: optionalNumber("K2_SIM_DAYS"),
  eventsPerSymbolPerDay: optionalNumber("K2_SIM_EVENTS_PER_SYMBOL_PER_DAY"),
  maxEvents: optionalNumber("K2_SIM_MAX_EVENTS"),
  rate: optionalNumber("K2_SIM_RATE"),
  speed: optionalNumber("K2_SIM_SPEED"),
  gap: optionalNumber("K2_SIM_FAULT_GAP"),
  duplicate: optionalNumber("K2_SIM_FAULT_DUPLICATE"),
  outOfOrder: optionalNumber("K2_SIM_FAULT_OUT_OF_ORDER"),
  reset: optionalNumber("K2_SIM_FAULT_RESET"),
  poison: optionalNumber("K2_SIM_FAULT_POISON"),
  manifestFile: Config.option(Config.String("K2_SIM_MANIFEST_FILE")).pipe(Config.map(Option.getOrUndefined))
})

/** The simulator's configuration; both paces at once are refused rather than one silently winning. */
const simulatorConfigOf = (c: Config.Success<typeof simulatorSettings>): Effect.Effect<SimulatorConfig, FeedError> => {
  if (c.rate !== undefined && c.speed !== undefined) {
    return Effect.fail(new FeedError({ reason: new FeedMisconfigured({ detail: "K2_SIM_RATE and K2_SIM_SPEED are both set; give one pace" }) }))
  }
  const pacing: Pacing = c.rate !== undefined
    ? { _tag: "Rate", eventsPerSecond: c.rate }
    : c.speed !== undefined
    ? { _tag: "Speed", multiple: c.speed }
    : { _tag: "Unpaced" }
  const faults = Object.fromEntries(
    Object.entries({ gap: c.gap, duplicate: c.duplicate, outOfOrder: c.outOfOrder, reset: c.reset, poison: c.poison })
      .filter(([, v]) => v !== undefined)
  )
  return Effect.succeed({
    seed: c.seed,
    symbols: c.symbols,
    startDate: c.startDate,
    tradingDays: c.tradingDays,
    eventsPerSymbolPerDay: c.eventsPerSymbolPerDay,
    maxEvents: c.maxEvents,
    pacing,
    faults,
    manifestFile: c.manifestFile
  })
}

export const layerConfig: Layer.Layer<MarketFeed, FeedError | Config.ConfigError> = Layer.unwrap(
  Effect.gen(function*() {
    const feed = yield* Config.Literals(["simulator", "asx"], "K2_FEED").pipe(Config.withDefault("simulator" as const))
    if (feed === "asx") {
      const dir = yield* Config.String("K2_ASX_DIR")
      const deadLetterFile = yield* Config.String("K2_ASX_DEAD_LETTER_FILE").pipe(Config.withDefault("asx-dead-letters.jsonl"))
      return layerAsx({ dir, deadLetterFile })
    }
    return layerSimulator(yield* simulatorConfigOf(yield* simulatorSettings))
  })
)
