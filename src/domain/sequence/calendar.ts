/**
 * Trading days in an exchange's own time zone, for the session-boundary rule of the
 * sequence state machine (docs/sequence-integrity.md).
 *
 * The local date of an instant is found from the zone's UTC offset, which Intl gives
 * us; the offset is cached per 15-minute bucket of UTC (offsets in use since 1970 are
 * multiples of 15 minutes and almost all change on a local quarter hour, so they are
 * constant within a bucket). A few changed at 00:01 local (Canada's Atlantic zones until
 * 2011, Gaza and Hebron in 2010-11, Antarctica/Casey in 2020-22): a bucket whose offset
 * changes inside it is not cached, its instants are read exactly. The offsets come from zone.ts.
 */
import { hash } from "node:crypto"
import type { EpochMicros } from "../time.ts"
import { makeZone, type Zone } from "../zone.ts"

/** Exchanges' IANA zones; anything not listed uses `defaultZone` (UTC unless configured). */
export const defaultExchangeZones: Readonly<Record<string, string>> = {
  ASX: "Australia/Sydney",
  CHIA: "Australia/Sydney",
  NZX: "Pacific/Auckland",
  TSE: "Asia/Tokyo",
  JPX: "Asia/Tokyo",
  HKEX: "Asia/Hong_Kong",
  SGX: "Asia/Singapore",
  LSE: "Europe/London",
  XETRA: "Europe/Berlin",
  EURONEXT: "Europe/Paris",
  NYSE: "America/New_York",
  NASDAQ: "America/New_York",
  CME: "America/Chicago",
  TSX: "America/Toronto"
}

/**
 * A short fingerprint (8 base64url characters of a SHA-256) of the zones trading days are counted
 * by: every exchange's and the default. An answer counting days by them (a daily summary) names it
 * in its ETag (ADR-98), so the same snapshot read under other zones is another representation.
 */
export const zonesFingerprint = (zones: Readonly<Record<string, string>>, defaultZone: string): string =>
  hash("sha256", JSON.stringify([defaultZone, Object.entries(zones).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]), "base64url").slice(0, 8)

const MICROS_PER_MS = 1000
const MS_PER_BUCKET = 15 * 60_000
const MS_PER_DAY = 86_400_000
const MAX_CACHED_BUCKETS = 100_000
const MAX_CACHED_EXCHANGES = 10_000

/** Local calendar days of one zone: days since 1970-01-01 of the wall-clock date. */
export class ZoneCalendar {
  readonly zone: string
  readonly #zone: Zone
  readonly #offsets = new Map<number, number>()

  constructor(zone: string) {
    this.zone = zone
    // Throws a RangeError for an unknown zone: configuration is checked when the tracker starts.
    this.#zone = makeZone(zone)
  }

  /** The zone's offset from UTC in milliseconds at `ms` (epoch milliseconds). */
  offsetMs(ms: number): number {
    const bucket = Math.floor(ms / MS_PER_BUCKET)
    const cached = this.#offsets.get(bucket)
    if (cached !== undefined) return cached
    const offset = this.#zone.offsetAt(bucket * MS_PER_BUCKET)
    // The offset changed inside the bucket (off a quarter hour): the instant's own, uncached.
    if (this.#zone.offsetAt((bucket + 1) * MS_PER_BUCKET - 1000) !== offset) return this.#zone.offsetAt(ms)
    if (this.#offsets.size >= MAX_CACHED_BUCKETS) this.#offsets.clear()
    this.#offsets.set(bucket, offset)
    return offset
  }

  /** Days since 1970-01-01 of the local date at `micros`. */
  localDay(micros: EpochMicros): number {
    const ms = Math.floor(micros / MICROS_PER_MS)
    return Math.floor((ms + this.offsetMs(ms)) / MS_PER_DAY)
  }
}

/** One ZoneCalendar per exchange, resolved once and reused by every stream of that exchange. */
export class ExchangeCalendars {
  readonly #zones: Readonly<Record<string, string>>
  readonly #defaultZone: string
  readonly #byZone = new Map<string, ZoneCalendar>()
  readonly #byExchange = new Map<string, ZoneCalendar>()

  constructor(zones: Readonly<Record<string, string>> = defaultExchangeZones, defaultZone = "UTC") {
    this.#zones = zones
    this.#defaultZone = defaultZone
    // Fail fast on a misspelt zone.
    for (const zone of [defaultZone, ...Object.values(zones)]) this.#zone(zone)
  }

  #zone(zone: string): ZoneCalendar {
    let calendar = this.#byZone.get(zone)
    if (calendar === undefined) {
      calendar = new ZoneCalendar(zone)
      this.#byZone.set(zone, calendar)
    }
    return calendar
  }

  /** Exchanges cached (for tests). */
  get size(): number {
    return this.#byExchange.size
  }

  forExchange(exchange: string): ZoneCalendar {
    let calendar = this.#byExchange.get(exchange)
    if (calendar === undefined) {
      calendar = this.#zone(Object.hasOwn(this.#zones, exchange) ? this.#zones[exchange]! : this.#defaultZone)
      // Exchanges come from the records: a feed naming endless ones must not grow this.
      if (this.#byExchange.size >= MAX_CACHED_EXCHANGES) this.#byExchange.clear()
      this.#byExchange.set(exchange, calendar)
    }
    return calendar
  }
}
