/**
 * MarketFeed from the simulator (model: src/domain/feeds/simulator.ts), with pacing:
 * - Unpaced: as fast as possible, chunks of `chunkSize` events.
 * - Rate: `eventsPerSecond`; the i-th market event is due at start + i / rate.
 * - Speed: a multiple of real time in session time (sessions laid end to end; nights,
 *   weekends and holidays take no time); events due within the next 20 ms go together.
 * Behind by more than CATCH_UP_MS (a stalled consumer), the schedule shifts rather than
 * sending the backlog at once. Time comes from Effect's Clock (monotonic), so tests drive pacing with
 * TestClock. The events and ids do not depend on pacing. When a run completes, its injected
 * anomalies are written as a JSON array to `manifestFile` (if set); `MarketFeed.manifest` gives
 * them at any time (with the gaps events still held back leave, should the feed stop now).
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Cause, Effect, Layer, Stream } from "effect"
import { FeedError, type FeedEvent, FeedIoFailure, FeedMisconfigured, SummaryCounter } from "../../domain/feeds/events.ts"
import { modelProblem } from "../../domain/feeds/modelProblem.ts"
import { Simulator } from "../../domain/feeds/simulator.ts"
import { DEFAULT_MODEL, type FaultRates, type SimulatorModel } from "../../domain/feeds/simulatorModel.ts"
import { MarketFeed } from "../../services/MarketFeed.ts"
import { makeDirectory } from "../directories.ts"
import { monotonicMillis } from "../elapsed.ts"

export type Pacing =
  | { readonly _tag: "Unpaced" }
  | { readonly _tag: "Rate"; readonly eventsPerSecond: number }
  | { readonly _tag: "Speed"; readonly multiple: number }

export const Unpaced: Pacing = { _tag: "Unpaced" }

/** The model (every field optional: DEFAULT_MODEL fills in), pacing and outputs. */
export type SimulatorConfig = {
  readonly [K in Exclude<keyof SimulatorModel, "faults">]?: SimulatorModel[K] | undefined
} & {
  readonly faults?: Partial<FaultRates> | undefined
  readonly pacing?: Pacing | undefined
  /** Written (JSON array of InjectedAnomaly) when a run of `events()` completes. */
  readonly manifestFile?: string | undefined
  /** Largest stream chunk. Default 512 (larger chunks survive young-generation GC and slow everything down). */
  readonly chunkSize?: number | undefined
}

/** The full model of a config, defaults applied. */
export const simulatorModel = (config: SimulatorConfig): SimulatorModel => {
  const { pacing: _p, manifestFile: _m, chunkSize: _c, faults, ...rest } = config
  const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as Partial<SimulatorModel>
  return { ...DEFAULT_MODEL, ...defined, faults: { ...DEFAULT_MODEL.faults, ...faults } }
}

const misconfigured = (detail: string) => new FeedError({ reason: new FeedMisconfigured({ detail }) })

const SPEED_WINDOW_MS = 20
/**
 * How far behind its schedule a paced feed still catches up (GC pauses, a send under way); a
 * consumer stalled longer (a broker's hiccup, the process stopped) would otherwise get the whole
 * backlog at once, so the schedule is shifted by the excess instead.
 */
const CATCH_UP_MS = 1_000

export const makeSimulator = (config: SimulatorConfig): Effect.Effect<MarketFeed["Service"], FeedError> =>
  Effect.gen(function*() {
    const model = simulatorModel(config)
    const problem = modelProblem(model)
    if (problem !== undefined) return yield* misconfigured(problem)
    const pacing = config.pacing ?? Unpaced
    if (pacing._tag === "Rate" && !(pacing.eventsPerSecond > 0)) return yield* misconfigured("rate must be positive")
    if (pacing._tag === "Speed" && !(pacing.multiple > 0)) return yield* misconfigured("speed must be positive")
    const chunkSize = Math.max(1, Math.floor(config.chunkSize ?? 512))
    let counter = new SummaryCounter("simulator")
    let current: Simulator | undefined

    const writeManifest = (sim: Simulator) =>
      config.manifestFile === undefined
        ? Effect.void
        : Effect.tryPromise({
          try: async () => {
            const file = config.manifestFile!
            await makeDirectory(path.dirname(path.resolve(file)))
            await fs.writeFile(file, JSON.stringify(sim.manifest, null, 1) + "\n")
          },
          catch: (cause) =>
            new FeedError({ reason: new FeedIoFailure({ path: config.manifestFile!, detail: String(cause) }) })
        })

    const run = (): Stream.Stream<FeedEvent, FeedError> =>
      Stream.fromPull(Effect.gen(function*() {
        counter = new SummaryCounter("simulator")
        const sim = new Simulator(model, counter)
        current = sim
        // The schedule's origin: moved later by a pause past CATCH_UP_MS. Monotonic: by the wall
        // clock, set back an hour, the next event was due in an hour and the feed stopped for it.
        let start = yield* monotonicMillis
        let paced = 0 // market events emitted so far (rate pacing)
        let clock0 = Number.NaN // session clock of the first market event (speed pacing)
        const sleepUntil = (due: number) =>
          Effect.flatMap(monotonicMillis, (now) => {
            if (due > now) return Effect.sleep(due - now)
            if (now - due > CATCH_UP_MS) start += now - due - CATCH_UP_MS
            return Effect.void
          })

        const end = Effect.andThen(writeManifest(sim), Cause.done())
        const emit = (batch: Array<FeedEvent>) =>
          batch.length === 0 ? end : Effect.succeed(batch as unknown as readonly [FeedEvent, ...Array<FeedEvent>])

        let started = false
        return Effect.suspend(() => {
          if (!started) {
            started = true
            return emit(sim.next(chunkSize)) // the instruments
          }
          switch (pacing._tag) {
            case "Unpaced":
              return emit(sim.next(chunkSize))
            case "Rate": {
              const n = Math.max(1, Math.min(chunkSize, Math.floor(pacing.eventsPerSecond * SPEED_WINDOW_MS / 1000)))
              // Made once due, as with speed: a batch made (and counted in the summary and the
              // manifest) before the wait was lost to a stop during it.
              const due = start + ((paced + n - 1) * 1000) / pacing.eventsPerSecond
              return Effect.andThen(
                sleepUntil(due),
                Effect.suspend(() => {
                  const batch = sim.next(n)
                  paced += batch.length
                  return emit(batch)
                })
              )
            }
            case "Speed": {
              const c = sim.nextClock()
              if (c === Number.POSITIVE_INFINITY) return emit(sim.next(chunkSize))
              if (Number.isNaN(clock0)) clock0 = c
              const due = start + ((c - clock0) * 1000) / pacing.multiple
              return Effect.andThen(
                sleepUntil(due),
                Effect.suspend(() => emit(sim.next(chunkSize, c + (SPEED_WINDOW_MS / 1000) * pacing.multiple)))
              )
            }
          }
        })
      }))

    return MarketFeed.of({
      name: "simulator",
      events: () => Stream.suspend(run),
      summary: Effect.sync(() => counter.snapshot()),
      manifest: Effect.sync(() => current === undefined ? [] : current.anomalies())
    })
  })

export const layerSimulator = (config: SimulatorConfig = {}): Layer.Layer<MarketFeed, FeedError> =>
  Layer.effect(MarketFeed, makeSimulator(config))
