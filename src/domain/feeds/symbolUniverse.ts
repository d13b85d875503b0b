/** The simulated symbol universe: the default listings, synthetic symbols and what a universe may hold. */
import { CODE_PATTERN, CODE_RULE } from "../marketData.ts"
import { quoted } from "../errors.ts"

/** The 20 largest ASX listings (by 2024 market value). */
export const DEFAULT_SYMBOLS: ReadonlyArray<string> = [
  "BHP", "CBA", "CSL", "NAB", "WBC", "ANZ", "WES", "MQG", "FMG", "TLS",
  "RIO", "WOW", "GMG", "TCL", "WDS", "STO", "ALL", "QBE", "COL", "REA"
]

/**
 * The most symbols a simulated universe holds: about what one ingest process's sequence trackers
 * hold (ADR-76: ~100,000 streams a table in its heap); a larger universe is split over processes.
 */
export const MAX_SYMBOLS = 100_000

/** `n` synthetic symbols S0..S{n-1}, zero-padded to one width so that they sort as they are numbered. */
export const syntheticSymbols = (n: number): ReadonlyArray<string> => {
  const width = String(Math.max(0, n - 1)).length
  return Array.from({ length: n }, (_, i) => `S${String(i).padStart(width, "0")}`)
}

/** Why a universe cannot be simulated (none, too many, a bad code, one twice), or undefined. */
export const symbolsProblem = (symbols: ReadonlyArray<string>): string | undefined => {
  if (symbols.length === 0) return "the universe has no symbols"
  if (symbols.length > MAX_SYMBOLS) return `${symbols.length} symbols, more than the ${MAX_SYMBOLS} a universe holds`
  const bad = symbols.find((s) => !CODE_PATTERN.test(s))
  if (bad !== undefined) return `symbol ${quoted(bad)} ${CODE_RULE}`
  const seen = new Set<string>()
  const twice = symbols.find((s) => seen.size === seen.add(s).size)
  return twice === undefined ? undefined : `symbol ${quoted(twice)} is given twice`
}
