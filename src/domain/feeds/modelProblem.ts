/** Whether a simulator model can run: every setting checked before the first event is drawn. */
import { Schema } from "effect"
import { quoted } from "../errors.ts"
import { TimestampMicros } from "../time.ts"
import { EXCHANGE_CODE_RULE, isExchangeCode } from "../wire.ts"
import { isKnownZone } from "../zone.ts"
import { hhmm, sessionsOf } from "./sessionCalendar.ts"
import type { SimulatorModel } from "./simulatorModel.ts"
import { symbolsProblem } from "./symbolUniverse.ts"

/** The reason a model cannot run, or undefined. */
export const modelProblem = (m: SimulatorModel): string | undefined => {
  if (!isExchangeCode(m.exchange)) return `exchange ${quoted(m.exchange)} ${EXCHANGE_CODE_RULE}`
  const symbols = symbolsProblem(m.symbols)
  if (symbols !== undefined) return symbols
  if (!Number.isSafeInteger(m.seed)) return "seed must be a safe integer"
  if (!isKnownZone(m.timeZone)) return `unknown time zone ${m.timeZone}`
  const start = Date.parse(`${m.startDate}T00:00:00Z`)
  // Date.parse reads 2024-02-30 as March 1st: the date must survive the round trip.
  if (!/^\d{4}-\d{2}-\d{2}$/.test(m.startDate) || Number.isNaN(start) || new Date(start).toISOString().slice(0, 10) !== m.startDate) {
    return `startDate ${m.startDate} is not yyyy-mm-dd`
  }
  const open = hhmm(m.sessionOpen), close = hhmm(m.sessionClose)
  if (open === undefined || close === undefined || close <= open) return "session must be HH:MM..HH:MM with open < close"
  if (!(Number.isSafeInteger(m.tradingDays) && m.tradingDays >= 0)) return "tradingDays must be a whole number, not negative"
  if (m.maxEvents !== undefined && !(Number.isSafeInteger(m.maxEvents) && m.maxEvents >= 0)) {
    return "maxEvents must be a whole number, not negative"
  }
  // Finite too: an infinite rate never leaves the open, an infinite skew spins inside `next`
  // forever, and an infinite volatility or spread makes NaN prices (a RangeError in BigInt).
  if (!(m.eventsPerSymbolPerDay > 0 && Number.isFinite(m.eventsPerSymbolPerDay))) return "eventsPerSymbolPerDay must be positive and finite"
  if (!(m.intensitySkew >= 0 && Number.isFinite(m.intensitySkew))) return "intensitySkew must be finite, not negative"
  if (!(m.tradeRatio >= 0 && m.tradeRatio <= 1)) return "tradeRatio must be in [0, 1]"
  if (!(m.annualVolatility >= 0 && Number.isFinite(m.annualVolatility))) return "annualVolatility must be finite, not negative"
  if (!(m.spreadBps >= 0 && Number.isFinite(m.spreadBps))) return "spreadBps must be finite, not negative"
  if (!/^\d{1,10}(\.\d{1,8})?$/.test(m.tickSize) || /^[0.]*$/.test(m.tickSize)) return "tickSize must be a positive decimal"
  for (const [k, v] of Object.entries(m.faults)) if (!(v >= 0 && v <= 1)) return `fault rate ${k} must be in [0, 1]`
  // Every event's exchange_timestamp must be a valid instant, or all of them are dead letters (and
  // Date.UTC, under the zone, reads years 0-99 as 19xx). Walks at most the days until 2200.
  let days = 0
  if (m.tradingDays > 0) for (const s of sessionsOf(m)) {
    const last = s.openMicros + s.seconds * 1_000_000 - 1
    if (s.date < "1900" || !isInstant(s.openMicros) || !isInstant(last)) return `sessions must lie between 1900 and 2200 (${s.date})`
    if (++days >= m.tradingDays) break
  }
  return undefined
}

const isInstant = Schema.is(TimestampMicros)
