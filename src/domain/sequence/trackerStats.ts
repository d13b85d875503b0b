/** The tracker's counts, as `stats()` reports them. */
import { type GapGiveUpReason, type VerdictName, verdictNames } from "./machine.ts"

export interface SequenceStats {
  readonly verdicts: Readonly<Record<VerdictName, number>>
  readonly evictions: number
  /**
   * Open gap ranges abandoned, by reason: `reset`, still open at a RESET; `limit`, the oldest of a
   * stream beyond maxGaps.
   */
  readonly gapsGivenUp: Readonly<Record<GapGiveUpReason, number>>
  readonly streams: number
  readonly capacity: number
}

/** The verdicts counted by code (`verdictNames` order), by name. */
export const verdictCounts = (counts: Float64Array): Record<VerdictName, number> => {
  const verdicts = {} as Record<VerdictName, number>
  verdictNames.forEach((name, code) => verdicts[name] = counts[code]!)
  return verdicts
}
