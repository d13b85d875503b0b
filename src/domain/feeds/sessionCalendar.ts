/** The simulator's exchange calendar: weekdays minus holidays, each session in local time (IANA zone, DST-aware). */
import { zone } from "../zone.ts"
import type { SimulatorModel } from "./simulatorModel.ts"

/** Minutes since midnight of a local "HH:MM", or undefined when it is not one. */
export const hhmm = (s: string): number | undefined => {
  const m = /^(\d{2}):(\d{2})$/.exec(s)
  if (m === null || Number(m[1]) > 23 || Number(m[2]) > 59) return undefined
  return Number(m[1]) * 60 + Number(m[2])
}

export interface Session {
  readonly date: string
  readonly openMicros: number
  readonly seconds: number
}

/** The sessions from `startDate` on, without end. */
export function* sessionsOf(m: SimulatorModel): Generator<Session> {
  const z = zone(m.timeZone)
  const open = hhmm(m.sessionOpen)!, close = hhmm(m.sessionClose)!
  const holidays = new Set(m.holidays)
  for (let day = Date.parse(`${m.startDate}T00:00:00Z`);; day += 86_400_000) {
    const d = new Date(day)
    const weekday = d.getUTCDay()
    const iso = d.toISOString().slice(0, 10)
    if (weekday !== 0 && weekday !== 6 && !holidays.has(iso)) {
      const y = d.getUTCFullYear(), mo = d.getUTCMonth() + 1, dd = d.getUTCDate()
      const o = z.toUtcMillis(y, mo, dd, Math.floor(open / 60), open % 60, 0, 0)
      const c = z.toUtcMillis(y, mo, dd, Math.floor(close / 60), close % 60, 0, 0)
      yield { date: iso, openMicros: o * 1000, seconds: (c - o) / 1000 }
    }
  }
}

/** The trading sessions of the calendar, in order. */
export const sessions = (m: SimulatorModel): Array<Session> => {
  const out: Array<Session> = []
  if (m.tradingDays <= 0) return out
  for (const s of sessionsOf(m)) {
    out.push(s)
    if (out.length >= m.tradingDays) break
  }
  return out
}
