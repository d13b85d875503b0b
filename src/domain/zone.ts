/**
 * Local wall-clock time in an IANA zone to UTC, through Intl (the zone database shipped with
 * Node): never a fixed offset, so daylight saving follows the rules in force on each date.
 * Used for feeds' local timestamps and for exchanges' trading days (sequence/calendar.ts).
 *
 * Speed: the offset is computed once per local date and cached; only the (rare) dates on
 * which the zone changes its offset take the exact per-row path.
 */

const HOUR = 3_600_000
const DAY = 24 * HOUR

export interface Zone {
  readonly name: string
  /**
   * Epoch milliseconds of a local wall time (month 1-12). Repeated times (clocks going back)
   * take the earlier instant; skipped times (clocks going forward) are read with the offset
   * before the change, i.e. moved forward by the gap (Temporal's "compatible").
   */
  toUtcMillis(year: number, month: number, day: number, hour: number, minute: number, second: number, ms: number): number
  /** The zone's offset from UTC, in milliseconds, at an instant. */
  offsetAt(epochMillis: number): number
}

/** True when Intl knows the zone. */
export const isKnownZone = (name: string): boolean => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name })
    return true
  } catch {
    return false
  }
}

export const makeZone = (name: string): Zone => {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: name,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric"
  })
  const offsetAt = (epochMillis: number): number => {
    const whole = Math.floor(epochMillis / 1000) * 1000
    let y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0
    for (const p of format.formatToParts(whole)) {
      switch (p.type) {
        case "year": y = Number(p.value); break
        case "month": mo = Number(p.value); break
        case "day": d = Number(p.value); break
        case "hour": h = Number(p.value); break
        case "minute": mi = Number(p.value); break
        case "second": s = Number(p.value); break
      }
    }
    return Date.UTC(y, mo - 1, d, h, mi, s) - whole
  }

  /** Per local date: the offset when constant all day, or NaN on a transition date. */
  const byDate = new Map<number, number>()
  const dateOffset = (year: number, month: number, day: number): number => {
    const key = year * 10000 + month * 100 + day
    let o = byDate.get(key)
    if (o === undefined) {
      const midnight = Date.UTC(year, month - 1, day)
      // Instants safely before the local day starts and after it ends, whatever the offset (|offset| <= 14h).
      const before = offsetAt(midnight - 15 * HOUR)
      const after = offsetAt(midnight + DAY + 15 * HOUR)
      o = before === after ? before : Number.NaN
      byDate.set(key, o)
    }
    return o
  }

  const exact = (wall: number): number => {
    const before = offsetAt(wall - DAY)
    const after = offsetAt(wall + DAY)
    // Candidates valid at this wall time; the earlier instant has the larger offset.
    const valid = [before, after].filter((o) => offsetAt(wall - o) === o).sort((a, b) => b - a)
    return wall - (valid[0] ?? before)
  }

  return {
    name,
    offsetAt,
    toUtcMillis(year, month, day, hour, minute, second, ms) {
      const wall = Date.UTC(year, month - 1, day, hour, minute, second, ms)
      const o = dateOffset(year, month, day)
      return Number.isNaN(o) ? exact(wall) : wall - o
    }
  }
}

const zones = new Map<string, Zone>()

/** A shared zone instance (and its per-date cache). Throws RangeError for an unknown zone. */
export const zone = (name: string): Zone => {
  let z = zones.get(name)
  if (z === undefined) {
    z = makeZone(name)
    zones.set(name, z)
  }
  return z
}
