/**
 * The feed `produce` publishes, as --source chooses it: the ASX load directory or the simulator,
 * each refusing the other's flags and a setting it cannot run (exit 2) before anything is touched.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { type Layer, Option } from "effect"
import { COMPANY_INFO_FILE } from "../../domain/feeds/asx.ts"
import { modelProblem } from "../../domain/feeds/modelProblem.ts"
import { EXCHANGE_CODE_RULE, isExchangeCode } from "../../domain/wire.ts"
import * as Asx from "../../layers/feeds/asx.ts"
import * as Simulator from "../../layers/feeds/simulator.ts"
import type { MarketFeed } from "../../services/MarketFeed.ts"
import { UsageError } from "./common.ts"
import { givenFlags } from "./flags.ts"
import { deadLetterFile, type Options, parseFaults, simRun } from "./produceFlags.ts"
import { givenSymbolFlags, simulatedSymbols } from "./symbols.ts"

/** False for a path that is missing, not a directory, or cannot be looked at (ENOTDIR, EACCES). */
const isDirectory = (dir: string) => {
  try {
    return fs.statSync(dir).isDirectory()
  } catch {
    return false
  }
}

/** False for a path that is missing, not a file, or cannot be looked at. */
const isFile = (file: string) => {
  try {
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** The feed the options choose, and for the simulator the events it publishes in all (the progress line's ETA). */
export interface ChosenFeed {
  readonly layer: Layer.Layer<MarketFeed, unknown>
  readonly total?: number
}

export const chooseFeed = (options: Options): ChosenFeed => {
  if (options.source === "asx") {
    if (Option.isNone(options.dir)) throw new UsageError({ message: "--source asx needs --dir <load directory>" })
    const simOnly = givenFlags([
      ["rate", Option.isSome(options.rate)], ["speed", Option.isSome(options.speed)], ["inject", Option.isSome(options.inject)],
      ["manifest", Option.isSome(options.manifest)], ["exchange", Option.isSome(options.exchange)], ["seed", Option.isSome(options.seed)],
      ["events", Option.isSome(options.events)], ["days", Option.isSome(options.days)], ...givenSymbolFlags(options)
    ])
    if (simOnly.length > 0) throw new UsageError({ message: `${simOnly.join(", ")}: for --source sim only` })
    // Else it is found only once the feed is read: after connecting, and making the topics.
    if (!isDirectory(options.dir.value)) {
      throw new UsageError({ message: `--dir: ${options.dir.value} is not a directory (want the load directory: trades/, quotes/, reference-data/)` })
    }
    // A directory one level off (its trades/, or the folder above it), found the same way.
    if (!isFile(path.join(options.dir.value, COMPANY_INFO_FILE))) {
      throw new UsageError({
        message: `--dir: ${options.dir.value} has no ${COMPANY_INFO_FILE} (want the load directory: trades/, quotes/, reference-data/)`
      })
    }
    return { layer: Asx.layerAsx({ dir: options.dir.value, deadLetterFile: deadLetterFile(options) }) }
  }
  // Else the simulator's day goes to the topics the files were meant for (--source defaults to sim).
  const asxOnly = givenFlags([["dir", Option.isSome(options.dir)], ["dead-letters", Option.isSome(options.deadLetters)]])
  if (asxOnly.length > 0) throw new UsageError({ message: `${asxOnly.join(", ")}: for --source asx only (the default source is the simulator)` })
  if (Option.isSome(options.rate) && Option.isSome(options.speed)) throw new UsageError({ message: "give --rate or --speed, not both" })
  const sim = simRun(options)
  // A bad code is the user's input (exit 2), refused before Kafka, not a feed failure later.
  if (!isExchangeCode(sim.exchange)) throw new UsageError({ message: `--exchange: "${sim.exchange}" ${EXCHANGE_CODE_RULE}` })
  const pacing: Simulator.Pacing = Option.isSome(options.rate)
    ? { _tag: "Rate", eventsPerSecond: options.rate.value }
    : Option.isSome(options.speed)
    ? { _tag: "Speed", multiple: options.speed.value }
    : Simulator.Unpaced
  // No manifestFile: the simulator writes it only at the feed's end; `produce` writes --manifest
  // with the reconciliation, also when --duration or a signal stops the feed first.
  const config: Simulator.SimulatorConfig = {
    seed: sim.seed,
    exchange: sim.exchange,
    symbols: simulatedSymbols(options),
    eventsPerSymbolPerDay: sim.events,
    tradingDays: sim.days,
    pacing,
    faults: Option.isSome(options.inject) ? parseFaults(options.inject.value) : {}
  }
  // A reset is a new day's numbering: a one-day run has no day change to put one at.
  if ((config.faults?.reset ?? 0) > 0 && sim.days < 2) {
    throw new UsageError({ message: `--inject reset: a reset restarts a symbol's numbering on a new trading day; give --days 2 or more (--days ${sim.days})` })
  }
  // The flags let through one model the simulator refuses: more --days than there are until 2200.
  // Refused here (exit 2), not as a feed failure once the last run's reports are gone.
  const model = Simulator.simulatorModel(config)
  const problem = modelProblem(model)
  if (problem !== undefined) throw new UsageError({ message: `--days ${sim.days}: ${problem}` })
  return { layer: Simulator.layerSimulator(config), total: sim.events * sim.days * model.symbols.length }
}
