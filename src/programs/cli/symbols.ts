/**
 * The simulator's symbols, as `produce` and `ingest`'s embedded default take them (declared once,
 * ADR-19): a list (`--symbols`, K2_SIM_SYMBOLS), or a count of synthetic symbols for load tests
 * (`--symbol-count`, K2_SIM_SYMBOL_COUNT). Checked before anything runs (ADR-80).
 */
import { Config, Option } from "effect"
import { Flag } from "effect/cli"
import { DEFAULT_SYMBOLS, MAX_SYMBOLS, symbolsProblem, syntheticSymbols } from "../../domain/feeds/symbolUniverse.ts"
import { UsageError } from "./common.ts"
import { inRange, integerFlag, integerRead, optionalSourcedSetting, type Sourced } from "./flags.ts"

const SYMBOLS_ENV = "K2_SIM_SYMBOLS"
const COUNT_ENV = "K2_SIM_SYMBOL_COUNT"

/** The two flags, their help led by `mode` (which runs read them: "sim", "embedded default only"). */
export const simulatedSymbolsFlags = (mode: string) => ({
  symbols: Flag.String("symbols").pipe(
    optionalSourcedSetting(
      `${mode}: the simulated symbols, comma separated, each 1-32 of A-Z 0-9 . _ -; without it or --symbol-count, ${DEFAULT_SYMBOLS.length} ASX large caps (${DEFAULT_SYMBOLS.join(",")})`,
      { env: SYMBOLS_ENV, read: Config.String }
    )
  ),
  symbolCount: integerFlag("symbol-count").pipe(
    optionalSourcedSetting(`${mode}: instead of --symbols, N synthetic symbols S0..S{N-1} (zero-padded), for load tests`, {
      env: COUNT_ENV,
      read: integerRead,
      check: inRange(1, MAX_SYMBOLS)
    })
  )
})

export interface SimulatedSymbolsOptions {
  readonly symbols: Sourced<Option.Option<string>>
  readonly symbolCount: Sourced<Option.Option<number>>
}

/** The universe as a flag gives it, its refusal naming `from` (the flag or its variable). */
const listed = (text: string, from: string): ReadonlyArray<string> => {
  const symbols = text.split(",").map((s) => s.trim())
  // "A,,B" or a trailing comma: a symbol left out of a generated list, not one to drop quietly.
  const problem = symbols.every((s) => s === "")
    ? "no symbols"
    : symbols.includes("")
    ? "an empty symbol (two commas together, or one at an end)"
    : symbolsProblem(symbols)
  if (problem !== undefined) throw new UsageError({ message: `${from}: ${problem}` })
  return symbols
}

/**
 * The universe the flags give; undefined for the simulator's default. The command line's choice
 * wins over the environment's (a deployment's K2_SIM_SYMBOLS, a load test's --symbol-count); both
 * at one level are refused, neither silently winning.
 */
export const simulatedSymbols = (options: SimulatedSymbolsOptions): ReadonlyArray<string> | undefined => {
  const { symbolCount, symbols } = options
  if (Option.isSome(symbols.value) && Option.isSome(symbolCount.value) && symbols.given === symbolCount.given) {
    throw new UsageError({
      message: symbols.given ? "give --symbols or --symbol-count, not both" : `${SYMBOLS_ENV} and ${COUNT_ENV} are both set: unset one`
    })
  }
  if (Option.isSome(symbolCount.value) && (symbolCount.given || Option.isNone(symbols.value))) return syntheticSymbols(symbolCount.value.value)
  if (Option.isSome(symbols.value)) return listed(symbols.value.value, symbols.given ? "--symbols" : SYMBOLS_ENV)
  return undefined
}

/** The flags given on the command line, as a mode that ignores them names them. */
export const givenSymbolFlags = (options: SimulatedSymbolsOptions): ReadonlyArray<readonly [string, boolean]> => [
  ["symbols", options.symbols.given],
  ["symbol-count", options.symbolCount.given]
]

/**
 * The flag that gives `symbols`, as a run's settings name them (undefined: the default universe):
 * the same universe is named alike however it was given.
 */
export const symbolsSetting = (symbols: ReadonlyArray<string> | undefined): string | undefined => {
  if (symbols === undefined || symbols.join() === DEFAULT_SYMBOLS.join()) return undefined
  return symbols.join() === syntheticSymbols(symbols.length).join() ? `--symbol-count ${symbols.length}` : `--symbols ${symbols.join()}`
}
