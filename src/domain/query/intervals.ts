/** Bar intervals: fixed lengths in microseconds, buckets aligned to the Unix epoch (UTC). */
export const BAR_INTERVALS = {
  "1s": 1_000_000,
  "5s": 5_000_000,
  "1m": 60_000_000,
  "5m": 300_000_000,
  "15m": 900_000_000,
  "30m": 1_800_000_000,
  "1h": 3_600_000_000,
  "1d": 86_400_000_000
} as const

export type BarInterval = keyof typeof BAR_INTERVALS

export const isBarInterval = (s: string): s is BarInterval => Object.hasOwn(BAR_INTERVALS, s)
