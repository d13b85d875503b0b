/** The simulator's settings (see src/domain/feeds/simulator.ts for the model) and their defaults. */
import { DEFAULT_SYMBOLS } from "./symbolUniverse.ts"

export interface FaultRates {
  readonly gap: number
  readonly duplicate: number
  readonly outOfOrder: number
  readonly reset: number
  readonly poison: number
}

export const NO_FAULTS: FaultRates = { gap: 0, duplicate: 0, outOfOrder: 0, reset: 0, poison: 0 }

export interface SimulatorModel {
  readonly seed: number
  readonly symbols: ReadonlyArray<string>
  readonly exchange: string
  readonly currency: string
  readonly timeZone: string
  /** Local "HH:MM". */
  readonly sessionOpen: string
  readonly sessionClose: string
  /** ISO date of the first calendar day considered. */
  readonly startDate: string
  readonly tradingDays: number
  /** ISO dates without a session. */
  readonly holidays: ReadonlyArray<string>
  readonly eventsPerSymbolPerDay: number
  /** a in λ(t) = Λ0·(1 + a·x²): open and close intensity over midday, minus one. */
  readonly intensitySkew: number
  /** Share of events that are trades (the rest are quote updates). */
  readonly tradeRatio: number
  readonly annualVolatility: number
  /** Decimal text, e.g. "0.01". */
  readonly tickSize: string
  readonly spreadBps: number
  /** Stop after this many generated market events (duplicates and poison not counted). */
  readonly maxEvents?: number | undefined
  readonly faults: FaultRates
}

/** ASX national market holidays, 2024-2026. */
const ASX_HOLIDAYS: ReadonlyArray<string> = [
  "2024-01-01", "2024-01-26", "2024-03-29", "2024-04-01", "2024-04-25", "2024-06-10", "2024-12-25", "2024-12-26",
  "2025-01-01", "2025-01-27", "2025-04-18", "2025-04-21", "2025-04-25", "2025-06-09", "2025-12-25", "2025-12-26",
  "2026-01-01", "2026-01-26", "2026-04-03", "2026-04-06", "2026-04-27", "2026-06-08", "2026-12-25", "2026-12-28"
]

export const DEFAULT_MODEL: SimulatorModel = {
  seed: 42,
  symbols: DEFAULT_SYMBOLS,
  exchange: "ASX",
  currency: "AUD",
  timeZone: "Australia/Sydney",
  sessionOpen: "10:00",
  sessionClose: "16:00",
  startDate: "2024-01-02",
  tradingDays: 1,
  holidays: ASX_HOLIDAYS,
  eventsPerSymbolPerDay: 10_000,
  intensitySkew: 3,
  tradeRatio: 0.3,
  annualVolatility: 0.25,
  tickSize: "0.01",
  spreadBps: 5,
  faults: NO_FAULTS
}
