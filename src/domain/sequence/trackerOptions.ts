/** The tracker's settings: the machine's rules, the LRU's capacity and the exchanges' zones. */
import { defaultExchangeZones } from "./calendar.ts"
import { defaultRules, type SequenceRules } from "./machine.ts"

export interface TrackerOptions extends SequenceRules {
  /** Streams kept; the least recently seen is evicted beyond it. */
  readonly capacity: number
  /** IANA zone per exchange, for the trading-day rule. */
  readonly zones: Readonly<Record<string, string>>
  /** Zone of exchanges missing from `zones`. */
  readonly defaultZone: string
}

export const defaultTrackerOptions: TrackerOptions = {
  ...defaultRules,
  capacity: 10_000,
  zones: defaultExchangeZones,
  defaultZone: "UTC"
}

/** `options` over the defaults; a RangeError when the capacity or maxGaps is no positive integer. */
export const trackerOptions = (options: Partial<TrackerOptions>): TrackerOptions => {
  const merged = { ...defaultTrackerOptions, ...options }
  if (!(Number.isInteger(merged.capacity) && merged.capacity > 0)) {
    throw new RangeError(`capacity must be a positive integer, got ${merged.capacity}`)
  }
  if (!(Number.isInteger(merged.maxGaps) && merged.maxGaps > 0)) {
    throw new RangeError(`maxGaps must be a positive integer, got ${merged.maxGaps}`)
  }
  return merged
}
